"""experiments/redraw_from_report.py on the reports shipped in docs/results: it rebuilds exactly what their tables
determine and refuses the plots they do not."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
# the code report as first published (4 methods at 50k tokens, before experiment.json existed), kept after
# docs/results/code was rerun with the full design, because it is the shipped kind of report with curves the
# report's table does not determine
OLD_CODE = Path(__file__).resolve().parent / "fixtures" / "redraw" / "code"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("redraw_from_report", REPO / "experiments" / "redraw_from_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_two_evaluation_one_seed_report_gives_its_curves_back(script) -> None:
    summary, budgets, skipped = script.rebuild((RESULTS / "autoformalization-smollm2" / "report.md").read_text())
    assert budgets == [3072] and skipped == []
    by_method = {r["method"]: r["curve"] for r in summary["runs"]}
    # the table's row: | **zipfit** | 1 | 3.225 | 3.169 | 1.981 | 3,072 | ...
    assert [(p["tokens"], p["ce_nats"]) for p in by_method["zipfit"]] == [(0, 3.225), (3072, 3.169)]
    assert summary["baselines"] == ["dsir", "random"]


def test_curves_with_evaluations_the_report_does_not_list_are_left_alone(script, tmp_path: Path) -> None:
    shutil.copytree(OLD_CODE, tmp_path / "code")
    before = (tmp_path / "code" / "plots" / "curves-50000.png").read_bytes()
    # the sentence as the report first had it, which claimed a direction at p = 0.196
    shipped = (tmp_path / "code" / "report.md").read_text()
    first = shipped.replace("(n = 6); no significant relation between alignment and CE (p = 0.196 ≥ 0.05): the sign of "
                            "the slope may be chance.", "(n = 6, p = 0.196); higher alignment goes with lower CE, as "
                            "in the paper.")
    assert first != shipped
    (tmp_path / "code" / "report.md").write_text(first)
    lines = script.redraw_from_report(tmp_path / "code")
    assert "redrawn: alignment.png" in lines
    assert any(line.startswith("left as it is: curves-50000.png") for line in lines)
    assert (tmp_path / "code" / "plots" / "curves-50000.png").read_bytes() == before
    report = (tmp_path / "code" / "report.md").read_text()
    # the numbers of the fit as first computed, the wording that its p-value allows
    assert "CE = -3.18 × alignment + 8.62, R² = 0.38 (n = 6); no significant relation" in report
    assert "as in the paper." not in report and report == shipped
