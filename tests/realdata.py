"""Where the shared real data lives (../shared/data beside the repository) and one reader for its JSON Lines.

Importable from every test module and conftest: pytest puts tests/ on sys.path for tests/conftest.py.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    """The first ``limit`` records (all by default) of a .jsonl or .jsonl.gz file."""
    opener = gzip.open if path.suffix == ".gz" else open
    out = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line))
            if limit is not None and len(out) >= limit:
                break
    return out
