"""Building an experiment's data: one seeded source mix (text, domain, id) and the target and eval example sets.

The mix is built once and every method selects from the same file, so differences between methods come from
the selection alone. Long files (a mathlib file can be 100 KB) are cut into documents of a bounded number of lines
and characters, as the paper's sources are sequences rather than whole files.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zipfit.errors import ZipfitError
from zipfit.harness.config import TEXT_SUFFIXES, ExampleSpec, SourceSpec
from zipfit.io import Corpus, TextSpec, atomic_output, read_texts

log = logging.getLogger("zipfit")


def chunk(text: str, max_lines: int | None, max_chars: int | None) -> list[str]:
    """Cut a document at line boundaries into pieces of at most ``max_lines`` lines and ``max_chars`` characters.

    A single line longer than ``max_chars`` is cut inside the line; pieces that are only whitespace are dropped.
    """
    if max_lines is None and max_chars is None:
        return [text] if text.strip() else []
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        while max_chars is not None and len(line) > max_chars:
            if current:
                pieces.append("".join(current))
                current, size = [], 0
            pieces.append(line[:max_chars])
            line = line[max_chars:]
        full_lines = max_lines is not None and len(current) >= max_lines
        full_chars = max_chars is not None and size + len(line) > max_chars
        if current and (full_lines or full_chars):
            pieces.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        pieces.append("".join(current))
    return [p for p in pieces if p.strip()]


def _text_lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                line = line.strip().lstrip("\ufeff")
                if line:
                    yield line
    except (OSError, UnicodeDecodeError) as exc:
        raise ZipfitError(f"{path}: cannot read as UTF-8 text ({exc})") from None


def _raw_documents(source: SourceSpec) -> Iterator[str]:
    if source.is_text:
        for path in source.files:
            yield from _text_lines(path)
        return
    corpus = Corpus(list(source.files), TextSpec(field=source.text_field, template=source.template,
                                                 where=source.where), role=f"source {source.name!r}")
    for doc in corpus.documents():
        yield doc.text
    corpus.exclusions.report(log, f"source {source.name!r}", "its `where` in the experiment file")


def _seed_for(seed: int, name: str) -> int:
    """A per-source seed, so adding or reordering sources does not change another source's sample."""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{name}".encode()).digest()[:8], "little")


def source_documents(source: SourceSpec, seed: int) -> tuple[list[tuple[int, str]], int]:
    """(position, text) of a source's documents after chunking, filtering and sampling; and how many there were."""
    docs = [piece for text in _raw_documents(source) for piece in chunk(text, source.chunk_lines, source.chunk_chars)
            if len(piece) >= source.min_chars]
    if not docs:
        raise ZipfitError(f"source {source.name!r}: no documents (after chunking and min_chars={source.min_chars})")
    positions = list(range(len(docs)))
    if source.max_docs is not None and source.max_docs < len(docs):
        positions = sorted(random.Random(_seed_for(seed, source.name)).sample(positions, source.max_docs))
    return [(i, docs[i]) for i in positions], len(docs)


@dataclass
class MixSummary:
    path: Path
    documents: int
    domains: dict[str, dict[str, int]]  # per source: documents (in the mix), available, chars

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "documents": self.documents, "domains": self.domains}


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Records as JSON Lines, atomically; returns how many were written."""
    n = 0
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n


def build_mix(sources: Sequence[SourceSpec], seed: int, out: Path) -> MixSummary:
    """Write every source's (sampled) documents, shuffled with ``seed``, as {text, domain, id} lines to ``out``."""
    records: list[dict[str, str]] = []
    domains: dict[str, dict[str, int]] = {}
    for source in sources:
        docs, available = source_documents(source, seed)
        records.extend({"text": text, "domain": source.name, "id": f"{source.name}-{i}"} for i, text in docs)
        domains[source.name] = {"documents": len(docs), "available": available, "chars": sum(len(t) for _, t in docs)}
        log.info("source %s: %s documents (of %s after chunking)", source.name, f"{len(docs):,}", f"{available:,}")
    random.Random(seed).shuffle(records)
    write_jsonl(out, records)
    return MixSummary(out, len(records), domains)


def read_examples(spec: ExampleSpec, role: str) -> list[str]:
    """The example texts a target or eval spec names, in file order, after `where`, `half` and `max_examples`.

    Plain-text files (``.txt``) give one example per non-blank line, as a source's do."""
    if all(str(f).endswith(TEXT_SUFFIXES) for f in spec.files):
        texts = [line for path in spec.files for line in _text_lines(path)]
    else:
        texts, _, _ = read_texts(list(spec.files), TextSpec(field=spec.text_field, template=spec.template,
                                                             where=spec.where), role,
                                 "its `where` in the experiment file")
    if spec.half is not None:
        texts = texts[0 if spec.half == "even" else 1 :: 2]
    if spec.max_examples is not None:
        texts = texts[: spec.max_examples]
    if not texts:
        raise ZipfitError(f"the {role} set is empty after its where/half filters ({', '.join(map(str, spec.files))})")
    return texts


def write_examples(texts: Sequence[str], out: Path) -> int:
    return write_jsonl(out, ({"text": t, "index": i} for i, t in enumerate(texts)))


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON Lines file the experiment wrote (a mix, a selection), in file order."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
