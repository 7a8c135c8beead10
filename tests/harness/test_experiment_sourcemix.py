"""The source mix: deterministic for a seed, domains counted right, long files cut into documents."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from zipfit.errors import ZipfitError
from zipfit.harness.config import ExampleSpec, SourceSpec
from zipfit.harness.sourcemix import build_mix, chunk, read_examples, source_documents


def sources(data: Path) -> list[SourceSpec]:
    return [
        SourceSpec("lean", (data / "lean4" / "mathematics_in_lean.jsonl.gz",), chunk_lines=30, chunk_chars=1200,
                   min_chars=100, max_docs=50),
        SourceSpec("mbpp", (data / "mbpp" / "mbpp.jsonl",), template="{text}\n{code}", max_docs=40),
        SourceSpec("wiki", (data / "text" / "wikitext-2" / "valid.txt",), min_chars=300, max_docs=30),
        SourceSpec("humaneval", (data / "humaneval" / "HumanEval.jsonl.gz",), template="{prompt}"),
    ]


def test_chunk_respects_line_and_character_limits() -> None:
    text = "".join(f"line {i}\n" for i in range(10))
    pieces = chunk(text, 4, None)
    assert [p.count("\n") for p in pieces] == [4, 4, 2]
    assert "".join(pieces) == text  # nothing lost or repeated
    pieces = chunk(text, None, 15)  # "line i\n" is 7 characters: two lines per piece
    assert all(len(p) <= 15 for p in pieces) and "".join(pieces) == text and len(pieces) == 5
    long = "x" * 25 + "\nshort\n"
    assert chunk(long, None, 10) == ["x" * 10, "x" * 10, "x" * 5 + "\n", "short\n"]
    assert chunk("  \n\n", 3, None) == []
    assert chunk("whole", None, None) == ["whole"]


def test_mix_is_deterministic_and_counts_domains(data_dir: Path, tmp_path: Path) -> None:
    specs = sources(data_dir)
    a = build_mix(specs, 7, tmp_path / "a.jsonl")
    b = build_mix(specs, 7, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()]
    counts = Counter(r["domain"] for r in records)
    assert counts == {"lean": 50, "mbpp": 40, "wiki": 30, "humaneval": 164}
    assert a.documents == len(records) == 284 and a.domains == b.domains
    assert {d: v["documents"] for d, v in a.domains.items()} == dict(counts)
    assert a.domains["humaneval"]["available"] == 164 and a.domains["mbpp"]["available"] == 974
    assert a.domains["lean"]["available"] > 50  # 89 files cut into more documents than that
    assert all(len(r["text"]) <= 1200 and r["text"].count("\n") <= 30 for r in records if r["domain"] == "lean")
    assert all(len(r["text"]) >= 300 for r in records if r["domain"] == "wiki")
    assert len({r["id"] for r in records}) == len(records)
    assert set(records[0]) == {"text", "domain", "id"}
    # shuffled: the domains are interleaved, not one block after another
    assert [r["domain"] for r in records[:40]] != [records[0]["domain"]] * 40
    other = build_mix(specs, 8, tmp_path / "c.jsonl")
    assert (tmp_path / "c.jsonl").read_bytes() != (tmp_path / "a.jsonl").read_bytes()
    assert other.domains["mbpp"]["documents"] == 40


def test_a_sources_sample_does_not_depend_on_the_other_sources(data_dir: Path, tmp_path: Path) -> None:
    specs = sources(data_dir)
    alone, total = source_documents(specs[1], 3)
    assert total == 974 and len(alone) == 40
    assert [i for i, _ in alone] == sorted(i for i, _ in alone)
    assert source_documents(specs[1], 4)[0] != alone  # the seed matters
    build_mix(specs, 3, tmp_path / "all.jsonl")
    build_mix(specs[1:2], 3, tmp_path / "mbpp.jsonl")

    def mbpp_ids(path: Path) -> set[str]:
        return {json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()
                if json.loads(line)["domain"] == "mbpp"}

    assert mbpp_ids(tmp_path / "all.jsonl") == mbpp_ids(tmp_path / "mbpp.jsonl") == {f"mbpp-{i}" for i, _ in alone}


def test_examples_halves_and_caps(data_dir: Path) -> None:
    humaneval = (data_dir / "humaneval" / "HumanEval.jsonl.gz",)
    even = read_examples(ExampleSpec(humaneval, template="{prompt}", half="even"), "target")
    odd = read_examples(ExampleSpec(humaneval, template="{prompt}", half="odd"), "eval")
    assert len(even) == len(odd) == 82 and not set(even) & set(odd)
    assert "has_close_elements" in even[0] and "separate_paren_groups" in odd[0]  # HumanEval/0 and /1
    proofnet = (data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl",)
    valid = read_examples(ExampleSpec(proofnet, template="{nl_statement}\n{formal_statement}",
                                      where=(("split", "valid"),), max_examples=10), "target")
    assert len(valid) == 10 and all("theorem" in t for t in valid)
    with pytest.raises(ZipfitError, match="empty"):
        read_examples(ExampleSpec(proofnet, template="{nl_statement}", where=(("split", "train"),)), "eval")


def test_plain_text_examples_are_its_non_blank_lines(data_dir: Path) -> None:
    wiki = (data_dir / "text" / "wikitext-2" / "valid.txt",)
    lines = [ln.strip().lstrip("\ufeff") for ln in wiki[0].read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln]
    even = read_examples(ExampleSpec(wiki, half="even", max_examples=200), "target")
    odd = read_examples(ExampleSpec(wiki, half="odd", max_examples=100), "eval")
    assert even == lines[0:400:2] and odd == lines[1:200:2]
    assert even[0] == "= Homarus gammarus =" and odd[0].startswith("Homarus gammarus , known as the European lobster")


def test_a_source_with_nothing_left_is_an_error(data_dir: Path) -> None:
    spec = SourceSpec("mbpp", (data_dir / "mbpp" / "mbpp.jsonl",), template="{text}", min_chars=100_000)
    with pytest.raises(ZipfitError, match="no documents"):
        source_documents(spec, 0)
