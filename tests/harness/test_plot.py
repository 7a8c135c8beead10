"""The train-eval curve plot: every evaluation in the frame, the tokens axis from 0."""

from __future__ import annotations

from pathlib import Path

from zipfit.harness.plot import curves_figure, plot_curves


def test_the_curves_start_at_0_tokens_with_the_untrained_evaluation_in_the_frame(tmp_path: Path) -> None:
    points = [{"tokens": t, "ce_nats": c, "bits_per_byte": c / 2} for t, c in ((0, 10.4), (4000, 7.0), (8000, 6.1))]
    fig = curves_figure([("random", points)])
    for ax in fig.axes:
        assert ax.get_xlim()[0] == 0
        (line,) = ax.get_lines()
        assert line.get_xdata()[0] == 0 and not line.get_clip_on()
        low, high = ax.get_ylim()
        assert low <= min(line.get_ydata()) and high >= max(line.get_ydata())
    out = plot_curves([("random", points)], tmp_path / "c.png", title="t")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
