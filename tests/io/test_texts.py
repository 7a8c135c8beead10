"""The one reader of small inputs (targets, excluded documents, the harness's example sets)."""

from __future__ import annotations

import json
import logging

from zipfit.io import TextSpec, read_texts


def test_reads_every_eligible_text_and_reports_the_rest(data_dir, tmp_path, caplog):
    proofnet = data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl"
    rows = [json.loads(line) for line in proofnet.read_text(encoding="utf-8").splitlines()[:40]]
    path = tmp_path / "targets.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n", encoding="utf-8")
    spec = TextSpec(template="{nl_statement}\n{formal_statement}", where=(("split", "valid"),))
    with caplog.at_level(logging.WARNING, logger="zipfit"):
        texts, info, corpus = read_texts(str(path), spec, "target")  # one path, not a sequence of characters
    expected = [f"{r['nl_statement']}\n{r['formal_statement']}" for r in rows if r["split"] == "valid"]
    assert texts == expected and expected
    assert info["count"] == len(expected)
    assert info["spec"] == {"text_field": "text", "template": spec.template, "where": [["split", "valid"]]}
    assert info["files"] == corpus.describe()
    assert info["exclusions"] == corpus.exclusions.as_dict()
    assert corpus.exclusions.counts().get("malformed_json") == 1
    assert any("target" in r.getMessage() for r in caplog.records)  # the skipped records, named by role
