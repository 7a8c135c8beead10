"""The commit protocol: an output and its manifest become visible together or not at all.

Every file of a run is first written in full to a hidden temp file beside its final name and synced (``stage``).
Only then are they renamed into place (``publish``), in an order that keeps one promise at every moment: while
the primary output (the file readers look for) exists, the manifest beside it is its own. An existing primary is
removed first, the manifest is renamed next, the primary last. A kill anywhere leaves either the old pair, no
primary (with or without the new manifest), or the new pair; the same command with ``--resume`` finishes it.

Temp files are named ``.NAME.tmp-*`` (and spill files ``.NAME.spill-*``); a run that holds the output's lock
removes those a killed run left behind (``remove_leftovers``).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from zipfit import failpoints
from zipfit.errors import from_os_error
from zipfit.io.storage import RemotePath, as_path, local_temp

LEFTOVER_MARKS = (".tmp-", ".spill-")


@functools.cache
def _umask() -> int:
    umask = os.umask(0o022)  # the only way to read it is to set it
    os.umask(umask)
    return umask


def file_mode() -> int:
    return 0o666 & ~_umask()


def dir_mode() -> int:
    return 0o777 & ~_umask()


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_beside(out: Path | RemotePath, mark: str = ".tmp-") -> Path:
    if isinstance(out, RemotePath):  # a store has no rename: staged locally, uploaded when published
        return local_temp(out, mark)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}{mark}")
    os.close(fd)
    return Path(name)


@contextmanager
def staged_file(out: Path | RemotePath) -> Iterator[Path]:
    """A temp path beside ``out``, synced to disk when the block ends; removed if the block fails."""
    tmp = temp_beside(out)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Commit:
    """Files staged for one output, published together. Used as a context manager: leaving it with an error (or
    without ``publish``) removes every staged temp file."""

    def __init__(self, primary: str | os.PathLike) -> None:
        self.primary = as_path(primary)
        self._staged: dict[Path | RemotePath, Path] = {}  # final path -> temp path

    @contextmanager
    def stage(self, out: str | os.PathLike) -> Iterator[Path]:
        out = as_path(out)
        with staged_file(out) as tmp:
            yield tmp
        self._staged[out] = tmp

    @contextmanager
    def stage_dir(self, out: str | os.PathLike) -> Iterator[Path]:
        """A temp directory beside ``out`` (``.NAME.tmp-*``), for an output that is a directory: filled in the
        block, then published whole by one rename, so a reader never sees half of it."""
        out = Path(out)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
        try:
            yield tmp
            for path in sorted(tmp.rglob("*")):
                if path.is_file():
                    with open(path, "rb+") as fh:
                        os.fsync(fh.fileno())
                    os.chmod(path, file_mode())
            fsync_dir(tmp)
            os.chmod(tmp, dir_mode())
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._staged[out] = tmp

    def staged(self, out: str | os.PathLike) -> Path:
        """Where ``out`` is, until it is published."""
        return self._staged[as_path(out)]

    def publish(self) -> None:
        if self.primary not in self._staged:
            raise ValueError(f"{self.primary} was not staged")
        order = [p for p in self._staged if p != self.primary] + [self.primary]
        try:
            _remove(self.primary)  # never an old output beside the new manifest
            failpoints.point("old_output_removed")
            for out in order:
                if out == self.primary:
                    failpoints.point("manifest_published")
                if isinstance(out, RemotePath):  # one upload: the object appears whole, or not at all
                    out.upload(self._staged[out])
                    self._staged.pop(out).unlink(missing_ok=True)
                else:
                    os.replace(self._staged[out], out)
                    del self._staged[out]
        except OSError as exc:
            raise from_os_error(exc, f"publishing {self.primary}") from None
        for directory in {p.parent for p in order if isinstance(p, Path)}:
            fsync_dir(directory)

    def abort(self) -> None:
        for tmp in self._staged.values():
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
        self._staged.clear()

    def __enter__(self) -> Commit:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.abort()


def remove_leftovers(*outputs: str | os.PathLike) -> int:
    """Remove the temp and spill files that killed runs left beside ``outputs``; the caller holds their lock, so
    no live run is writing them. Returns how many were removed."""
    removed = 0
    for out in map(as_path, outputs):
        if isinstance(out, RemotePath):  # nothing is staged on a store: temp files are local, in the temp dir
            continue
        if not out.parent.is_dir():
            continue
        for mark in LEFTOVER_MARKS:
            for path in out.parent.glob(f".{_glob_escape(out.name)}{mark}*"):
                try:
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                    removed += 1
                except OSError:
                    pass
    return removed


def _remove(path: Path) -> None:
    """Remove an output, a file or a whole directory. A directory is first renamed aside (``.NAME.tmp-old-*``), so
    it disappears at once rather than file by file; a kill before it is deleted leaves a leftover that the next run
    holding the lock removes."""
    if path.is_dir() and not path.is_symlink():
        aside = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-old-"))
        os.replace(path, aside / "old")
        shutil.rmtree(aside, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
