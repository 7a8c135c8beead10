"""The worked examples of docs/architecture.md run as written, each saved as a script."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"), re.S)


def test_the_page_has_the_three_examples():
    assert len(BLOCKS) == 3


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_example_runs(number, tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    script = tmp_path / f"example{number}.py"
    script.write_text(BLOCKS[number], encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if number == 0:
        assert "'name': 'short-first', 'scale': 2.0" in proc.stdout
    if number == 2:
        assert "too_short" in proc.stdout and "scored" in proc.stdout
