"""--exclude and --dedup through the public API, on real data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import zipfit
from zipfit.errors import ZipfitError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TEMPLATE = "{nl_statement}\n{formal_statement}"


def _mix() -> list[dict]:
    with gzip.open(EXAMPLES / "source_mix.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _proofnet(data_dir, split):
    lines = (data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    return [r for r in rows if r["split"] == split]


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_planted_proofnet_test_statements_are_all_excluded_and_nothing_else(tmp_path, data_dir):
    mix = _mix()
    test = _proofnet(data_dir, "test")
    lean = [r for r in mix if r["domain"] == "lean4-mathlib"]
    planted = []
    for i, r in enumerate(test):
        statement = f"{r['nl_statement']}\n{r['formal_statement']}"
        if i % 3 == 0:
            text = statement  # as a record of its own
        elif i % 3 == 1:  # inside a real Lean file
            host = lean[i % len(lean)]["text"]
            text = host[: len(host) // 2] + "\n" + statement + "\n" + host[len(host) // 2 :]
        else:
            text = " ".join(statement.upper().split())  # case and whitespace changed
        planted.append({"id": f"planted-{i}", "domain": "planted", "text": text})
    source = _write(tmp_path / "source.jsonl", mix[:300] + planted + mix[300:])
    result = zipfit.select(source, data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl", target_template=TEMPLATE,
                           target_where={"split": "valid"}, out=tmp_path / "out.jsonl", k=len(mix),
                           exclude=data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl",
                           exclude_where={"split": "test"}, workers=2, progress=False)
    ids = {json.loads(line)["id"] for line in result.out.read_text().splitlines()}
    assert ids == {r["id"] for r in mix}  # every unrelated document kept, no planted one
    manifest = result.manifest
    assert manifest["counts"]["source_contaminated"] == len(planted)
    dropped = manifest["decontamination"]["dropped"]
    assert dropped["total"] == len(planted)
    assert dropped["by_reason"]["ngram_overlap"]["examples"][0] == f"{source}:301"
    assert manifest["decontamination"]["documents"] == len(test)


def test_without_exclude_the_planted_copies_are_selected(tmp_path, data_dir):
    """The same setup without --exclude: selection by similarity pulls the test statements in."""
    test = _proofnet(data_dir, "test")[:20]
    planted = [{"id": f"p{i}", "text": f"{r['nl_statement']}\n{r['formal_statement']}"} for i, r in enumerate(test)]
    source = _write(tmp_path / "s.jsonl", [{"id": str(i), "text": r["text"]} for i, r in enumerate(_mix())] + planted)
    targets = [f"{r['nl_statement']}\n{r['formal_statement']}" for r in _proofnet(data_dir, "valid")]
    plain = zipfit.select(source, target_texts=targets, out=tmp_path / "a.jsonl", k=40, workers=1, progress=False)
    picked = {json.loads(line)["id"] for line in plain.out.read_text().splitlines()}
    assert len(picked & {p["id"] for p in planted}) >= 10


def test_dedup_skips_copies_of_better_ranked_documents(tmp_path, data_dir):
    # the paper's score, named: a document's score does not depend on the rest of the source, so adding copies
    # leaves the originals' ranking as it was (zipfit-debiased's background is a sample of the source it is given)
    mix = _mix()
    targets = [f"{r['nl_statement']}\n{r['formal_statement']}" for r in _proofnet(data_dir, "valid")]
    records = [{"id": str(i), "text": r["text"]} for i, r in enumerate(mix)]
    base = zipfit.select(_write(tmp_path / "base.jsonl", records), target_texts=targets, out=tmp_path / "b.jsonl",
                         k=30, method="zipfit", workers=1, progress=False)
    top = [json.loads(line) for line in base.out.read_text().splitlines()][:10]
    copies = [{"id": f"exact-{r['id']}", "text": "  " + r["text"].replace("\n", "\n\n")} for r in top[:5]]
    copies += [{"id": f"near-{r['id']}", "text": r["text"] + "\n# edited"} for r in top[5:] if len(r["text"]) > 300]
    source = _write(tmp_path / "with_copies.jsonl", records + copies)
    deduped = zipfit.select(source, target_texts=targets, out=tmp_path / "d.jsonl", k=30, method="zipfit",
                            dedup=True, workers=2, progress=False)
    assert deduped.out.read_bytes() == base.out.read_bytes()  # the copies took no slot; the originals kept
    skipped = deduped.manifest["dedup"]["skipped"]
    assert skipped["by_reason"]["exact_duplicate"]["count"] == 5
    assert deduped.manifest["counts"]["duplicates_skipped"] == len(copies)
    # without --dedup the exact copies (same score as their originals) fill slots
    plain = zipfit.select(source, target_texts=targets, out=tmp_path / "p.jsonl", k=30, method="zipfit", workers=1,
                          progress=False)
    assert any(json.loads(line)["id"].startswith("exact-") for line in plain.out.read_text().splitlines())


def test_clear_errors(tmp_path, data_dir):
    source = EXAMPLES / "source_mix.jsonl.gz"
    with pytest.raises(ZipfitError, match="--dedup works with methods"):
        zipfit.select(source, target_texts=["theorem a : 1 = 1"], out=tmp_path / "o.jsonl", k=5,
                      method="zipfit-fast", dedup=True, progress=False)
    proofnet = data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl"
    with pytest.raises(ZipfitError, match=r"no field 'text' in exclude records.*--exclude-text-field"):
        zipfit.select(source, target_texts=["theorem a : 1 = 1"], out=tmp_path / "o.jsonl", k=5, exclude=proofnet,
                      progress=False)
    with pytest.raises(ZipfitError, match="no documents to exclude"):
        zipfit.select(source, target_texts=["theorem a : 1 = 1"], out=tmp_path / "o.jsonl", k=5, exclude=proofnet,
                      exclude_template=TEMPLATE, exclude_where={"split": "nope"}, progress=False)
