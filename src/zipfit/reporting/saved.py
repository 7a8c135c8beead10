"""``zipfit report RUN``: the report of a finished run, from what it left on disk.

A run is one of: a score dataset (``zipfit score --out DIR``, ``select --scores-out DIR``), a selection output
with its manifest (its scores kept with ``--scores-out``, or cut from ``--scores``), or a ``compare`` JSON report.
A selection is reproduced from its score dataset by the same cut (``select(scores=...)``) and checked against
its manifest, so the report shows exactly the documents the output holds.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from zipfit.errors import CorruptFileError, ZipfitError
from zipfit.io import storage
from zipfit.io.storage import RemotePath
from zipfit.pipeline.scores import FORMAT, MANIFEST_FILE, ScoreDataset
from zipfit.reporting import check_report_path, compare_report, publish, run_report
from zipfit.reporting.inputs import recorded_targets, source_corpus
from zipfit.reporting.view import read_view

log = logging.getLogger("zipfit")


def _json(path: Path | RemotePath) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptFileError(f"{path}: cannot read it as JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ZipfitError(f"{path}: not a zipfit manifest or report")
    return value


def _manifest_of(run: Path | RemotePath) -> Path | RemotePath:
    """The manifest of a selection output: ``OUT.manifest.json``, or ``_manifest.json`` in a directory output."""
    beside = run.with_name(run.name + ".manifest.json")
    inside = run / "_manifest.json"
    for path in (inside, beside) if run.is_dir() else (beside,):
        if path.is_file():
            return path
    raise ZipfitError(f"{run}: not a zipfit run (no score dataset, no manifest beside it, not a compare report)")


def _reproduce(manifest: dict[str, Any], scores: Path | RemotePath) -> Any:
    """The selection recorded in ``manifest``, cut again from the score dataset ``scores``."""
    from zipfit.api import select
    from zipfit.config import Dedup

    params = manifest["parameters"]
    budget = {k: v for k, v in manifest["budget"].items() if k in ("k", "tokens", "fraction", "min_score")}
    options: dict[str, Any] = {"sampling": params.get("sampling", "top-k"), "seed": params.get("seed", 0),
                               "progress": False}
    if params.get("group_by") is not None:
        options.update(group_by=params["group_by"], group_weights=params.get("group_weights"))
    if params.get("length_strata") is not None:
        options["length_strata"] = params["length_strata"]
    dedup = manifest.get("dedup")
    if dedup:
        options["dedup"] = Dedup(threshold=dedup.get("near_duplicate"), seed=dedup.get("seed", 0))
    result = select(scores=str(scores), out=None, method=manifest["method"]["name"], **budget, **options,
                    storage_options=json.loads(scores.options) if isinstance(scores, RemotePath) else None)
    want, got = manifest["counts"], result.manifest["counts"]
    cut, recut = manifest["scores"]["cutoff"], result.manifest["scores"]["cutoff"]
    if (want["selected"], want["selected_tokens"], cut) != (got["selected"], got["selected_tokens"], recut):
        raise ZipfitError(f"--scores {scores}: cutting it again gives another selection than the run's "
                          f"({got['selected']:,} documents down to score {recut:.6g}, not {want['selected']:,} down "
                          f"to {cut:.6g}); the scores are not the ones the output was cut from")
    return result


def _scored_report(dataset: ScoreDataset, manifest: dict[str, Any], selected: Any, group_by: str | None,
                   examples: int) -> tuple[str, dict[str, bytes]]:
    """The page of a run whose score dataset is at hand, its inputs read again from where the dataset says."""
    view = read_view(dataset, dataset.manifest["parts"], manifest, selected)
    corpus = source_corpus(dataset.manifest)
    return run_report(view, inputs=None if corpus is None else corpus.files,
                      text_of=None if corpus is None else corpus.text_of, targets=recorded_targets(dataset.manifest),
                      group_by=group_by, examples=examples)


def report(run: str | os.PathLike, out: str | os.PathLike | None = None, *, scores: str | os.PathLike | None = None,
           group_by: str | None = None, examples: int = 5, overwrite: bool = False,
           storage_options: dict[str, Any] | None = None) -> Path:
    """Write the report page of a finished run (and its plots beside it); returns the page's path.

    ``run``: a score dataset directory, a selection output (its manifest beside it) or a ``compare`` JSON report,
    local or on a store (``s3://...``, with ``storage_options``). ``out``: the page, a local file (default
    ``RUN.report.html`` beside a local run, in the current directory for a remote one). ``scores``: the score
    dataset a selection was cut from, when its manifest does not name one. ``group_by``: the source field the mix
    is shown by (default: the run's ``group_by``, else the source file).
    """
    storage.set_options(storage_options)
    run_path = storage.as_path(run)
    if not run_path.exists():
        raise ZipfitError(f"{run}: no such file or directory")
    if examples < 0:
        raise ZipfitError(f"--examples must be 0 or more, got {examples}")
    beside = run_path.parent if isinstance(run_path, Path) else Path.cwd()
    page = Path(out) if out is not None else beside / (run_path.name + ".report.html")
    if run_path.is_dir() and (run_path / MANIFEST_FILE).is_file() \
            and _json(run_path / MANIFEST_FILE).get("format") == FORMAT:
        dataset = ScoreDataset.open(run_path)
        page = check_report_path(page, overwrite=overwrite, inputs=[run_path])
        html_text, pngs = _scored_report(dataset, dataset.manifest, None, group_by, examples)
    elif run_path.is_file() and run_path.name.endswith(".json") and {"overlap", "methods"} <= set(_json(run_path)):
        page = check_report_path(page, overwrite=overwrite, inputs=[run_path])
        html_text, pngs = compare_report(_json(run_path))
    else:
        manifest = _json(_manifest_of(run_path))
        if manifest.get("command") != "select":
            raise ZipfitError(f"{run}: its manifest is not a selection's")
        recorded = scores or manifest["scores"].get("saved_to") or manifest["scores"].get("from")
        if recorded is None:
            raise ZipfitError(f"{run}: its scores were not kept, and the report reads them; run select again with "
                              "--report PAGE (or --scores-out DIR), or pass --scores DIR")
        page = check_report_path(page, overwrite=overwrite, inputs=[run_path])
        result = _reproduce(manifest, storage.as_path(recorded))
        html_text, pngs = _scored_report(ScoreDataset.open(recorded), manifest, result.indices,
                                         group_by or manifest["parameters"].get("group_by"), examples)
    publish(page, html_text, pngs)
    log.info("report -> %s", page)
    return page
