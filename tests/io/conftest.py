"""Fixtures holding the real data sets' records, parsed once per session."""

from __future__ import annotations

import pytest
from io_data import MBPP, PROOFNET, read_jsonl


@pytest.fixture(scope="session")
def mbpp_records() -> list[dict]:
    return read_jsonl(MBPP)


@pytest.fixture(scope="session")
def proofnet_records() -> list[dict]:
    return read_jsonl(PROOFNET)
