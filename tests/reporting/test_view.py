"""The numbers behind every plot and table of the report, checked against the manifest, the score dataset, the
output and the plain NCD formula."""

from __future__ import annotations

import gzip
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest

from zipfit.io.corpus import Corpus
from zipfit.io.textspec import TextSpec
from zipfit.pipeline.scores import ScoreDataset
from zipfit.reporting.view import (
    coverage,
    coverage_candidates,
    example_positions,
    group_codes,
    length_histogram,
    medians,
    mix,
    ranking,
    read_examples,
    read_rejected_records,
    read_texts,
    read_view,
    score_histogram,
    shorten,
)


@pytest.fixture(scope="module")
def view(run):
    dataset = ScoreDataset.open(run["work"] / "scores")
    return read_view(dataset, dataset.manifest["parts"], run["manifest"], run["result"].indices)


@pytest.fixture(scope="module")
def corpus(run):
    return Corpus([run["source"]], TextSpec())


def test_the_view_holds_every_eligible_document_and_the_selection(run, view):
    counts = run["manifest"]["counts"]
    assert len(view.scores) == counts["source_eligible"] == 300
    assert view.selected.tolist() == run["result"].indices.tolist()
    assert np.allclose(view.scores[view.selected], [r["zipfit_score"] for r in run["selected"]])
    table = pq.read_table(run["work"] / "scores").to_pydict()
    scored = [s for s, st in zip(table["score"], table["status"], strict=True) if st == "scored"]
    assert sorted(view.scores.tolist()) == sorted(scored)


def test_rejected_records_are_counted_by_reason_as_the_manifest_says_with_their_raw_lines(run, view):
    by_reason = run["manifest"]["exclusions"]["source"]["by_reason"]
    assert view.rejected_counts == {reason: info["count"] for reason, info in by_reason.items()}
    assert view.rejected_counts == {"malformed_json": 1, "empty_text": 1, "missing_field": 1}
    shown = {r.reason: r for items in view.rejected.values() for r in items}
    assert shown["malformed_json"].row == 151 and shown["empty_text"].row == 152
    raw = read_rejected_records(view, Corpus([run["source"]], TextSpec()).files)
    assert raw[(shown["empty_text"].file, 152)].startswith('{"id": "empty"')
    assert raw[(shown["malformed_json"].file, 151)] == '{"id": "broken", "text": "no closing brace"'  # the line


def test_the_mix_counts_documents_and_tokens_per_group(run, view, corpus):
    codes, names, by = group_codes(view, corpus.files, "domain")
    m = mix(view, codes, names, by)
    assert by == "domain" and names == sorted({r["domain"] for r in run["records"]})
    source = Counter(r["domain"] for r in run["records"])
    chosen = Counter(r["domain"] for r in run["selected"])
    assert dict(zip(names, m.source_docs.tolist(), strict=True)) == dict(source)
    assert dict(zip(names, m.selected_docs.tolist(), strict=True)) == {n: chosen.get(n, 0) for n in names}
    assert m.selected_tokens.sum() == run["manifest"]["counts"]["selected_tokens"]
    assert m.source_tokens.sum() == run["manifest"]["counts"]["source_tokens"]
    by_file = mix(view, *group_codes(view, None, None))
    assert by_file.by == "source file" and by_file.source_docs.tolist() == [300]


def test_the_score_histogram_holds_every_score_and_marks_the_cutoff(run, view):
    h = score_histogram(view)
    assert h.source.sum() == np.isfinite(view.scores).sum()
    assert h.selected.sum() == 30
    assert h.marker == run["manifest"]["scores"]["cutoff"]
    assert h.edges[0] <= view.scores.min() and h.edges[-1] >= view.scores.max()


def test_lengths_and_medians_match_the_manifest(run, view):
    med = medians(view)
    lengths = run["manifest"]["lengths"]
    for unit in ("chars", "tokens"):
        assert med[unit]["source"] == pytest.approx(lengths[unit]["source"]["p50"], abs=0.5)
        assert med[unit]["selected"] == pytest.approx(lengths[unit]["selected"]["p50"], abs=0.5)
    h = length_histogram(view.n_chars, view.chosen)
    assert h.source.sum() == 300 and h.selected.sum() == 30
    assert h.edges[0] <= view.n_chars.min() and h.edges[-1] >= view.n_chars.max()


def test_examples_are_the_top_the_last_in_and_the_first_out(run, view, corpus):
    positions = example_positions(view, 5)
    shown = read_examples(view, positions, corpus.files, corpus.text_of)
    assert [e.rank for e in shown["top"]] == [1, 2, 3, 4, 5]
    assert [e.text for e in shown["top"]] == [shorten(r["text"]) for r in run["selected"][:5]]
    assert [e.rank for e in shown["last in"]] == [26, 27, 28, 29, 30]
    assert [e.score for e in shown["last in"]] == [r["zipfit_score"] for r in run["selected"][25:]]
    out = shown["first out"]
    cutoff = run["manifest"]["scores"]["cutoff"]
    assert len(out) == 5 and all(e.rank is None and e.score <= cutoff for e in out)
    rest = np.sort(view.scores[~view.chosen & np.isfinite(view.scores)])[::-1]
    assert [e.score for e in out] == rest[:5].tolist()
    assert {e.text for e in out}.isdisjoint({shorten(r["text"]) for r in run["selected"]})


def test_a_score_run_shows_its_best_documents_in_ranking_order(view):
    unselected = type(view)(**{**view.__dict__, "selected": None})
    order = ranking(unselected)
    assert np.all(np.diff(unselected.scores[order]) <= 0)
    assert [p for p, _ in example_positions(unselected, 3)["top"]] == order[:3].tolist()


def _plain_ncd(x: str, y: str, level: int) -> float:
    cx, cy = len(gzip.compress(x.encode(), level)), len(gzip.compress(y.encode(), level))
    cxy = len(gzip.compress((x + y).encode(), level))
    return (cxy - min(cx, cy)) / max(cx, cy)


def test_target_coverage_is_the_smallest_plain_ncd_over_the_compared_documents(view, corpus):
    targets = ["theorem foo (n : ℕ) : n + 0 = n := by simp", "def add(a, b):\n    return a + b\n",
               "The history of the region begins in the early medieval period."]
    docs, of = coverage_candidates(view, len(targets), max_pairs=30)
    assert of == "selected" and docs.tolist() == view.selected[:10].tolist()
    texts = read_texts(view, docs.tolist(), corpus.files, corpus.text_of)
    cov = coverage(targets, [texts[p] for p in docs.tolist()], list(range(len(docs))), of, level=6)
    expected = [min(_plain_ncd(texts[p], t, 6) for p in docs.tolist()) for t in targets]
    assert sorted(cov.ncd.tolist(), reverse=True) == cov.ncd.tolist()  # least covered first
    assert sorted(cov.ncd.tolist()) == pytest.approx(sorted(expected))
    for t, d, closest in zip(cov.target, cov.ncd, cov.closest, strict=True):
        i = next(i for i, full in enumerate(targets) if shorten(full, 200) == t)
        assert _plain_ncd(texts[docs[closest]], targets[i], 6) == pytest.approx(d)
