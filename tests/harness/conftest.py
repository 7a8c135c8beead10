"""Real texts for the harness tests: a target (ProofNet test), aligned training text (Lean mathlib) and
unrelated training text (WikiText-2)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest


def _jsonl(path: Path, limit: int | None = None) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


@pytest.fixture(scope="session")
def proofnet_test(data_dir: Path) -> list[str]:
    """The 186 ProofNet test statements (natural language, then Lean 4), the paper's evaluation target."""
    rows = _jsonl(data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl")
    return [f"{r['nl_statement']}\n{r['formal_statement']}" for r in rows if r["split"] == "test"]


@pytest.fixture(scope="session")
def mathlib(data_dir: Path) -> list[str]:
    """The first 300 Lean 4 mathlib files (~3 MB)."""
    return [r["text"] for r in _jsonl(data_dir / "lean4" / "mathlib4_c46b5e4.jsonl.gz", 300)]


@pytest.fixture(scope="session")
def wikitext(data_dir: Path) -> list[str]:
    """WikiText-2 validation as paragraphs (~1.1 MB of encyclopedia prose)."""
    text = (data_dir / "text" / "wikitext-2" / "valid.txt").read_text(encoding="utf-8")
    return [p.strip() for p in text.split("\n \n") if p.strip()]
