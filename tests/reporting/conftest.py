"""One real selection, kept with its score dataset and report, shared by the report tests.

The source is the shipped demo mix (five domains, short and long documents) with bad records appended: a line
that is not JSON, an empty text and a record without a text field, so every part of the page has something to
show.
"""

from __future__ import annotations

import gzip
import json

import pytest
from reportrun import BAD_LINES, EXAMPLES, TARGET, TEMPLATE

import zipfit


@pytest.fixture(scope="package")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("report-run")
    with gzip.open(EXAMPLES / "source_mix.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f][:300]
    source = work / "mix.jsonl"
    source.write_text("\n".join(lines[:150] + BAD_LINES + lines[150:]) + "\n", encoding="utf-8")
    result = zipfit.select(source, TARGET, out=work / "sel.jsonl", k=30, method="zipfit-debiased",
                           target_template=TEMPLATE, scores_out=work / "scores", report=work / "sel.html",
                           workers=1, progress=False)
    selected = [json.loads(line) for line in (work / "sel.jsonl").read_text(encoding="utf-8").splitlines()]
    records = [json.loads(line) for line in lines]
    return {"work": work, "source": source, "result": result, "selected": selected, "records": records,
            "manifest": result.manifest}
