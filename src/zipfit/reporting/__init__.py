"""A report page for a run: one self-contained HTML file, and its plots as PNG files beside it.

``view.py`` computes the numbers from the score dataset, ``plots.py`` draws them, ``page.py`` lays out the page;
this module assembles a run's report and publishes the page and its plots together (``io.commit``).
``zipfit.report`` (``reporting/saved.py``) makes one for a finished run; ``--report`` makes one during a run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError, reported
from zipfit.io.commit import Commit
from zipfit.io.inputs import InputFile
from zipfit.reporting import plots
from zipfit.reporting.page import Page, esc, image, key_values, number, table
from zipfit.reporting.view import (
    Coverage,
    RunView,
    TextOf,
    coverage,
    coverage_candidates,
    example,
    example_positions,
    group_codes,
    length_histogram,
    medians,
    mix,
    read_examples,
    read_rejected_records,
    read_texts,
    score_histogram,
)

log = logging.getLogger("zipfit")

SUFFIX = ".html"
PLOTS = ("mix", "scores", "lengths", "coverage", "overlap", "mixes")  # every plot a report may have
COVERAGE_ROWS = 25  # targets listed in the coverage table (the plot shows all)


def plot_paths(page: Path, names: Sequence[str]) -> dict[str, Path]:
    """Where each plot's PNG goes: beside the page, named after it (``report.html`` -> ``report.mix.png``)."""
    stem = page.name[:-len(SUFFIX)] if page.name.endswith(SUFFIX) else page.name
    return {name: page.with_name(f"{stem}.{name}.png") for name in names}


def publish(page_path: Path, html_text: str, pngs: Mapping[str, bytes]) -> dict[str, Path]:
    """Write the page and its plots: the plots first, the page last, each staged beside its final name."""
    paths = plot_paths(page_path, list(pngs))
    with reported(f"writing {page_path}"), Commit(page_path) as commit:
        for name, data in pngs.items():
            with commit.stage(paths[name]) as tmp:
                tmp.write_bytes(data)
        with commit.stage(page_path) as tmp:
            tmp.write_text(html_text, encoding="utf-8")
        commit.publish()
    for stale in plot_paths(page_path, [p for p in PLOTS if p not in pngs]).values():
        stale.unlink(missing_ok=True)  # an earlier report's plot that this one does not have
    return paths


def _summary(view: RunView, method: str) -> str:
    m = view.manifest
    if view.selected is None:
        return (f"<span class='key'>{esc(m.get('command', 'score'))}</span>: {len(view.scores):,} documents "
                f"scored by <span class='key'>{esc(method)}</span>")
    counts = m.get("counts", {})
    chosen = view.chosen
    return (f"<span class='key'>select</span>: {len(view.selected):,} of {len(view.scores):,} documents "
            f"({int(view.n_tokens[chosen].sum()):,} of {int(view.n_tokens.sum()):,} tokens) by "
            f"<span class='key'>{esc(method)}</span>, against {number(counts.get('targets', '?'))} target examples; "
            f"cutoff score {number(float(view.scores[view.selected[-1]])) if len(view.selected) else '–'}")


def _examples_table(items: Sequence[Any]) -> str:
    return table(["rank", "score", "from", "text"],
                 [(e.rank if e.rank is not None else "–", e.score, f"{e.file}:{e.row}",
                   e.text if e.text is not None else "(inputs not readable)") for e in items], pre=(3,))


def run_report(view: RunView, *, inputs: Sequence[InputFile] | None, text_of: TextOf | None,
               targets: Sequence[str] | None, group_by: str | None = None,
               examples: int = 5) -> tuple[str, dict[str, bytes]]:
    """The page and plots of a ``select`` or ``score`` run."""
    method = view.manifest.get("method", {}).get("name", "?")
    selected = view.selected is not None
    page = Page(f"zipfit report: {method}", _summary(view, method))
    pngs: dict[str, bytes] = {}

    codes, names, by = group_codes(view, inputs, group_by)
    m = mix(view, codes, names, by)
    pngs["mix"] = plots.mix_plot(m, selected)
    rows = [(g, int(sd), int(st), int(cd) if selected else "–", int(ct) if selected else "–",
             f"{cd / sd:.1%}" if selected and sd else "–")
            for g, sd, st, cd, ct in zip(m.groups, m.source_docs, m.source_tokens, m.selected_docs,
                                         m.selected_tokens, strict=True)]
    page.section("mix", "Mix: selected against available", image(pngs["mix"], "mix"),
                 table([by, "source documents", "source tokens", "selected documents", "selected tokens",
                        "share taken"], rows))

    h = score_histogram(view)
    pngs["scores"] = plots.score_plot(h)
    finite = view.scores[np.isfinite(view.scores)]
    page.section("scores", "Scores", image(pngs["scores"], "scores"),
                 f"<p class='note'>{len(finite):,} scored documents; score range "
                 f"{number(float(finite.min())) if len(finite) else '–'} to "
                 f"{number(float(finite.max())) if len(finite) else '–'}"
                 + (f"; cutoff {number(h.marker)}" if h.marker is not None else "") + ".</p>")

    med = medians(view)
    chosen = view.chosen
    pngs["lengths"] = plots.length_plot([
        ("characters", length_histogram(view.n_chars, chosen), med["chars"]),
        ("tokens", length_histogram(view.n_tokens, chosen), med["tokens"])])
    ratio = (med["chars"]["selected"] / med["chars"]["source"]
             if selected and med["chars"]["source"] and med["chars"]["selected"] is not None else None)
    page.section("lengths", "Lengths", image(pngs["lengths"], "lengths"),
                 table(["median", "source", "selection"],
                       [(unit, med[key]["source"], med[key]["selected"] if selected else "–")
                        for unit, key in (("characters", "chars"), ("tokens", "tokens"))]),
                 "" if ratio is None else f"<p class='note'>The selection's median length is {ratio:.2f}× the "
                                          "source's.</p>")

    shown = read_examples(view, example_positions(view, examples), inputs, text_of)
    titles = {"top": "The top documents", "last in": "The last ones in, at the cutoff",
              "first out": "The first ones out, at the cutoff"}
    parts = [f"<h3>{esc(titles[k])}</h3>{_examples_table(v)}" for k, v in shown.items()]
    raw = read_rejected_records(view, inputs)
    if view.rejected_counts:
        parts.append("<h3>Records not scored, by reason</h3>")
        for reason, count in sorted(view.rejected_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            parts.append(f"<p><span class='key'>{esc(reason)}</span>: {count:,} records</p>")
            parts.append(table(["from", "status", "detail", "record"],
                               [(f"{r.file}:{r.row}", r.status, r.detail, raw.get((r.file, r.row), "(not shown)"))
                                for r in view.rejected[reason]], pre=(3,)))
    else:
        parts.append("<p class='note'>Every record was scored.</p>")
    page.section("examples", "Examples", *parts)

    if targets:
        cov = _coverage(view, targets, inputs, text_of)
        if cov is not None:
            pngs["coverage"] = plots.coverage_plot(cov)
            page.section("coverage", "Target coverage", image(pngs["coverage"], "coverage"),
                         f"<p class='note'>For every target example, the closest of the {cov.compared:,} "
                         f"{esc(cov.of)} documents it was compared with (gzip NCD at level {cov.level}; lower is "
                         f"closer). Targets nothing resembles come first: that is where the corpus lacks data."
                         f"</p>",
                         table(["target", "NCD", "closest document", "rank", "its text"],
                               [(t, float(d), f"{e.file}:{e.row}", e.rank or "–", e.text)
                                for t, d, e in list(zip(cov.target, cov.ncd, cov.closest,
                                                        strict=True))[:COVERAGE_ROWS]], pre=(0, 4)))
    else:
        page.section("coverage", "Target coverage",
                     "<p class='note'>The target examples could not be read for this report (in-memory targets, "
                     "or files that moved).</p>")

    man = view.manifest
    blocks = [("method", man.get("method")), ("budget", man.get("budget")), ("parameters", man.get("parameters")),
              ("counts", man.get("counts")), ("timings (s)", man.get("timings_s")),
              ("environment", man.get("environment"))]
    page.section("parameters", "Parameters and timings",
                 *(f"<h3>{esc(name)}</h3>{key_values(block)}" for name, block in blocks if block))
    return page.render(), pngs


def _coverage(view: RunView, targets: Sequence[str], inputs: Sequence[InputFile] | None,
              text_of: TextOf | None) -> Coverage | None:
    docs, of = coverage_candidates(view, len(targets))
    texts = read_texts(view, docs.tolist(), inputs, text_of)
    if not len(docs) or any(texts[p] is None for p in docs.tolist()):
        return None
    method = view.manifest.get("method", {})
    level = int(method.get("level", 6)) if method.get("codec", "gzip") == "gzip" else 6
    ranks = {p: i + 1 for i, p in enumerate(view.selected.tolist())} if view.selected is not None else \
        {p: i + 1 for i, p in enumerate(docs.tolist())}
    shown = [example(view, p, ranks.get(p), texts[p], 160) for p in docs.tolist()]
    return coverage(targets, [texts[p] or "" for p in docs.tolist()], shown, of, max(1, level))


def write_run_report(page: Path, dataset: Any, keys: Sequence[str], manifest: dict[str, Any],
                     selected: np.ndarray | None, corpus: Any, targets: Sequence[str] | None,
                     group_by: str | None = None) -> None:
    """A ``select`` or ``score`` run's report, made while its score dataset is at hand (``--report``)."""
    from zipfit.reporting.view import read_view

    view = read_view(dataset, keys, manifest, selected)
    html_text, pngs = run_report(view, inputs=corpus.files, text_of=corpus.text_of, targets=targets,
                                 group_by=group_by)
    publish(page, html_text, pngs)
    log.info("report -> %s", page)


def compare_report(result: Mapping[str, Any]) -> tuple[str, dict[str, bytes]]:
    """The page and plots of a ``compare`` run, from its JSON report."""
    names = [r["method"] for r in result["methods"]]
    matrix = np.array([[result["overlap"][a][b] for b in names] for a in names], dtype=np.float64)
    budget = ", ".join(f"{k}={v}" for k, v in result["budget"].items())
    page = Page("zipfit report: compare " + ", ".join(names),
                f"<span class='key'>compare</span>: {len(names)} methods on {result['source']['documents']:,} "
                f"documents against {result['targets']:,} target examples, budget {esc(budget)}")
    pngs = {"overlap": plots.overlap_plot(names, matrix)}
    page.section("overlap", "Overlap", image(pngs["overlap"], "overlap"))
    mixes = [r.get("mix") for r in result["methods"]]
    if all(mixes):
        groups = sorted({g for m_ in mixes for g in m_})
        counts = np.array([[m_.get(g, {}).get("documents", 0) for g in groups] for m_ in mixes], dtype=np.float64)
        by = result.get("mix_by", "source file")
        pngs["mixes"] = plots.mixes_plot(names, groups, counts, by)
        page.section("mixes", "Mixes side by side", image(pngs["mixes"], "mixes"),
                     table(["method", *groups], [(n, *(int(c) for c in row)) for n, row in zip(names, counts,
                                                                                               strict=True)]))
    src = result["source"]
    page.section("methods", "Methods",
                 table(["method", "selected", "tokens", "median chars", "median tokens", "seconds"],
                       [(r["method"], r["selected"], r["tokens"], r["median_chars"], r["median_tokens"], r["seconds"])
                        for r in result["methods"]]),
                 f"<p class='note'>Source: median {number(src['median_chars'])} characters, "
                 f"{number(src['median_tokens'])} tokens.</p>")
    page.section("parameters", "Parameters", key_values({"budget": result["budget"], "inputs": result["inputs"]}))
    return page.render(), pngs


def check_report_path(path: str | os.PathLike, *, overwrite: bool, inputs: Sequence[Path] = (),
                      others: Sequence[Path] = ()) -> Path:
    """The page's path, checked before any work: an ``.html`` file, not an input, not another output."""
    from zipfit.io.writers import check_output

    out = check_output(path, overwrite=overwrite, inputs=inputs, suffixes=(SUFFIX,))
    if not isinstance(out, Path):
        raise ZipfitError(f"--report {path}: a report is written to a local file")
    taken = {p.resolve() for p in others}
    for p in [out, *plot_paths(out, PLOTS).values()]:
        if p.resolve() in taken:
            raise ZipfitError(f"--report {path}: {p} is another output of this run; choose another name")
        if p != out and p.exists() and not overwrite:
            raise ZipfitError(f"--report {path}: {p} exists; pass --overwrite to replace it")
    return out
