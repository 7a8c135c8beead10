"""Progress bars on a terminal, silence elsewhere (CI logs, pipes, --quiet)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _Silent:
    def update(self, n: int = 1) -> None:
        pass


def bar_shown(enabled: bool | None) -> bool:
    """Whether a bar asked for with ``enabled`` is drawn: None means on a terminal only. Work done only for a
    bar's sake (counting rows for its total) is done only when this is true."""
    return sys.stderr.isatty() if enabled is None else enabled


@contextmanager
def progress_bar(*, desc: str, total: int | None, unit: str, enabled: bool | None) -> Iterator[Any]:
    """A bar of done/total, percentage, rate and time left. Without a ``total`` it can show only done and rate,
    so its label says the total is unknown instead of leaving a person to wonder how long the phase takes."""
    if not bar_shown(enabled):
        yield _Silent()
        return
    from tqdm import tqdm

    label = desc if total is not None else f"{desc} (total unknown)"
    # 1.2M/3.4M reads better than 1234567/3456789, but 50/50 better than 50.0/50.0
    scale = unit == "B" or total is None or total >= 100_000
    with tqdm(desc=label, total=total, unit=unit, unit_scale=scale, file=sys.stderr, dynamic_ncols=True) as bar:
        yield bar


class LogHandler(logging.StreamHandler):
    """Log lines to stderr that do not break progress bars: while a bar is drawn, a line is written through it
    (the bar is cleared, the line printed, the bar redrawn), so neither ends mid-line."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        tqdm_module = sys.modules.get("tqdm")  # a bar exists only if tqdm was imported for one
        if tqdm_module is None or not getattr(tqdm_module.tqdm, "_instances", None):
            super().emit(record)
            return
        try:
            tqdm_module.tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never raise
            self.handleError(record)
