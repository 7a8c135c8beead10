"""Progress bars and log lines on one terminal: a log line never lands in the middle of a bar."""

from __future__ import annotations

import io
import logging
import sys

from tqdm import tqdm

from zipfit.progress import LogHandler


def test_a_log_line_is_written_through_a_live_bar(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stderr", screen)
    logger = logging.getLogger("zipfit.test_progress")
    handler = LogHandler()
    handler.setFormatter(logging.Formatter("zipfit: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with tqdm(total=10, desc="scoring", file=sys.stderr, ascii=True) as bar:
            bar.update(3)
            logger.warning("excluded 1 of 10 source records")
            bar.update(7)
        logger.warning("after the bar")
    finally:
        logger.removeHandler(handler)
    lines = screen.getvalue().replace("\r", "\n").split("\n")
    # each log line is a line of its own: the bar was cleared before it and drawn again after it
    assert "zipfit: excluded 1 of 10 source records" in lines
    assert "zipfit: after the bar" in lines
    assert not [line for line in lines if "scoring" in line and "zipfit:" in line]


def test_without_a_bar_it_is_a_plain_stream_handler(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stderr", screen)
    handler = LogHandler()
    handler.setFormatter(logging.Formatter("zipfit: %(message)s"))
    handler.emit(logging.LogRecord("zipfit", logging.INFO, __file__, 1, "hello", None, None))
    assert screen.getvalue() == "zipfit: hello\n"
