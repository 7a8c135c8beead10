"""Data that is not in files zipfit can read: in-memory objects, and plain files read as documents.

The engines read inputs from files (their workers read shards by path), so such data is materialised once, at the
start of a call, into a private temp directory, and the normal file pipeline runs on it; the directory is removed
when the call ends, also on error. What is accepted, for sources, targets and excluded documents:

* a list of dicts (written as JSON Lines, so records of different shapes stay records), a list of strings (the
  texts themselves: records ``{"text": s}``), a ``pandas.DataFrame``, a ``pyarrow.Table``, a ``datasets.Dataset``
  (written as Parquet, batch by batch) or a ``datasets.IterableDataset`` (streamed to Parquet batch by batch, never
  held whole);
* ``files:PATH`` (a directory, read recursively without its hidden files and directories, a file, or a glob):
  every file is one document ``{"id": its path relative to PATH, "text": its content}``, in sorted path order. A
  file that is not text (a NUL byte, or not UTF-8) is excluded and counted as ``binary_file``.

Outputs never show the temp path: an in-memory input is named ``memory:N`` (the N-th in-memory input of the call)
in the score dataset's ``file`` column and in ``file:row`` examples, ``files:PATH`` by that string; the manifest
describes what it was (``<in-memory pandas.DataFrame: 600 rows>``) with the sha256 of the materialised bytes, or
for ``files:PATH`` a digest over every file's (relative path, size, sha256).

Only ``pyarrow`` is imported here: pandas and datasets objects are recognised by their class's module, so
zipfit does not import either unless the caller already has.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import inspect
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from zipfit.errors import ZipfitError, from_os_error
from zipfit.io.corpus import DETAIL_KEY, EXCLUDED_KEY
from zipfit.io.inputs import GLOB_CHARS, STAGED, format_for
from zipfit.io.sources import Source
from zipfit.io.writers import _JsonLines, file_sha256

log = logging.getLogger("zipfit")

FILES_PREFIX = "files:"
BATCH_ROWS = 10_000  # rows per batch when a Dataset or IterableDataset is written out
BINARY = "binary_file"
_CHUNK = 1 << 20


def _class_is(value: Any, package: str, *names: str) -> str | None:
    """``value``'s class (or a base) named one of ``names`` and defined in ``package``, without importing it."""
    for cls in type(value).__mro__:
        if cls.__module__.split(".")[0] == package and cls.__name__ in names:
            return cls.__name__
    return None


def kind_of(value: Any) -> str | None:
    """What an argument is: "paths" (files zipfit reads as they are), "files" (``files:PATH`` items only), or an
    in-memory kind ("strings", "records", "pandas.DataFrame", "pyarrow.Table", "datasets.Dataset",
    "datasets.IterableDataset"); None for None."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return "files" if _is_files(value) else "paths"
    if isinstance(value, Source):
        return "paths"
    if isinstance(value, pa.Table):
        return "pyarrow.Table"
    if _class_is(value, "pandas", "DataFrame"):
        return "pandas.DataFrame"
    name = _class_is(value, "datasets", "Dataset", "IterableDataset", "DatasetDict", "IterableDatasetDict")
    if name in ("Dataset", "IterableDataset"):
        return f"datasets.{name}"
    if name is not None:
        raise ZipfitError(f"a datasets.{name} holds several splits ({', '.join(map(str, value))}); pass one split, "
                          f"e.g. data[{next(iter(value), 'train')!r}]")
    if isinstance(value, (bytes, bytearray)) or not isinstance(value, Sequence):
        raise ZipfitError(f"cannot read a {type(value).__name__} as documents: pass file paths, a list of dicts or "
                          "strings, a pandas DataFrame, a pyarrow Table or a datasets Dataset")
    items = list(value)
    if not items:
        return "paths"  # an empty list: the usual "no inputs given" error
    if isinstance(items[0], Mapping):
        return "records"
    if all(isinstance(v, (os.PathLike, Source)) or (isinstance(v, str) and _looks_like_path(v)) for v in items):
        return "files" if all(_is_files(v) for v in items) else "paths"
    if all(isinstance(v, str) for v in items):
        named = [v for v in items if _looks_like_path(v)]
        if named:
            raise ZipfitError(f"a list that mixes file names ({_cut(named[0])!r}) and texts ({_short(items, named)}): "
                              "pass either paths or texts")
        return "strings"
    raise ZipfitError(f"cannot read a list of {type(items[0]).__name__} (item 1) ... as documents: pass file paths, "
                      "dicts or strings")


def _short(items: list[str], named: list[str]) -> str:
    return repr(_cut(next(v for v in items if v not in named)))


def _cut(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "..."


def _is_files(value: str | os.PathLike) -> bool:
    return isinstance(value, str) and value.startswith(FILES_PREFIX)


def _looks_like_path(text: str) -> bool:
    """A string in a list is a path (not a text) when it names something that exists, a glob that matches, a
    ``files:`` spec, a URL, or looks like one (no whitespace, and a data file suffix or a path separator)."""
    if any(c.isspace() for c in text) or not text:
        return False
    if _is_files(text) or "://" in text:
        return True
    if format_for(Path(text)) is not None or "/" in text or os.sep in text:
        return True
    try:
        return Path(text).exists() or (any(c in GLOB_CHARS for c in text) and bool(glob.glob(text, recursive=True)))
    except (OSError, ValueError):
        return False


def check_bare_string(value: Any, role: str) -> None:
    """A single string is a path, never a text: one that names no file and looks like a text is an error that
    says so (it would otherwise read as "no such file")."""
    if not isinstance(value, str) or _is_files(value) or "://" in value:
        return
    if not any(c.isspace() for c in value):
        return
    try:
        if Path(value).exists() or (any(c in GLOB_CHARS for c in value) and glob.glob(value, recursive=True)):
            return
    except (OSError, ValueError):
        pass
    shown = value if len(value) <= 60 else value[:60] + "..."
    raise ZipfitError(f"{role}: {shown!r} is not an existing file or glob; a single string is read as a path, "
                      f"never as a text: for texts in memory pass a list of strings ([text, ...])")


class Staging:
    """A call's private temp directory and the inputs materialised in it; ``close`` removes both."""

    def __init__(self) -> None:
        self.directory: Path | None = None
        self.count = 0  # in-memory inputs so far: the next is memory:<count>
        self._paths: list[Path] = []
        self._shown: set[str] = set()

    def dir(self) -> Path:
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="zipfit-memory-"))
        return self.directory

    def close(self) -> None:
        for p in self._paths:
            STAGED.pop(p, None)
        self._paths.clear()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _register(self, path: Path, shown: str, described: dict) -> str:
        if shown in self._shown:
            raise ZipfitError(f"{shown} is given twice; each input may appear only once")
        self._shown.add(shown)
        key = path.resolve()
        STAGED[key] = (shown, described)
        self._paths.append(key)
        return str(path)

    # ---- one argument ------------------------------------------------------------------------------------------

    def stage(self, value: Any, role: str) -> tuple[Any, str | None]:
        """``value`` as what the file pipeline reads (paths), and its kind (None when it is plain paths)."""
        kind = kind_of(value)
        if kind in (None, "paths"):
            check_bare_string(value, role)
            return value, None
        if kind == "files":
            items = [value] if isinstance(value, str) else list(value)
            return [self._files(item[len(FILES_PREFIX):], role) for item in items], kind
        return [self._memory(value, kind, role)], kind

    def _memory(self, value: Any, kind: str, role: str) -> str:
        n = self.count
        self.count += 1
        shown = f"memory:{n}"
        writer = _WRITERS[kind]
        suffix = ".jsonl" if kind in ("strings", "records") else ".parquet"
        path = self.dir() / f"{role}-{n}{suffix}"
        try:
            rows, what = writer(value, path)
        except OSError as exc:
            raise from_os_error(exc, f"writing in-memory {role} data to {path.parent}") from None
        described = {"path": f"<in-memory {what}: {rows:,} rows>", "name": shown, "format": suffix[1:],
                     "rows": rows, "bytes": path.stat().st_size, "sha256": file_sha256(path)}
        log.debug("%s: %s materialised as %s", shown, described["path"], path)
        return self._register(path, shown, described)

    def _files(self, spec: str, role: str) -> str:
        shown = FILES_PREFIX + spec
        root, found = _plain_files(spec)
        if not found:
            raise ZipfitError(f"{shown}: no files found")
        path = self.dir() / f"{role}-files-{len(self._paths)}.jsonl"
        digest = hashlib.sha256()
        encode = _JsonLines()
        total = binary = 0
        try:
            with open(path, "wb") as out:
                for file in found:
                    rel = file.relative_to(root).as_posix() if root is not None else file.name
                    data = _read(file)
                    total += len(data)
                    digest.update(f"{rel}\0{len(data)}\0{hashlib.sha256(data).hexdigest()}\n".encode())
                    problem = _not_text(data)
                    if problem:
                        binary += 1
                        out.write(encode({"id": rel, "text": "", EXCLUDED_KEY: BINARY,
                                          DETAIL_KEY: f"{rel}: {problem}"}))
                    else:
                        out.write(encode({"id": rel, "text": data.decode("utf-8")}))
        except OSError as exc:
            raise from_os_error(exc, f"writing {shown} to {path.parent}") from None
        described = {"path": shown, "name": shown, "format": "files", "files": len(found), "bytes": total,
                     "sha256": digest.hexdigest()}
        if binary:
            log.info("%s: %d of %d files are not text (a NUL byte, or not UTF-8); they are excluded as %s",
                     shown, binary, len(found), BINARY)
        return self._register(path, shown, described)


# ---- in-memory objects to files ------------------------------------------------------------------------------------


def _write_strings(value: Sequence[str], path: Path) -> tuple[int, str]:
    encode = _JsonLines()
    with open(path, "wb") as out:
        for text in value:
            out.write(encode({"text": text}))
    return len(value), "list of strings"


def _write_records(value: Sequence[Any], path: Path) -> tuple[int, str]:
    encode = _JsonLines()
    with open(path, "wb") as out:
        for i, rec in enumerate(value, 1):
            try:
                out.write(encode(dict(rec) if isinstance(rec, Mapping) else rec))
            except (TypeError, ValueError) as exc:
                raise ZipfitError(f"in-memory record {i}: {exc}") from None
    return len(value), "list of dicts"


def _write_tables(tables: Iterator[pa.Table], path: Path, schema: pa.Schema | None, what: str) -> int:
    """Tables to one Parquet file, batch by batch; the schema is the first batch's unless given."""
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for table in tables:
            if writer is None:
                schema = schema or table.schema
                writer = pq.ParquetWriter(path, schema)
            if table.schema != schema:
                try:
                    table = table.select(schema.names).cast(schema)
                except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError, ValueError) as exc:
                    raise ZipfitError(f"in-memory {what}: the records after row {rows:,} have other columns or "
                                      f"types than the first ({exc}); give the dataset features") from None
            writer.write_table(table)
            rows += table.num_rows
        if writer is None:
            pq.write_table((schema or pa.schema([])).empty_table(), path)
    except pa.ArrowException as exc:
        raise ZipfitError(f"in-memory {what}: cannot be written as Parquet ({exc})") from None
    finally:
        if writer is not None:
            writer.close()
    return rows


def _write_arrow(value: pa.Table, path: Path) -> tuple[int, str]:
    return _write_tables(iter([value]), path, value.schema, "pyarrow.Table"), "pyarrow.Table"


def _write_pandas(value: Any, path: Path) -> tuple[int, str]:
    try:
        table = pa.Table.from_pandas(value, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise ZipfitError(f"in-memory pandas.DataFrame: cannot be converted to Arrow ({exc})") from None
    return _write_tables(iter([table]), path, table.schema, "pandas.DataFrame"), "pandas.DataFrame"


def _write_dataset(value: Any, path: Path) -> tuple[int, str]:
    batches = value.with_format("arrow").iter(batch_size=BATCH_ROWS)  # respects select/shuffle/filter views
    return _write_tables(batches, path, value.features.arrow_schema, "datasets.Dataset"), "datasets.Dataset"


def _write_iterable(value: Any, path: Path) -> tuple[int, str]:
    schema = value.features.arrow_schema if value.features is not None else None
    batches = value.with_format("arrow").iter(batch_size=BATCH_ROWS)
    return _write_tables(batches, path, schema, "datasets.IterableDataset"), "datasets.IterableDataset, streamed"


_WRITERS: dict[str, Callable[[Any, Path], tuple[int, str]]] = {
    "strings": _write_strings, "records": _write_records, "pyarrow.Table": _write_arrow,
    "pandas.DataFrame": _write_pandas, "datasets.Dataset": _write_dataset,
    "datasets.IterableDataset": _write_iterable,
}


# ---- plain files -----------------------------------------------------------------------------------------------


def _plain_files(spec: str) -> tuple[Path | None, list[Path]]:
    """The files a ``files:`` spec names, sorted by their path relative to the root (None: a single file)."""
    if not spec:
        raise ZipfitError("files: needs a directory, a file or a glob after it, e.g. files:src/")
    path = Path(spec)
    if path.is_dir():
        found = []
        for top, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(Path(top) / n for n in names if not n.startswith(".") and os.path.isfile(Path(top) / n))
        return path, sorted(found, key=lambda p: p.relative_to(path).as_posix())
    if path.is_file():
        return None, [path]
    if any(c in GLOB_CHARS for c in spec):
        parts = Path(spec).parts
        fixed = [p for p in _prefix(parts)]
        root = Path(*fixed) if fixed else Path(".")
        found = [Path(m) for m in glob.glob(spec, recursive=True) if os.path.isfile(m)]
        return root, sorted(found, key=lambda p: p.relative_to(root).as_posix())
    raise ZipfitError(f"{FILES_PREFIX}{spec}: no such file or directory")


def _prefix(parts: Sequence[str]) -> Iterator[str]:
    for part in parts[:-1]:
        if any(c in GLOB_CHARS for c in part):
            return
        yield part


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise from_os_error(exc, f"reading {file}") from None


def _not_text(data: bytes) -> str:
    """Why ``data`` is not a text file ("" when it is one)."""
    nul = data.find(b"\0")
    if nul >= 0:
        return f"NUL byte at offset {nul:,}"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte {exc.start:,})"
    return ""


# ---- the API's side ----------------------------------------------------------------------------------------------


ROLE_TEXT_KEYS = {"source": ("text_field", "template"), "target": ("target_text_field", "target_template"),
                  "exclude": ("exclude_text_field", "exclude_template")}
TEXTS_KINDS = ("strings", "files")  # inputs whose records are {"text": ...} (and "id"): the role reads "text"
DATASET_KINDS = ("datasets.Dataset", "datasets.IterableDataset")


def in_memory(function: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let an API call (select, score, compare) take in-memory data and ``files:`` specs for its sources, target
    and ``exclude=``, and (select, score) return its result in memory when ``out=None``."""

    def decorate(call: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(call)

        @functools.wraps(call)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            arguments = bound.arguments
            options = dict(arguments.pop("options", {}))
            with Staging() as staging:
                kinds: dict[str, str | None] = {}
                for role, name in (("source", "sources"), ("target", "target")):
                    first = "datasets" if function == "align" else name
                    if first in arguments:
                        arguments[first], kinds[role] = staging.stage(arguments[first], role)
                exclude = options.get("exclude")
                if exclude is not None and not _class_is(exclude, "zipfit", "Decontamination"):
                    options["exclude"], kinds["exclude"] = staging.stage(exclude, "exclude")
                staged = any(kinds.values())
                in_memory_out = "out" in signature.parameters and arguments.get("out") is None \
                    and function in ("select", "score")
                if (staged or in_memory_out) and (options.get("resume") or _settings_resume(arguments)):
                    raise ZipfitError("resume=True: in-memory inputs and outputs live only for one call; there is "
                                      "nothing to resume (write the data to files to checkpoint a long run)")
                _texts_specs(kinds, arguments, options, function)
                if in_memory_out:
                    arguments["out"] = staging.dir() / ("selected.parquet" if function == "select" else "scores")
                result = call(**arguments, **options)
                if in_memory_out:
                    _read_back(result, function, as_dataset=kinds.get("source") in DATASET_KINDS)
                return result

        return wrapper

    return decorate


def _settings_resume(arguments: Mapping[str, Any]) -> bool:
    settings = arguments.get("settings")
    return bool(settings is not None and settings.run.resume)


def _texts_specs(kinds: Mapping[str, str | None], arguments: dict[str, Any], options: dict[str, Any],
                 function: str) -> None:
    """A role whose input is texts (a list of strings, ``files:``) reads the field "text": its records have no
    other. Its text field or template given as well is an error, not silently ignored."""
    roles = [role for role, kind in kinds.items() if kind in TEXTS_KINDS]
    if not roles:
        return
    from zipfit.config import TEXT_KEYS, Texts, settings_from
    from zipfit.io.textspec import TextSpec
    from zipfit.methods import all_parameters

    for role in roles:
        given = [k for k in ROLE_TEXT_KEYS[role] if options.get(k) is not None]
        if given:
            what = "a list of strings" if kinds[role] == "strings" else "files: (one document per file)"
            raise ZipfitError(f"{given[0]}: the {role} is {what}, whose records are their text (field \"text\"); "
                              "leave it out")
    rest = {k: v for k, v in options.items() if k != "exclude"}
    base = settings_from(arguments.get("settings"), rest, function=function,
                         method_parameters=frozenset(all_parameters()))
    texts = base.texts
    specs = {"source": texts.source, "target": texts.target_spec, "exclude": texts.exclude_spec}
    for role in roles:
        specs[role] = TextSpec(field="text", where=specs[role].where)
    for key in TEXT_KEYS:
        options.pop(key, None)
    options["texts"] = Texts(specs["source"], specs["target"], specs["exclude"])


def _read_back(result: Any, function: str, *, as_dataset: bool) -> None:
    """Put a call's output, written to the private temp directory, on its result in memory; the manifest no
    longer points there."""
    if function == "select":
        table = pq.read_table(result.out)
    else:
        parts = sorted(p for p in Path(result.out).glob("*.parquet") if not p.name.startswith(("_", ".")))
        table = pa.concat_tables([pq.read_table(p) for p in parts]) if parts else None
    table = table.replace_schema_metadata(None) if table is not None else None
    result.table = table
    if as_dataset and table is not None:
        import datasets

        result.dataset = datasets.Dataset(datasets.table.InMemoryTable(table))
    where = f"<in memory: {'datasets.Dataset' if as_dataset else 'pyarrow.Table'}>"
    if "output" in result.manifest:
        result.manifest["output"]["path"] = where
    result.out = None
    result.manifest_path = None
