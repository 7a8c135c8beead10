"""Bookkeeping for records that were read but not used, so nothing disappears uncounted."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

REASONS = (
    "blank_line",
    "invalid_utf8",
    "malformed_json",
    "not_an_object",
    "missing_field",
    "non_string_text",
    "empty_text",
    "filtered",
    # decontamination (--exclude) and deduplication (--dedup), counted apart from the data problems above
    "ngram_overlap",
    "near_duplicate",
    "exact_duplicate",
)
FILTERED = "filtered"
MAX_EXAMPLES = 5


class Exclusions:
    """Counts of records that were not used, by reason, with the first 5 examples ("path:row") per reason.

    "filtered" (failed a --where filter) is counted here too but is a choice, not a data problem, so it is
    left out of `total` and reported separately in `summary`.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._examples: dict[str, list[str]] = {}
        self._details: dict[str, list[str]] = {}
        self.n_records = 0  # records seen, set by the reader; lets summary() say "3 of 1,203"
        # every exclusion as (file, row, reason, detail), when a caller asks for them (the score dataset does)
        self.log: list[tuple[str, int, str, str]] | None = None

    def add(self, reason: str, file: str | os.PathLike, row: int, detail: str = "") -> None:
        if reason not in REASONS and not (reason.isidentifier() and reason.islower()):
            raise ValueError(f"unknown exclusion reason {reason!r}")  # a filter's own reasons are snake_case names
        self._counts[reason] = self._counts.get(reason, 0) + 1
        if self.log is not None:
            self.log.append((str(file), row, reason, detail))
        examples = self._examples.setdefault(reason, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(f"{file!s}:{row}")
            self._details.setdefault(reason, []).append(detail)

    def to_dict(self) -> dict[str, Any]:
        """Everything, for a checkpoint (``as_dict`` is the report form)."""
        return {"n_records": self.n_records, "counts": self._counts, "examples": self._examples,
                "details": self._details}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Exclusions:
        ex = cls()
        ex.n_records = int(state["n_records"])
        ex._counts = {str(k): int(v) for k, v in state["counts"].items()}
        ex._examples = {str(k): list(v) for k, v in state["examples"].items()}
        ex._details = {str(k): list(v) for k, v in state["details"].items()}
        return ex

    def merge(self, later: Exclusions) -> None:
        """Add the exclusions of a later part of the input (a shard): counts add, the first examples stay first."""
        self.n_records += later.n_records
        for reason, count in later._counts.items():
            self._counts[reason] = self._counts.get(reason, 0) + count
            examples = self._examples.setdefault(reason, [])
            details = self._details.setdefault(reason, [])
            room = MAX_EXAMPLES - len(examples)
            examples.extend(later._examples[reason][:room])
            details.extend(later._details[reason][:room])

    @property
    def total(self) -> int:
        return sum(n for r, n in self._counts.items() if r != FILTERED)

    @property
    def filtered(self) -> int:
        return self._counts.get(FILTERED, 0)

    def counts(self) -> dict[str, int]:
        return dict(sorted(self._counts.items()))

    def examples(self, reason: str) -> list[str]:
        return list(self._examples.get(reason, []))

    def as_dict(self) -> dict[str, Any]:
        by_reason: dict[str, Any] = {}
        for reason, count in sorted(self._counts.items()):
            entry: dict[str, Any] = {"count": count, "examples": list(self._examples[reason])}
            if any(self._details[reason]):
                entry["details"] = list(self._details[reason])
            by_reason[reason] = entry
        return {"total": self.total, "by_reason": by_reason, "filtered": self.filtered}

    def summary(self, role: str) -> str:
        """One line for logs; empty when every record was used."""
        if not self._counts:
            return ""
        of = f" of {self.n_records:,}" if self.n_records else ""
        parts = []
        excluded = sorted(((n, r) for r, n in self._counts.items() if r != FILTERED), key=lambda t: (-t[0], t[1]))
        if excluded:
            reasons = ", ".join(f"{n:,} {r} ({self._short_examples(r)})" for n, r in excluded)
            parts.append(f"excluded {self.total:,}{of} {role} records: {reasons}")
        if self.filtered:
            if excluded:
                parts.append(f"{self.filtered:,} filtered out by --where")
            else:
                parts.append(f"filtered out {self.filtered:,}{of} {role} records by --where")
        return "; ".join(parts)

    def report(self, logger: logging.Logger, role: str, filter_name: str = "--where") -> None:
        """Log the exclusions: records that could not be used as a warning; records a filter left out, which the
        user asked for, as information (so --quiet hides them), naming the filter they actually gave."""
        of = f" of {self.n_records:,}" if self.n_records else ""
        excluded = {r: n for r, n in self._counts.items() if r != FILTERED}
        if excluded:
            reasons = ", ".join(f"{n:,} {r} ({self._short_examples(r)})"
                                for n, r in sorted(((n, r) for r, n in excluded.items()), key=lambda t: (-t[0], t[1])))
            logger.warning("excluded %s%s %s records: %s", f"{self.total:,}", of, role, reasons)
        if self.filtered:
            logger.info("filtered out %s%s %s records by %s", f"{self.filtered:,}", of, role, filter_name)

    def _short_examples(self, reason: str) -> str:
        shown = [self._shorten(e) for e in self._examples[reason][:3]]
        if self._counts[reason] > len(shown):
            shown.append("...")
        return ", ".join(shown)

    @staticmethod
    def _shorten(example: str) -> str:
        path, _, row = example.rpartition(":")
        return f"{Path(path).name}:{row}"

    def __repr__(self) -> str:
        return f"Exclusions({self.counts()!r})"
