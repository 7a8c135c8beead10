"""Every input record beside its row of the score dataset: what ``--rejects`` and ``score --annotate`` read.

The score dataset holds a row per input record (``file, row, score, status, reason, detail``), in input order;
the inputs hold the records themselves. ``dataset_rows`` walks the first, ``raw_records`` streams the second
(every row, including the ones that could not be parsed), so the two are joined by (file, row) in one pass.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from zipfit.io.exclusions import FILTERED
from zipfit.io.inputs import InputFile
from zipfit.io.readers import arrow_rows_at, iter_arrow_batches, iter_jsonl, lines_at
from zipfit.pipeline.scores import EXCLUDED, ScoreDataset


@dataclass(frozen=True)
class Row:
    file_no: int  # index of the input file
    file: str  # the input path, as the score dataset names it
    row: int  # 1-based
    position: int | None  # index among eligible documents (None: excluded or filtered)
    score: float | None
    status: str
    reason: str | None
    detail: str | None


def dataset_rows(dataset: ScoreDataset, keys: Sequence[str]) -> Iterator[Row]:
    """The dataset's rows, part by part in input order, each with its eligible-document position."""
    position = 0
    for key in keys:
        file_no = int(key.split("-")[0])
        columns = dataset.read_part(key).select(["file", "row", "score", "status", "reason", "detail"]).to_pydict()
        for file, row, score, status, reason, detail in zip(columns["file"], columns["row"], columns["score"],
                                                            columns["status"], columns["reason"], columns["detail"],
                                                            strict=True):
            eligible = status not in (EXCLUDED, FILTERED)
            yield Row(file_no, file, row, position if eligible else None, score, status, reason, detail)
            position += eligible


def raw_records(f: InputFile) -> Iterator[tuple[int, Any]]:
    """(row, value) for every row of an input: the parsed JSON value (None for a line that is not JSON), or the
    Arrow row as a dict."""
    if f.is_arrow:
        row = 0
        for batch in iter_arrow_batches(f, None):
            for rec in batch.to_pylist():
                row += 1
                yield row, rec
    else:
        for row, value, _reason, _detail in iter_jsonl(f):
            yield row, value


def records_at(files: Sequence[InputFile], wanted: Iterator[tuple[int, int]]) -> Iterator[Any]:
    """The value of each (file_no, row) in ``wanted`` (ascending), as ``raw_records`` gives it, by one streaming
    read of the files named that decodes only the rows wanted."""
    return (value for value, _ in records_and_lines_at(files, wanted))


def records_and_lines_at(files: Sequence[InputFile], wanted: Iterator[tuple[int, int]]) -> Iterator[tuple[Any, str |
                                                                                                          None]]:
    """As ``records_at``, with the row's raw line where it is not a JSON object (a malformed, blank or non-UTF-8
    line, an array, a number), invalid bytes escaped (``\\xNN``); None for an object or a Parquet/Arrow row."""
    for file_no, group in itertools.groupby(wanted, key=lambda w: w[0]):
        f = files[file_no]
        rows = (row for _, row in group)
        if f.is_arrow:
            yield from ((rec, None) for rec in arrow_rows_at(f, rows))
        else:
            for row, line in lines_at(f, rows):
                value = json_value(row, line)
                raw = None if isinstance(value, dict) else line.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
                yield value, raw


def json_value(row: int, line: bytes) -> Any:
    """A JSON Lines row's value, or None where it is blank, not UTF-8 or not JSON (as ``iter_jsonl`` reads it)."""
    if row == 1 and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    try:
        return json.loads(line.decode("utf-8")) if line.strip() else None
    except ValueError:  # UnicodeDecodeError included
        return None
