"""The command line as a user meets it: real processes, exit codes, stderr."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zipfit.cli import build_parser, main, unescape
from zipfit.methods import DEFAULT_METHOD

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples"
TEMPLATE = "{nl_statement}\\n{formal_statement}"  # as typed in a shell: backslash n


def zipfit_cli(*args, cwd=None):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "zipfit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def _demo(out, *options):
    """The README's first command (without its report), plus options."""
    proc = zipfit_cli("select", EXAMPLE / "source_mix.jsonl.gz", "--target", EXAMPLE / "proofnet_valid.jsonl",
                      "--target-template", TEMPLATE, "--k", 50, "--out", out, *options)
    assert proc.returncode == 0, proc.stderr
    return proc, [json.loads(line) for line in out.read_text().splitlines()]


def test_demo_from_the_readme(tmp_path):
    out = tmp_path / "selected.jsonl"
    proc, rows = _demo(out)
    assert len(rows) == 50 and rows[0]["zipfit_rank"] == 1
    assert {"id", "domain", "text", "zipfit_score", "zipfit_rank"} <= set(rows[0])
    assert "selected 50 of 600 documents" in proc.stderr
    manifest = json.loads((tmp_path / "selected.jsonl.manifest.json").read_text())
    assert manifest["inputs"]["target"]["spec"]["template"] == "{nl_statement}\n{formal_statement}"
    assert manifest["counts"]["targets"] == 185
    # the default, as the README says: zipfit-debiased, 49 of the 50 in the target's language
    assert manifest["method"]["name"] == "zipfit-debiased"
    assert sum(r["domain"] == "lean4-mathlib" for r in rows) == 49
    assert "favours short documents" not in proc.stderr


def test_demo_with_the_papers_score(tmp_path):
    proc, rows = _demo(tmp_path / "paper.jsonl", "--method", "zipfit")
    assert sum(r["domain"] == "lean4-mathlib" for r in rows) == 0  # the README's contrast: all short Python
    assert "favours short documents" in proc.stderr


def test_the_default_method_is_zipfit_debiased_and_help_says_so(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "400")  # argparse wraps help to the terminal; wide, no word is cut at a hyphen
    helps = {}
    for command in ("select", "score", "compare"):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        helps[command] = capsys.readouterr().out
    assert DEFAULT_METHOD == "zipfit-debiased"
    for command in ("select", "score"):
        assert re.search(r"--method \{[^}]*\} zipfit-debiased \(default\), zipfit \(the paper's score\)",
                         " ".join(helps[command].split())), helps[command]
    assert "--methods METHODS comma-separated (default: zipfit-debiased,zipfit,random" in " ".join(
        helps["compare"].split()), helps["compare"]
    parser = build_parser()
    base = ["a.jsonl", "--target", "t.jsonl", "--k", "1"]
    assert parser.parse_args(["score", "a.jsonl", "--target", "t.jsonl", "--out", "s"]).method == "zipfit-debiased"
    assert parser.parse_args(["compare", *base]).methods == "zipfit-debiased,zipfit,random"
    # select leaves it unset so that --scores can take the saved run's method; the API then takes the default
    assert parser.parse_args(["select", *base, "--out", "o.jsonl"]).method is None


def test_user_errors_are_one_line_without_traceback(tmp_path):
    proc = zipfit_cli("select", EXAMPLE / "source_mix.jsonl.gz", "--target", EXAMPLE / "proofnet_valid.jsonl",
                      "--k", 5, "--out", tmp_path / "o.jsonl")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "no field 'text' in target records" in proc.stderr and "nl_statement" in proc.stderr
    proc = zipfit_cli("select", tmp_path / "missing.jsonl", "--target", EXAMPLE / "proofnet_valid.jsonl",
                      "--k", 5, "--out", tmp_path / "o.jsonl")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "missing.jsonl" in proc.stderr


def test_level_0_needs_the_explicit_flag(tmp_path):
    args = ["select", EXAMPLE / "source_mix.jsonl.gz", "--target", EXAMPLE / "proofnet_valid.jsonl",
            "--target-template", TEMPLATE, "--k", 5, "--level", 0, "--workers", 1]
    proc = zipfit_cli(*args, "--out", tmp_path / "a.jsonl")
    assert proc.returncode == 2 and "stores the text without compressing" in proc.stderr
    proc = zipfit_cli(*args, "--allow-level-0", "--out", tmp_path / "b.jsonl")
    assert proc.returncode == 0, proc.stderr


def test_progress_bar_when_asked(tmp_path):
    proc = zipfit_cli("score", EXAMPLE / "source_mix.jsonl.gz", "--target", EXAMPLE / "proofnet_valid.jsonl",
                      "--target-template", TEMPLATE, "--out", tmp_path / "s", "--progress", "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    assert "600/600" in proc.stderr  # rows read of the rows counted up front
    assert (tmp_path / "s" / "_manifest.json").is_file()


def test_align_prints_a_table(capsys):
    code = main(["align", str(EXAMPLE / "source_mix.jsonl.gz"), "--target", str(EXAMPLE / "proofnet_valid.jsonl"),
                 "--target-template", TEMPLATE, "--max-docs", "30", "--workers", "1", "-q"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["dataset", "docs", "scored", "alignment", "std", "median"]
    assert lines[1].split()[1:3] == ["600", "30"]


def test_unescape():
    assert unescape(TEMPLATE) == "{nl_statement}\n{formal_statement}"
    assert unescape("a\\\\nb\\t") == "a\\nb\t"
    assert unescape(None) is None


@pytest.mark.parametrize("argv", [
    ["select", "a.jsonl", "--target", "t.jsonl", "--out", "o.jsonl", "--k", "5", "--tokens", "9"],
    ["select", "a.jsonl", "--target", "t.jsonl", "--out", "o.jsonl", "--fraction", "0.5", "--k", "9"],
])
def test_budget_is_exclusive(argv):
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)


def test_a_budget_is_required(tmp_path, capsys):
    from zipfit.cli import main

    argv = ["select", str(EXAMPLE / "source_mix.jsonl.gz"), "--target", str(EXAMPLE / "proofnet_valid.jsonl"),
            "--out", str(tmp_path / "o.jsonl")]
    assert main(argv) == 2
    assert "give exactly one of --k (documents) or --tokens" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_sigterm_cleans_up_temp_files_and_workers(tmp_path, data_dir):
    import signal
    import time

    src = data_dir / "lean4" / "mathlib4_c46b5e4.jsonl.gz"
    out = tmp_path / "o.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "zipfit", "select", str(src), "--target",
                             str(EXAMPLE / "proofnet_valid.jsonl"), "--target-template", TEMPLATE, "--k", "10",
                             "--out", str(out), "--workers", "2"], stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # well into scoring (the whole run takes minutes)
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "the workers should be running"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []
    time.sleep(1)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()
             and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    assert alive == []


def test_progress_bar_is_automatic_on_a_terminal_only(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    args = [sys.executable, "-m", "zipfit", "score", str(EXAMPLE / "source_mix.jsonl.gz"), "--target",
            str(EXAMPLE / "proofnet_valid.jsonl"), "--target-template", TEMPLATE, "--workers", "1"]
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a real terminal has a size
    proc = subprocess.Popen([*args, "--out", str(tmp_path / "tty")], stderr=secondary,
                            stdout=subprocess.DEVNULL)
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=120) == 0
    assert b"row/s" in seen and b"600/600" in seen
    piped = zipfit_cli(*args[3:], "--out", tmp_path / "pipe.csv")
    assert piped.returncode == 0 and "row/s" not in piped.stderr


def test_compare_prints_a_table_and_an_overlap_matrix(capsys):
    code = main(["compare", str(EXAMPLE / "source_mix.jsonl.gz"), "--target", str(EXAMPLE / "proofnet_valid.jsonl"),
                 "--target-template", TEMPLATE, "--k", "20", "--methods", "zipfit,random", "--workers", "1", "-q"])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("600 source documents")
    assert out[1].split() == ["method", "selected", "tokens", "chars", "p10", "median", "p90", "seconds"]
    assert [line.split()[0] for line in out[2:5]] == ["zipfit", "random", "(source)"]
    zipfit_median, source_median = float(out[2].split()[4].replace(",", "")), float(out[4].split()[3].replace(",", ""))
    assert zipfit_median < source_median  # the length bias, in plain sight
    assert out[-2].split()[:2] == ["zipfit", "1.00"] and out[-1].split()[-1] == "1.00"


def test_an_internal_bug_prints_its_traceback_and_asks_for_a_report(monkeypatch, capsys):
    import zipfit
    from zipfit.cli import main

    def broken(*args, **kwargs):
        raise RuntimeError("an invariant broke")

    monkeypatch.setattr(zipfit, "select", broken)
    assert main(["select", "a.jsonl", "--target", "t.jsonl", "--k", "1", "--out", "o.jsonl"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: an invariant broke" in err
    assert err.strip().splitlines()[-1].startswith("zipfit: internal error") and "please report it" in err


@pytest.mark.parametrize(("errno_", "code"), [("ENOSPC", 4), ("EDQUOT", 4), ("EACCES", 5), ("EROFS", 5), ("EIO", 6)])
def test_an_os_error_under_a_run_is_one_line_with_its_own_exit_code(monkeypatch, capsys, errno_, code):
    import errno
    import os

    import zipfit
    from zipfit.cli import main

    def failing(*args, **kwargs):
        number = getattr(errno, errno_)
        raise OSError(number, os.strerror(number))

    monkeypatch.setattr(zipfit, "select", failing)
    assert main(["select", "a.jsonl", "--target", "t.jsonl", "--k", "1", "--out", "o.jsonl"]) == code
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zipfit: error: zipfit select: ")


def test_where_filtering_is_information_that_quiet_hides(tmp_path):
    base = [sys.executable, "-m", "zipfit", "select", str(EXAMPLE / "source_mix.jsonl.gz"), "--target",
            str(EXAMPLE / "proofnet_valid.jsonl"), "--target-template", TEMPLATE, "--k", "5", "--where",
            "domain=lean4-mathlib", "--method", "random", "--workers", "1", "--no-progress"]
    loud = subprocess.run([*base, "--out", str(tmp_path / "a.jsonl")], capture_output=True, text=True)
    assert loud.returncode == 0, loud.stderr
    assert "filtered out" in loud.stderr and "by --where" in loud.stderr
    assert "ZIP-FIT favours short" not in loud.stderr  # the paper score's bias, not random's
    quiet = subprocess.run([*base, "--out", str(tmp_path / "b.jsonl"), "--quiet"], capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_the_length_note_names_zipfit_only_for_its_own_score():
    from zipfit.api import _length_line

    lengths = {"chars": {"selected": {"p50": 100.0}, "source": {"p50": 400.0}}, "median_chars_ratio": 0.25}
    assert "ZIP-FIT favours short documents" in _length_line(lengths, "zipfit")
    for method in ("dsir", "d4", "random", "embed", "zipfit-debiased"):
        assert "ZIP-FIT" not in _length_line(lengths, method)
