"""Paths to the real data sets (../shared/data from the repo root) and small-file helpers for the io tests."""

from __future__ import annotations

import json
from pathlib import Path

from realdata import DATA

MBPP = DATA / "mbpp" / "mbpp.jsonl"
HUMANEVAL = DATA / "humaneval" / "HumanEval.jsonl.gz"
PROOFNET = DATA / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl"
LEAN_BATTERIES = DATA / "lean4" / "batteries.jsonl.gz"  # whole .lean files: records of 1-65 KB
PROOFNET_TEMPLATE = "{nl_statement}\n{formal_statement}"


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
