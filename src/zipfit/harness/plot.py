"""Plots of target-loss curves, drawn without pyplot (no global backend state) and written atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zipfit.harness.extras import need
from zipfit.io import atomic_output

METRICS = (("ce_nats", "target CE (nats/token)"), ("bits_per_byte", "target bits per byte"))


def _value(point: Any, name: str) -> float:
    return point[name] if isinstance(point, dict) else getattr(point, name)


def tokens_label(x: float, _pos: Any = None) -> str:
    """A tick label for a token count: 12.5k, 3M."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:g}{suffix}"
    return f"{x:g}"


def plot_curves(curves: Sequence[tuple[str, Sequence[Any]]], out: str | os.PathLike, *,
                title: str | None = None) -> Path:
    """One line per (label, points) on two panels, CE per token and bits per byte against training tokens.

    Points are EvalPoints or dicts with ``tokens``, ``ce_nats`` and ``bits_per_byte``. Writes a PNG.
    """
    return save_png(curves_figure(curves, title=title), Path(out))


def new_figure(size: tuple[float, float]) -> Any:
    """A matplotlib figure on its own Agg canvas: no pyplot, so no global backend state."""
    need("matplotlib", "plotting")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, out: Path) -> Path:
    with atomic_output(out) as tmp:
        # no Software/date metadata, so the same figure gives the same bytes
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    return out


def curves_figure(curves: Sequence[tuple[str, Sequence[Any]]], *, title: str | None = None) -> Any:
    """The figure ``plot_curves`` saves: every evaluation in the frame, the one at 0 tokens too."""
    from matplotlib.ticker import FuncFormatter

    fig = new_figure((11, 4.2))
    axes = fig.subplots(1, 2)
    for ax, (name, ylabel) in zip(axes, METRICS, strict=True):
        for label, points in curves:
            xs = [_value(p, "tokens") for p in points]
            # clip_on off: the evaluation at 0 tokens sits on the axis and is drawn whole
            ax.plot(xs, [_value(p, name) for p in points], marker="o", markersize=3, label=label, clip_on=False)
        ax.set_xlim(left=0)  # training starts at 0 tokens, and so does the axis
        ax.set_xlabel("training tokens")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_formatter(FuncFormatter(tokens_label))
    axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
