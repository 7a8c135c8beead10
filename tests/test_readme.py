"""The README: its set-up commands and its Python example run as written, from the repository's examples."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_python_example_runs(tmp_path, s3_endpoint):
    import s3fs

    store = s3fs.S3FileSystem(endpoint_url=s3_endpoint)
    store.mkdir("zipfit-examples")
    store.put_file(str(ROOT / "examples" / "source_mix.jsonl.gz"), "zipfit-examples/source_mix.jsonl.gz")
    env = {**os.environ, "AWS_ENDPOINT_URL": s3_endpoint}  # the credentials are the fixture's
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert blocks
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for number, block in enumerate(blocks):
        script = tmp_path / f"readme{number}.py"
        script.write_text(block, encoding="utf-8")
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=600, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "scores" / "_manifest.json").is_file()
    assert (tmp_path / "selected-10000.jsonl").read_bytes() != (tmp_path / "selected-50000.jsonl").read_bytes()
    assert "'python-stdlib': 20" in proc.stdout  # the per-domain budget: 100 over five equal domains
    # the selection written to the bucket is the one written to a local file from the same data
    local = tmp_path / "local.jsonl"
    import zipfit

    zipfit.select(ROOT / "examples" / "source_mix.jsonl.gz", ROOT / "examples" / "proofnet_valid.jsonl", k=50,
                  target_template="{nl_statement}\n{formal_statement}", out=local, progress=False)
    assert store.cat_file("zipfit-examples/selected.jsonl") == local.read_bytes()


def _setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text[text.index("## Set up"):text.index("\n## ", text.index("## Set up") + 1)]
    return re.findall(r"```bash\n(.*?)\n```", setup, re.S)


def test_the_readme_has_two_set_up_commands_and_ci_runs_the_test_one():
    commands = _setup_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert commands[0].startswith("pip install '.[report]' && zipfit select ")
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert commands[1] in ci  # the very line, not a variant of it


def test_the_main_command_selects_and_draws_its_report(tmp_path):
    """The first set-up command after its install, as written, in a copy of the repository's examples."""
    command = _setup_commands()[0].split(" && ", 1)[1]
    assert "--method" not in command  # the first command shows the default
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    proc = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "selected.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 50
    # the default's selection, and the README's words about it are its numbers
    lean = sum(r["domain"] == "lean4-mathlib" for r in rows)
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "with the default method, `zipfit-debiased`," in readme and f"{lean} of the 50 are Lean" in readme
    median = json.loads((tmp_path / "selected.jsonl.manifest.json").read_text())["lengths"]["chars"]["selected"]["p50"]
    assert f"(median {median:,.0f} characters against 840 in the mix" in readme
    page = (tmp_path / "selected.html").read_text(encoding="utf-8")
    assert "<h1>zipfit report: zipfit-debiased</h1>" in page
    assert '<section id="coverage">' in page and "<th>domain</th>" in page
    assert sorted(p.name for p in tmp_path.glob("selected.*.png")) == [
        "selected.coverage.png", "selected.lengths.png", "selected.mix.png", "selected.scores.png"]
