"""The README's Python example runs as written, saved as a script, from the repository's examples."""

from __future__ import annotations

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
