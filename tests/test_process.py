"""Process-wide tuning happens only in processes zipfit owns: engine workers and the CLI, never a library
user's process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zipfit.engines import LocalEngine

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")


class ZipFitSetupProbe:
    """Sets up a ZipFit method in the worker, then reports what that did to the worker's process."""

    def setup(self) -> None:
        from zipfit.methods import ZipFit

        ZipFit().fit(["theorem a : 1 = 1"]).setup()

    def __call__(self, batch: list[int]) -> tuple[int, bool, bool]:
        from zipfit import ncd, process

        return os.getpid(), process.owned(), ncd._allocator_tuned


def test_an_engine_worker_is_owned_and_zipfit_setup_tunes_it():
    with LocalEngine(2, progress=False) as engine:
        results = list(engine.map(ZipFitSetupProbe(), [[i] for i in range(6)]))
    assert all(pid != os.getpid() for pid, _, _ in results)
    assert all(owned and tuned for _, owned, tuned in results)


def _run(code: str, cwd: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture()
def sources(tmp_path: Path) -> Path:
    path = tmp_path / "src.jsonl"
    path.write_text("".join(json.dumps({"text": f"lemma l{i} : {i} + 0 = {i} := by simp"}) + "\n"
                            for i in range(20)), encoding="utf-8")
    return path


def test_a_library_users_process_is_never_tuned(sources, tmp_path):
    # in a fresh interpreter: other tests run the CLI in the pytest process, which marks it as zipfit's
    got = _run(f"""
        import json, zipfit
        from zipfit import ncd, process
        zipfit.select({str(sources)!r}, target_texts=["theorem a : 1 = 1"], k=3, out={str(tmp_path / "o.jsonl")!r},
                      workers=1, progress=False)
        print(json.dumps({{"owned": process.owned(), "tuned": ncd._allocator_tuned}}))
    """, tmp_path)
    assert got == {"owned": False, "tuned": False}


@pytest.mark.parametrize(("workers", "tuned"), [("1", True), ("2", False)])
def test_the_cli_tunes_its_own_process_only_when_it_scores_there(sources, tmp_path, workers, tuned):
    target = tmp_path / "target.jsonl"
    target.write_text(json.dumps({"text": "theorem a : 1 = 1"}) + "\n", encoding="utf-8")
    got = _run(f"""
        import json
        from zipfit import ncd, process
        from zipfit.cli import main
        assert main(["select", {str(sources)!r}, "--target", {str(target)!r}, "--k", "3", "--quiet",
                     "--out", {str(tmp_path / "o.jsonl")!r}, "--workers", {workers!r}]) == 0
        print(json.dumps({{"owned": process.owned(), "tuned": ncd._allocator_tuned}}))
    """, tmp_path)
    assert got == {"owned": tuned, "tuned": tuned}
