"""Real data for tests: ../shared/data beside the repository (present on every dev machine and in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from realdata import DATA, read_jsonl


@pytest.fixture(scope="session")
def data_dir() -> Path:
    assert DATA.is_dir(), f"shared test data not found at {DATA}"
    return DATA


@pytest.fixture(scope="session")
def proofnet_valid(data_dir: Path) -> list[str]:
    """The 185 ProofNet validation statements, as the paper's autoformalization target."""
    rows = read_jsonl(data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl")
    return [f"{r['nl_statement']}\n{r['formal_statement']}" for r in rows if r["split"] == "valid"]


@pytest.fixture(scope="session")
def mixed_sources(data_dir: Path) -> list[str]:
    """Real documents of very different kinds and lengths: Python, MBPP, Lean (some > 32 KB), LaTeX, prose."""
    texts = [r["code"] for r in read_jsonl(data_dir / "code" / "cpython311_stdlib_functions.jsonl.gz", 60)]
    texts += [r["text"] + "\n" + r["code"] for r in read_jsonl(data_dir / "mbpp" / "mbpp.jsonl", 40)]
    texts += [r["text"] for r in read_jsonl(data_dir / "lean4" / "mathematics_in_lean.jsonl.gz", 30)]
    texts += [r["text"][:50_000] for r in read_jsonl(data_dir / "math" / "hott_book_tex.jsonl.gz", 6)]
    texts += [r["contents"] for r in read_jsonl(data_dir / "text" / "toy_pile_1000.jsonl", 31)]
    return [t for t in texts if t.strip()]  # the Pile sample holds one empty document
