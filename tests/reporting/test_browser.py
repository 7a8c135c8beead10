"""The report page in a real browser: headless Chromium (Debian's ``chromium``, installed by ``.ci/run``) loads it
without console errors, every section and every image is there and decodes, and the screenshot is not blank."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# What the test adds to a copy of the page (the page itself has no script): after load, every image must have
# decoded to a real size; the verdict goes into the DOM and, for broken ones, to the console as errors.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt);
  broken.forEach(alt => console.error("image did not load: " + alt));
  const sections = Array.from(document.querySelectorAll("section")).map(s => s.id);
  document.body.setAttribute("data-probe", JSON.stringify({images: images.length, broken, sections}));
});
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package for this test")
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--enable-logging=stderr", "--log-level=0", *args],
                          capture_output=True, text=True, timeout=120)


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _render(page: Path, tmp_path: Path, width: int = 1280, height: int = 2400) -> tuple[dict, np.ndarray]:
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium("--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console(dom.stderr) == []
    probe = json.loads(re.search(r'data-probe="([^"]*)"', dom.stdout).group(1).replace("&quot;", '"'))
    shot = tmp_path / f"{page.stem}.png"
    taken = _chromium(f"--window-size={width},{height}", f"--screenshot={shot}", page.as_uri())
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert _console(taken.stderr) == []
    return probe, np.asarray(Image.open(shot).convert("L"), dtype=np.float64)


def _not_blank(pixels: np.ndarray) -> None:
    assert pixels.std() > 20  # a white page has std 0; text and plots give strong contrast
    dark = (pixels < 128).mean()
    assert 0.005 < dark < 0.5  # ink, but not a black or broken screen


def test_the_select_report_renders_in_chromium(run, tmp_path):
    probe, pixels = _render(run["work"] / "sel.html", tmp_path)
    assert probe["sections"] == ["mix", "scores", "lengths", "examples", "coverage", "parameters"]
    assert probe["images"] == 4 and probe["broken"] == []
    _not_blank(pixels)
    # the plots are drawn where the page puts them: the first screen holds the mix plot, in colour
    top = np.asarray(Image.open(tmp_path / "sel.png").convert("RGB"), dtype=np.int16)[:900]
    blue = (top[..., 2] - top[..., 0] > 80).mean()
    assert blue > 0.002


def test_a_broken_image_is_caught_by_the_probe(run, tmp_path):
    """The check above can fail: a page whose plot does not decode is reported as a console error."""
    page = tmp_path / "broken.html"
    text = (run["work"] / "sel.html").read_text(encoding="utf-8")
    page.write_text(text.replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1), encoding="utf-8")
    probed = tmp_path / "probed-broken.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium("--dump-dom", probed.as_uri())
    assert any("image did not load: mix" in line for line in _console(dom.stderr))


def test_the_compare_report_renders_in_chromium(run, tmp_path):
    from reportrun import TARGET, TEMPLATE

    import zipfit

    zipfit.compare(run["source"], TARGET, methods=["zipfit-debiased", "random"], k=10, target_template=TEMPLATE,
                   workers=1, progress=False, report=tmp_path / "compare.html", report_by="domain")
    probe, pixels = _render(tmp_path / "compare.html", tmp_path, height=1600)
    assert probe["sections"] == ["overlap", "mixes", "methods", "parameters"]
    assert probe["images"] == 2 and probe["broken"] == []
    _not_blank(pixels)
