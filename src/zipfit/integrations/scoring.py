"""The part of a zipfit run every integration shares: the targets read and the method fitted once, in the calling
process, then set up once in each process that scores (a framework's workers), and the rule that says which records
are scored.

A framework pickles the ``Scorer`` into its workers (datatrove tasks, ``Dataset.map`` processes, Ray actors); each
process sets the method up (the compressor states of the targets) on its first batch and keeps it, by the scorer's
key, for every later batch and every later copy of the same scorer. The numbers are those of ``zipfit score``: the
same method object, fitted on the same targets, the same background sample for a method that needs one, the same
token counter and the same record rule (``zipfit.io.corpus.extract_text``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.fingerprint import fingerprint, texts_digest
from zipfit.io.corpus import Document, extract_text
from zipfit.io.textspec import TextSpec, parse_where
from zipfit.methods import SCORES, Method, make_method
from zipfit.tokens import TokenCounter

# the set-up method of every scorer this process has scored with, by the scorer's key
_READY: dict[str, Method] = {}

NOT_ELIGIBLE = ("excluded", "filtered")  # statuses of records that are not documents (as in the score dataset)


class RecordDocuments:
    """Records seen as zipfit documents (index, text, row), for the passes a method needs over the source before
    it can score (a background sample, source statistics): ``records`` is called once per pass."""

    def __init__(self, records: Callable[[], Iterable[Mapping[str, Any]]], spec: TextSpec) -> None:
        self.records = records
        self.spec = spec
        self.n_records = 0  # records seen by the latest documents() pass, as a Corpus counts them

    def documents(self) -> Iterator[Document]:
        self.n_records = 0
        index = 0
        for row, record in enumerate(self.records(), 1):
            self.n_records = row
            text, reason, _ = extract_text(record, self.spec)
            if reason:
                continue
            yield Document(index, text, 0, row, None)
            index += 1


@dataclass
class Scorer:
    """A fitted method, its token counter and how a record's text is chosen; picklable."""

    method: Method
    tokenizer: str
    spec: TextSpec
    key: str  # everything the scores depend on: the method, its parameters, the targets, the background
    info: dict[str, Any] = field(default_factory=dict)  # what a manifest records about the run
    _counter: TokenCounter | None = field(default=None, repr=False)

    @property
    def counter(self) -> TokenCounter:
        if self._counter is None:
            self._counter = TokenCounter(self.tokenizer)
        return self._counter

    def ready(self) -> Method:
        """The method, set up once in this process (its first call here builds the targets' compressor states)."""
        method = _READY.get(self.key)
        if method is None:
            self.method.setup()
            self.counter.setup()
            method = _READY[self.key] = self.method
        return method

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Scores (NaN: the method could not score a text) and token counts of eligible texts."""
        if not texts:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        return self.ready().score(list(texts)), self.counter.count(texts)

    def text(self, record: Mapping[str, Any]) -> tuple[str, str, str]:
        """(text, "", "") for a record zipfit scores, else ("", reason, detail)."""
        return extract_text(record, self.spec)

    @property
    def unscorable_reason(self) -> str:
        return self.method.unscorable_reason

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_counter"] = None  # a loaded tokenizer is rebuilt where it is used
        return state


@dataclass
class Scored:
    """One batch of records, scored: per record its score (None: not a document; NaN: unscorable), tokens,
    characters, status (``scored``, ``unscorable``, ``excluded``, ``filtered``) and reason."""

    scores: list[float | None]
    n_tokens: list[int | None]
    n_chars: list[int | None]
    statuses: list[str]
    reasons: list[str | None]
    details: list[str | None]


def score_records(scorer: Scorer, records: Sequence[Mapping[str, Any]]) -> Scored:
    """Score a batch of records as ``zipfit score`` scores the records of a file."""
    n = len(records)
    out = Scored([None] * n, [None] * n, [None] * n, ["excluded"] * n, [None] * n, [None] * n)
    texts, where = [], []
    for i, record in enumerate(records):
        text, reason, detail = scorer.text(record)
        if reason:
            out.statuses[i] = "filtered" if reason == "filtered" else "excluded"
            out.reasons[i], out.details[i] = reason, detail or None
            continue
        texts.append(text)
        where.append(i)
    scores, n_tokens = scorer.score(texts)
    for i, text, score, tokens in zip(where, texts, scores.tolist(), n_tokens.tolist(), strict=True):
        out.scores[i], out.n_tokens[i], out.n_chars[i] = score, tokens, len(text)
        if np.isfinite(score):
            out.statuses[i] = "scored"
        else:
            out.statuses[i], out.reasons[i] = "unscorable", scorer.unscorable_reason
    return out


def read_targets(target: Any, *, text_field: str = "text", template: str | None = None,
                 where: Any = None) -> list[str]:
    """The target texts: files (paths, globs, ``files:DIR``), a list of texts, or in-memory records (a list of
    dicts, a pandas DataFrame, a pyarrow Table, a ``datasets.Dataset``) read with the target's field or template."""
    from zipfit.api import load_targets
    from zipfit.io.memory import TEXTS_KINDS, Staging

    with Staging() as staging:
        paths, kind = staging.stage(target, "target")
        spec = TextSpec(field="text", where=parse_where(where)) if kind in TEXTS_KINDS else \
            TextSpec(field=text_field, template=template, where=parse_where(where))
        texts, _, _ = load_targets(paths, None, spec)
    return texts


def fit_scorer(
    target: Any,
    *,
    method: str = "zipfit",
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    tokenizer: str = "whitespace",
    text_field: str = "text",
    template: str | None = None,
    where: Any = None,
    target_text_field: str = "text",
    target_template: str | None = None,
    source: Any = None,
) -> Scorer:
    """Read the targets, build and fit the method (a method that needs the source first, such as
    ``zipfit-debiased``'s background sample, draws it from ``source``: anything with ``documents()``, a
    ``zipfit.io.Corpus`` or a ``RecordDocuments``), as ``zipfit score`` does."""
    from zipfit.engines import LocalEngine
    from zipfit.manifest import Timer
    from zipfit.methods.base import BACKGROUND, SOURCE_STATS
    from zipfit.selection import prepare

    spec = TextSpec(field=text_field, template=template, where=parse_where(where))
    targets = read_targets(target, text_field=target_text_field, template=target_template)
    fitted = make_method(method, dict(params or {}), seed=seed)
    if fitted.kind != SCORES:
        raise ZipfitError(f"method {method} does not give every document its own exact score; the integrations "
                          "need one that does" + (" (zipfit-fast selects the same documents as zipfit: use "
                                                  "method='zipfit')" if method == "zipfit-fast" else ""))
    TokenCounter(tokenizer)  # a tokenizer that cannot be loaded is an error now, not in a worker
    fitted.fit(targets)
    needs = fitted.needs & {BACKGROUND, SOURCE_STATS}
    if needs:
        if source is None:
            raise ZipfitError(f"method {method} needs a pass over the source before it scores ({', '.join(needs)}): "
                              "give the source documents to fit it with")
        with LocalEngine(1, progress=False) as engine:
            prepare(fitted, source, engine, seed, Timer())
    background = getattr(fitted, "background_", None)
    info = {"method": {"name": fitted.name, **fitted.params()}, "targets": texts_digest(targets),
            "n_targets": len(targets), "tokenizer": tokenizer, "seed": seed,
            "background": None if background is None else texts_digest(background)}
    return Scorer(fitted, tokenizer, spec, fingerprint(info), info)
