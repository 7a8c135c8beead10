"""Fault injection: real CLI runs killed at exact moments, out of disk space, racing each other, fed damaged
checkpoints and inputs that change under them. Each test checks one promise of docs/reliability.md:

- an output and its manifest appear together (while the output exists, the manifest beside it is its own);
- a run killed at any moment finishes with the same command plus --resume, with the bytes of an uninterrupted run,
  and leaves no temp or spill files behind;
- a full disk ends in one `zipfit: error:` line (exit 4), with no partial output;
- one live run per output; a dead run's lock is taken over;
- a damaged, swapped or forged checkpoint part is reported in one line and scored again;
- an input that changes during a run is refused.

Kill moments are failpoints (``zipfit.failpoints``); the disk is a real tmpfs mounted by the tests (they run as
root, as CI does).
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TEMPLATE = "{nl_statement}\\n{formal_statement}"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    with gzip.open(EXAMPLES / "source_mix.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()[:200]
    source = root / "mix.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return source, EXAMPLES / "proofnet_valid.jsonl"


def _zipfit(*args, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zipfit", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


def _select_args(data, out, *extra) -> list:
    source, target = data
    return ["select", source, "--target", target, "--target-template", TEMPLATE, "--k", "40", "--out", out,
            "--shard-rows", "25", "--workers", "1", "--quiet", *extra]


def _score_args(data, out, *extra) -> list:
    source, target = data
    return ["score", source, "--target", target, "--target-template", TEMPLATE, "--out", out,
            "--shard-rows", "25", "--workers", "1", "--quiet", *extra]


def _popen(args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zipfit", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def _one_error_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("zipfit: error: "), proc.stderr
    return lines[0]


def _hidden(directory: Path, name: str) -> list[str]:
    """Temp, spill and lock files of the output ``name`` (all start with a dot and the name)."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(f".{name}"))


def _pair_is_consistent(out: Path) -> None:
    """The promise at every moment: while the output exists, the manifest beside it is its own."""
    if out.exists():
        manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
        import hashlib

        assert manifest["output"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    out = root / "ref.jsonl"
    assert _zipfit(*_select_args(data, out)).returncode == 0
    parquet = root / "ref.parquet"
    assert _zipfit(*_select_args(data, parquet)).returncode == 0
    scores = root / "scores"
    assert _zipfit(*_score_args(data, scores)).returncode == 0
    return {"jsonl": out.read_bytes(), "parquet": parquet.read_bytes(), "scores": pq.read_table(scores),
            "scores_dir": scores}


@pytest.fixture(scope="module")
def paper_reference(data, tmp_path_factory):
    """The reference runs with the paper's score, for the write-phase disk sweeps: their steps (a few KiB) are sized
    to its selection of short documents (13 KB as JSON Lines); the default's, of Lean files, is 12 times larger."""
    root = tmp_path_factory.mktemp("paper_reference")
    runs = {}
    for suffix in ("jsonl", "parquet"):
        assert _zipfit(*_select_args(data, root / f"ref.{suffix}", "--method", "zipfit")).returncode == 0
        runs[suffix] = (root / f"ref.{suffix}").read_bytes()
    assert _zipfit(*_score_args(data, root / "scores", "--method", "zipfit")).returncode == 0
    return {**runs, "scores_dir": root / "scores"}


def _wait_stopped(pid: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not stop at its failpoint")


# ---- SIGKILL at every moment, then --resume ---------------------------------------------------------------------

SELECT_MOMENTS = ["locked", "inputs_hashed", "part_saved@1", "part_saved@6", "records_spilled", "output_staged",
                  "manifest_staged", "old_output_removed", "manifest_published", "output_published",
                  "checkpoint_removed"]


@pytest.mark.parametrize("moment", SELECT_MOMENTS)
def test_select_killed_at_any_moment_finishes_with_resume(moment, data, reference, tmp_path):
    out = tmp_path / "out.jsonl"
    name, _, nth = moment.partition("@")
    killed = _zipfit(*_select_args(data, out), env={"ZIPFIT_FAILPOINT": f"{name}:kill@{nth or 1}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    _pair_is_consistent(out)
    again = _zipfit(*_select_args(data, out, "--resume"))
    assert again.returncode == 0, again.stderr
    assert out.read_bytes() == reference["jsonl"]
    _pair_is_consistent(out)
    assert _hidden(tmp_path, "out.jsonl") == []  # no temp, spill or lock file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.jsonl.manifest.json"]


def test_an_overwrite_killed_between_the_manifest_and_the_output_never_pairs_them_wrongly(data, reference,
                                                                                         tmp_path):
    out = tmp_path / "out.jsonl"
    assert _zipfit(*_select_args(data, out)[:-1], "--k", "10", "--quiet").returncode == 0  # an older result
    for moment in ("old_output_removed", "manifest_published"):
        killed = _zipfit(*_select_args(data, out, "--overwrite"), env={"ZIPFIT_FAILPOINT": moment})
        assert killed.returncode == -signal.SIGKILL
        assert not out.exists()  # the old output went first: it is never beside the new manifest
        again = _zipfit(*_select_args(data, out, "--overwrite", "--resume"))
        assert again.returncode == 0, again.stderr
        assert out.read_bytes() == reference["jsonl"]
        _pair_is_consistent(out)


def test_resume_refuses_an_output_another_run_wrote(data, tmp_path):
    out = tmp_path / "out.jsonl"
    assert _zipfit(*_select_args(data, out)[:-1], "--k", "10", "--quiet").returncode == 0
    again = _zipfit(*_select_args(data, out, "--resume"))  # k=40 now: not the run that wrote it
    assert again.returncode == 2
    assert "was not written by this run" in _one_error_line(again)


SCORE_MOMENTS = ["locked", "inputs_hashed", "part_saved@1", "part_saved@6", "scored", "score_manifest_written"]


@pytest.mark.parametrize("moment", SCORE_MOMENTS)
def test_score_killed_at_any_moment_finishes_with_resume(moment, data, reference, tmp_path):
    out = tmp_path / "scores"
    name, _, nth = moment.partition("@")
    killed = _zipfit(*_score_args(data, out), env={"ZIPFIT_FAILPOINT": f"{name}:kill@{nth or 1}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if (out / "_manifest.json").exists():  # complete exactly when the manifest is there
        assert pq.read_table(out).equals(reference["scores"])
    again = _zipfit(*_score_args(data, out, "--resume"))
    assert again.returncode == 0, again.stderr
    assert pq.read_table(out).equals(reference["scores"])
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]
    assert _hidden(tmp_path, "scores") == []


# ---- a full disk ------------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path_factory):
    """A real 2 MiB tmpfs, one per test; ``fill(free)`` leaves about ``free`` bytes on it. Not shared between tests:
    space that an earlier test's process still held (an open or mapped file it deleted) could be freed in the
    middle of the next test and let a run on a "full" disk succeed (CI, this stop)."""
    mount = tmp_path_factory.mktemp("tmpfs")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)

    def fill(free: int) -> Path:
        for p in mount.iterdir():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        work = mount / "work"
        work.mkdir()
        st = os.statvfs(mount)
        filler = st.f_bavail * st.f_frsize - free
        if filler > 0:
            with open(mount / "filler", "wb") as f:
                os.posix_fallocate(f.fileno(), 0, filler)
        if free == 0:
            _top_up(mount / "filler-rest")
        return work

    yield fill
    subprocess.run(["umount", "-l", str(mount)], check=True)


def _top_up(path: Path) -> None:
    """Writes pages until the disk refuses one: statvfs and fallocate alone once left a page free (CI, stop 19)."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
                os.fsync(f.fileno())
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
    with pytest.raises(OSError) as probe, open(path.parent / "probe", "wb", buffering=0) as f:
        f.write(b"x")
        os.fsync(f.fileno())
    assert probe.value.errno == errno.ENOSPC
    (path.parent / "probe").unlink(missing_ok=True)


def _check_full_disk_run(proc, work: Path, out_name: str) -> bool:
    """One run on a nearly full disk: it either succeeded, or ended with one line and exit 4 and left no output
    and no temp file. Returns whether it failed."""
    if proc.returncode == 0:
        return False
    assert proc.returncode == 4, proc.stderr
    line = _one_error_line(proc)
    assert "No space left on device" in line and "--resume" in line
    assert not (work / out_name).exists()
    assert not [p for p in work.iterdir() if ".tmp-" in p.name or ".spill-" in p.name]
    return True


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_full_disk_while_writing_the_selection(suffix, data, paper_reference, small_disk):
    """Every writer of the write phase (spill, output, manifest), by sweeping the free space; the scores are
    read from a saved dataset on another disk, so the write phase is what runs out."""
    outcomes = []
    for free in range(0, 48 << 10, 4 << 10):
        work = small_disk(free)
        out = work / f"out{suffix}"
        proc = _zipfit("select", "--scores", paper_reference["scores_dir"], "--k", "40", "--out", out, "--quiet")
        failed = _check_full_disk_run(proc, work, out.name)
        outcomes.append(failed)
        if not failed:
            assert out.read_bytes() == paper_reference[suffix[1:]]
            _pair_is_consistent(out)
            break
    assert outcomes[0] and outcomes[-1] is False  # the sweep went from failing to working


def test_a_full_disk_while_checkpointing_then_resume(data, reference, small_disk):
    work = small_disk(12 << 10)
    out = work / "out.jsonl"
    proc = _zipfit(*_select_args(data, out))
    assert _check_full_disk_run(proc, work, out.name)
    assert (work / "out.jsonl.zipfit-checkpoint").is_dir()  # what was scored is kept
    (work.parent / "filler").unlink()
    again = _zipfit(*_select_args(data, out, "--resume"))
    assert again.returncode == 0, again.stderr
    assert out.read_bytes() == reference["jsonl"]


def test_a_full_disk_while_writing_a_score_dataset(data, reference, small_disk):
    for free in (0, 8 << 10, 40 << 10):
        work = small_disk(free)
        out = work / "scores"
        proc = _zipfit(*_score_args(data, out))
        assert proc.returncode == 4
        _one_error_line(proc)
        assert not (out / "_manifest.json").exists()
        assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    (work.parent / "filler").unlink()
    again = _zipfit(*_score_args(data, out, "--resume"))
    assert again.returncode == 0, again.stderr
    assert pq.read_table(out).equals(reference["scores"])


def test_a_full_disk_while_writing_compare_and_align_reports(data, small_disk):
    source, target = data
    work = small_disk(0)
    for args, name in ((["compare", source, "--target", target, "--target-template", TEMPLATE, "--k", "5",
                         "--methods", "zipfit,random", "--out", work / "c.json"], "c.json"),
                       (["align", source, "--target", target, "--target-template", TEMPLATE, "--max-docs", "20",
                         "--out", work / "a.csv"], "a.csv")):
        proc = _zipfit(*args, "--quiet")
        assert _check_full_disk_run(proc, work, name)


# ---- one live run per output ------------------------------------------------------------------------------------


def test_a_second_run_on_the_same_output_fails_at_once_and_names_the_live_one(data, reference, tmp_path):
    out = tmp_path / "out.jsonl"
    first = _popen(_select_args(data, out), env={"ZIPFIT_FAILPOINT": "locked:stop"})
    try:
        _wait_stopped(first.pid)
        for extra in ((), ("--resume",), ("--overwrite",)):
            second = _zipfit(*_select_args(data, out, *extra))
            assert second.returncode == 7
            line = _one_error_line(second)
            assert f"PID {first.pid}" in line and "being written by another run" in line
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(timeout=120) == 0
    assert out.read_bytes() == reference["jsonl"]


def test_the_lock_of_a_killed_run_is_taken_over(data, reference, tmp_path):
    out = tmp_path / "out.jsonl"
    killed = _zipfit(*_select_args(data, out), env={"ZIPFIT_FAILPOINT": "locked"})
    assert killed.returncode == -signal.SIGKILL
    assert _hidden(tmp_path, "out.jsonl") == [".out.jsonl.zipfit-lock"]
    proc = _zipfit(*_select_args(data, out))
    assert proc.returncode == 0, proc.stderr
    assert "took over the lock" in proc.stderr and "ended without releasing it" in proc.stderr
    assert out.read_bytes() == reference["jsonl"]
    assert _hidden(tmp_path, "out.jsonl") == []


# ---- damaged checkpoints ----------------------------------------------------------------------------------------


def test_damaged_swapped_and_forged_checkpoint_parts_are_scored_again(data, reference, tmp_path):
    out = tmp_path / "out.jsonl"
    killed = _zipfit(*_select_args(data, out), env={"ZIPFIT_FAILPOINT": "part_saved:kill@7"})
    assert killed.returncode == -signal.SIGKILL
    parts = sorted((tmp_path / "out.jsonl.zipfit-checkpoint").glob("part-*.parquet"))
    assert len(parts) == 7
    parts[1].write_bytes(parts[2].read_bytes())  # copied over another
    a, b = parts[3].read_bytes(), parts[4].read_bytes()
    parts[3].write_bytes(b)  # swapped
    parts[4].write_bytes(a)
    parts[5].write_bytes(parts[5].read_bytes()[:300])  # truncated
    forged = pq.read_table(parts[6])  # re-saved with other scores, metadata and all
    scores = forged.column("score").to_pylist()
    forged = forged.set_column(forged.schema.get_field_index("score"), forged.schema.field("score"),
                               pa.array([None if s is None else 1.0 - s for s in scores], pa.float64()))
    pq.write_table(forged, parts[6])
    args = [a for a in _select_args(data, out, "--resume") if a != "--quiet"]  # the warnings are the point
    again = _zipfit(*args)
    assert again.returncode == 0, again.stderr
    said = [line for line in again.stderr.splitlines() if "scoring that shard again" in line]
    assert len(said) == 5, again.stderr
    assert any("checksum mismatch" in line for line in said)
    assert "Traceback" not in again.stderr
    assert out.read_bytes() == reference["jsonl"]


def test_a_damaged_score_dataset_is_refused_in_one_line(reference, tmp_path):
    scores = tmp_path / "scores"
    shutil.copytree(reference["scores_dir"], scores)
    part = sorted(scores.glob("part-*.parquet"))[2]
    part.write_bytes(part.read_bytes()[:-100])
    proc = _zipfit("select", "--scores", scores, "--k", "5", "--out", tmp_path / "o.jsonl", "--quiet")
    assert proc.returncode == 3
    assert "score again" in _one_error_line(proc)
    (scores / "_manifest.json").write_text("{not json")
    proc = _zipfit("select", "--scores", scores, "--k", "5", "--out", tmp_path / "o.jsonl", "--quiet")
    assert proc.returncode == 3
    _one_error_line(proc)


# ---- inputs that change under a run -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["score", "select"])
def test_an_input_appended_to_during_a_run_is_refused(command, data, tmp_path):
    source = tmp_path / "growing.jsonl"
    source.write_bytes(data[0].read_bytes())
    args = (_score_args if command == "score" else _select_args)((source, data[1]), tmp_path / "out")
    if command == "select":
        args[args.index("--out") + 1] = tmp_path / "out.jsonl"
    run = _popen(args, env={"ZIPFIT_FAILPOINT": "inputs_hashed:stop"})
    _wait_stopped(run.pid)
    with open(source, "a", encoding="utf-8") as f:
        f.write(json.dumps({"text": "theorem appended : True := trivial"}) + "\n")
    os.kill(run.pid, signal.SIGCONT)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 2, stderr
    proc = subprocess.CompletedProcess(args, run.returncode, "", stderr)
    assert "changed" in _one_error_line(proc)
    assert not (tmp_path / "out" / "_manifest.json").exists() and not (tmp_path / "out.jsonl").exists()


# ---- directory outputs and rejects --------------------------------------------------------------------------------


def _tree(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("moment", ["part_saved@3", "records_spilled", "manifest_staged", "old_output_removed",
                                    "manifest_published", "output_published"])
def test_a_sharded_output_with_rejects_killed_at_any_moment_finishes_with_resume(moment, data, tmp_path):
    def args(out: Path, rejects: Path, *extra) -> list:
        return _select_args(data, f"{out}/", "--max-rows-per-file", "15", "--rejects", rejects, *extra)

    reference, out = tmp_path / "reference", tmp_path / "out"
    assert _zipfit(*args(reference, tmp_path / "reference.rejects.jsonl")).returncode == 0
    name, _, nth = moment.partition("@")
    killed = _zipfit(*args(out, tmp_path / "rejects.jsonl"), env={"ZIPFIT_FAILPOINT": f"{name}:kill@{nth or 1}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if out.exists():  # a directory output appears whole, with its manifest
        assert (out / "_manifest.json").exists()
    again = _zipfit(*args(out, tmp_path / "rejects.jsonl", "--resume"))
    assert again.returncode == 0, again.stderr
    parts = {n: b for n, b in _tree(out).items() if n.startswith("part-")}
    assert list(parts) == [f"part-0000{i}-of-00003.parquet" for i in range(3)]
    assert parts == {n: b for n, b in _tree(reference).items() if n.startswith("part-")}
    assert (tmp_path / "rejects.jsonl").read_bytes() == (tmp_path / "reference.rejects.jsonl").read_bytes()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs, spills or locks


def test_a_full_disk_while_writing_a_sharded_output_and_rejects(paper_reference, small_disk, tmp_path):
    def args(out: Path, rejects: Path) -> list:
        return ["select", "--scores", paper_reference["scores_dir"], "--k", "40", "--out", f"{out}/",
                "--max-rows-per-file", "15", "--rejects", rejects, "--quiet"]

    assert _zipfit(*args(tmp_path / "expected", tmp_path / "expected.rejects.jsonl")).returncode == 0
    expected = {n: b for n, b in _tree(tmp_path / "expected").items() if n.startswith("part-")}
    outcomes = []
    for free in range(0, 96 << 10, 8 << 10):
        work = small_disk(free)
        proc = _zipfit(*args(work / "d", work / "rejects.jsonl"))
        if proc.returncode == 0:
            assert {n: b for n, b in _tree(work / "d").items() if n.startswith("part-")} == expected
            outcomes.append(False)
            break
        assert proc.returncode == 4, proc.stderr
        assert "No space left on device" in _one_error_line(proc)
        assert not (work / "d").exists() and not (work / "rejects.jsonl").exists()
        assert not [p.name for p in work.iterdir()]  # no temp directory, spill or lock left behind
        outcomes.append(True)
    assert outcomes[0] and outcomes[-1] is False
