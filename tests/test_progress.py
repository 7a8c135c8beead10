"""Progress bars a person can plan with (done/total, percentage, rate, time left), and log lines on the same
terminal that never land in the middle of a bar."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

from tqdm import tqdm

from zipfit.io import Corpus
from zipfit.io.textspec import TextSpec
from zipfit.passes import RowProgress, text_batches
from zipfit.progress import LogHandler, progress_bar

EXAMPLE = Path(__file__).resolve().parents[1] / "examples"
TEMPLATE = "{nl_statement}\\n{formal_statement}"  # as typed in a shell
# what tqdm draws for a bar with a total: "scoring:  45%|####  | 270/600 [00:10<00:12, 27.0row/s]"
BAR = re.compile(r"(?P<desc>[\w ]+): +(?P<pct>\d+)%\|[^|]*\| *(?P<done>\d+)/(?P<total>\d+) "
                 r"\[\d\d:\d\d<(?P<eta>\d\d:\d\d), +[\d.]+k?(?P<unit>\w+)/s\]")


def _cli(*args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "zipfit", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def _bars(stderr: str, desc: str) -> list[re.Match]:
    return [m for line in stderr.replace("\r", "\n").split("\n") if (m := BAR.search(line)) and m["desc"] == desc]


def test_the_scoring_bar_of_a_local_run_has_a_total_a_percentage_and_the_time_left(tmp_path):
    proc = _cli("score", EXAMPLE / "source_mix.jsonl.gz", "--target", EXAMPLE / "proofnet_valid.jsonl",
                "--target-template", TEMPLATE, "--out", tmp_path / "s", "--progress", "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    bars = _bars(proc.stderr, "scoring")
    assert bars, proc.stderr
    documents = json.loads((tmp_path / "s" / "_manifest.json").read_text())["counts"]["scored"]
    assert {int(m["total"]) for m in bars} == {documents} == {600}
    assert bars[-1]["pct"] == "100" and int(bars[-1]["done"]) == documents and bars[-1]["unit"] == "row"
    # while it ran, the bar said how far it was and how long was left
    assert any(0 < int(m["pct"]) < 100 and int(m["done"]) < documents for m in bars)
    assert all(re.fullmatch(r"\d\d:\d\d", m["eta"]) for m in bars)


def test_rows_a_filter_leaves_out_are_counted_so_the_bar_ends_at_its_total(tmp_path):
    # --where keeps a quarter of the rows, the last of them long before the end of the file: the bar counts rows
    # read, eligible or not, and must still reach 600/600
    proc = _cli("select", EXAMPLE / "source_mix.jsonl.gz", "--target", EXAMPLE / "proofnet_valid.jsonl",
                "--target-template", TEMPLATE, "--where", "domain=lean4-mathlib", "--method", "dsir",
                "--group-by", "domain", "--k", 10, "--out", tmp_path / "s.jsonl", "--progress", "--workers", 1)
    assert proc.returncode == 0, proc.stderr
    counts = json.loads((tmp_path / "s.jsonl.manifest.json").read_text())["counts"]
    assert counts["source_records"] == 600 and counts["source_eligible"] < 600
    for desc in ("source statistics", "scoring", "reading domain"):
        bars = _bars(proc.stderr, desc)
        assert bars and bars[-1]["done"] == bars[-1]["total"] == "600", (desc, proc.stderr)
    writing = _bars(proc.stderr, "writing")
    assert writing[-1]["done"] == writing[-1]["total"] == "10"
    # the rows were counted once, before the first pass, with a bar of their own in bytes of the file
    counting = [line for line in proc.stderr.replace("\r", "\n").split("\n") if line.startswith("counting rows")]
    assert counting and "100%" in counting[-1]
    assert len([line for line in counting if "100%" in line]) <= 2  # tqdm draws its last state twice: one count



def test_quiet_draws_no_bar_and_says_nothing_but_warnings(tmp_path):
    proc = _cli("score", EXAMPLE / "source_mix.jsonl.gz", "--target", EXAMPLE / "proofnet_valid.jsonl",
                "--target-template", TEMPLATE, "--out", tmp_path / "s", "--progress", "--workers", 1, "-q",
                "--method", "random")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_row_progress_charges_every_row_of_the_inputs_to_some_batch(data_dir):
    # the Pile sample's rows, read as batches of documents: the rows charged add up to the rows of the file, and
    # the count made up front (a fast newline count) is the count the reader makes
    corpus = Corpus([data_dir / "text" / "toy_pile_1000.jsonl"], TextSpec(field="contents"))
    rows = RowProgress(corpus, enabled=True)
    charged = [rows.size(batch) for batch in rows.batches(text_batches(corpus.documents()))]
    assert rows.total == corpus.n_records == sum(charged) == 1000
    assert all(n > 0 for n in charged)


def test_a_bar_without_a_total_says_so(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stderr", screen)
    with progress_bar(desc="scoring", total=None, unit="row", enabled=True) as bar:
        bar.update(5)
    assert "scoring (total unknown)" in screen.getvalue()
    screen.truncate(0)
    with progress_bar(desc="scoring", total=5, unit="row", enabled=True) as bar:
        bar.update(5)
    assert "unknown" not in screen.getvalue() and "5/5" in screen.getvalue()


def test_no_bar_and_no_count_where_none_is_drawn(data_dir):
    corpus = Corpus([data_dir / "text" / "toy_pile_1000.jsonl"], TextSpec(field="contents"))
    assert RowProgress(corpus, enabled=False).total is None and not corpus.rows_counted


def test_a_log_line_is_written_through_a_live_bar(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stderr", screen)
    logger = logging.getLogger("zipfit.test_progress")
    handler = LogHandler()
    handler.setFormatter(logging.Formatter("zipfit: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with tqdm(total=10, desc="scoring", file=sys.stderr, ascii=True) as bar:
            bar.update(3)
            logger.warning("excluded 1 of 10 source records")
            bar.update(7)
        logger.warning("after the bar")
    finally:
        logger.removeHandler(handler)
    lines = screen.getvalue().replace("\r", "\n").split("\n")
    # each log line is a line of its own: the bar was cleared before it and drawn again after it
    assert "zipfit: excluded 1 of 10 source records" in lines
    assert "zipfit: after the bar" in lines
    assert not [line for line in lines if "scoring" in line and "zipfit:" in line]


def test_without_a_bar_it_is_a_plain_stream_handler(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stderr", screen)
    handler = LogHandler()
    handler.setFormatter(logging.Formatter("zipfit: %(message)s"))
    handler.emit(logging.LogRecord("zipfit", logging.INFO, __file__, 1, "hello", None, None))
    assert screen.getvalue() == "zipfit: hello\n"
