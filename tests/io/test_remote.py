"""Inputs and outputs on an object store: a real S3-protocol server (moto's standalone server, the one s3fs is
tested against) on 127.0.0.1, started by these tests. Every run here must give the bytes of the same run on local
files."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs
from stores import S3_CREDENTIALS as CREDENTIALS

import zipfit
from zipfit.errors import ZipfitError
from zipfit.io import storage
from zipfit.io.inputs import resolve_inputs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SOURCE = EXAMPLES / "source_mix.jsonl.gz"
TARGET = EXAMPLES / "proofnet_valid.jsonl"
MBPP = ROOT.parent / "shared" / "data" / "mbpp" / "mbpp.jsonl"
BUCKET = "zipfit-test"
TEMPLATE = "{nl_statement}\n{formal_statement}"
RUN = {"workers": 1, "progress": False}
T = {"target_template": TEMPLATE}


@pytest.fixture(scope="module")
def s3(s3_endpoint) -> Iterator[dict]:
    """A bucket holding the example data on the test server, and the storage options that reach it."""
    options = {"endpoint_url": s3_endpoint}
    fs = s3fs.S3FileSystem(**options)
    fs.mkdir(BUCKET)
    fs.put_file(str(SOURCE), f"{BUCKET}/in/{SOURCE.name}")
    fs.put_file(str(TARGET), f"{BUCKET}/in/{TARGET.name}")
    yield {"endpoint": s3_endpoint, "options": options, "fs": fs}


def url(key: str) -> str:
    return f"s3://{BUCKET}/{key}"


_LOCAL: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def _local(tmp_path: Path, name: str, sources: str | Path = SOURCE) -> bytes:
    """The same selection on local files (run once per output type and source, then copied)."""
    out = tmp_path / name
    key = (Path(name).suffix, str(sources) if sources == SOURCE else f"{sources}:{tmp_path}")
    if key not in _LOCAL:
        zipfit.select(sources, TARGET, out=out, k=40, target_template=TEMPLATE, **RUN)
        _LOCAL[key] = out.read_bytes(), Path(f"{out}.manifest.json").read_bytes()
    out.write_bytes(_LOCAL[key][0])
    Path(f"{out}.manifest.json").write_bytes(_LOCAL[key][1])
    return _LOCAL[key][0]


def test_select_from_a_bucket_to_a_bucket_gives_the_local_bytes(s3, tmp_path):
    expected = _local(tmp_path, "local.jsonl")
    result = zipfit.select(url(f"in/{SOURCE.name}"), url(f"in/{TARGET.name}"), out=url("out/selected.jsonl"), k=40,
                           storage_options=s3["options"], **T, **RUN)
    fs = s3["fs"]
    assert fs.cat_file(f"{BUCKET}/out/selected.jsonl") == expected
    manifest = json.loads(fs.cat_file(f"{BUCKET}/out/selected.jsonl.manifest.json"))
    assert manifest["output"]["path"] == url("out/selected.jsonl")
    assert manifest["inputs"]["sources"][0]["path"] == url(f"in/{SOURCE.name}")
    local_manifest = json.loads((tmp_path / "local.jsonl.manifest.json").read_text())
    assert manifest["output"]["sha256"] == local_manifest["output"]["sha256"]
    assert manifest["inputs"]["sources"][0]["sha256"] == local_manifest["inputs"]["sources"][0]["sha256"]
    assert "endpoint" not in json.dumps(manifest)  # storage options are never recorded
    assert result.out == storage.as_path(url("out/selected.jsonl"))
    # nothing but the output and its manifest: the checkpoint is gone, and nothing was staged on the store
    assert sorted(fs.ls(f"{BUCKET}/out", detail=False, refresh=True)) == [
        f"{BUCKET}/out/selected.jsonl", f"{BUCKET}/out/selected.jsonl.manifest.json"]
    # an existing output is refused without --overwrite, and replaced with it
    with pytest.raises(ZipfitError, match="exists; pass --overwrite"):
        zipfit.select(url(f"in/{SOURCE.name}"), url(f"in/{TARGET.name}"), out=url("out/selected.jsonl"), k=40,
                      storage_options=s3["options"], **T, **RUN)
    zipfit.select(url(f"in/{SOURCE.name}"), url(f"in/{TARGET.name}"), out=url("out/selected.jsonl"), k=40,
                  storage_options=s3["options"], overwrite=True, **T, **RUN)
    assert fs.cat_file(f"{BUCKET}/out/selected.jsonl") == expected


def test_parquet_output_and_a_local_output_from_remote_inputs(s3, tmp_path):
    expected = _local(tmp_path, "local.parquet")
    zipfit.select(url(f"in/{SOURCE.name}"), url(f"in/{TARGET.name}"), out=url("pq/selected.parquet"), k=40,
                  storage_options=s3["options"], **T, **RUN)
    assert s3["fs"].cat_file(f"{BUCKET}/pq/selected.parquet") == expected
    zipfit.select(url(f"in/{SOURCE.name}"), url(f"in/{TARGET.name}"), out=tmp_path / "mixed.parquet", k=40,
                  storage_options=s3["options"], **T, **RUN)
    assert (tmp_path / "mixed.parquet").read_bytes() == expected


def test_score_to_a_bucket_then_select_from_it(s3, tmp_path):
    expected = _local(tmp_path, "local.jsonl")
    zipfit.score(url(f"in/{SOURCE.name}"), url(f"in/{TARGET.name}"), out=url("scores"), shard_rows=100,
                 storage_options=s3["options"], **T, **RUN)
    fs = s3["fs"]
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{BUCKET}/scores", detail=False, refresh=True))
    assert names[0] == "_manifest.json" and "_run.json" in names and len(names) > 5
    assert all(n.startswith("part-") for n in names[2:])
    zipfit.select(scores=url("scores"), out=url("from-scores/selected.jsonl"), k=40,
                  storage_options=s3["options"], **RUN)
    assert fs.cat_file(f"{BUCKET}/from-scores/selected.jsonl") == expected
    # a remote score dataset, a local output
    zipfit.select(scores=url("scores"), out=tmp_path / "from-scores.jsonl", k=40, storage_options=s3["options"],
                  **RUN)
    assert (tmp_path / "from-scores.jsonl").read_bytes() == expected


def test_a_glob_over_many_objects(s3, tmp_path):
    lines = MBPP.read_bytes().splitlines(keepends=True)
    local = tmp_path / "many"
    local.mkdir()
    per = -(-len(lines) // 50)
    for i in range(50):
        chunk = b"".join(lines[i * per:(i + 1) * per])
        (local / f"part-{i:02d}.jsonl").write_bytes(chunk)
        s3["fs"].pipe_file(f"{BUCKET}/many/sub/part-{i:02d}.jsonl", chunk)
    found = resolve_inputs([url("many/**/*.jsonl")])
    assert [f.path.name for f in found] == [f"part-{i:02d}.jsonl" for i in range(50)]
    assert all(f.etag for f in found)
    expected = _local(tmp_path, "local.jsonl", sources=str(local / "*.jsonl"))
    zipfit.select(url("many/sub/*.jsonl"), url(f"in/{TARGET.name}"), out=url("glob/selected.jsonl"), k=40,
                  storage_options=s3["options"], **T, **RUN)
    assert s3["fs"].cat_file(f"{BUCKET}/glob/selected.jsonl") == expected
    with pytest.raises(ZipfitError, match="no files match"):
        resolve_inputs([url("many/*.parquet")])


def _cli(s3: dict, *args: str, failpoint: str | None = None, env_endpoint: bool = False,
         extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **CREDENTIALS, "PYTHONPATH": str(ROOT / "src"), **(extra_env or {})}
    env.pop("ZIPFIT_FAILPOINT", None)
    if failpoint:
        env["ZIPFIT_FAILPOINT"] = failpoint
    if env_endpoint:
        env["AWS_ENDPOINT_URL"] = s3["endpoint"]
        options: tuple[str, ...] = ()
    else:
        options = ("--storage-options", json.dumps(s3["options"]))
    template = ("--target-template", "{nl_statement}\\n{formal_statement}")
    return subprocess.run([sys.executable, "-m", "zipfit", *args, *template, *options], env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_run_killed_mid_scoring_resumes_with_everything_remote(s3, tmp_path):
    expected = _local(tmp_path, "local.jsonl")
    args = ["select", url(f"in/{SOURCE.name}"), "--target", url(f"in/{TARGET.name}"), "--out", url("kill/sel.jsonl"),
            "--k", "40", "--workers", "1", "--shard-rows", "100", "--quiet"]
    first = _cli(s3, *args, failpoint="part_saved:kill@3")
    assert first.returncode == -signal.SIGKILL, first.stderr
    fs = s3["fs"]
    fs.invalidate_cache()
    parts = fs.glob(f"{BUCKET}/kill/sel.jsonl.*/part-*.parquet")
    assert len(parts) == 3  # the checkpoint is on the bucket, three parts, each whole
    assert not fs.exists(f"{BUCKET}/kill/sel.jsonl")
    second = _cli(s3, *args, "--resume", env_endpoint=True)  # the endpoint from the environment, this time
    assert second.returncode == 0, second.stderr
    assert fs.cat_file(f"{BUCKET}/kill/sel.jsonl") == expected
    manifest = json.loads(fs.cat_file(f"{BUCKET}/kill/sel.jsonl.manifest.json"))
    assert manifest["counts"]["resumed_shards"] == 3
    fs.invalidate_cache()
    assert sorted(fs.ls(f"{BUCKET}/kill", detail=False)) == [f"{BUCKET}/kill/sel.jsonl",
                                                               f"{BUCKET}/kill/sel.jsonl.manifest.json"]


def test_a_changed_remote_input_is_not_resumed_and_refused_by_scores(s3, tmp_path):
    fs = s3["fs"]
    fs.put_file(str(SOURCE), f"{BUCKET}/change/source.jsonl.gz")
    source = url("change/source.jsonl.gz")
    args = ["select", source, "--target", url(f"in/{TARGET.name}"), "--out", url("change/sel.jsonl"), "--k", "40",
            "--workers", "1", "--shard-rows", "100"]
    assert _cli(s3, *args, failpoint="part_saved:kill@2").returncode == -signal.SIGKILL
    zipfit.score(source, url(f"in/{TARGET.name}"), out=url("change/scores"), storage_options=s3["options"], **T, **RUN)
    # the same name, other content: a store's ETag and size change, though the name does not
    records = [json.loads(line) for line in gzip.decompress(SOURCE.read_bytes()).splitlines()]
    changed = tmp_path / "changed.jsonl.gz"
    changed.write_bytes(gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records[::-1]), mtime=0))
    fs.put_file(str(changed), f"{BUCKET}/change/source.jsonl.gz")
    resumed = _cli(s3, *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "not reused" in resumed.stderr
    manifest = json.loads(fs.cat_file(f"{BUCKET}/change/sel.jsonl.manifest.json"))
    assert manifest["counts"]["resumed_shards"] == 0
    assert fs.cat_file(f"{BUCKET}/change/sel.jsonl") == _local(tmp_path, "local.jsonl", sources=changed)
    with pytest.raises(ZipfitError, match="is not the input that was scored"):
        zipfit.select(scores=url("change/scores"), out=tmp_path / "x.jsonl", k=40, storage_options=s3["options"],
                      **RUN)


def test_file_urls_are_local_paths(tmp_path):
    expected = _local(tmp_path, "local.jsonl")
    zipfit.select(SOURCE.as_uri(), TARGET.as_uri(), out=(tmp_path / "via-url.jsonl").as_uri(), k=40, **T, **RUN)
    assert (tmp_path / "via-url.jsonl").read_bytes() == expected
    assert storage.as_path("file:///a%20b/c.jsonl") == Path("/a b/c.jsonl")


def test_a_missing_object_is_one_line(s3):
    done = _cli(s3, "select", url("in/nothing.jsonl"), "--target", url(f"in/{TARGET.name}"), "--out",
                url("x/sel.jsonl"), "--k", "4")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"zipfit: error: no such file: {url('in/nothing.jsonl')}"]


def test_without_s3fs_an_s3_url_is_one_line(tmp_path):
    code = ("import sys; sys.modules['s3fs'] = None; from zipfit.cli import main; "
            f"sys.exit(main(['select', 's3://b/x.jsonl', '--target', {str(TARGET)!r}, '--out', "
            f"{str(tmp_path / 'o.jsonl')!r}, '--k', '4']))")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "s3fs" in lines[0] and "pip install" in lines[0], done.stderr


def test_bad_storage_options_are_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "zipfit", "select", str(SOURCE), "--target", str(TARGET),
                           "--out", str(tmp_path / "o.jsonl"), "--k", "4", "--storage-options", "[1]"],
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "--storage-options" in done.stderr


def test_ray_with_every_path_on_the_store_gives_the_local_engines_bytes(s3, tmp_path, data_dir):
    """Sources, targets, --exclude, the score dataset and the output all on the bucket, scored by Ray workers that
    read their shards from the store; decontamination and dedup included."""
    fs = s3["fs"]
    proofnet = data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl"
    fs.put_file(str(proofnet), f"{BUCKET}/eval/{proofnet.name}")
    options = dict(k=40, exclude_where={"split": "test"}, dedup=True, target_template=TEMPLATE, progress=False)
    local = zipfit.select(SOURCE, TARGET, out=tmp_path / "local.jsonl", exclude=proofnet, workers=2, **options)
    on_ray = zipfit.select(url(f"in/{SOURCE.name}"), url(f"in/{TARGET.name}"), out=url("ray/selected.jsonl"),
                           exclude=url(f"eval/{proofnet.name}"), scores_out=url("ray/scores"), engine="ray",
                           workers=2, storage_options=s3["options"], **options)
    assert fs.cat_file(f"{BUCKET}/ray/selected.jsonl") == (tmp_path / "local.jsonl").read_bytes()
    assert on_ray.manifest["parameters"]["engine"] == "ray"
    assert on_ray.manifest["decontamination"] == local.manifest["decontamination"] | {
        "files": on_ray.manifest["decontamination"]["files"]}  # the same counts; the paths differ
    assert fs.exists(f"{BUCKET}/ray/scores/_manifest.json")


def test_an_output_in_a_missing_bucket_is_refused_before_any_work(s3, tmp_path):
    with pytest.raises(ZipfitError, match=r"no bucket .*s3://no-such-bucket; create it first"):
        zipfit.select(url(f"in/{SOURCE.name}"), url(f"in/{TARGET.name}"), out="s3://no-such-bucket/out/a.jsonl",
                      k=5, storage_options=s3["options"], **T, **RUN)
    with pytest.raises(ZipfitError, match="no bucket"):
        zipfit.compare(url(f"in/{SOURCE.name}"), url(f"in/{TARGET.name}"), k=5, out="s3://no-such-bucket/c.json",
                       storage_options=s3["options"], **T, **RUN)
