"""Real data for tests: ../shared/data beside the repository (present on every dev machine and in CI)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from realdata import DATA, read_jsonl
from stores import S3_CREDENTIALS


@pytest.fixture(scope="session")
def data_dir() -> Path:
    assert DATA.is_dir(), f"shared test data not found at {DATA}"
    return DATA


@pytest.fixture(scope="session")
def proofnet_valid(data_dir: Path) -> list[str]:
    """The 185 ProofNet validation statements, as the paper's autoformalization target."""
    rows = read_jsonl(data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl")
    return [f"{r['nl_statement']}\n{r['formal_statement']}" for r in rows if r["split"] == "valid"]


@pytest.fixture(scope="session")
def mixed_sources(data_dir: Path) -> list[str]:
    """Real documents of very different kinds and lengths: Python, MBPP, Lean (some > 32 KB), LaTeX, prose."""
    texts = [r["code"] for r in read_jsonl(data_dir / "code" / "cpython311_stdlib_functions.jsonl.gz", 60)]
    texts += [r["text"] + "\n" + r["code"] for r in read_jsonl(data_dir / "mbpp" / "mbpp.jsonl", 40)]
    texts += [r["text"] for r in read_jsonl(data_dir / "lean4" / "mathematics_in_lean.jsonl.gz", 30)]
    texts += [r["text"][:50_000] for r in read_jsonl(data_dir / "math" / "hott_book_tex.jsonl.gz", 6)]
    texts += [r["contents"] for r in read_jsonl(data_dir / "text" / "toy_pile_1000.jsonl", 31)]
    return [t for t in texts if t.strip()]  # the Pile sample holds one empty document


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-protocol server on 127.0.0.1 (moto's standalone server, the one s3fs is tested against), with
    dummy credentials in the environment while it runs. Yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in S3_CREDENTIALS}
    os.environ.update(S3_CREDENTIALS)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
