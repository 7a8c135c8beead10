"""The filter contract: a chain of map-stage filters, the dedup filter's walk, and a user's filter end to end."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import zipfit
from zipfit.errors import ZipfitError
from zipfit.filters.base import CUT, MAP, Filter, FilterChain
from zipfit.filters.contamination import ContaminationIndex
from zipfit.filters.dedup import DuplicateKeys

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Marker(Filter):
    name, stage, status, reasons = "marker", MAP, "marked", ("has_marker",)

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def flag(self, texts: Sequence[str]) -> list[str | None]:
        return ["has_marker" if self.marker in t else None for t in texts]

    def params(self) -> dict:
        return {"marker": self.marker}


def test_the_first_filter_that_flags_a_text_names_the_reason(proofnet_valid):
    index = ContaminationIndex().fit(proofnet_valid[:5])
    chain = FilterChain([index, Marker("lemma")])
    chain.setup()
    texts = [proofnet_valid[0], "a lemma about groups", "nothing here", "lemma " + proofnet_valid[1]]
    flags = chain.flags(texts)
    assert [chain.reason(f) if f else None for f in flags] == ["ngram_overlap", "has_marker", None, "ngram_overlap"]
    assert [chain.status(f) if f else None for f in flags] == ["contaminated", "marked", None, "contaminated"]
    with pytest.raises(ValueError, match="cut-stage"):
        FilterChain([DuplicateKeys()])


def test_dedup_flag_is_the_walk_the_cut_makes(mixed_sources):
    texts = [mixed_sources[0], mixed_sources[1], " ".join(mixed_sources[0].split()), mixed_sources[1] + " x",
             mixed_sources[2]]
    finder = DuplicateKeys(near_duplicate=0.8)
    finder.setup()
    assert finder.stage == CUT
    assert finder.flag(texts[:3]) + finder.flag(texts[3:]) == [None, None, "exact_duplicate", "near_duplicate", None]
    walker, keys = finder.walker(), finder.keys(texts)
    assert [walker.offer(i, keys[i]) for i in range(len(texts))] == [None, None, 0, 1, None]


def test_a_users_filter_drops_documents_before_scoring_and_is_recorded(tmp_path):
    options = {"target_template": "{formal_statement}", "workers": 1, "progress": False, "k": 30}
    result = zipfit.score(EXAMPLES / "source_mix.jsonl.gz", EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "s",
                          filters=[Marker("import")], **{k: v for k, v in options.items() if k != "k"})
    table = pq.read_table(result.out).to_pylist()
    marked = [r for r in table if r["status"] == "marked"]
    assert marked and all(r["reason"] == "has_marker" and r["score"] != r["score"] for r in marked)  # NaN: unscored
    assert result.manifest["filters"] == [{"name": "marker", "status": "marked", "marker": "import"}]
    selected = zipfit.select(EXAMPLES / "source_mix.jsonl.gz", EXAMPLES / "proofnet_valid.jsonl",
                             out=tmp_path / "sel.jsonl", filters=[Marker("import")], **options)
    rows = [json.loads(line) for line in selected.out.read_text().splitlines()]
    assert len(rows) == 30 and not any("import" in r["text"] for r in rows)
    assert selected.manifest["counts"]["source_contaminated"] == len(marked)
    cut = zipfit.select(out=tmp_path / "cut.jsonl", scores=result.out, k=30, progress=False)
    assert cut.out.read_bytes() == selected.out.read_bytes()
    assert cut.manifest["filters"] == result.manifest["filters"]  # the saved scores' filters, not none
    with pytest.raises(ZipfitError, match="filters act before scoring"):
        zipfit.select(out=tmp_path / "cut2.jsonl", scores=result.out, k=30, filters=[Marker("x")], progress=False)
    with pytest.raises(ZipfitError, match="map-stage"):
        zipfit.select(EXAMPLES / "source_mix.jsonl.gz", out=tmp_path / "x.jsonl", filters=[DuplicateKeys()],
                      **options)
