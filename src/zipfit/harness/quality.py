"""Labelled selection tasks from ``../shared/data``: how well a method finds the target's domain in a mixed source.

A task names one dataset whose held-out records are the target; the source mixes several domains (Lean 4,
Python, LaTeX math, English prose), each from one or more datasets and each labelled with its ``domain``.
Every domain is cut into documents of three length strata in equal numbers, so a method that prefers short
(or long) documents gains nothing from length alone: a length-only ranking selects every domain at its
share of the source. Targets come from records that never reach the source (the split is by record, before
any cutting), so a method cannot win by finding near copies of its targets. The ``proofnet`` task is the paper's
setting: ProofNet statements (English + Lean 4), none of them in the source, against Lean files.

Everything is seeded: the same task, sizes and seed give the same mix, byte for byte.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.harness.sourcemix import chunk

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"

# (name, lowest, highest) characters; every domain gets the same number of documents in each
STRATA = (("short", 100, 500), ("medium", 500, 2000), ("long", 2000, 6000))
TARGET_MAX_CHARS = 2000  # a target example is a held-out record or, if longer, a piece of one


@dataclass(frozen=True)
class Dataset:
    """One file of ``../shared/data`` as a domain's records: ``text`` builds a record's text."""

    domain: str
    path: str
    text: Callable[[dict], str]
    limit: int | None = None  # records read (mathlib is 15 MB; a few hundred files are plenty)
    group: int = 1  # consecutive short records joined into one text, so the long stratum exists too
    in_source: bool = True  # False: a target set only (the paper's ProofNet statements)


def _wikitext_articles(path: Path) -> Iterator[dict]:
    # WikiText keeps articles in one file; a top-level heading is " = Title = " on its own line
    article: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if re.fullmatch(r" = [^=].* = \n", line) and article:
            yield {"text": "".join(article)}
            article = []
        if line.strip():
            article.append(line)
    if article:
        yield {"text": "".join(article)}


DATASETS: dict[str, Dataset] = {
    "mathlib": Dataset("lean", "lean4/mathlib4_c46b5e4.jsonl.gz", lambda r: r["text"], limit=600),
    "formal_conjectures": Dataset("lean", "lean4/formal_conjectures.jsonl.gz", lambda r: r["text"]),
    "batteries": Dataset("lean", "lean4/batteries.jsonl.gz", lambda r: r["text"]),
    "stdlib": Dataset("python", "code/cpython311_stdlib_functions.jsonl.gz", lambda r: r["code"], limit=3000,
                      group=4),
    "mbpp": Dataset("python", "mbpp/mbpp.jsonl", lambda r: f"# {r['text']}\n{r['code']}", group=6),
    "humaneval": Dataset("python", "humaneval/HumanEval.jsonl.gz", lambda r: r["prompt"] + r["canonical_solution"],
                         group=3),
    "proofnet": Dataset("lean", "proofnet/proofnet_lean4_zipfit_v2.jsonl",
                        lambda r: f"{r['nl_statement']}\n{r['formal_statement']}", in_source=False),
    "stacks": Dataset("latex", "math/stacks_project_tex.jsonl.gz", lambda r: r["text"]),
    "hott": Dataset("latex", "math/hott_book_tex.jsonl.gz", lambda r: r["text"]),
    "wikitext": Dataset("prose", "text/wikitext-2/valid.txt", lambda r: r["text"]),
    "wikitext_test": Dataset("prose", "text/wikitext-2/test.txt", lambda r: r["text"]),
}

# task name -> the dataset whose held-out records are the target; its domain is the one to find
TASKS: dict[str, str] = {
    "lean": "formal_conjectures",
    "python": "mbpp",
    "latex": "hott",
    "prose": "wikitext",
    "proofnet": "proofnet",  # the paper's target: short statements (English + Lean 4) against long Lean files
}
DOMAINS = tuple(sorted({d.domain for d in DATASETS.values()}))


@dataclass(frozen=True)
class Mix:
    """One labelled selection task: the targets, and the source with each document's labels."""

    task: str
    target_domain: str
    targets: list[str]
    texts: list[str]
    domains: list[str]
    datasets: list[str]
    strata: list[str]
    seed: int

    def records(self) -> list[dict]:
        """The source as records for ``zipfit.select`` (``id`` is the document's index here)."""
        return [{"id": i, "text": t, "domain": d} for i, (t, d) in enumerate(zip(self.texts, self.domains,
                                                                                     strict=True))]

    @property
    def relevant(self) -> int:
        return sum(d == self.target_domain for d in self.domains)


def _read(name: str, data: Path) -> list[str]:
    spec = DATASETS[name]
    path = data / spec.path
    if not path.exists():
        raise ZipfitError(f"{path} is missing: the quality tasks read ../shared/data (see its MANIFEST.md)")
    if path.suffix == ".txt":
        rows: list[dict] = list(_wikitext_articles(path))
    else:
        with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8") as f:
            rows = []
            for line in f:
                rows.append(json.loads(line))
                if spec.limit is not None and len(rows) >= spec.limit:
                    break
    out = [text for text in map(spec.text, rows) if text.strip()]
    return out


def _pieces(text: str, rng: random.Random) -> Iterator[str]:
    """Consecutive, non-overlapping pieces of ``text`` at line ends, each aimed at a random stratum's range.

    A line that would carry a piece past its stratum is cut inside (at a space where there is one), so text
    with long lines (WikiText paragraphs) also gives short pieces.
    """
    current: list[str] = []
    size = 0
    lo, hi, goal = _goal(rng)
    for line in text.splitlines(keepends=True):
        while size + len(line) > hi:
            if size >= lo:
                yield "".join(current)
                current, size = [], 0
                lo, hi, goal = _goal(rng)
                continue
            cut = goal - size
            space = line.rfind(" ", 0, cut)
            cut = space + 1 if space > cut // 2 else cut
            current.append(line[:cut])
            yield "".join(current)
            current, size, line = [], 0, line[cut:]
            lo, hi, goal = _goal(rng)
        current.append(line)
        size += len(line)
        if size >= goal:
            yield "".join(current)
            current, size = [], 0
            lo, hi, goal = _goal(rng)
    if current:
        yield "".join(current)


def _goal(rng: random.Random) -> tuple[int, int, int]:
    _, lo, hi = rng.choice(STRATA)
    return lo, hi, rng.randint(lo, hi)


def _stratum(length: int) -> str | None:
    return next((name for name, lo, hi in STRATA if lo <= length <= hi), None)


def _grouped(records: list[str], group: int) -> list[str]:
    return ["\n\n".join(records[i : i + group]) for i in range(0, len(records), group)]


def build_mix(task: str, *, n_sources: int = 1200, n_targets: int = 100, prevalence: float = 0.1, seed: int = 0,
              data: Path = DATA) -> Mix:
    """The labelled mix for ``task``: ``n_sources`` documents, ``prevalence`` of them from the target's domain.

    The other domains share the rest equally; within every domain each length stratum gets a third. Target
    examples are ``n_targets`` records of the task's dataset that the source never sees.
    """
    if task not in TASKS:
        raise ZipfitError(f"unknown quality task {task!r}; choose one of {', '.join(TASKS)}")
    if not 0 < prevalence < 1:
        raise ZipfitError(f"prevalence must be between 0 and 1, got {prevalence}")
    rng = random.Random(f"{task}:{seed}")
    target_name = TASKS[task]
    target_domain = DATASETS[target_name].domain
    others = [d for d in DOMAINS if d != target_domain]
    quota = {target_domain: round(n_sources * prevalence)}
    for i, d in enumerate(others):
        quota[d] = (n_sources - quota[target_domain]) // len(others) + (i < (n_sources - quota[target_domain])
                                                                        % len(others))

    targets: list[str] = []
    candidates: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for name, spec in DATASETS.items():
        if not spec.in_source and name != target_name:
            continue
        records = _read(name, data)
        rng.shuffle(records)
        if name == target_name:
            # hold out a quarter of the records, more if their pieces are too few for n_targets examples
            held, pieces = 0, []
            while len(pieces) < n_targets or held < len(records) // 4:
                if held >= len(records) // 2:
                    raise ZipfitError(f"half of {name}'s {len(records)} records give {len(pieces)} target "
                                      f"examples, {n_targets} wanted: lower n_targets")
                pieces += chunk(records[held], None, TARGET_MAX_CHARS)
                held += 1
            targets = rng.sample(pieces, n_targets)
            records = records[held:] if spec.in_source else []
        for text in _grouped(records, spec.group):
            for piece in _pieces(text, rng):
                stratum = _stratum(len(piece))
                if stratum is not None and piece.strip():
                    candidates.setdefault((spec.domain, stratum), []).append((piece, name))

    rows: list[tuple[str, str, str, str]] = []
    for domain, want in quota.items():
        for j, (stratum, _, _) in enumerate(STRATA):
            n = want // len(STRATA) + (j < want % len(STRATA))
            pool = candidates.get((domain, stratum), [])
            if len(pool) < n:
                raise ZipfitError(f"{domain} has {len(pool)} {stratum} documents, {n} wanted: lower n_sources")
            for piece, name in rng.sample(pool, n):
                rows.append((piece, domain, name, stratum))
    rng.shuffle(rows)
    return Mix(task, target_domain, targets, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
               [r[3] for r in rows], seed)


@dataclass(frozen=True)
class Quality:
    """How one selection of ``k`` documents did on a mix."""

    k: int
    precision: float  # share of the selection from the target's domain
    recall: float  # share of the target's domain in the source that was selected
    length_ratio: float  # median length of the selection / median length of the source


def quality(mix: Mix, selected: Sequence[int]) -> Quality:
    """Precision and recall of the target domain, and the length ratio, for the source indices ``selected``."""
    if len(selected) == 0:
        raise ZipfitError("an empty selection has no precision")
    hits = sum(mix.domains[i] == mix.target_domain for i in selected)
    lengths = np.array([len(t) for t in mix.texts])
    return Quality(len(selected), hits / len(selected), hits / mix.relevant,
                   float(np.median(lengths[list(selected)]) / np.median(lengths)))
