"""Progress bars on a terminal, silence elsewhere (CI logs, pipes, --quiet)."""

from __future__ import annotations

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
