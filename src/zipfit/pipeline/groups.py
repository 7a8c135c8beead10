"""``--group-by``: one budget split across the values of a source field, then cut per group from the same ranking.

By default each group gets its share of the eligible source (documents for ``--k``/``--fraction``, tokens
for ``--tokens``), so the selection keeps the source's mix while taking the best of every part; with
``--group-weights a=0.5,b=0.3`` the user sets the mix (DSIR's target proportions, QuRating's per-domain
budgets). A count is split by largest remainders (ties to the group that sorts first), a token budget by
rounding each share down. A group with fewer eligible documents than its quota gives all it has; the
shortfall is reported, never filled from other groups (that would change the mix asked for).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.topk import Budget, prefix_within, ranking

MISSING = "(missing)"  # the group of records without the field (or with null)


def parse_weights(weights: str | Mapping[str, float] | None) -> dict[str, float] | None:
    """``"a=0.5,b=0.3"`` or ``{"a": 0.5, "b": 0.3}`` -> {"a": 0.5, "b": 0.3}, each finite and >= 0."""
    if weights is None:
        return None
    if isinstance(weights, str):
        pairs = []
        for item in weights.split(","):
            name, sep, value = item.strip().rpartition("=")
            if not sep or not name:
                raise ZipfitError(f"--group-weights takes VALUE=WEIGHT,..., got {item.strip()!r}")
            try:
                pairs.append((name, float(value)))
            except ValueError:
                raise ZipfitError(f"--group-weights: {value!r} is not a number (in {item.strip()!r})") from None
    else:
        pairs = [(str(k), float(v)) for k, v in weights.items()]
    out: dict[str, float] = {}
    for name, value in pairs:
        if not math.isfinite(value) or value < 0:
            raise ZipfitError(f"--group-weights: the weight of {name!r} must be a finite number >= 0, got {value}")
        if name in out:
            raise ZipfitError(f"--group-weights names {name!r} twice")
        out[name] = value
    if not out or sum(out.values()) <= 0:
        raise ZipfitError("--group-weights: the weights must not all be 0")
    return out


def group_label(value: Any) -> str:
    if value is None:
        return MISSING
    return value if isinstance(value, str) else str(value)


def encode(values: Iterable[Any]) -> tuple[np.ndarray, list[str]]:
    """Per-document group codes (int32, into the sorted group names) and the names."""
    labels = [group_label(v) for v in values]
    names = sorted(set(labels))
    code = {name: i for i, name in enumerate(names)}
    return np.fromiter((code[label] for label in labels), dtype=np.int32, count=len(labels)), names


def _largest_remainder(total: int, shares: np.ndarray) -> np.ndarray:
    exact = total * shares
    quota = np.floor(exact + 1e-9).astype(np.int64)
    left = total - int(quota.sum())
    if left > 0:
        order = np.lexsort((np.arange(len(shares)), -(exact - quota)))  # biggest remainder first, then name
        quota[order[:left]] += 1
    return quota


def group_cut(keys: np.ndarray, budget: Budget, n_tokens: np.ndarray, codes: np.ndarray, names: list[str],
              weights: Mapping[str, float] | None) -> tuple[np.ndarray, dict[str, Any]]:
    """The selection (document indices, best first) and a per-group report. ``keys`` ranks the documents
    (-inf: never selected); ``budget`` is resolved to ``k`` or ``tokens``."""
    valid = np.isfinite(keys)
    n_groups = len(names)
    tokens = np.asarray(n_tokens, dtype=np.int64)
    docs_available = np.bincount(codes[valid], minlength=n_groups)
    tokens_available = np.bincount(codes[valid], weights=tokens[valid], minlength=n_groups).astype(np.int64)
    if weights is not None:
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ZipfitError(f"--group-weights names {', '.join(map(repr, unknown))}, which no eligible source "
                              f"document has; the values are: {', '.join(names[:20])}"
                              + (" ..." if len(names) > 20 else ""))
        raw = np.array([weights.get(name, 0.0) for name in names], dtype=np.float64)
    else:
        raw = (docs_available if budget.k is not None else tokens_available).astype(np.float64)
    if raw.sum() <= 0:
        raise ZipfitError("--group-by: no eligible document in any weighted group")
    shares = raw / raw.sum()
    if budget.k is not None:
        quota = _largest_remainder(budget.k, shares)
    else:
        assert budget.tokens is not None
        quota = np.floor(budget.tokens * shares + 1e-9).astype(np.int64)
    ranked = ranking(keys)
    ranked = ranked[valid[ranked]]
    by_group = np.argsort(codes[ranked], kind="stable")  # rank positions, grouped, best first within a group
    bounds = np.searchsorted(codes[ranked][by_group], np.arange(n_groups + 1))
    chosen: list[np.ndarray] = []
    report: dict[str, Any] = {}
    for g, name in enumerate(names):
        positions = by_group[bounds[g] : bounds[g + 1]]
        members = ranked[positions]
        if budget.k is not None:
            take = min(int(quota[g]), len(members))
            short = int(quota[g]) - take
        else:
            take = prefix_within(tokens[members], int(quota[g]))
            short = 0 if take < len(members) else max(0, int(quota[g]) - int(tokens[members].sum()))
        chosen.append(positions[:take])
        report[name] = {"weight": round(float(shares[g]), 6), "eligible": int(docs_available[g]),
                        "eligible_tokens": int(tokens_available[g]), "quota": int(quota[g]), "selected": take,
                        "selected_tokens": int(tokens[members[:take]].sum()), "shortfall": short}
    positions = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    return ranked[positions], report


def length_strata(n_tokens: np.ndarray, eligible: np.ndarray, strata: int) -> tuple[np.ndarray, list[str]]:
    """``--length-strata N``: a stratum code per document and the strata's names. The eligible documents, sorted by
    length (the budget's tokens; ties by input position), are cut into N runs of equal count, so the budget split
    by their share keeps the source's length distribution. Ineligible documents get stratum 0 and are never cut."""
    tokens = np.asarray(n_tokens, dtype=np.int64)
    members = np.flatnonzero(eligible)
    order = members[np.lexsort((members, tokens[members]))]
    strata = max(1, min(strata, len(order)))
    codes = np.zeros(len(tokens), dtype=np.int32)
    width = len(str(strata))
    names = []
    for i, part in enumerate(np.array_split(order, strata)):
        codes[part] = i
        lo, hi = (int(tokens[part[0]]), int(tokens[part[-1]])) if len(part) else (0, 0)
        names.append(f"length {i + 1:0{width}d}/{strata}: {lo:,}-{hi:,} tokens")
    return codes, names


def document_groups(corpus: Any, field: str | None) -> tuple[np.ndarray, list[str], str]:
    """A group code per eligible document (input order), the groups' names, and what they are: the values of
    ``field`` (one read of the records), or the source files."""
    if field is None:
        codes = np.fromiter((d.file for d in corpus.documents()), dtype=np.int32)
        return codes, [f.label for f in corpus.files], "source file"
    codes, names = encode(d.record.get(field) for d in corpus.documents(records=True))
    return codes, names, field


def group_mix(groups: tuple[np.ndarray, list[str], str], picked: np.ndarray,
              n_tokens: np.ndarray) -> dict[str, dict[str, int]]:
    """Documents and tokens of a selection (eligible positions) per group; groups it took nothing from left out."""
    codes, names, _ = groups
    docs = np.bincount(codes[picked], minlength=len(names))
    tokens = np.bincount(codes[picked], weights=n_tokens[picked], minlength=len(names))
    return {names[i]: {"documents": int(docs[i]), "tokens": int(tokens[i])} for i in np.flatnonzero(docs).tolist()}
