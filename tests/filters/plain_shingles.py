"""The filters' similarity written out the slow, obvious way: the reference the fast paths are checked against."""

from __future__ import annotations


def plain_shingles(text: str, n: int = 5) -> set[str]:
    chars = " ".join(text.lower().replace("ς", "σ").split())
    return {chars[i : i + n] for i in range(len(chars) - n + 1)} or {chars}


def jaccard(a: str, b: str) -> float:
    sa, sb = plain_shingles(a), plain_shingles(b)
    return len(sa & sb) / len(sa | sb)
