"""Ray without a shared file system: every path on an S3 server (moto's standalone server, on 127.0.0.1), the
inputs nowhere else, and the driver kept from reading them once the run has checked them.

The workers hash the inputs, count their rows, draw zipfit-debiased's background sample, score their shards,
compute --dedup's keys and read the selected records again; the driver checks the inputs (their first record),
cuts the scores, walks the dedup keys and writes.
The output must be the local engine's bytes.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray  # the test extra installs it: a missing Ray must fail here, not skip
import s3fs

import zipfit
from zipfit import failpoints
from zipfit.engines.ray import RayEngine
from zipfit.io.storage import RemotePath

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "zipfit-ray-remote"
SOURCES = {"mix.jsonl.gz": ROOT / "examples" / "source_mix.jsonl.gz",  # compressed: shards skip lines
           "mbpp.jsonl": ROOT.parent / "shared" / "data" / "mbpp" / "mbpp.jsonl"}  # plain: shards seek
TARGET = ROOT / "examples" / "proofnet_valid.jsonl"
TARGET_ROWS = 40  # of its 185: the cost of scoring grows with the targets, and 40 are enough to tell documents apart
RUN = {"k": 40, "dedup": True, "target_template": "{nl_statement}\n{formal_statement}", "shard_rows": 200,
       "workers": 2, "progress": False}


def url(key: str) -> str:
    return f"s3://{BUCKET}/{key}"


SOURCE_URLS = [url(f"in/{name}") for name in SOURCES]


@pytest.fixture(scope="module")
def store(s3_endpoint) -> dict[str, Any]:
    """The inputs on the bucket; the endpoint reaches the workers only in the storage options they are sent."""
    options = {"endpoint_url": s3_endpoint}
    fs = s3fs.S3FileSystem(**options)
    fs.mkdir(BUCKET)
    for name, path in SOURCES.items():
        fs.put_file(str(path), f"{BUCKET}/in/{name}")
    lines = TARGET.read_text(encoding="utf-8").splitlines(keepends=True)[:TARGET_ROWS]
    fs.pipe_file(f"{BUCKET}/in/{TARGET.name}", "".join(lines).encode("utf-8"))
    return {"options": options, "fs": fs}


@pytest.fixture(scope="module")
def cluster(store) -> Iterator[None]:
    """One local two-CPU Ray cluster for the module (started after the store's credentials are in the environment,
    which its workers inherit); every select below joins it instead of starting its own."""
    with RayEngine(2, progress=False) as engine:
        engine._connect()
        yield
    assert not ray.is_initialized()


class DriverReads:
    """This process's opens of the source objects: allowed while the run checks its inputs, refused from the moment
    it holds its output lock (failpoint "locked") to its end. Ray's workers are other processes: unaffected."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, crash_at: str | None = None) -> None:
        self.checking, self.refused = 0, 0
        self.locked = False
        self.crash_at = crash_at
        opener, point = RemotePath.open, failpoints.point

        def guarded_open(path: RemotePath, mode: str = "rb", encoding: str | None = None) -> Any:
            if str(path) in SOURCE_URLS:
                if self.locked:
                    self.refused += 1
                    raise OSError(errno.EACCES, f"the driver may not read {path} in this test")
                self.checking += 1
            return opener(path, mode, encoding)

        def moment(name: str) -> None:
            if name == "locked":
                self.locked = True
            if name == self.crash_at:
                self.crash_at = None
                raise RuntimeError(f"crash at {name}")
            point(name)

        monkeypatch.setattr(RemotePath, "open", guarded_open)
        monkeypatch.setattr(failpoints, "point", moment)

    def run(self, **options: Any) -> zipfit.SelectionResult:
        self.locked = False
        try:
            return zipfit.select(SOURCE_URLS, url(f"in/{TARGET.name}"), engine="ray", **RUN, **options)
        finally:
            assert self.refused == 0, "the driver tried to read a source after checking it"


def _local(store: dict[str, Any], name: str, **options: Any) -> tuple[bytes, dict]:
    """The same run on the local engine (reading in this process), from the same objects."""
    zipfit.select(SOURCE_URLS, url(f"in/{TARGET.name}"), out=url(f"local/{name}"),
                  storage_options=store["options"], **RUN, **options)
    fs = store["fs"]
    return fs.cat_file(f"{BUCKET}/local/{name}"), json.loads(fs.cat_file(f"{BUCKET}/local/{name}.manifest.json"))


def _same_selection(manifest: dict, local: dict) -> None:
    assert manifest["parameters"]["engine"] == "ray" and local["parameters"]["engine"] == "local"
    for key in ("inputs", "counts", "exclusions", "lengths", "budget", "method", "dedup"):
        if key == "counts":
            assert {**manifest[key], "resumed_shards": 0} == local[key]
        else:
            assert manifest[key] == local[key], key
    assert manifest["scores"]["selected"] == local["scores"]["selected"]
    assert manifest["output"]["sha256"] == local["output"]["sha256"]


def test_the_driver_reads_no_input_and_the_bytes_are_the_local_engines(store, cluster, monkeypatch):
    """zipfit-debiased (the workers also draw its background sample), crashed once the output is staged, then
    resumed from the parts its workers left on the store: the local engine's bytes, nothing scored twice."""
    fs = store["fs"]
    expected, local = _local(store, "selected.jsonl", method="zipfit-debiased")
    reads = DriverReads(monkeypatch, crash_at="output_staged")
    options = {"out": url("ray/selected.jsonl"), "scores_out": url("ray/scores"), "method": "zipfit-debiased",
               "storage_options": store["options"]}
    with pytest.raises(RuntimeError, match="crash at output_staged"):
        reads.run(**options)
    assert not fs.exists(f"{BUCKET}/ray/selected.jsonl")
    parts = fs.glob(f"{BUCKET}/ray/scores/part-*.parquet")  # written by the workers, on the store
    assert len(parts) == 3 + 5 == len(json.loads(fs.cat_file(f"{BUCKET}/ray/scores/_manifest.json"))["parts"])
    checked = reads.checking
    assert 0 < checked <= 2 * len(SOURCES)  # the driver's checks: the first bytes and the first record of each
    result = reads.run(resume=True, **options)
    assert result.manifest["counts"]["resumed_shards"] == 8
    assert fs.cat_file(f"{BUCKET}/ray/selected.jsonl") == expected
    manifest = json.loads(fs.cat_file(f"{BUCKET}/ray/selected.jsonl.manifest.json"))
    assert manifest["counts"] == result.manifest["counts"]
    _same_selection(manifest, local)
    assert reads.checking == 2 * checked
    assert result.manifest["counts"]["selected"] == 40 and local["counts"]["source_records"] == 600 + 974
