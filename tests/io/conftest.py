"""Fixtures holding the real data sets' records, parsed once per session, and a collector of zipfit warnings."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from io_data import MBPP, PROOFNET
from realdata import read_jsonl


@pytest.fixture(scope="session")
def mbpp_records() -> list[dict]:
    return read_jsonl(MBPP)


@pytest.fixture(scope="session")
def proofnet_records() -> list[dict]:
    return read_jsonl(PROOFNET)


@pytest.fixture
def zipfit_warnings() -> Iterator[list[str]]:
    """Messages logged to the "zipfit" logger; a handler of its own, since the CLI turns propagation off."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    logger = logging.getLogger("zipfit")
    handler = Collect()
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
