"""Real text for benchmarks, from ../shared/data, and small timing helpers."""

from __future__ import annotations

import gzip
import json
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def proofnet(split: str = "valid") -> list[str]:
    rows = _jsonl(DATA / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl")
    return [f"{r['nl_statement']}\n{r['formal_statement']}" for r in rows if split in ("all", r["split"])]


def targets(n: int) -> list[str]:
    """n ProofNet statements (valid first, then test): the paper's autoformalization target."""
    return (proofnet("valid") + proofnet("test"))[:n]


def _chunks(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        piece = text[start : start + size]
        if piece.strip():
            yield piece


def source_documents(n: int, size: int = 2560, min_chars: int = 1) -> list[str]:
    """n real documents cut into chunks of at most ``size`` characters, interleaving six domains.

    ``min_chars`` drops shorter chunks (``min_chars=size`` gives documents of one length, as in
    METHOD.md's measurements).
    Lean 4 mathlib, Python stdlib, MBPP, LaTeX (HoTT book), WikiText and the Pile sample. When a
    domain runs out its chunks repeat (benchmarks measure cost, not selection quality).
    """
    domains = [
        (c for r in _jsonl(DATA / "lean4" / "mathlib4_c46b5e4.jsonl.gz") for c in _chunks(r["text"], size)),
        (c for r in _jsonl(DATA / "code" / "cpython311_stdlib_functions.jsonl.gz") for c in _chunks(r["code"], size)),
        (c for r in _jsonl(DATA / "mbpp" / "mbpp.jsonl") for c in _chunks(r["text"] + "\n" + r["code"], size)),
        (c for r in _jsonl(DATA / "math" / "hott_book_tex.jsonl.gz") for c in _chunks(r["text"], size)),
        _chunks((DATA / "text" / "wikitext-2" / "valid.txt").read_text(encoding="utf-8"), size),
        (c for r in _jsonl(DATA / "text" / "toy_pile_1000.jsonl") for c in _chunks(r["contents"], size)),
    ]
    per_domain = -(-n // len(domains))
    pools = []
    for gen in domains:
        pool = []
        for c in gen:
            if len(c) < min_chars:
                continue
            pool.append(c)
            if len(pool) >= per_domain:
                break
        if pool:  # a domain may have no chunk as long as min_chars
            pools.append(pool)
    out = []
    i = 0
    while len(out) < n:
        for pool in pools:
            if len(out) < n:
                out.append(pool[i % len(pool)])
        i += 1
    return out


def write_jsonl(path: Path, texts: list[str], repeat: int = 1) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for r in range(repeat):
            for i, t in enumerate(texts):
                f.write(json.dumps({"id": f"{r}-{i}", "text": t}, ensure_ascii=False) + "\n")
    return path


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result
