"""Redraw docs/images/report.png: the top of the report page of the README's first command, as headless Chromium
shows it.

    python docs/images/make_report_png.py [--out docs/images/report.png] [--width 880] [--height 1360]

The command is read from the README itself (its first set-up block, after the install), so the picture is of what
that command does now; it runs in a temporary directory that links the repository's examples/.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_command() -> list[str]:
    """The README's first set-up command, without its ``pip install ... &&``, as an argument list."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text[text.index("## Set up"):]
    first = re.search(r"```bash\n(.*?)\n```", setup, re.S).group(1)
    words = shlex.split(first.split(" && ", 1)[1])
    if words[0] != "zipfit":
        raise SystemExit(f"the README's first command does not start with zipfit: {first}")
    return [sys.executable, "-m", "zipfit", *words[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "report.png")
    parser.add_argument("--width", type=int, default=880)
    parser.add_argument("--height", type=int, default=1360)
    parser.add_argument("--scale", type=float, default=0.85,
                        help="device pixels per CSS pixel: below 1 fits more of the page in the picture")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    command = readme_command()
    page_name = command[command.index("--report") + 1]
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "examples").symlink_to(ROOT / "examples")
        subprocess.run(command, cwd=work, check=True)
        page = Path(work) / page_name
        # --hide-scrollbars: the picture is of the page, not of the window around it
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--force-device-scale-factor={args.scale}",
                        f"--window-size={round(args.width / args.scale)},{round(args.height / args.scale)}",
                        f"--screenshot={args.out.resolve()}",
                        page.as_uri()], check=True, capture_output=True)
    print(f"{args.out} <- {shlex.join(['zipfit', *command[3:]])}")


if __name__ == "__main__":
    main()
