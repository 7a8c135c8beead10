"""Turning what the user typed (paths, globs, dataset directories) into a checked list of input files."""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath, PureWindowsPath

from zipfit.errors import CorruptFileError, ZipfitError, from_os_error
from zipfit.io.storage import RemotePath, as_path, open_input
from zipfit.io.storage import glob as remote_glob
from zipfit.io.writers import file_sha256

# Longest suffixes first so ".jsonl.gz" wins over ".gz"-less matches.
SUFFIX_FORMATS = (
    (".jsonl.gz", "jsonl.gz"),
    (".json.gz", "jsonl.gz"),
    (".jsonl.zst", "jsonl.zst"),
    (".json.zst", "jsonl.zst"),
    (".jsonl", "jsonl"),
    (".json", "jsonl"),
    (".parquet", "parquet"),
)
SUPPORTED = (
    ".jsonl, .json (JSON Lines), .jsonl.gz, .json.gz, .jsonl.zst, .json.zst, .parquet, "
    "or a directory saved with datasets' save_to_disk"
)
GLOB_CHARS = frozenset("*?[")
HF_MARKERS = ("state.json", "dataset_info.json")


@dataclass(frozen=True)
class InputFile:
    path: Path | RemotePath  # a RemotePath for a URL (s3://...): picklable, each worker opens its own connection
    format: str  # "jsonl", "jsonl.gz", "jsonl.zst", "parquet", "hf"
    size: int  # bytes; for "hf" the sum over the directory's files
    mtime_ns: int  # for "hf" the newest file's
    etag: str = ""  # a remote input's ETag or checksum, as its store reports it (for "hf": over its files)
    # for a private temp file that holds in-memory data (zipfit.io.memory): the name outputs show for it
    # ("memory:0"), and its manifest entry (what the data was, the sha256 of its bytes)
    shown: str | None = None
    described: dict | None = field(default=None, compare=False)

    @property
    def is_arrow(self) -> bool:
        return self.format in ("parquet", "hf")

    @property
    def stat_key(self) -> tuple[int, int, str]:
        """What ``current_stat`` must still return for the input to count as unchanged."""
        return self.size, self.mtime_ns, self.etag

    @property
    def label(self) -> str:
        """The input's name in outputs: the score dataset's ``file`` column, ``file:row`` examples, messages."""
        return self.shown if self.shown is not None else str(self.path)

    def identity(self) -> list:
        """The input in a run's fingerprint: where it is and what its file system says about it."""
        key = [str(self.path.resolve()), self.size, self.mtime_ns]
        return [*key, self.etag] if isinstance(self.path, RemotePath) else key


# private temp files holding in-memory data, by resolved path: (shown name, manifest entry); see zipfit.io.memory
STAGED: dict[Path, tuple[str, dict]] = {}


def format_for(path: Path | RemotePath) -> str | None:
    name = path.name.lower()
    for suffix, fmt in SUFFIX_FORMATS:
        if name.endswith(suffix):
            return fmt
    return None


def hf_data_files(directory: Path) -> list[Path]:
    """The .arrow files of a save_to_disk dataset, in dataset order (as state.json lists them).

    state.json comes with the data, so it is checked like data: every file it lists must be a relative path that
    stays inside the dataset directory (no absolute path, no "..", no symlink leading out of it), or a damaged or
    hostile directory could make zipfit read, and hash into a manifest, files the user never named.
    """
    state_path = directory / "state.json"
    try:
        raw = state_path.read_bytes()
    except OSError as exc:
        raise from_os_error(exc, f"reading {state_path}") from None
    try:
        state = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError both
        raise CorruptFileError(f"{state_path}: not valid JSON ({exc}); was it written by save_to_disk?") from None
    entries = state.get("_data_files") if isinstance(state, dict) else None
    if not isinstance(entries, list):
        raise CorruptFileError(f"{state_path}: no list of data files (\"_data_files\"); "
                               "was it written by save_to_disk?")
    root = directory.resolve()
    files = []
    for entry in entries:
        name = entry.get("filename") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise CorruptFileError(f"{state_path}: data file entry {_shown(entry)} has no \"filename\" string; "
                                   "was it written by save_to_disk?")
        files.append(_data_file(directory, root, name))
    return files


_MAX_SHOWN = 200


def _shown(value: object) -> str:
    """A value from a file, for a one-line message: repr'd (no newlines) and cut short."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _data_file(directory: Path, root: Path, name: str) -> Path:
    """``directory / name``, checked to be a file inside the dataset directory."""
    posix = PurePosixPath(name.replace("\\", "/"))  # a backslash counts as a separator, as on Windows
    if not name or "\0" in name or posix.is_absolute() or PureWindowsPath(name).drive or ".." in posix.parts:
        raise CorruptFileError(f"{directory}: state.json lists data file {_shown(name)}, which is not a relative "
                               "path inside the dataset directory; refusing to read it")
    path = directory / name
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise CorruptFileError(f"{directory}: state.json lists data file {_shown(name)}, which cannot be "
                               f"resolved ({exc})") from None
    if not resolved.is_relative_to(root):
        raise CorruptFileError(f"{directory}: state.json lists data file {_shown(name)}, which leads outside the "
                               f"dataset directory (to {resolved}); refusing to read it")
    if not resolved.is_file():
        raise CorruptFileError(f"{directory}: state.json lists data file {_shown(name)} but it is missing")
    return path


def _hf_member_files(directory: Path) -> list[Path]:
    """Files whose content defines the dataset (data + metadata), for size/mtime/sha256."""
    return sorted([*hf_data_files(directory), *(directory / m for m in HF_MARKERS)])


def _check_readable(path: Path | RemotePath) -> None:
    try:
        with open_input(path) as fh:
            fh.read(1)
    except PermissionError:
        raise ZipfitError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ZipfitError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _stat_input(path: Path) -> InputFile:
    if path.is_dir():
        if all((path / m).is_file() for m in HF_MARKERS):
            members = _hf_member_files(path)
            for m in members:
                _check_readable(m)
            stats = [m.stat() for m in members]
            return InputFile(path, "hf", sum(s.st_size for s in stats), max(s.st_mtime_ns for s in stats),
                             _etags(stats))
        if (path / "dataset_dict.json").is_file():
            try:
                splits = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
            except (OSError, ValueError, KeyError, TypeError):
                splits = sorted(p.name for p in path.iterdir() if (p / "state.json").is_file())
            first = splits[0] if splits else "SPLIT"
            raise ZipfitError(
                f"{path} is a DatasetDict with splits {', '.join(splits)}; pass one split, e.g. {path / first}"
            )
        raise ZipfitError(
            f"{path} is a directory but not a dataset saved with save_to_disk; "
            f"pass files or a quoted glob such as '{path}/**/*.jsonl'"
        )
    fmt = format_for(path)
    if fmt is None:
        raise ZipfitError(f"{path}: unsupported file type; supported: {SUPPORTED}")
    _check_readable(path)
    st = path.stat()
    return InputFile(path, fmt, st.st_size, st.st_mtime_ns, getattr(st, "etag", ""))


def _etags(stats: Sequence[object]) -> str:
    """One tag for a remote dataset directory: over its files' ETags ("" for a local one)."""
    tags = [getattr(s, "etag", None) for s in stats]
    if any(t is None for t in tags):
        return ""
    return hashlib.sha256("\n".join(map(str, tags)).encode()).hexdigest()


def resolve_inputs(inputs: Sequence[str | os.PathLike], role: str = "source") -> list[InputFile]:
    """Expand globs (sorted, so runs are reproducible), check every input exists and is readable, refuse repeats."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not inputs:
        raise ZipfitError(f"no {role} inputs given")
    paths: list[Path | RemotePath] = []
    for item in inputs:
        where = as_path(item)
        if isinstance(where, RemotePath):
            paths.extend(_remote_inputs(where, role))
            continue
        text = os.fspath(where)
        if any(c in GLOB_CHARS for c in text) and not Path(text).exists():
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise ZipfitError(f"no files match {text!r}")
            paths.extend(Path(m) for m in matches)
        else:
            p = Path(text)
            if not p.exists():
                raise ZipfitError(f"no such file: {text}")
            paths.append(p)
    files: list[InputFile] = []
    seen: dict[Path | RemotePath, Path | RemotePath] = {}
    for p in paths:
        key = p.resolve()
        if key in seen:
            raise ZipfitError(f"{p} is given twice (also as {seen[key]}); each input may appear only once")
        seen[key] = p
        f = _stat_input(p)
        if key in STAGED:
            f = replace(f, shown=STAGED[key][0], described=STAGED[key][1])
        files.append(f)
    return files


def _remote_inputs(where: RemotePath, role: str) -> list[RemotePath]:
    """A URL's objects: a glob over the store (sorted), or the one object, which must exist."""
    try:
        if any(c in GLOB_CHARS for c in where.path) and not where.exists():
            matches = remote_glob(where)
            if not matches:
                raise ZipfitError(f"no files match {str(where)!r}")
            return matches
        if not where.exists():
            raise ZipfitError(f"no such file: {where}")
    except OSError as exc:
        raise ZipfitError(f"{where}: cannot read the {role} input ({exc.strerror or exc})") from None
    return [where]


def current_stat(f: InputFile) -> tuple[int, int, str] | None:
    """(size, mtime_ns, etag) now, or None if gone; compared against ``f.stat_key``, taken at construction."""
    try:
        if f.format == "hf":
            stats = [m.stat() for m in _hf_member_files(f.path)]
            return sum(s.st_size for s in stats), max(s.st_mtime_ns for s in stats), _etags(stats)
        st = f.path.stat()
        return st.st_size, st.st_mtime_ns, getattr(st, "etag", "")
    except (OSError, ZipfitError):
        return None


def _sha256(path: Path | RemotePath) -> str:
    if not isinstance(path, RemotePath):
        return file_sha256(path)
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError as exc:
        raise from_os_error(exc, f"reading {path}") from None
    return h.hexdigest()


def input_sha256(f: InputFile) -> str:
    """Content hash; for a dataset directory, a hash over its (relative path, file hash) pairs. A remote input
    is streamed once for it (the manifest records what was read); changes are noticed by ``stat_key``."""
    if f.format != "hf":
        return _sha256(f.path)
    h = hashlib.sha256()
    for member in _hf_member_files(f.path):
        rel = member.relative_to(f.path).as_posix()
        h.update(f"{rel}\0{_sha256(member)}\n".encode())
    return h.hexdigest()
