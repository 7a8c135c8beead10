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


@contextmanager
def progress_bar(*, desc: str, total: int | None, unit: str, enabled: bool | None) -> Iterator[Any]:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield _Silent()
        return
    from tqdm import tqdm

    with tqdm(desc=desc, total=total, unit=unit, unit_scale=True, file=sys.stderr, dynamic_ncols=True) as bar:
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
