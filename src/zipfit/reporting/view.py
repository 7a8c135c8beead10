"""What a report shows, computed from the score dataset: the numbers behind every plot and table.

A run's view holds small columns only (score, lengths, file and row per record) and the selection as positions
among the eligible documents, so it stays cheap on millions of documents; the records themselves are read by
position, once, for the handful of examples shown and the documents that target coverage compares.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zipfit.io.exclusions import FILTERED
from zipfit.io.inputs import InputFile
from zipfit.ncd import GzipPairLengths, ncd_values
from zipfit.pipeline.groups import encode
from zipfit.pipeline.records import records_and_lines_at, records_at
from zipfit.pipeline.scores import EXCLUDED, SCORED, ScoreDataset

SHOWN_CHARS = 400  # an example's text is cut to this many characters
COVERAGE_PAIRS = 20_000  # target coverage compares at most this many (target, document) pairs: ~1 s

TextOf = Callable[[int, Any], "str | None"]  # (file number, raw record) -> the document's text, or None


@dataclass
class Rejected:
    """One record that was not scored, with where it came from."""

    file: str
    row: int
    status: str
    reason: str
    detail: str


@dataclass
class RunView:
    """A run's documents as arrays over its eligible documents (input order), and what it selected.

    ``selected`` holds eligible positions, best first (None for a run that selected nothing: ``score``).
    """

    manifest: dict[str, Any]
    files: list[str]
    file_no: np.ndarray
    row: np.ndarray
    scores: np.ndarray
    n_tokens: np.ndarray
    n_chars: np.ndarray
    selected: np.ndarray | None
    rejected_counts: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, list[Rejected]] = field(default_factory=dict)  # reason -> the first few

    @property
    def chosen(self) -> np.ndarray:
        """A boolean mask of the selected documents (all False without a selection)."""
        mask = np.zeros(len(self.scores), dtype=bool)
        if self.selected is not None:
            mask[self.selected] = True
        return mask


def read_view(dataset: ScoreDataset, keys: Sequence[str], manifest: dict[str, Any], selected: np.ndarray | None,
              *, examples_per_reason: int = 5) -> RunView:
    """The view of a run from its score dataset's parts (``keys``, in input order)."""
    columns: dict[str, list[np.ndarray]] = {n: [] for n in ("file_no", "row", "score", "n_tokens", "n_chars")}
    counts: Counter[str] = Counter()
    rejected: dict[str, list[Rejected]] = {}
    for key in keys:
        file_no = int(key.split("-")[0])
        table = dataset.read_part(key)
        status = table.column("status").to_numpy(zero_copy_only=False)  # an object array of str
        eligible = (status != EXCLUDED) & (status != FILTERED)
        take = np.flatnonzero(eligible)
        rows = table.column("row").to_numpy()
        columns["file_no"].append(np.full(len(take), file_no, dtype=np.int32))
        columns["row"].append(rows[take].astype(np.int64))
        columns["score"].append(table.column("score").to_numpy(zero_copy_only=False)[take].astype(np.float64))
        columns["n_tokens"].append(table.column("n_tokens").to_numpy(zero_copy_only=False)[take].astype(np.int64))
        columns["n_chars"].append(table.column("n_chars").to_numpy(zero_copy_only=False)[take].astype(np.int64))
        not_scored = np.flatnonzero(status != SCORED)
        if len(not_scored):
            reasons = table.column("reason").to_pylist()
            details = table.column("detail").to_pylist()
            files = table.column("file").to_pylist()
            for i in not_scored.tolist():
                reason = reasons[i] or status[i]
                counts[reason] += 1
                shown = rejected.setdefault(reason, [])
                if len(shown) < examples_per_reason:
                    shown.append(Rejected(files[i], int(rows[i]), str(status[i]), reason, details[i] or ""))

    def joined(name: str, dtype: Any) -> np.ndarray:
        return np.concatenate(columns[name]) if columns[name] else np.zeros(0, dtype=dtype)

    return RunView(manifest, list(dataset.files), joined("file_no", np.int32), joined("row", np.int64),
                   joined("score", np.float64), joined("n_tokens", np.int64), joined("n_chars", np.int64),
                   None if selected is None else np.asarray(selected, dtype=np.int64), dict(counts), rejected)


# ---- the mix: what was selected against what was available ---------------------------------------------------


@dataclass
class Mix:
    groups: list[str]
    source_docs: np.ndarray
    source_tokens: np.ndarray
    selected_docs: np.ndarray
    selected_tokens: np.ndarray
    by: str  # the field grouped by, or "source file"


def group_codes(view: RunView, inputs: Sequence[InputFile] | None, group_by: str | None) -> tuple[np.ndarray,
                                                                                                list[str], str]:
    """A group number per eligible document and the groups' names: the value of ``group_by`` (read from the
    inputs by position, one streaming pass) or the source file."""
    if group_by is None or inputs is None:
        names = list(view.files)
        return view.file_no.astype(np.int64), names, "source file"
    codes, names = encode(field_values(inputs, view.file_no, view.row, group_by))
    return codes.astype(np.int64), names, group_by


def field_values(inputs: Sequence[InputFile], file_no: np.ndarray, row: np.ndarray, name: str) -> list[Any]:
    """The value of field ``name`` of each (file, row), in order (None where a record lacks it)."""
    wanted = iter(zip(file_no.tolist(), row.tolist(), strict=True))
    return [rec.get(name) if isinstance(rec, dict) else None for rec in records_at(inputs, wanted)]


def mix(view: RunView, codes: np.ndarray, names: list[str], by: str) -> Mix:
    n = len(names)
    chosen = view.chosen
    return Mix(names,
               np.bincount(codes, minlength=n), np.bincount(codes, weights=view.n_tokens, minlength=n).astype(np.int64),
               np.bincount(codes[chosen], minlength=n),
               np.bincount(codes[chosen], weights=view.n_tokens[chosen], minlength=n).astype(np.int64), by)


# ---- distributions --------------------------------------------------------------------------------------------


@dataclass
class Histogram:
    edges: np.ndarray
    source: np.ndarray  # documents per bin, all eligible scored documents
    selected: np.ndarray  # documents per bin, the selection
    marker: float | None  # the cutoff (scores) or None


def score_histogram(view: RunView, bins: int = 40) -> Histogram:
    finite = np.isfinite(view.scores)
    values = view.scores[finite]
    lo, hi = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    chosen = view.chosen & finite
    cutoff = None
    if view.selected is not None and len(view.selected):
        cutoff = float(view.scores[view.selected[-1]])
    return Histogram(edges, np.histogram(values, edges)[0], np.histogram(view.scores[chosen], edges)[0], cutoff)


def length_histogram(values: np.ndarray, chosen: np.ndarray, bins: int = 40) -> Histogram:
    """Lengths on log-spaced bins: documents span orders of magnitude."""
    positive = np.maximum(values, 1)
    lo = float(positive.min()) if len(positive) else 1.0
    hi = max(lo * 2.0, float(positive.max())) if len(positive) else 2.0
    edges = np.geomspace(lo * 0.9999, hi * 1.0001, bins + 1)
    return Histogram(edges, np.histogram(positive, edges)[0], np.histogram(positive[chosen], edges)[0], None)


def medians(view: RunView) -> dict[str, dict[str, float | None]]:
    chosen = view.chosen

    def med(values: np.ndarray) -> float | None:
        return float(np.median(values)) if len(values) else None

    return {name: {"source": med(values), "selected": med(values[chosen]) if view.selected is not None else None}
            for name, values in (("chars", view.n_chars), ("tokens", view.n_tokens))}


# ---- examples --------------------------------------------------------------------------------------------------


@dataclass
class Example:
    rank: int | None  # 1 = best of the run's ranking; None outside it
    score: float
    file: str
    row: int
    text: str | None  # shortened; None where the inputs could not be read


def ranking(view: RunView) -> np.ndarray:
    """Every scored document, best first, ties by input order (the order the cut uses)."""
    finite = np.flatnonzero(np.isfinite(view.scores))
    return finite[np.lexsort((finite, -view.scores[finite]))]


def example_positions(view: RunView, n: int) -> dict[str, list[tuple[int, int | None]]]:
    """(eligible position, rank) of the top documents, the last ones in and the first ones out at the cutoff."""
    if view.selected is None:
        order = ranking(view)
        return {"top": [(int(p), i + 1) for i, p in enumerate(order[:n])]}
    selected = view.selected.tolist()
    out = {"top": [(p, i + 1) for i, p in enumerate(selected[:n])]}
    start = max(n, len(selected) - n)
    out["last in"] = [(p, i + 1) for i, p in enumerate(selected[start:], start=start)]
    chosen = view.chosen
    out["first out"] = [(int(p), None) for p in [q for q in ranking(view) if not chosen[q]][:n]]
    return out


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def read_texts(view: RunView, positions: Sequence[int], inputs: Sequence[InputFile] | None,
               text_of: TextOf | None) -> dict[int, str | None]:
    """The text of each eligible position, read in one streaming pass over the files that hold them; None for
    all when the inputs cannot be read (moved, changed, or held in memory by the run that scored them)."""
    wanted = sorted(set(positions))
    texts: dict[int, str | None] = dict.fromkeys(wanted)
    if inputs is None or text_of is None or not wanted:
        return texts
    try:
        pairs = iter((int(view.file_no[p]), int(view.row[p])) for p in wanted)
        for p, rec in zip(wanted, records_at(inputs, pairs), strict=True):
            texts[p] = text_of(int(view.file_no[p]), rec)
    except (OSError, ValueError):
        return dict.fromkeys(wanted)
    return texts


def read_examples(view: RunView, positions: dict[str, list[tuple[int, int | None]]],
                  inputs: Sequence[InputFile] | None, text_of: TextOf | None) -> dict[str, list[Example]]:
    """The examples of each section with their text, shortened."""
    texts = read_texts(view, [p for items in positions.values() for p, _ in items], inputs, text_of)
    return {section: [example(view, p, rank, texts[p]) for p, rank in items] for section, items in positions.items()}


def example(view: RunView, position: int, rank: int | None, text: str | None, limit: int = SHOWN_CHARS) -> Example:
    return Example(rank, float(view.scores[position]), view.files[int(view.file_no[position])],
                   int(view.row[position]), None if text is None else shorten(text, limit))


def read_rejected_records(view: RunView, inputs: Sequence[InputFile] | None) -> dict[tuple[str, int], str]:
    """The record of each rejected example shown (or, for a line that is not a JSON object, the line itself),
    shortened, keyed by (file, row)."""
    if inputs is None:
        return {}
    by_label = {f.label: i for i, f in enumerate(inputs)}
    wanted = sorted({(by_label[r.file], r.row) for items in view.rejected.values() for r in items
                     if r.file in by_label})
    try:
        values = list(records_and_lines_at(inputs, iter(wanted)))
    except (OSError, ValueError):
        return {}
    return {(inputs[file_no].label, row): shorten(_record_text(value) if isinstance(value, dict) else line or "")
            for (file_no, row), (value, line) in zip(wanted, values, strict=True)}


def _record_text(record: dict) -> str:
    import json

    return json.dumps(record, ensure_ascii=False, default=str)


# ---- target coverage -------------------------------------------------------------------------------------------


@dataclass
class Coverage:
    """For every target, the closest compared document and its NCD, least covered first."""

    target: list[str]  # shortened target texts
    ncd: np.ndarray
    closest: list[Example]
    compared: int  # how many documents each target was compared with
    of: str  # which documents: "selected" or "best-scored"
    level: int


def coverage_candidates(view: RunView, n_targets: int, max_pairs: int = COVERAGE_PAIRS) -> tuple[np.ndarray, str]:
    """The documents targets are compared with: the selection (else the best-scored), best first, as many as fit
    in ``max_pairs`` comparisons."""
    pool, of = (view.selected, "selected") if view.selected is not None else (ranking(view), "best-scored")
    m = max(1, max_pairs // max(1, n_targets))
    return pool[:m], of


def coverage(targets: Sequence[str], docs: Sequence[str], examples: Sequence[Example], of: str,
             level: int = 6) -> Coverage:
    """NCD of every target with every document (gzip at ``level``), and the closest document per target."""
    ys = [t.encode("utf-8") for t in targets]
    cy = [len(gzip.compress(y, level, mtime=0)) for y in ys]
    pairs = GzipPairLengths(ys, level)
    best = np.full(len(ys), np.inf)
    where = np.zeros(len(ys), dtype=np.int64)
    for j, text in enumerate(docs):
        cx, cxy = pairs.lengths(text.encode("utf-8"))
        values = np.asarray(ncd_values(cx, cy, cxy))
        better = values < best
        best[better] = values[better]
        where[better] = j
    order = np.lexsort((np.arange(len(ys)), -best))  # least covered first; ties in target order
    return Coverage([shorten(targets[i], 200) for i in order.tolist()], best[order],
                    [examples[int(where[i])] for i in order.tolist()] if docs else [], len(docs), of, level)
