"""The length control: its config, the length numbers read from a score dataset, the report's table from fake
runs, and a tiny real experiment that gains the section without redoing any step."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_experiment import write_config
from test_report import run, selection, summary

from zipfit.cli import main
from zipfit.errors import ZipfitError
from zipfit.harness.config import load_config
from zipfit.harness.length_control import measure
from zipfit.harness.report import analyse, render_report, statistics

# ---- config ------------------------------------------------------------------------------------------------------


def config(tmp_path: Path, **extra: object) -> dict:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a"}\n', encoding="utf-8")
    raw = {"name": "t", "methods": ["zipfit", "zipfit-debiased", "zipfit-fast", "dsir", "random"],
           "budgets": [300, 100, 200], "seeds": [0, 1, 2], "sources": [{"name": "s", "files": [str(data)]}],
           "target": {"files": [str(data)]}, "eval": {"files": [str(data)]}}
    return raw | extra


def test_defaults_are_the_scored_zipfit_methods_at_the_middle_budget(tmp_path: Path) -> None:
    lc = load_config(config(tmp_path, length_control={"strata": 10})).length_control
    # zipfit-fast is a cascade (no score dataset to cut from) and dsir a baseline: neither is stratified by default
    assert lc.enabled and lc.strata == 10 and lc.methods == ("zipfit", "zipfit-debiased")
    assert lc.budget == 200 and lc.seeds == (0, 1, 2)
    assert not load_config(config(tmp_path)).length_control.enabled
    chosen = load_config(config(tmp_path, length_control={"strata": 4, "methods": ["dsir"], "budget": 300,
                                                          "seeds": [1]})).length_control
    assert (chosen.methods, chosen.budget, chosen.seeds) == (("dsir",), 300, (1,))


@pytest.mark.parametrize(("table", "selection_options", "message"), [
    ({"methods": ["zipfit"]}, {}, "length_control.strata is missing"),
    ({"strata": 1}, {}, "length_control.strata must be at least 2, got 1"),
    ({"strata": 10}, {"dedup": True}, "[length_control] cannot be combined with selection.dedup = true"),
    ({"strata": 10, "budget": 150}, {}, "length_control.budget 150 is not one of the budgets (300, 100, 200)"),
    ({"strata": 10, "methods": ["zipfit-ml"]}, {}, "length_control.methods: 'zipfit-ml' is not in methods"),
    ({"strata": 10, "methods": ["zipfit-fast"]}, {}, "zipfit-fast writes no score dataset"),
    ({"strata": 10, "seeds": [0, 5]}, {}, "length_control.seeds: 5 is not one of seeds (0, 1, 2)"),
    ({"strata": 10, "bins": 3}, {}, "unknown key 'bins' in [length_control]"),
])
def test_config_mistakes_are_one_clear_error(tmp_path: Path, table: dict, selection_options: dict,
                                             message: str) -> None:
    with pytest.raises(ZipfitError) as err:
        load_config(config(tmp_path, length_control=table, selection=selection_options))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_no_zipfit_method_to_stratify_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ZipfitError, match="methods has none of zipfit, zipfit-debiased, zipfit-ml"):
        load_config(config(tmp_path, methods=["zipfit-fast", "random"], length_control={"strata": 10}))


# ---- the length numbers --------------------------------------------------------------------------------------------


def test_measure_reads_spearman_and_median_ratios_from_the_score_dataset(tmp_path: Path) -> None:
    scores = tmp_path / "scores"
    scores.mkdir()
    # d5 was excluded (no score): it counts neither in Spearman nor in the source's median length
    pq.write_table(pa.table({"id": ["d1", "d2", "d3", "d4", "d5"], "score": [0.9, 0.8, 0.2, 0.1, None],
                             "n_chars": [400, 300, 200, 100, 5000],
                             "status": ["scored", "scored", "scored", "scored", "contaminated"]}),
                   scores / "part-00000.parquet")
    plain, strat = tmp_path / "plain.jsonl", tmp_path / "strat.jsonl"
    plain.write_text("".join(json.dumps({"id": i, "text": "x"}) + "\n" for i in ("d1", "d2")), encoding="utf-8")
    strat.write_text("".join(json.dumps({"id": i, "text": "x"}) + "\n" for i in ("d1", "d4")), encoding="utf-8")
    got = measure(scores, {"plain": plain, "stratified": strat}, {"d1": "a", "d2": "b", "d3": "b", "d4": "a"})
    # score order is length order: Spearman +1; the source's median is 250 characters
    assert got["scored"] == 4 and got["spearman"] == pytest.approx(1.0) and got["source_median_chars"] == 250
    assert got["plain"]["median_chars"] == 350 and got["plain"]["ratio"] == pytest.approx(1.4)
    assert got["stratified"]["median_chars"] == 250 and got["stratified"]["ratio"] == pytest.approx(1.0)
    assert got["plain"]["documents"] == 2 and got["stratified"]["spearman"] == pytest.approx(1.0)
    assert got["spearman_by_domain"] == {"a": {"documents": 2, "spearman": pytest.approx(1.0)},
                                         "b": {"documents": 2, "spearman": pytest.approx(1.0)}}
    assert got["spearman_within_domains"] == pytest.approx(1.0)


def test_within_domains_separates_length_from_the_domain(tmp_path: Path) -> None:
    """Across the mix, the long documents are the on-target domain's, so the score rises with length; inside each
    domain it falls with length. The within-domain mean says so; the whole-mix number does not."""
    scores = tmp_path / "scores"
    scores.mkdir()
    ids = ["s1", "s2", "s3", "l1", "l2", "l3"]
    pq.write_table(pa.table({"id": ids, "score": [0.3, 0.2, 0.1, 0.9, 0.8, 0.7],
                             "n_chars": [10, 20, 30, 100, 200, 300], "status": ["scored"] * 6}),
                   scores / "part-00000.parquet")
    sel = tmp_path / "sel.jsonl"
    sel.write_text(json.dumps({"id": "l1"}) + "\n", encoding="utf-8")
    got = measure(scores, {"plain": sel}, {i: ("off" if i.startswith("s") else "on") for i in ids})
    assert got["spearman"] > 0.5 and got["spearman_within_domains"] == pytest.approx(-1.0)
    assert got["plain"]["spearman"] is None  # one document: no order


# ---- the report -----------------------------------------------------------------------------------------------------


def controlled(s: dict) -> dict:
    """zipfit's selection at budget 100 cut again in 10 length strata, trained with seeds 0 and 1."""
    for seed, ce in enumerate((5.3, 5.6)):
        r = run("zipfit", seed, [9.0, 7.0, ce], 100, "length")
        r["length_strata"] = 10
        s["runs"].append(r)
    s["selections"] = [selection("zipfit", 0.5, 8)]  # 80% of its documents and tokens from lean
    stratified = selection("zipfit", 0.45, 5) | {"length_strata": 10}
    lengths = {"scored": 20, "source_median_chars": 200.0, "spearman": 0.42, "spearman_within_domains": -0.25,
               "plain": {"documents": 10, "median_chars": 300.0, "ratio": 1.5, "spearman": 0.1},
               "stratified": {"documents": 10, "median_chars": 210.0, "ratio": 1.05, "spearman": 0.3}}
    s["length_control"] = {"strata": 10, "budget": 100, "methods": ["zipfit"], "lengths": {"zipfit": lengths},
                           "selections": [stratified]}
    s["config"]["length_control"] = {"strata": 10, "methods": ["zipfit"], "budget": 100, "seeds": [0, 1]}
    return s


def test_the_table_pairs_each_stratified_run_with_the_plain_run_of_its_seed() -> None:
    s = controlled(summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.4]]))  # zipfit's plain runs end at 5.0 and 5.4
    lc = analyse(s)["length_control"]
    z = lc["methods"]["zipfit"]
    assert z["plain"]["ce"] == pytest.approx(5.2) and z["stratified"]["ce"] == pytest.approx(5.45)
    assert z["vs_plain"].diffs == pytest.approx([0.3, 0.2]) and z["vs_plain"].includes_zero is True
    assert z["top_domain"] == "lean" and z["top_domain_share"] == pytest.approx({"plain": 0.8, "stratified": 0.5})
    text = render_report(s)
    assert "## Length control (--length-strata 10)" in text
    assert ("| zipfit | +0.42 / -0.25 | 1.50 → 1.05 | lean: 80% → 50% | 5.200 ± 0.283 | 5.450 ± 0.212 "
            "| +0.250 [-0.385, +0.885], not distinguishable at 2 seeds |") in text
    assert "- Length control: zipfit cut again with `--length-strata 10` at 100 tokens, seeds 0, 1." in text
    assert "| method | lean | wiki |" in text and "| zipfit | 80% → 50% | 20% → 50% |" in text
    (row,) = statistics(s)["length_control"]
    assert row["vs_plain"]["differences"] == pytest.approx([0.3, 0.2]) and row["vs_plain"]["includes_zero"]
    assert row["lengths"]["plain"]["ratio"] == 1.5 and row["stratified"]["seeds"] == 2
    assert row["domain_shares"]["wiki"] == pytest.approx({"plain": 0.2, "stratified": 0.5})


def test_no_length_runs_no_section() -> None:
    s = summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.4]])
    assert analyse(s)["length_control"] is None and "Length control" not in render_report(s)
    assert statistics(s)["length_control"] == []


# ---- a tiny real experiment ---------------------------------------------------------------------------------------


def test_the_length_control_only_adds_steps_to_a_finished_run(data_dir: Path, tmp_path: Path,
                                                               count_training) -> None:
    cfg = write_config(tmp_path / "tiny.toml", data_dir)
    plain = (cfg.read_text(encoding="utf-8").replace("budgets = [1500, 1000]", "budgets = [2000]")
             .replace('methods = ["zipfit", "random"]', 'methods = ["zipfit", "zipfit-debiased"]')
             .replace("seeds = [0]\n", "seeds = [0, 1]\n", 1)
             .replace("[per_dataset]\nbudget = 800", "[per_dataset]\nenabled = false"))
    cfg.write_text(plain, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["experiment", str(cfg), "--out", str(out), "--quiet"]) == 0
    first = json.loads((out / "experiment.json").read_text(encoding="utf-8"))
    steps = {p.name: p.read_bytes() for p in (out / "steps").iterdir()}

    trained = count_training()
    cfg.write_text(plain + "\n[length_control]\nstrata = 3\n", encoding="utf-8")
    assert main(["experiment", str(cfg), "--out", str(out), "--quiet"]) == 0
    second = json.loads((out / "experiment.json").read_text(encoding="utf-8"))
    for name, content in steps.items():
        assert (out / "steps" / name).read_bytes() == content, name
    new_steps = sorted(p.name for p in (out / "steps").iterdir() if p.name not in steps)
    # no rescoring: the stratified selections are cut from the scores the main selections were cut from
    assert new_steps == sorted([f"select-{m}-2000-strata3.json" for m in ("zipfit", "zipfit-debiased")]
                               + [f"train-length-{m}-2000-strata3-s{s}.json" for m in ("zipfit", "zipfit-debiased")
                                  for s in (0, 1)])
    runs = {r["label"]: r for r in second["runs"]}
    assert all(runs[r["label"]]["cached"] for r in first["runs"])
    assert sorted(seed for _, seed in trained) == [0, 0, 1, 1]

    lc = second["length_control"]
    assert lc["strata"] == 3 and lc["budget"] == 2000 and lc["methods"] == ["zipfit", "zipfit-debiased"]
    mix = [json.loads(line) for line in (out / "data" / "mix.jsonl").read_text(encoding="utf-8").splitlines()]
    for method in lc["methods"]:
        ln = lc["lengths"][method]
        assert ln["scored"] == len(mix) - 3  # the 3 planted eval statements are excluded, as in every selection
        assert -1.0 <= ln["spearman"] <= 1.0 and set(ln["spearman_by_domain"]) == {"lean", "mbpp", "planted"}
        sel = next(s for s in lc["selections"] if s["method"] == method)
        assert 0 < sel["tokens"] <= 2000 and ln["stratified"]["documents"] == sel["documents"]
        manifest = json.loads((out / "selections" / f"{method}-2000-strata3.jsonl.manifest.json")
                              .read_text(encoding="utf-8"))
        # the budget was split over three length strata, and the stratified selection took from each of them
        assert len(manifest["groups"]) == 3 and all(g["selected"] > 0 for g in manifest["groups"].values())
    # zipfit prefers short documents here and zipfit-debiased long ones; stratified, both keep near the source's
    # median length
    assert lc["lengths"]["zipfit"]["plain"]["ratio"] < 0.7 and lc["lengths"]["zipfit-debiased"]["plain"]["ratio"] > 1.3
    assert all(0.7 <= lc["lengths"][m]["stratified"]["ratio"] <= 1.3 for m in lc["methods"])
    rows = {r["method"]: r for r in second["statistics"]["length_control"]}
    assert set(rows) == {"zipfit", "zipfit-debiased"} and all(r["vs_plain"]["seeds"] == 2 for r in rows.values())

    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Length control (--length-strata 3)" in report and "| zipfit-debiased | " in report
    # --redraw rebuilds the same report from experiment.json, the length control too
    (out / "report.md").unlink()
    assert main(["experiment", "--redraw", str(out)]) == 0
    assert (out / "report.md").read_text(encoding="utf-8") == report
