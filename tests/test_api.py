"""End to end through the Python API, on real text from ../shared/data."""

import hashlib
import json
import logging

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from realdata import read_jsonl

import zipfit
from zipfit.errors import ZipfitError
from zipfit.ncd import alignment_plain


@pytest.fixture()
def corpus_file(tmp_path, mixed_sources):
    """Real documents with extra fields, nested values and unicode, as a JSONL source file."""
    path = tmp_path / "sources.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(mixed_sources):
            f.write(json.dumps({"id": f"doc-{i}", "text": text, "meta": {"n": i, "tags": ["a", "ü"]}}) + "\n")
    return path


@pytest.fixture()
def target_file(tmp_path, proofnet_valid):
    path = tmp_path / "target.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for text in proofnet_valid[:20]:
            f.write(json.dumps({"text": text}) + "\n")
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_select_is_the_exact_top_k_of_the_plain_formula(tmp_path, corpus_file, target_file, mixed_sources,
                                                         proofnet_valid):
    out = tmp_path / "out.jsonl"
    result = zipfit.select(corpus_file, target_file, out=out, k=15, method="zipfit", workers=2, progress=False)
    rows = read_jsonl(out)
    targets = proofnet_valid[:20]
    plain = [alignment_plain(x, targets, "gzip", 1) for x in mixed_sources]
    expected = sorted(range(len(plain)), key=lambda i: (-plain[i], i))[:15]
    assert [r["id"] for r in rows] == [f"doc-{i}" for i in expected]
    assert [r["zipfit_rank"] for r in rows] == list(range(1, 16))
    assert [r["zipfit_score"] for r in rows] == [plain[i] for i in expected]
    assert rows[0]["meta"] == {"n": expected[0], "tags": ["a", "ü"]}  # every field kept
    assert list(result.indices) == expected
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["counts"]["selected"] == 15 and manifest["counts"]["source_eligible"] == len(mixed_sources)
    assert manifest["output"]["sha256"] == sha(out)
    assert manifest["inputs"]["sources"][0]["sha256"] == sha(corpus_file)
    lengths = manifest["lengths"]
    assert lengths["chars"]["selected"]["count"] == 15
    assert lengths["chars"]["source"]["count"] == len(mixed_sources)
    assert lengths["median_chars_ratio"] == pytest.approx(
        lengths["chars"]["selected"]["p50"] / lengths["chars"]["source"]["p50"], rel=1e-3)


def test_output_is_byte_identical_for_any_worker_count(tmp_path, corpus_file, target_file):
    outs = []
    for workers in (1, 2, 3):
        out = tmp_path / f"out{workers}.jsonl.gz"
        zipfit.select(corpus_file, target_file, out=out, k=40, workers=workers, progress=False)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_input_order_output(tmp_path, corpus_file, target_file):
    ranked = tmp_path / "ranked.jsonl"
    inorder = tmp_path / "inorder.jsonl"
    zipfit.select(corpus_file, target_file, out=ranked, k=20, workers=1, progress=False)
    zipfit.select(corpus_file, target_file, out=inorder, k=20, workers=1, order="input", progress=False)
    by_rank, by_input = read_jsonl(ranked), read_jsonl(inorder)
    assert sorted(by_input, key=lambda r: r["zipfit_rank"]) == by_rank
    ids = [int(r["id"].split("-")[1]) for r in by_input]
    assert ids == sorted(ids)


def test_token_budget(tmp_path, corpus_file, target_file):
    out = tmp_path / "out.jsonl"
    result = zipfit.select(corpus_file, target_file, out=out, tokens=3000, workers=1, progress=False)
    rows = read_jsonl(out)
    used = sum(len(r["text"].split()) for r in rows)
    assert used <= 3000
    assert result.manifest["counts"]["selected_tokens"] == used
    # the next document in the ranking would not have fitted
    scores = zipfit.score(corpus_file, target_file, out=tmp_path / "s.parquet", workers=1, progress=False)
    order = np.argsort(-scores.scores, kind="stable")
    table = pq.read_table(tmp_path / "s.parquet")
    n_tokens = table.column("n_tokens").to_numpy()
    assert used + n_tokens[order[len(rows)]] > 3000


def test_zipfit_fast_equals_exact_and_reports_rescored(tmp_path, corpus_file, target_file):
    exact, fast = tmp_path / "exact.jsonl", tmp_path / "fast.jsonl"
    zipfit.select(corpus_file, target_file, out=exact, k=10, method="zipfit", workers=1, progress=False)
    result = zipfit.select(corpus_file, target_file, out=fast, k=10, workers=2, method="zipfit-fast",
                           stage1_targets=3, stage2_targets=8, calibration_docs=24, progress=False)
    assert fast.read_bytes() == exact.read_bytes()
    counts = result.manifest["counts"]
    assert counts["two_stage"] and counts["calibration_docs"] == 24
    assert 0 < counts["rescored"] < counts["source_eligible"] - 24
    assert counts["rescore_rounds"] >= 1
    assert len(result.manifest["method"]["stage2_target_indices"]) == 8
    assert 0 < counts["stage2_docs"] < counts["source_eligible"]


def test_parquet_in_and_out(tmp_path, corpus_file, target_file):
    rows = read_jsonl(corpus_file)
    src = tmp_path / "src.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": r["id"], "text": r["text"], "n": i} for i, r in enumerate(rows)]),
                   src, row_group_size=25)
    out_jsonl, out_pq = tmp_path / "a.jsonl", tmp_path / "b.parquet"
    zipfit.select(corpus_file, target_file, out=out_jsonl, k=12, workers=1, progress=False)
    zipfit.select(src, target_file, out=out_pq, k=12, workers=2, progress=False)
    table = pq.read_table(out_pq)
    assert table.column("id").to_pylist() == [r["id"] for r in read_jsonl(out_jsonl)]
    assert table.schema.field("n").type == pa.int64()
    assert table.column("zipfit_rank").to_pylist() == list(range(1, 13))


def test_bad_records_are_counted_not_dropped_silently(tmp_path, corpus_file, target_file, caplog):
    messy = tmp_path / "messy.jsonl"
    good = corpus_file.read_bytes().splitlines(keepends=True)[:30]
    bad = [b"{not json\n", b"\xff\xfe bad utf8\n", b"\n", b'{"text": "   "}\n', b'{"other": 1}\n', b"[1, 2]\n"]
    messy.write_bytes(b"".join(good[:10] + bad + good[10:]))
    before = sha(messy)
    with caplog.at_level(logging.WARNING, logger="zipfit"):
        result = zipfit.select(messy, target_file, out=tmp_path / "o.jsonl", k=5, workers=1, progress=False)
    assert sha(messy) == before  # inputs are never modified
    counts = result.manifest["counts"]
    assert counts["source_eligible"] == 30 and counts["source_excluded"] == 6
    by_reason = result.manifest["exclusions"]["source"]["by_reason"]
    assert {k: v["count"] for k, v in by_reason.items()} == {
        "malformed_json": 1, "invalid_utf8": 1, "blank_line": 1, "empty_text": 1, "missing_field": 1,
        "not_an_object": 1}
    assert "excluded 6" in caplog.text


def test_user_mistakes_are_clear_errors_and_leave_no_output(tmp_path, corpus_file, target_file):
    out = tmp_path / "o.jsonl"
    with pytest.raises(ZipfitError, match=rf"--k 100,000 but only {len(read_jsonl(corpus_file))} eligible"):
        zipfit.select(corpus_file, target_file, out=out, k=100_000, workers=1, progress=False)
    assert not out.exists() and not (tmp_path / "o.jsonl.manifest.json").exists()
    with pytest.raises(ZipfitError, match=r"no field 'body'.*text"):
        zipfit.select(corpus_file, target_file, out=out, k=1, text_field="body", progress=False)
    with pytest.raises(ZipfitError, match="length ranking"):
        zipfit.select(corpus_file, target_file, out=out, k=1, level=0, progress=False)
    with pytest.raises(ZipfitError):
        zipfit.select(corpus_file, target_file, out=corpus_file, k=1, overwrite=True, progress=False)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ZipfitError, match="target set is empty"):
        zipfit.select(corpus_file, empty, out=out, k=1, progress=False)
    zipfit.select(corpus_file, target_file, out=out, k=1, workers=1, progress=False)
    with pytest.raises(ZipfitError, match="--overwrite"):
        zipfit.select(corpus_file, target_file, out=out, k=2, workers=1, progress=False)
    zipfit.select(corpus_file, target_file, out=out, k=2, workers=1, overwrite=True, progress=False)
    assert len(read_jsonl(out)) == 2


def test_target_texts_and_where_filters(tmp_path, data_dir, corpus_file, proofnet_valid):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    zipfit.select(corpus_file, data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl", out=a, k=5, workers=1,
                  target_template="{nl_statement}\n{formal_statement}", target_where={"split": "valid"},
                  progress=False)
    result = zipfit.select(corpus_file, target_texts=proofnet_valid, out=b, k=5, workers=1, progress=False)
    assert a.read_bytes() == b.read_bytes()
    assert result.manifest["counts"]["targets"] == 185


def test_score_writes_every_document(tmp_path, corpus_file, target_file, mixed_sources, proofnet_valid):
    out = tmp_path / "scores"
    result = zipfit.score(corpus_file, target_file, out=out, method="zipfit", workers=2, progress=False)
    table = pq.read_table(out)
    assert table.num_rows == len(mixed_sources)
    assert table.column_names == ["file", "row", "id", "score", "n_tokens", "n_chars", "status", "reason", "detail"]
    assert set(table.column("status").to_pylist()) == {"scored"}
    assert table.column("id").to_pylist()[:3] == ["doc-0", "doc-1", "doc-2"]
    assert table.column("row").to_pylist()[:3] == [1, 2, 3]
    assert table.column("score").to_pylist()[7] == alignment_plain(mixed_sources[7], proofnet_valid[:20])
    assert np.array_equal(result.scores, table.column("score").to_numpy())


def test_align_ranks_datasets(tmp_path, data_dir, proofnet_valid):
    lines = (data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    held_out = tmp_path / "proofnet_test.jsonl"
    held_out.write_text("".join(json.dumps({"text": f"{r['nl_statement']}\n{r['formal_statement']}"}) + "\n"
                                for r in rows if r["split"] == "test"))
    datasets = [data_dir / "mbpp" / "mbpp.jsonl", held_out, data_dir / "lean4" / "mathematics_in_lean.jsonl.gz"]
    out = tmp_path / "align.json"
    table = zipfit.align(datasets, target_texts=proofnet_valid, max_docs=40, workers=2, out=out, progress=False)
    assert [r["documents"] for r in table] == [974, 186, 88]  # one MIL file is empty
    assert [r["excluded"] for r in table] == [0, 0, 1]
    assert [r["scored"] for r in table] == [40, 40, 40]
    assert max(table, key=lambda r: r["alignment"])["dataset"] == str(held_out)
    assert json.loads(out.read_text())["datasets"] == table
    again = zipfit.align(datasets, target_texts=proofnet_valid, max_docs=40, workers=1, progress=False)
    assert again == table  # seeded sample, exact scores: reproducible


def test_score_without_ids_and_as_jsonl(tmp_path, target_file, mixed_sources):
    src = tmp_path / "noid.jsonl.zst"
    import zstandard

    src.write_bytes(zstandard.ZstdCompressor().compress(
        "".join(json.dumps({"text": t}) + "\n" for t in mixed_sources[:70]).encode()))
    out = tmp_path / "scores"
    zipfit.score(src, target_file, out=out, workers=2, progress=False, shard_rows=16)
    rows = pq.read_table(out).to_pylist()
    assert len(list(out.glob("part-*.parquet"))) == 5
    assert {r["id"] for r in rows} == {None}
    assert [r["row"] for r in rows] == list(range(1, 71))
    assert rows[69]["n_chars"] == len(mixed_sources[69])


def test_score_keeps_ids_when_the_first_record_has_none(tmp_path, target_file, corpus_file):
    lines = corpus_file.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    del first["id"]
    src = tmp_path / "firstnoid.jsonl"
    src.write_text("\n".join([json.dumps(first), *lines[1:20]]) + "\n", encoding="utf-8")
    table = pq.read_table(zipfit.score(src, target_file, out=tmp_path / "s.parquet", workers=1,
                                       progress=False).out)
    assert table.column("id").to_pylist() == [None] + [f"doc-{i}" for i in range(1, 20)]


def test_an_interrupted_overwrite_leaves_the_old_output_with_its_own_manifest(tmp_path, corpus_file, target_file,
                                                                            monkeypatch):
    out = tmp_path / "o.jsonl"
    zipfit.select(corpus_file, target_file, out=out, k=5, workers=1, progress=False)
    manifest = tmp_path / "o.jsonl.manifest.json"
    assert json.loads(manifest.read_text())["counts"]["selected"] == 5

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfit.api, "write_json", interrupted)
    with pytest.raises(KeyboardInterrupt):
        zipfit.select(corpus_file, target_file, out=out, k=10, workers=1, overwrite=True, progress=False)
    # the new output and manifest are published together or not at all: the old pair is left as it was
    assert len(read_jsonl(out)) == 5
    recorded = json.loads(manifest.read_text())
    assert recorded["counts"]["selected"] == 5
    assert recorded["output"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".o.jsonl")]  # no temp files


def test_ties_are_broken_by_input_order_through_select(tmp_path, target_file, mixed_sources):
    src = tmp_path / "dups.jsonl"
    texts = [mixed_sources[3], mixed_sources[50], mixed_sources[3], mixed_sources[50], mixed_sources[3]]
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    for method in ("zipfit", "zipfit-fast"):
        out = tmp_path / f"{method}.jsonl"
        fast = {"stage1_targets": 2} if method == "zipfit-fast" else {}
        zipfit.select(src, target_file, out=out, k=4, method=method, workers=2, progress=False, **fast)
        rows = read_jsonl(out)
        first = [r["id"] for r in rows if r["text"] == rows[0]["text"]]
        assert first == sorted(first)
        assert [r["zipfit_rank"] for r in rows] == [1, 2, 3, 4]


def test_fast_with_token_budget_equals_exact(tmp_path, corpus_file, target_file):
    exact, fast = tmp_path / "exact.jsonl", tmp_path / "fast.jsonl"
    zipfit.select(corpus_file, target_file, out=exact, tokens=2500, method="zipfit", workers=1, progress=False)
    result = zipfit.select(corpus_file, target_file, out=fast, tokens=2500, method="zipfit-fast", workers=2,
                           stage1_targets=3, stage2_targets=8, calibration_docs=24, progress=False)
    assert result.manifest["counts"]["two_stage"]
    assert fast.read_bytes() == exact.read_bytes()
    assert 0 < result.manifest["counts"]["rescored"] < result.manifest["counts"]["source_eligible"]


@pytest.mark.parametrize("suffix,order,method", [(".parquet", "rank", "zipfit"), (".jsonl", "input", "zipfit"),
                                                 (".jsonl.zst", "rank", "zipfit-fast")])
def test_byte_identical_across_workers(tmp_path, corpus_file, target_file, suffix, order, method):
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}{suffix}"
        fast = {"stage1_targets": 3, "stage2_targets": 8, "calibration_docs": 24} if method == "zipfit-fast" else {}
        zipfit.select(corpus_file, target_file, out=out, k=25, order=order, method=method, workers=workers,
                      progress=False, **fast)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_nested_jsonl_records_to_parquet(tmp_path, corpus_file, target_file):
    out = tmp_path / "o.parquet"
    zipfit.select(corpus_file, target_file, out=out, k=6, workers=1, progress=False)
    table = pq.read_table(out)
    assert table.column_names == ["id", "text", "meta", "zipfit_score", "zipfit_rank"]
    assert table.column("meta").to_pylist()[0]["tags"] == ["a", "ü"]


def test_mixed_formats_and_globs_through_select(tmp_path, target_file, mixed_sources):
    import datasets
    import zstandard

    half = len(mixed_sources) // 2
    (tmp_path / "parts").mkdir()
    for i, chunk in enumerate([mixed_sources[:40], mixed_sources[40:half]]):
        (tmp_path / "parts" / f"part-{i}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in chunk))
    (tmp_path / "rest.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(
        "".join(json.dumps({"text": t}) + "\n" for t in mixed_sources[half:-20]).encode()))
    datasets.Dataset.from_list([{"text": t} for t in mixed_sources[-20:]]).save_to_disk(str(tmp_path / "hf"))
    everything = tmp_path / "all.jsonl"
    everything.write_text("".join(json.dumps({"text": t}) + "\n" for t in mixed_sources))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    ra = zipfit.select([str(tmp_path / "parts" / "*.jsonl"), tmp_path / "rest.jsonl.zst", tmp_path / "hf"],
                       target_file, out=a, k=30, workers=2, progress=False)
    zipfit.select(everything, target_file, out=b, k=30, workers=2, progress=False)
    assert a.read_bytes() == b.read_bytes()
    assert [f["format"] for f in ra.manifest["inputs"]["sources"]] == ["jsonl", "jsonl", "jsonl.zst", "hf"]


def test_manifest_records_what_a_run_needs_to_be_reproduced(tmp_path, corpus_file, target_file):
    m = zipfit.select(corpus_file, target_file, out=tmp_path / "o.jsonl", k=5, level=6, workers=2,
                      progress=False).manifest
    # no method named: the default's, with what its background sample needs to be drawn again
    assert m["method"] == {"name": "zipfit-debiased", "codec": "gzip", "level": 6, "allow_level_0": False,
                           "fast": False, "n_targets": 20, "background_docs": 20, "seed": 0}
    assert m["parameters"]["kernel"] == "native"
    assert m["parameters"]["workers"] == 2 and m["parameters"]["engine"] == "local"
    assert m["environment"]["zipfit"] == zipfit.__version__
    assert m["inputs"]["sources"][0]["bytes"] == corpus_file.stat().st_size
    assert {"read_targets", "hash_inputs", "fit", "score", "select", "write", "total"} <= set(m["timings_s"])
    assert m["timings_s"]["total"] >= m["timings_s"]["score"] > 0


def test_target_copies_and_shared_inputs_are_flagged(tmp_path, corpus_file, target_file, caplog):
    with caplog.at_level(logging.WARNING, logger="zipfit"):
        result = zipfit.select([corpus_file, target_file], target_file, out=tmp_path / "o.jsonl", k=5, workers=1,
                               progress=False)
    assert result.manifest["counts"]["selected_target_copies"] == 5  # targets select themselves first
    assert "is both a source and a target" in caplog.text
    assert "exact copies of target examples" in caplog.text


def test_random_baseline_through_select(tmp_path, corpus_file, target_file):
    outs = []
    for workers, seed in [(1, 3), (2, 3), (1, 4)]:
        out = tmp_path / f"r{workers}{seed}.jsonl"
        result = zipfit.select(corpus_file, target_file, out=out, k=12, method="random", seed=seed,
                               workers=workers, progress=False)
        outs.append(out.read_bytes())
        assert result.manifest["method"] == {"name": "random", "seed": seed}
    assert outs[0] == outs[1] and outs[0] != outs[2]
    rows = read_jsonl(tmp_path / "r13.jsonl")
    assert all(0 <= r["zipfit_score"] < 1 for r in rows)


def test_gumbel_sampling_is_seeded_and_reported(tmp_path, corpus_file, target_file):
    top = zipfit.select(corpus_file, target_file, out=tmp_path / "top.jsonl", k=20, workers=1, progress=False)
    g1 = zipfit.select(corpus_file, target_file, out=tmp_path / "g1.jsonl", k=20, sampling="gumbel", seed=1,
                       workers=2, progress=False)
    zipfit.select(corpus_file, target_file, out=tmp_path / "g1b.jsonl", k=20, sampling="gumbel", seed=1,
                  workers=1, progress=False)
    assert (tmp_path / "g1.jsonl").read_bytes() == (tmp_path / "g1b.jsonl").read_bytes()
    assert set(g1.indices) != set(top.indices)
    assert g1.manifest["parameters"]["sampling"] == "gumbel"
    with pytest.raises(ZipfitError, match="--sampling gumbel needs every document's score"):
        zipfit.select(corpus_file, target_file, out=tmp_path / "x.jsonl", k=5, method="zipfit-fast",
                      sampling="gumbel", progress=False)


def test_compare_methods(tmp_path, corpus_file, target_file):
    out = tmp_path / "compare.json"
    report = zipfit.compare(corpus_file, target_file, methods=["zipfit", "zipfit-fast", "random"], k=15, workers=2,
                            method_options={"zipfit-fast": {"stage1_targets": 3, "stage2_targets": 8,
                                                            "calibration_docs": 24}},
                            out=out, progress=False)
    rows = {r["method"]: r for r in report["methods"]}
    assert set(rows) == {"zipfit", "zipfit-fast", "random"}
    assert all(r["selected"] == 15 and r["seconds"] > 0 for r in rows.values())
    assert report["overlap"]["zipfit"]["zipfit-fast"] == 1.0  # the same exact selection
    assert report["overlap"]["zipfit"]["zipfit"] == 1.0
    assert report["overlap"]["zipfit"]["random"] < 1.0
    assert rows["zipfit-fast"]["counts"]["two_stage"]
    assert rows["zipfit"]["median_chars"] < report["source"]["median_chars"]  # ZIP-FIT's length bias, visible
    assert json.loads(out.read_text()) == report


def test_score_and_compare_default_to_zipfit_debiased(tmp_path, corpus_file, target_file):
    # select's default is checked by the manifest test above; the paper's score must be named to be had
    scored = zipfit.score(corpus_file, target_file, out=tmp_path / "s", workers=1, progress=False)
    assert scored.manifest["method"]["name"] == "zipfit-debiased"
    named = zipfit.score(corpus_file, target_file, out=tmp_path / "d", method="zipfit-debiased", workers=1,
                         progress=False)
    assert np.array_equal(scored.scores, named.scores)
    compared = zipfit.compare(corpus_file, target_file, k=10, workers=1, progress=False)
    assert [row["method"] for row in compared["methods"]] == ["zipfit-debiased", "zipfit", "random"]
