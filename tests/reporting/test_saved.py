"""``zipfit report RUN`` and ``--report``: which runs make which page, and the mistakes refused before any work."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from reportrun import TARGET, TEMPLATE

import zipfit
from zipfit.errors import ZipfitError

SECTIONS = ("mix", "scores", "lengths", "examples", "coverage", "parameters")


def _sections(page: Path) -> list[str]:
    return re.findall(r'<section id="([a-z]+)">', page.read_text(encoding="utf-8"))


def _zipfit(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zipfit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_select_report_writes_the_page_and_its_plots_beside_it(run):
    work = run["work"]
    assert _sections(work / "sel.html") == list(SECTIONS)
    for name in ("mix", "scores", "lengths", "coverage"):
        assert (work / f"sel.{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (work / "sel.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "<script" not in page  # self-contained
    assert page.count("data:image/png;base64,") == 4
    assert not [p for p in work.iterdir() if ".tmp-" in p.name]


def test_a_report_made_later_from_the_kept_scores_shows_the_same_selection(run):
    work = run["work"]
    page = zipfit.report(work / "sel.jsonl", work / "later.html", group_by="domain")
    assert page == work / "later.html" and _sections(page) == list(SECTIONS)
    text = page.read_text(encoding="utf-8")
    summary = re.search(r"<header>.*?</p>", text, re.S).group(0)
    assert "30 of 300 documents" in summary and f"{run['manifest']['counts']['selected_tokens']:,}" in summary
    assert "<th>domain</th>" in text and "lean4-mathlib" in text


def test_a_score_dataset_makes_a_page_without_a_selection(run):
    page = zipfit.report(run["work"] / "scores", overwrite=True)
    assert page == run["work"] / "scores.report.html"
    text = page.read_text(encoding="utf-8")
    assert _sections(page) == list(SECTIONS)
    assert "300 documents scored" in text and "The last ones in" not in text
    assert "best-scored documents" in text


def test_a_selection_whose_scores_were_not_kept_is_refused_with_what_to_do(run, tmp_path):
    out = tmp_path / "plain.jsonl"
    zipfit.select(run["source"], TARGET, out=out, k=5, method="zipfit-debiased", target_template=TEMPLATE,
                  workers=1, progress=False)
    with pytest.raises(ZipfitError, match=r"scores were not kept.*--report"):
        zipfit.report(out)
    page = zipfit.report(out, scores=run["work"] / "scores", overwrite=True)  # the same scores, given by hand
    assert "5 of 300 documents" in page.read_text(encoding="utf-8")
    with pytest.raises(ZipfitError, match="holds zipfit-debiased scores, not zipfit"):  # scores of another method
        zipfit.select(run["source"], TARGET, out=tmp_path / "other.jsonl", k=5, method="zipfit",
                      target_template=TEMPLATE, workers=1, progress=False, scores_out=tmp_path / "s")
        zipfit.report(tmp_path / "other.jsonl", scores=run["work"] / "scores")


def test_scores_that_do_not_give_the_recorded_selection_are_refused(run, tmp_path):
    out = tmp_path / "sel.jsonl"
    manifest = dict(run["manifest"], scores={**run["manifest"]["scores"], "cutoff": 0.5})
    out.write_text((run["work"] / "sel.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "sel.jsonl.manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ZipfitError, match="another selection than the run's"):
        zipfit.report(out)
    assert not (tmp_path / "sel.jsonl.report.html").exists()


def test_report_mistakes_are_one_line_before_any_work(run, tmp_path):
    bad = _zipfit("report", tmp_path / "nothing-here")
    assert bad.returncode == 2 and bad.stderr.strip() == f"zipfit: error: {tmp_path / 'nothing-here'}: no such file " \
                                                          "or directory"
    (tmp_path / "x.jsonl").write_text("{}\n")
    assert "not a zipfit run" in _zipfit("report", tmp_path / "x.jsonl").stderr
    existing = _zipfit("report", run["work"] / "scores", "--out", run["work"] / "sel.html")
    assert existing.returncode == 2 and "exists; pass --overwrite" in existing.stderr
    args = [run["source"], "--target", TARGET, "--target-template", TEMPLATE, "--k", "5", "--quiet"]
    wrong = _zipfit("select", *args, "--out", tmp_path / "o.jsonl", "--report", tmp_path / "page.txt")
    assert wrong.returncode == 2 and "unsupported output type; use one of .html" in wrong.stderr
    fast = _zipfit("select", *args, "--out", tmp_path / "o.jsonl", "--report", tmp_path / "p.html",
                   "--method", "zipfit-fast")
    assert fast.returncode == 2 and "--report: --method zipfit-fast" in fast.stderr
    same = _zipfit("select", *args, "--out", tmp_path / "o.jsonl", "--report", tmp_path / "o.jsonl")
    assert same.returncode == 2
    assert not list(tmp_path.glob("o.*")) and not list(tmp_path.glob("p.*"))


def test_score_and_compare_write_their_pages_from_the_cli(run, tmp_path):
    args = [run["source"], "--target", TARGET, "--target-template", TEMPLATE, "--quiet"]
    scored = _zipfit("score", *args, "--out", tmp_path / "s", "--report", tmp_path / "s.html")
    assert scored.returncode == 0, scored.stderr
    assert _sections(tmp_path / "s.html") == list(SECTIONS)
    compared = _zipfit("compare", *args, "--k", "20", "--methods", "zipfit,zipfit-debiased,random",
                       "--report-by", "domain", "--out", tmp_path / "c.json", "--report", tmp_path / "c.html")
    assert compared.returncode == 0, compared.stderr
    assert _sections(tmp_path / "c.html") == ["overlap", "mixes", "methods", "parameters"]
    result = json.loads((tmp_path / "c.json").read_text())
    assert result["mix_by"] == "domain"
    for row in result["methods"]:
        assert sum(g["documents"] for g in row["mix"].values()) == row["selected"] == 20
        assert sum(g["tokens"] for g in row["mix"].values()) == row["tokens"]
    again = _zipfit("report", tmp_path / "c.json", "--out", tmp_path / "c2.html")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "c2.overlap.png").exists() and (tmp_path / "c2.mixes.png").exists()


def test_a_run_on_an_object_store_makes_the_same_page(run, s3_endpoint, tmp_path, monkeypatch):
    """A score dataset and a selection written to a real S3-protocol server (moto, on localhost) report as the same
    run on local files does; the page itself is a local file."""
    import s3fs
    from stores import S3_CREDENTIALS

    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    options = {"endpoint_url": s3_endpoint}
    s3fs.S3FileSystem(**options).mkdir("zipfit-report")
    common = {"method": "zipfit-debiased", "target_template": TEMPLATE, "workers": 1, "progress": False,
              "storage_options": options}
    zipfit.select(run["source"], TARGET, out="s3://zipfit-report/sel.jsonl", k=30,
                  scores_out="s3://zipfit-report/scores", **common)
    remote = zipfit.report("s3://zipfit-report/sel.jsonl", tmp_path / "remote.html", storage_options=options)
    local = zipfit.report(run["work"] / "sel.jsonl", tmp_path / "local.html")

    def shown(page: Path) -> str:  # the page without the parameters block (timings and paths differ)
        text = page.read_text(encoding="utf-8")
        return text[:text.index('<section id="parameters">')]

    assert shown(remote) == shown(local)
    monkeypatch.chdir(tmp_path)
    cli = _zipfit("report", "s3://zipfit-report/scores", "--storage-options", json.dumps(options), "-q",
                  cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert _sections(tmp_path / "scores.report.html") == list(SECTIONS)
