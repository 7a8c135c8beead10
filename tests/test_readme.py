"""The README's Python example runs as written, saved as a script, from the repository's examples."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_python_example_runs(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert blocks
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for number, block in enumerate(blocks):
        script = tmp_path / f"readme{number}.py"
        script.write_text(block, encoding="utf-8")
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "scores" / "_manifest.json").is_file()
    assert (tmp_path / "selected-10000.jsonl").read_bytes() != (tmp_path / "selected-50000.jsonl").read_bytes()
    assert "'python-stdlib': 20" in proc.stdout  # the per-domain budget: 100 over five equal domains
