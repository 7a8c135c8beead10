"""Where data lives: a local path, or any fsspec URL (``s3://``, ``gs://``, ``az://``, ``hf://``, ...).

Local paths stay ``pathlib.Path`` and every local code path is untouched (no fsspec in the way: same speed).
A URL becomes a ``RemotePath``: a small, pathlib-like handle holding the protocol, the path and the storage
options, and nothing live. It is picklable, so a worker process (local engine, Ray actor) that receives an
input opens its own connection to the store from the same options. ``file://`` URLs are local paths.

Storage options (credentials, endpoints) come from ``--storage-options JSON`` / ``storage_options={...}``;
the usual environment variables (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ``GOOGLE_APPLICATION_CREDENTIALS``,
...) are read by the store's own client. Options are never written to a manifest.

Object stores have no rename, so writing a file there means: write it in full to a local temp file, then upload
it with one request (an object appears whole, or not at all).
"""

from __future__ import annotations

import contextvars
import datetime
import errno
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import unquote, urlsplit

from zipfit.errors import ZipfitError

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$", re.DOTALL)
_LOCAL_PROTOCOLS = frozenset({"file", "local"})
_OPTIONS: contextvars.ContextVar[str] = contextvars.ContextVar("zipfit_storage_options", default="{}")
_READ_BUFFER = 1 << 20
_INSTALL = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
            "abfss": "adlfs", "hf": "huggingface_hub"}


def set_options(options: Mapping[str, Any] | None) -> None:
    """The storage options URLs parsed from now on (in this thread) carry; an API call sets them first."""
    if options is not None and not isinstance(options, Mapping):
        raise ZipfitError(f"storage options must be a JSON object, not {type(options).__name__}")
    try:
        _OPTIONS.set(json.dumps(dict(options or {}), sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise ZipfitError(f"storage options must be JSON values ({exc})") from None


def parse_options(text: str) -> dict[str, Any]:
    """``--storage-options`` as given on the command line."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ZipfitError(f"--storage-options: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ZipfitError("--storage-options: must be a JSON object, e.g. '{\"endpoint_url\": \"http://...\"}'")
    return value


class RemoteStat(NamedTuple):
    st_size: int
    st_mtime_ns: int
    etag: str


@dataclass(frozen=True, order=True)
class RemotePath:
    """A file or directory on a store, addressed like ``pathlib.Path`` for the operations zipfit needs."""

    protocol: str
    path: str  # as fsspec's filesystem takes it: "bucket/key", no protocol, no trailing slash
    options: str = "{}"  # the storage options, as sorted JSON

    # ---- naming --------------------------------------------------------------------------------------------

    def __str__(self) -> str:
        return f"{self.protocol}://{self.path}"

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> RemotePath:
        return self._with_path(self.path.rsplit("/", 1)[0]) if "/" in self.path else self

    @property
    def parents(self) -> list[RemotePath]:
        out, p = [], self
        while "/" in p.path:
            p = p.parent
            out.append(p)
        return out

    def _with_path(self, path: str) -> RemotePath:
        return RemotePath(self.protocol, path, self.options)

    def __truediv__(self, other: str | os.PathLike) -> RemotePath:
        return self._with_path(f"{self.path}/{os.fspath(other).strip('/')}")

    def with_name(self, name: str) -> RemotePath:
        return self.parent / name if "/" in self.path else self._with_path(name)

    def resolve(self) -> RemotePath:
        return self

    def is_relative_to(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.protocol == self.protocol and (
            self.path == other.path or self.path.startswith(other.path + "/"))

    def relative_to(self, other: RemotePath) -> PurePosixPath:
        if not self.is_relative_to(other):
            raise ValueError(f"{self} is not inside {other}")
        return PurePosixPath(self.path[len(other.path):].lstrip("/") or ".")

    # ---- the store -----------------------------------------------------------------------------------------

    @property
    def fs(self) -> Any:
        return filesystem(self.protocol, self.options)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one store operation; a client's own exception (no credentials, a refused connection) becomes an
        OSError naming the URL, which callers already turn into one line."""
        try:
            return fn(*args, **kwargs)
        except (OSError, ZipfitError):
            raise
        except Exception as exc:
            detail = (str(exc).splitlines() or [""])[0][:300]
            raise OSError(errno.EIO, f"{what} {self}: {type(exc).__name__}: {detail}") from None

    def info(self) -> dict[str, Any]:
        fs = self.fs
        fs.invalidate_cache(self.path)  # another process may have written it since this one last looked
        return self._call("reading", fs.info, self.path)

    def exists(self) -> bool:
        try:
            self.info()
        except FileNotFoundError:
            return False
        return True

    def is_file(self) -> bool:
        try:
            return self.info().get("type") == "file"
        except FileNotFoundError:
            return False

    def is_dir(self) -> bool:
        try:
            return self.info().get("type") == "directory"
        except FileNotFoundError:
            return False

    def stat(self) -> RemoteStat:
        """What the store reports: size, modification time and ETag (or checksum): the input's fingerprint."""
        return remote_stat(self.info())

    def open(self, mode: str = "rb", encoding: str | None = None) -> Any:
        if mode not in ("rb", "r"):
            raise ValueError(f"{self}: zipfit only reads remote files in place, mode {mode!r}")
        raw = self._call("opening", self.fs.open, self.path, "rb")
        stream = io.BufferedReader(raw, buffer_size=_READ_BUFFER)  # C-speed line iteration over the store's file
        return stream if mode == "rb" else io.TextIOWrapper(stream, encoding=encoding or "utf-8")

    def read_bytes(self) -> bytes:
        return self._call("reading", self.fs.cat_file, self.path)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        """One request: the object appears whole or not at all."""
        self._call("writing", self.fs.pipe_file, self.path, data)
        self.fs.invalidate_cache(self.path)

    def upload(self, local: str | os.PathLike) -> None:
        """A local file to this URL in one ``put`` (a single request or a multipart upload, which the store
        makes visible only when it completes)."""
        self._call("uploading to", self.fs.put_file, os.fspath(local), self.path)
        self.fs.invalidate_cache(self.path)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self._call("removing", self.fs.rm_file, self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise
        self.fs.invalidate_cache(self.path)

    def rmtree(self) -> None:
        if self.is_dir():
            self._call("removing", self.fs.rm, self.path, recursive=True)
        self.fs.invalidate_cache(self.path)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Object stores have no directories: a prefix exists once an object is written under it."""

    def iterdir(self) -> Iterator[RemotePath]:
        fs = self.fs
        fs.invalidate_cache(self.path)
        for name in sorted(self._call("listing", fs.ls, self.path, detail=False)):
            yield self._with_path(name.rstrip("/"))

    def glob(self, pattern: str) -> list[RemotePath]:
        return glob(self / pattern)


def glob(pattern: RemotePath) -> list[RemotePath]:
    """Objects matching a glob URL (``**`` recurses), sorted so runs are reproducible."""
    fs = pattern.fs
    fs.invalidate_cache()
    found = pattern._call("listing", fs.glob, pattern.path)
    return sorted(pattern._with_path(p.rstrip("/")) for p in found)


_MTIME_KEYS = ("LastModified", "last_modified", "mtime", "modified", "updated", "last_modified_time", "created")
_ETAG_KEYS = ("ETag", "etag", "checksum", "md5Hash", "crc32c", "md5", "content_md5", "blob_id", "oid")


def _ns(value: Any) -> int:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000
    if isinstance(value, (int, float)):
        return int(value * 1_000_000_000) if value < 1e12 else int(value)
    if isinstance(value, str):
        try:
            return _ns(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return 0
    return 0


def remote_stat(info: Mapping[str, Any]) -> RemoteStat:
    mtime = next((_ns(info[k]) for k in _MTIME_KEYS if info.get(k) is not None), 0)
    etag = next((str(info[k]).strip('"') for k in _ETAG_KEYS if info.get(k)), "")
    return RemoteStat(int(info.get("size") or 0), mtime, etag)


_FILESYSTEMS: dict[tuple[str, str, int], Any] = {}


def filesystem(protocol: str, options: str = "{}") -> Any:
    """The fsspec filesystem for a protocol and options, one per process (a forked worker makes its own)."""
    key = (protocol, options, os.getpid())
    fs = _FILESYSTEMS.get(key)
    if fs is not None:
        return fs
    package = _INSTALL.get(protocol, "the fsspec implementation for it")
    try:
        import fsspec
    except ImportError:
        raise ZipfitError(f"{protocol}:// URLs need fsspec and {package}: pip install 'zipfit[s3]' "
                          f"(or fsspec {package})") from None
    try:
        fs = fsspec.filesystem(protocol, **json.loads(options))
    except ImportError:
        raise ZipfitError(f"{protocol}:// URLs need {package}, which is not installed: pip install {package}"
                          + (" (or pip install 'zipfit[s3]')" if package == "s3fs" else "")) from None
    except ValueError as exc:  # an unknown protocol
        raise ZipfitError(f"{protocol}:// is not a storage protocol fsspec knows ({exc})") from None
    except TypeError as exc:
        raise ZipfitError(f"--storage-options do not fit {protocol}:// ({exc})") from None
    _FILESYSTEMS[key] = fs
    return fs


# ---- what the user typed -------------------------------------------------------------------------------------


def is_url(text: object) -> bool:
    return isinstance(text, str) and _URL.match(text) is not None


def as_path(value: str | os.PathLike | RemotePath) -> Path | RemotePath:
    """A local ``Path`` (``file://`` URLs included), or a ``RemotePath`` carrying the current storage options."""
    if isinstance(value, (RemotePath, Path)):
        return value
    text = os.fspath(value)
    m = _URL.match(text) if isinstance(text, str) else None
    if m is None:
        return Path(text)
    protocol = m.group(1).lower()
    if protocol in _LOCAL_PROTOCOLS:
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise ZipfitError(f"{text}: a file:// URL names a file on this machine (file:///path)")
        return Path(unquote(parts.path))
    return RemotePath(protocol, m.group(2).rstrip("/"), _OPTIONS.get())


def is_remote(value: object) -> bool:
    return isinstance(value, RemotePath)


def open_input(path: Path | RemotePath) -> BinaryIO:
    """A file opened for reading, buffered; local files are opened as always."""
    if isinstance(path, RemotePath):
        return path.open("rb")
    return open(path, "rb")


def local_temp(out: RemotePath, mark: str = ".tmp-") -> Path:
    """A local temp file for something to be uploaded to ``out`` (an object store has no rename: files are
    written here in full, then uploaded in one request)."""
    fd, name = tempfile.mkstemp(prefix=f".{out.name}{mark}", dir=os.environ.get("ZIPFIT_TMPDIR") or None)
    os.close(fd)
    return Path(name)


@contextmanager
def remote_output(out: RemotePath) -> Iterator[Path]:
    """A local temp path that is uploaded to ``out`` when the block succeeds; removed either way."""
    tmp = local_temp(out)
    try:
        yield tmp
        out.upload(tmp)
    finally:
        tmp.unlink(missing_ok=True)


def check_remote_output(path: RemotePath, out: str | os.PathLike, *, overwrite: bool,
                        inputs: Any = ()) -> RemotePath:
    """``check_output`` for a URL: not an input, not a directory, not there unless it may be replaced."""
    for item in inputs:
        inp = getattr(item, "path", item)
        if isinstance(inp, RemotePath) and (inp == path or path.is_relative_to(inp)):
            raise ZipfitError(f"{out} is an input ({inp}); zipfit never modifies its inputs, choose another output")
    try:
        info = path.info()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise ZipfitError(f"{out}: cannot reach the store ({exc.strerror or exc})") from None
    if info is not None and info.get("type") == "directory":
        raise ZipfitError(f"{out} is a directory; give a file name such as {path / 'selected.jsonl'}")
    if info is not None and not overwrite:
        raise ZipfitError(f"{out} exists; pass --overwrite to replace it")
    root = path._with_path(path.path.split("/", 1)[0])
    if info is None and "/" in path.path and not root.exists():  # found now, not at the first upload
        raise ZipfitError(f"{out}: the store has no bucket (or top-level directory) {root}; create it first")
    return path


__all__ = ["RemotePath", "RemoteStat", "as_path", "check_remote_output", "filesystem", "glob", "is_remote",
           "is_url", "open_input", "parse_options", "remote_output", "set_options"]
