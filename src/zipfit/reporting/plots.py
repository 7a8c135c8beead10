"""The report's plots, drawn with matplotlib's Agg backend (no display) to PNG bytes.

Each function takes the numbers ``view.py`` computed and only draws them, so what a plot shows is what the unit
tests check.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.reporting.view import Coverage, Histogram, Mix

SOURCE, SELECTED = "#9aa5b1", "#1f6feb"
MAX_GROUPS = 20  # groups beyond these are drawn as one "other" bar


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ZipfitError("the report draws its plots with matplotlib: pip install 'zipfit[report]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    pyplot().close(fig)
    return buf.getvalue()


def folded(m: Mix, limit: int = MAX_GROUPS) -> Mix:
    """The largest groups by source documents, the rest summed as "other"."""
    if len(m.groups) <= limit:
        return m
    order = np.lexsort((np.arange(len(m.groups)), -m.source_docs))
    keep, rest = order[:limit - 1], order[limit - 1:]

    def fold(values: np.ndarray) -> np.ndarray:
        return np.append(values[keep], values[rest].sum())

    return Mix([m.groups[i] for i in keep.tolist()] + [f"other ({len(rest)} groups)"], fold(m.source_docs),
               fold(m.source_tokens), fold(m.selected_docs), fold(m.selected_tokens), m.by)


def _short(label: str, limit: int = 40) -> str:
    return label if len(label) <= limit else "…" + label[-(limit - 1):]


def mix_plot(m: Mix, selected: bool = True) -> bytes:
    """Share of documents and of tokens per group: the source against the selection."""
    plt = pyplot()
    m = folded(m)
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.2 + 0.38 * len(m.groups)), sharey=True)
    y = np.arange(len(m.groups))
    for ax, unit, source, chosen in ((axes[0], "documents", m.source_docs, m.selected_docs),
                                     (axes[1], "tokens", m.source_tokens, m.selected_tokens)):
        share = source / max(1, source.sum())
        ax.barh(y + (0.2 if selected else 0), share, height=0.4 if selected else 0.6, color=SOURCE, label="source")
        if selected:
            ax.barh(y - 0.2, chosen / max(1, chosen.sum()), height=0.4, color=SELECTED, label="selection")
        ax.set_xlabel(f"share of {unit}")
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [_short(g) for g in m.groups])
    axes[0].invert_yaxis()
    axes[1].legend(loc="lower right")
    fig.suptitle(f"What was selected against what was available, by {m.by}")
    return png(fig)


def score_plot(h: Histogram) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    widths = np.diff(h.edges)
    ax.bar(h.edges[:-1], h.source, width=widths, align="edge", color=SOURCE, label="source")
    if h.selected.any():
        ax.bar(h.edges[:-1], h.selected, width=widths, align="edge", color=SELECTED, label="selection")
    if h.marker is not None:
        ax.axvline(h.marker, color="#d1242f", linestyle="--", label=f"cutoff {h.marker:.4g}")
    ax.set_xlabel("score (higher = closer to the target)")
    ax.set_ylabel("documents")
    ax.set_title("Score distribution")
    ax.legend()
    return png(fig)


def length_plot(hists: Sequence[tuple[str, Histogram, dict[str, float | None]]]) -> bytes:
    """Length distributions (log scale), source against selection, with their medians."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(hists), figsize=(5.5 * len(hists), 3.6))
    for ax, (unit, h, med) in zip(np.atleast_1d(axes), hists, strict=True):
        widths = np.diff(h.edges)
        ax.bar(h.edges[:-1], h.source / max(1, h.source.sum()), width=widths, align="edge", color=SOURCE,
               alpha=0.8, label="source")
        if h.selected.any():
            ax.bar(h.edges[:-1], h.selected / max(1, h.selected.sum()), width=widths, align="edge",
                   color=SELECTED, alpha=0.6, label="selection")
        for who, color in (("source", "#57606a"), ("selected", SELECTED)):
            if med.get(who) is not None:
                ax.axvline(max(1.0, float(med[who])), color=color, linestyle="--",
                           label=f"{'selection' if who == 'selected' else who} median {med[who]:,.0f}")
        ax.set_xscale("log")
        ax.set_xlabel(unit)
        ax.set_ylabel("share of documents")
        ax.legend(fontsize=8)
    fig.suptitle("Length distribution")
    return png(fig)


def coverage_plot(c: Coverage) -> bytes:
    """Every target's NCD to its closest document, least covered first."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(np.arange(1, len(c.ncd) + 1), c.ncd, color=SELECTED, marker="." if len(c.ncd) <= 200 else None)
    ax.set_xlabel("target examples, least covered first")
    ax.set_ylabel("NCD to the closest document")
    ax.set_xlim(0, len(c.ncd) + 1)
    ax.set_ylim(0, max(1.0, float(np.nanmax(c.ncd)) * 1.05) if len(c.ncd) else 1.0)
    ax.set_title(f"Target coverage: closest of {c.compared:,} {c.of} documents")
    ax.grid(alpha=0.3)
    return png(fig)


def overlap_plot(names: Sequence[str], matrix: np.ndarray) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 0.9 * len(names), 1.2 + 0.8 * len(names)))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center",
                    color="white" if matrix[i, j] > 0.6 else "black")
    fig.colorbar(image, ax=ax, label="shared documents / the smaller selection")
    ax.set_title("Overlap of the methods' selections")
    return png(fig)


def mixes_plot(methods: Sequence[str], groups: Sequence[str], counts: np.ndarray, by: str) -> bytes:
    """The methods' mixes side by side: each method's selected documents by group, as shares."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.5 * len(methods)))
    shares = counts / np.maximum(1, counts.sum(axis=1, keepdims=True))
    left = np.zeros(len(methods))
    colors = plt.get_cmap("tab20")
    for j, group in enumerate(groups):
        ax.barh(range(len(methods)), shares[:, j], left=left, color=colors(j % 20), label=_short(group, 30))
        left += shares[:, j]
    ax.set_yticks(range(len(methods)), methods)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of selected documents, by {by}")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    ax.set_title("The methods' mixes")
    return png(fig)
