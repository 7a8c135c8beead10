"""The scorer the integrations pickle into their workers: fitted once, set up once per process, the CLI's rule."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import pytest

from zipfit.errors import ZipfitError
from zipfit.integrations import scoring
from zipfit.integrations.scoring import RecordDocuments, fit_scorer, read_targets, score_records
from zipfit.io.textspec import TextSpec
from zipfit.ncd import alignment_plain

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "examples" / "proofnet_valid.jsonl"
TEMPLATE = "{nl_statement}\n{formal_statement}"


@pytest.fixture(scope="module")
def targets(proofnet_valid) -> list[str]:
    return proofnet_valid[:12]


def test_a_pickled_copy_reuses_the_method_this_process_set_up(targets, monkeypatch):
    monkeypatch.setattr(scoring, "_READY", {})
    scorer = fit_scorer(targets)
    copy = pickle.loads(pickle.dumps(scorer))
    assert copy.method is not scorer.method
    assert scorer.ready() is scorer.method
    assert copy.ready() is scorer.method  # set up once per process, whatever copy asks
    text = "theorem foo (n : ℕ) : n + 0 = n := by simp"
    assert copy.score([text])[0][0] == alignment_plain(text, targets)


def test_records_are_scored_by_the_rule_of_zipfit_score(targets):
    scorer = fit_scorer(targets, text_field="body", where={"lang": "lean"})
    scored = score_records(scorer, [{"body": "lemma x : 1 = 1 := rfl", "lang": "lean"}, {"body": "  ", "lang": "lean"},
                                    {"lang": "lean"}, {"body": 3, "lang": "lean"}, {"body": "x", "lang": "py"}])
    assert scored.statuses == ["scored", "excluded", "excluded", "excluded", "filtered"]
    assert scored.reasons == [None, "empty_text", "missing_field", "non_string_text", "filtered"]
    assert scored.scores[0] == alignment_plain("lemma x : 1 = 1 := rfl", targets)
    assert scored.n_tokens[:2] == [8, None] and scored.n_chars[0] == 22


def test_targets_from_a_file_a_list_or_records(targets):
    from_file = read_targets(str(TARGET), template=TEMPLATE)
    assert len(from_file) == 185 and from_file[0].startswith("Suppose that $f$ is holomorphic")
    assert read_targets(targets) == targets
    assert read_targets([{"q": t} for t in targets], text_field="q") == targets


def test_a_background_is_drawn_from_the_source_records(targets):
    records = [{"text": f"document {i} " * (i % 7 + 1)} for i in range(40)] + [{"text": ""}]
    source = RecordDocuments(lambda: iter(records), TextSpec())
    assert [d.row for d in source.documents()][-1] == 40  # the empty record is not a document
    scorer = fit_scorer(targets, method="zipfit-debiased", params={"background_docs": 5}, source=source)
    assert len(scorer.method.background_) == 5
    assert scorer.info["background"] is not None and math.isfinite(scorer.score(["document 3"])[0][0])


def test_methods_that_cannot_be_used_say_why(targets):
    with pytest.raises(ZipfitError, match="needs a pass over the source"):
        fit_scorer(targets, method="zipfit-debiased")
    with pytest.raises(ZipfitError, match="does not give every document its own exact score"):
        fit_scorer(targets, method="d4")
    with pytest.raises(ZipfitError, match="unknown method"):
        fit_scorer(targets, method="nope")
