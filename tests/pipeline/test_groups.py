"""Splitting one budget across groups: ``--length-strata``, the control for a score's length bias."""

from __future__ import annotations

import gzip
import itertools
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zipfit
from zipfit.errors import ZipfitError
from zipfit.pipeline.groups import length_strata

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEMPLATE = "{nl_statement}\n{formal_statement}"


def test_strata_hold_equal_counts_in_length_order_and_skip_ineligible_documents():
    tokens = np.array([50, 10, 30, 10, 99, 20, 40, 70, 60, 80, 5])
    eligible = np.ones(len(tokens), dtype=bool)
    eligible[4] = False  # the 99-token document is not eligible: it must not shift the strata
    codes, names = length_strata(tokens, eligible, 5)
    assert len(names) == 5
    members = [sorted(tokens[(codes == i) & eligible].tolist()) for i in range(5)]
    assert [len(m) for m in members] == [2, 2, 2, 2, 2]
    assert members == [[5, 10], [10, 20], [30, 40], [50, 60], [70, 80]]
    assert names[0] == "length 1/5: 5-10 tokens" and names[4] == "length 5/5: 70-80 tokens"
    assert names == sorted(names)  # the group cut orders groups by name: strata must sort in length order
    # ties at a boundary fall by input position, so the strata do not depend on anything else
    again, _ = length_strata(tokens, eligible, 5)
    assert (again == codes).all()
    assert codes[1] == 0 and codes[3] == 1  # the two 10-token documents: the earlier one in the lower stratum


def test_more_strata_than_documents_gives_one_per_document():
    codes, names = length_strata(np.array([3, 1, 2]), np.ones(3, dtype=bool), 10)
    assert len(names) == 3 and sorted(codes.tolist()) == [0, 1, 2]


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("strata") / "scores"
    zipfit.score(EXAMPLES / "source_mix.jsonl.gz", EXAMPLES / "proofnet_valid.jsonl", out=out, method="zipfit-debiased",
                 target_template=TEMPLATE, workers=1, progress=False)
    return out


def _lengths(path: Path) -> list[int]:
    return [len(json.loads(line)["text"]) for line in path.read_text().splitlines()]


def test_length_strata_keep_the_source_length_distribution_on_real_data(scored, tmp_path):
    with gzip.open(EXAMPLES / "source_mix.jsonl.gz", "rt", encoding="utf-8") as f:
        source = [len(json.loads(line)["text"]) for line in f]
    plain = zipfit.select(out=tmp_path / "plain.jsonl", scores=scored, k=60, progress=False)
    strata = zipfit.select(out=tmp_path / "strata.jsonl", scores=scored, k=60, length_strata=6, progress=False)
    plain_ratio = statistics.median(_lengths(plain.out)) / statistics.median(source)
    strata_ratio = statistics.median(_lengths(strata.out)) / statistics.median(source)
    # zipfit-debiased drifts long on this mix (its Lean documents are the longest); the strata undo the drift
    assert plain_ratio > 3
    assert 0.7 < strata_ratio < 1.4
    groups = strata.manifest["groups"]
    assert [g["selected"] for g in groups.values()] == [10] * 6 and len(groups) == 6
    assert strata.manifest["parameters"]["length_strata"] == 6
    rows = [json.loads(line) for line in strata.out.read_text().splitlines()]
    assert [r["zipfit_rank"] for r in rows] == list(range(1, 61))
    assert all(a["zipfit_score"] >= b["zipfit_score"] for a, b in itertools.pairwise(rows))
    assert [g["eligible"] for g in groups.values()] == [100] * 6  # the 600 documents in six equal strata
    assert set(r["id"] for r in rows) != set(json.loads(x)["id"] for x in plain.out.read_text().splitlines())


def test_a_token_budget_splits_by_each_stratum_share_of_tokens(scored, tmp_path):
    result = zipfit.select(out=tmp_path / "t.jsonl", scores=scored, tokens=20_000, length_strata=4, progress=False)
    groups = list(result.manifest["groups"].values())
    quotas = [g["quota"] for g in groups]
    assert quotas == sorted(quotas) and quotas[-1] > 2 * quotas[0]  # longer strata hold more of the source's tokens
    assert all(g["selected_tokens"] <= g["quota"] for g in groups)
    assert result.manifest["counts"]["selected_tokens"] <= 20_000


def test_the_cli_flag_gives_the_api_bytes(scored, tmp_path):
    api = zipfit.select(EXAMPLES / "source_mix.jsonl.gz", EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "a.jsonl",
                        k=30, method="zipfit-debiased", length_strata=5, target_template=TEMPLATE, workers=1,
                        progress=False)
    cli = subprocess.run([sys.executable, "-m", "zipfit", "select", str(EXAMPLES / "source_mix.jsonl.gz"), "--target",
                          str(EXAMPLES / "proofnet_valid.jsonl"), "--target-template", TEMPLATE, "--k", "30",
                          "--method", "zipfit-debiased", "--length-strata", "5", "--workers", "1", "--out",
                          str(tmp_path / "c.jsonl"), "--no-progress"], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "c.jsonl").read_bytes() == api.out.read_bytes()


@pytest.mark.parametrize("options, message", [
    ({"length_strata": 1}, "at least 2"),
    ({"length_strata": 4, "group_by": "domain"}, "cannot be combined"),
    ({"length_strata": 4, "dedup": True}, "cannot be combined yet"),
])
def test_bad_length_strata_are_one_clear_error(scored, tmp_path, options, message):
    with pytest.raises(ZipfitError, match=message):
        zipfit.select(EXAMPLES / "source_mix.jsonl.gz", EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "x.jsonl",
                      k=10, target_template=TEMPLATE, workers=1, progress=False, **options)
    assert not (tmp_path / "x.jsonl").exists()


def test_a_cascade_refuses_length_strata(tmp_path):
    with pytest.raises(ZipfitError, match="--length-strata needs every document's score"):
        zipfit.select(EXAMPLES / "source_mix.jsonl.gz", EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "x.jsonl",
                      k=10, method="zipfit-fast", length_strata=3, target_template=TEMPLATE, workers=1,
                      progress=False)
