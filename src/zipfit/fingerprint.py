"""One way to fingerprint parameters and texts, for score datasets, resumed runs and experiment steps."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any


def fingerprint(params: Mapping[str, Any]) -> str:
    """sha256 of the parameters as canonical JSON (key order does not matter)."""
    text = json.dumps(params, sort_keys=True, ensure_ascii=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 of a sequence of texts, each length-prefixed (so ["ab", "c"] and ["a", "bc"] differ)."""
    h = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()
