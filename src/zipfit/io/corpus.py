"""A set of input files read as one stream of documents, with every skipped record accounted for."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from zipfit.errors import ZipfitError
from zipfit.io import readers
from zipfit.io.exclusions import Exclusions
from zipfit.io.inputs import InputFile, current_stat, input_sha256, resolve_inputs
from zipfit.io.shards import Shard
from zipfit.io.sources import Source
from zipfit.io.textspec import TextSpec

# a record of a materialised folder (files:DIR) standing for a file that is not text: its reason and detail
EXCLUDED_KEY, DETAIL_KEY = "zipfit_excluded", "zipfit_detail"
DEFAULT_SPEC = TextSpec()  # frozen, so one shared default is safe
_MAX_LISTED_FIELDS = 25
_FIRST_OBJECT_SCAN = 1000  # lines examined at construction to find a file's first record


@dataclass(frozen=True)
class Document:
    index: int  # 0-based ordinal among eligible documents across all files, in input order
    text: str
    file: int  # index into Corpus.files
    row: int  # 1-based line (JSONL) or row (Parquet/Arrow) number in the file
    record: dict | None  # the full original record, only with documents(records=True)
    id: str | None = None  # the record's "id" field as a string, if it has one


def extract_text(rec: Mapping[str, Any], spec: TextSpec) -> tuple[str, str, str]:
    """(text, "", "") for an eligible record, else ("", reason, detail): the one rule for what zipfit scores,
    shared by the file reader and the integrations that see records one by one (``zipfit.integrations``)."""
    for name, _ in spec.where:
        if name not in rec:
            return "", "missing_field", name
    if spec.where and not spec.passes(rec):
        return "", "filtered", ""
    if spec.template is None:
        text = rec.get(spec.field)
        if text is None:
            return "", "missing_field", spec.field
        if not isinstance(text, str):
            return "", "non_string_text", type(text).__name__
    else:
        for name in spec.text_fields:
            value = rec.get(name)
            if value is None:
                return "", "missing_field", name
            if not isinstance(value, str):  # as for --text-field: no str() of numbers, NaN, lists or dicts
                return "", "non_string_text", f"{name}: {type(value).__name__}"
        # plain {field} references to strings only (TextSpec refuses format specs), so this cannot fail
        text = spec.template.format_map(rec)
    if not text or text.isspace():
        return "", "empty_text", ""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "", "invalid_utf8", "lone surrogate escape in text"
    return text, "", ""


def _resolve(inputs: Sequence[str | os.PathLike | Source], spec: TextSpec,
             role: str) -> tuple[list[InputFile], list[TextSpec]]:
    """Every input file with the spec it is read with: a ``Source``'s own, else the run's."""
    if isinstance(inputs, (str, os.PathLike, Source)):
        inputs = [inputs]
    if not any(isinstance(item, Source) for item in inputs):
        files = resolve_inputs(inputs, role)
        return files, [spec] * len(files)
    files, specs, seen = [], [], {}
    for item in inputs:
        path, own = (item.path, item.spec(spec)) if isinstance(item, Source) else (item, spec)
        for f in resolve_inputs([path], role):
            key = f.path.resolve()
            if key in seen:
                raise ZipfitError(f"{f.path} is given twice (also as {seen[key]}); each input may appear only once")
            seen[key] = f.path
            files.append(f)
            specs.append(own)
    return files, specs


class Corpus:
    """Input files read in the given order as documents, in constant memory.

    Construction resolves and checks every input (and the schema of Parquet/Arrow inputs and the first record
    of JSON Lines inputs), so user mistakes surface before any scoring work starts.
    """

    def __init__(
        self, inputs: Sequence[str | os.PathLike | Source], spec: TextSpec = DEFAULT_SPEC, *, role: str = "source"
    ) -> None:
        if not isinstance(spec, TextSpec):
            raise TypeError(f"spec must be a TextSpec, not {type(spec).__name__}")
        self.spec = spec
        self.role = role
        self.files, self.specs = _resolve(inputs, spec, role)
        self.exclusions = Exclusions()
        self._total_rows: int | None = None
        # (file, rows per shard) -> what ``rows`` returns, when workers counted it (``zipfit.pipeline.worker_reads``)
        self._row_starts: dict[tuple[int, int], tuple[int, list[int | None]]] = {}
        self._first_fields: list[list[str]] = [self._check_fields(f, s) for f, s in zip(self.files, self.specs,
                                                                                         strict=True)]
        # columns read from Arrow inputs: the text's, and "id" where there is one (cheap, and the score dataset
        # records it)
        self._columns = [list(dict.fromkeys([*s.fields, *(["id"] if "id" in names else [])]))
                         for s, names in zip(self.specs, self._first_fields, strict=True)]

    @property
    def per_source(self) -> bool:
        """Whether some input is read with its own options (a ``Source``) rather than the run's."""
        return any(s != self.spec for s in self.specs)

    def has_field(self, name: str) -> bool:
        """Whether any input's schema (Parquet/Arrow) or first record (JSON Lines) has this field."""
        return any(name in names for names in self._first_fields)

    @property
    def n_records(self) -> int:
        """Records seen by the latest documents() iteration: eligible + excluded + filtered."""
        return self.exclusions.n_records

    # ---- reading -------------------------------------------------------------------------------------------

    def documents(self, *, records: bool = False) -> Iterator[Document]:
        """Every eligible document, in input order; resets `exclusions` now, fills it while iterating."""
        self.exclusions = Exclusions()
        return self._documents(records, self.exclusions)

    def _documents(self, records: bool, ex: Exclusions) -> Iterator[Document]:
        index = 0
        for file_no in range(len(self.files)):
            for doc in self._file_documents(file_no, records, ex, index):
                yield doc
                index += 1

    def shard_documents(self, shard: Shard, *, records: bool = False) -> tuple[Iterator[Document], Exclusions]:
        """The eligible documents of one shard (``index`` counts from 0 within it) and its exclusions.

        Reading the shards of ``plan_shards`` one after another yields exactly ``documents()``.
        """
        ex = Exclusions()
        return self._file_documents(shard.file, records, ex, 0, shard.start, shard.stop, shard.offset), ex

    def _file_documents(self, file_no: int, records: bool, ex: Exclusions, index: int, start: int = 0,
                        stop: int | None = None, offset: int | None = None) -> Iterator[Document]:
        f = self.files[file_no]
        source = (self._arrow_rows(f, None if records else self._columns[file_no], start, stop) if f.is_arrow
                  else readers.iter_jsonl(f, start, stop, offset))
        spec = self.specs[file_no]
        # Arrow columns were checked against the schema at construction, a file's first record too
        checked = f.is_arrow or start > 0
        for row, value, reason, detail in source:
            ex.n_records += 1
            if reason:
                ex.add(reason, f.label, row, detail)
                continue
            if not isinstance(value, dict):
                ex.add("not_an_object", f.label, row, type(value).__name__)
                continue
            if f.described is not None and EXCLUDED_KEY in value:  # a file zipfit.io.memory could not use
                ex.add(value[EXCLUDED_KEY], f.label, row, value.get(DETAIL_KEY, ""))
                continue
            if not checked:
                self._check_record_fields(f, value, spec)
                checked = True
            text, reason, detail = extract_text(value, spec)
            if reason:
                ex.add(reason, f.label, row, detail)
                continue
            doc_id = value.get("id")
            yield Document(index, text, file_no, row, value if records else None,
                           None if doc_id is None else str(doc_id))
            index += 1

    def _arrow_rows(self, f: InputFile, columns: list[str] | None, start: int = 0,
                    stop: int | None = None) -> Iterator[tuple[int, Any, str, str]]:
        row = start
        for batch in readers.iter_arrow_batches(f, columns, start, stop):
            for rec in batch.to_pylist():
                row += 1
                yield row, rec, "", ""

    def rows(self, file_no: int, every: int) -> tuple[int, list[int | None]]:
        """Rows of one input, and where every ``every``-th row starts (byte offset, or None if unseekable)."""
        known = self._row_starts.get((file_no, every))
        if known is not None:
            return known
        f = self.files[file_no]
        if f.is_arrow:
            n = readers.arrow_rows(f)
            return n, [None] * -(-n // every)
        return readers.jsonl_row_starts(f, every)

    def remember_rows(self, file_no: int, every: int, rows: tuple[int, list[int | None]]) -> None:
        """What ``rows(file_no, every)`` returns from now on, as a worker counted it: this process need not read the
        file for it."""
        self._row_starts[(file_no, every)] = rows

    def rows_known(self, every: int) -> bool:
        return all((i, every) in self._row_starts for i in range(len(self.files)))

    def text_of(self, file_no: int, record: Any) -> str | None:
        """The text of a raw record of input ``file_no`` as this corpus reads it; None for a record it excludes."""
        if not isinstance(record, dict):
            return None
        text, reason, _ = extract_text(record, self.specs[file_no])
        return None if reason else text

    @property
    def rows_counted(self) -> bool:
        """Whether ``total_rows`` has counted already (a second call costs nothing)."""
        return self._total_rows is not None

    def total_rows(self, on_bytes: Callable[[int], None] | None = None) -> int | None:
        """Rows of all inputs (records, eligible or not), counted once and remembered: a progress bar's total.
        Arrow inputs say it in their metadata; JSON Lines inputs are read once, fast (``on_bytes`` hears of the
        bytes read). None when an input is a remote JSON Lines file, which would have to be downloaded to count."""
        if self._total_rows is None:
            total = 0
            for f in self.files:
                n = readers.arrow_rows(f) if f.is_arrow else readers.jsonl_rows(f, on_bytes)
                if n is None:
                    return None
                total += n
            self._total_rows = total
        return self._total_rows

    # ---- checks --------------------------------------------------------------------------------------------

    def _missing_field_error(self, f: InputFile, name: str, available: Sequence[str],
                             spec: TextSpec) -> ZipfitError:
        # field names come from the data: escape the unprintable ones so the message stays one line
        shown = ", ".join(n if n.isprintable() else repr(n) for n in map(str, available[:_MAX_LISTED_FIELDS]))
        if len(available) > _MAX_LISTED_FIELDS:
            shown += f", ... ({len(available)} in all)"
        option = "--" if self.role == "source" else f"--{self.role}-"  # the options that read this role's records
        if spec != self.spec:
            option = "--source PATH "  # this input has options of its own
        if name in spec.text_fields:
            hint = f"choose one with {option}text-field or {option}template"
            if spec.template is not None:
                hint = f"it is used by {option}template {spec.template!r}; " + hint
        else:
            hint = f"it is used by {option}where"
        return ZipfitError(f"{f.label}: no field {name!r} in {self.role} records (fields: {shown}); {hint}")

    def _check_record_fields(self, f: InputFile, rec: Mapping[str, Any], spec: TextSpec) -> None:
        for name in spec.fields:
            if name not in rec:
                raise self._missing_field_error(f, name, list(rec), spec)

    def _check_fields(self, f: InputFile, spec: TextSpec) -> list[str]:
        """Check the text fields exist; return the field names found (schema or first record)."""
        if f.is_arrow:
            names = readers.arrow_schema(f).names
            for name in spec.fields:
                if name not in names:
                    raise self._missing_field_error(f, name, names, spec)
            return list(names)
        with closing(readers.iter_jsonl(f)) as lines:
            for n, (_row, value, _reason, _detail) in enumerate(lines):
                if isinstance(value, dict):
                    self._check_record_fields(f, value, spec)
                    return list(value)
                if n >= _FIRST_OBJECT_SCAN:
                    break
        return []

    def check_unchanged(self) -> None:
        """Raise if an input changed since construction: the output would not match what was recorded."""
        for f in self.files:
            if current_stat(f) != f.stat_key:
                raise ZipfitError(f"{f.label} changed while zipfit was reading it")

    # ---- metadata ------------------------------------------------------------------------------------------

    def describe(self, sha256: Sequence[str | None] | None = None) -> list[dict]:
        """Per input: path, format, bytes, sha256 (reads every file once; meant for the run manifest). ``sha256``: the
        hashes where workers computed them already."""
        known = list(sha256) if sha256 is not None else [None] * len(self.files)
        return [
            dict(f.described) if f.described is not None else
            {"path": str(f.path), "format": f.format, "bytes": f.size, "sha256": digest or input_sha256(f)}
            for f, digest in zip(self.files, known, strict=True)
        ]

    def arrow_schema(self) -> pa.Schema | None:
        """One schema for all inputs when every input is Parquet/Arrow, so a Parquet output keeps their types.

        None when any input is JSON Lines, or when the inputs' column types cannot be unified (the writer then
        infers a schema from the records, and reports a real conflict itself only if a Parquet output needs it).
        Schema metadata (pandas, huggingface) is dropped: it describes the inputs' columns, not the output's.
        """
        if not all(f.is_arrow for f in self.files):
            return None
        schemas = [readers.arrow_schema(f).remove_metadata() for f in self.files]
        try:
            return pa.unify_schemas(schemas, promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            return None

    def __repr__(self) -> str:
        return f"Corpus({[str(f.path) for f in self.files]!r}, {self.spec!r}, role={self.role!r})"
