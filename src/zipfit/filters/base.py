"""The contract every filter follows: decontamination, dedup, and whatever a user adds.

A filter is fitted once (``fit``), pickled to the workers, set up once per process (``setup``), and then
flags batches of texts: ``flag(texts)`` gives, per text, None (keep) or the reason it is dropped, one of
``reasons``. ``params`` is what the manifest records.

Where it runs is declared, not guessed:
- ``stage = "map"``: stateless; every document, on the workers, before it is scored. What it flags is
  not scored and appears in the score dataset with ``status`` (e.g. "contaminated") and the reason.
- ``stage = "cut"``: stateful, in rank order, on the driver while the budget is cut: whether a document
  is dropped depends on the better-ranked documents kept before it (dedup).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

MAP, CUT = "map", "cut"


class Filter(ABC):
    name: ClassVar[str]
    stage: ClassVar[str] = MAP
    status: ClassVar[str]  # the score dataset's status for the documents it drops
    reasons: ClassVar[tuple[str, ...]]

    def fit(self, texts: Sequence[str] = ()) -> Filter:
        """Learn what to flag (e.g. the excluded documents); returns self."""
        return self

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Build per-process state once per worker (after unpickling)."""

    @abstractmethod
    def flag(self, texts: Sequence[str]) -> list[str | None]:
        """Per text: None to keep it, else the reason (one of ``reasons``) to drop it."""

    def params(self) -> dict[str, Any]:
        return {}


class FilterChain:
    """Several map-stage filters as one: a text is dropped by the first filter that flags it. Flags are
    small integers (0 = kept, else 1 + the index of the reason in ``reasons``), so a batch's flags travel
    back from a worker as one int8 array."""

    def __init__(self, filters: Sequence[Filter]) -> None:
        for f in filters:
            if f.stage != MAP:
                raise ValueError(f"{f.name} is a {f.stage}-stage filter; the map pass applies map-stage ones")
        self.filters = list(filters)
        self.reasons = [r for f in self.filters for r in f.reasons]
        self.statuses = [f.status for f in self.filters for _ in f.reasons]
        if len(self.reasons) > 127:
            raise ValueError("more than 127 filter reasons do not fit an int8 flag")

    def setup(self) -> None:
        for f in self.filters:
            f.setup()

    def flags(self, texts: Sequence[str]) -> list[int]:
        out = [0] * len(texts)
        offset = 0
        for f in self.filters:
            todo = [i for i, flag in enumerate(out) if flag == 0]
            if todo:
                for i, reason in zip(todo, f.flag([texts[i] for i in todo]), strict=True):
                    if reason is not None:
                        out[i] = 1 + offset + f.reasons.index(reason)
            offset += len(f.reasons)
        return out

    def reason(self, flag: int) -> str:
        return self.reasons[flag - 1]

    def status(self, flag: int) -> str:
        return self.statuses[flag - 1]
