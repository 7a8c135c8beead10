"""Stable hashes of what a result depends on: parameters (checkpoint runs, experiment steps) and texts.

One canonical form, so two records of the same parameters always hash alike: JSON with sorted keys,
no whitespace, ASCII only (the bytes do not depend on an encoding), and ``str()`` for anything JSON
cannot hold (paths, for one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any


def canonical_json(params: Mapping[str, Any]) -> str:
    """The canonical text of JSON-able parameters (key order does not matter)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def fingerprint(params: Mapping[str, Any]) -> str:
    """sha256 (hex) of the parameters' canonical JSON."""
    return hashlib.sha256(canonical_json(params).encode("ascii")).hexdigest()


def texts_digest(texts: Iterable[str]) -> str:
    """sha256 (hex) of a sequence of texts. Each text is prefixed with its length in bytes, so no two
    different sequences (["ab"] and ["a", "b"]) hash alike."""
    h = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


__all__ = ["canonical_json", "fingerprint", "texts_digest"]


def text_sha256(text: str) -> str:
    """sha256 of one text's UTF-8: how a score dataset remembers its targets without holding them."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
