"""``zipfit experiment``: the paper's experiment, end to end, from one config.

Build a seeded source mix; train one BPE tokenizer on a sample of it (never on target or eval text) so selection
budgets are counted in training tokens; select with every method at every budget (decontaminated against the
eval set); train a model on each selection for every seed and record its eval-loss curve; train on a random
sample of each source dataset alone for the alignment-CE fit; write ``report.md`` with tables and plots.

Every step records its parameters' hash under ``<out>/steps``, so a rerun reuses finished steps and a run that
crashed continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zipfit.errors import ZipfitError
from zipfit.harness.cache import StepCache, StepRecord
from zipfit.harness.config import ExperimentConfig, load_config
from zipfit.harness.extras import need
from zipfit.harness.metrics import length_percentiles, ngram_overlap, ngram_set
from zipfit.harness.sourcemix import build_mix, read_examples, read_records, write_examples
from zipfit.io import atomic_output, file_sha256, write_json

log = logging.getLogger("zipfit")

TINY = "tiny-gpt"
DEFAULT_EVALS = 5  # evaluations per run (plus the one before training) when train.eval_every is not set


@dataclass
class ExperimentResult:
    out: Path
    report: Path
    summary: dict[str, Any]


def run_experiment(
    config: str | os.PathLike | Mapping[str, Any] | ExperimentConfig,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    progress: bool | None = None,
    base_dir: str | os.PathLike | None = None,
) -> ExperimentResult:
    """Run (or continue) the experiment a config describes, writing everything under ``out``.

    ``config`` is a TOML path, a dict (relative paths resolved against ``base_dir``) or a parsed config.
    A step whose outputs exist with the same parameters is reused; a step whose parameters changed is an
    error unless ``overwrite``.
    """
    cfg = config if isinstance(config, ExperimentConfig) else load_config(config, base_dir)
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ZipfitError(f"{out_dir} exists and is not a directory")
    train = need("zipfit.harness.train")
    out_dir.mkdir(parents=True, exist_ok=True)
    return _Experiment(cfg, out_dir, StepCache(out_dir, overwrite=overwrite), train, progress).run()


class _Experiment:
    def __init__(self, cfg: ExperimentConfig, out: Path, cache: StepCache, train: Any, progress: bool | None) -> None:
        self.cfg = cfg
        self.out = out
        self.cache = cache
        self.train = train
        self.progress = progress
        self.started = time.perf_counter()
        for sub in ("data", "tokenizer", "selections", "datasets", "runs", "plots"):
            (out / sub).mkdir(exist_ok=True)
        self.mix = out / "data" / "mix.jsonl"
        self.target = out / "data" / "target.jsonl"
        self.eval = out / "data" / "eval.jsonl"
        self.runs: list[dict[str, Any]] = []

    # ---- the steps ---------------------------------------------------------------------------------------

    def run(self) -> ExperimentResult:
        cfg = self.cfg
        log.info("experiment %s -> %s", cfg.name, self.out)
        mix, examples, tokenizer = self._prepare()

        selections = []
        for budget in cfg.budgets:
            for method in cfg.methods:
                selections.append(self._selection(method, budget))
        datasets = []
        if cfg.per_dataset.enabled:
            for source in cfg.sources:
                datasets.append(self._dataset_sample(source.name, cfg.per_dataset.budget))
        reference = self._reference_sample() if cfg.reference.full_source else None
        ablation = self._ablation_selections(examples.data["target"]) if cfg.ablation.enabled else []
        stratified = self._length_selections() if cfg.length_control.enabled else []
        eval_texts = [r["text"] for r in read_records(self.eval)]
        jobs: list[tuple[str, StepRecord, int]] = [("training", sel, seed) for sel in selections for seed in cfg.seeds]
        jobs += [("dataset_training", sample, seed) for sample in datasets for seed in cfg.per_dataset.seeds]
        if reference is not None:
            jobs += [("reference_training", reference, seed) for seed in cfg.reference.seeds]
        # each ablation selection was made from its seed's subset of the target, and is trained with that seed
        jobs += [("ablation_training", sel, sel.data["subset_seed"]) for sel in ablation]
        jobs += [("length_training", sel, seed) for sel in stratified for seed in cfg.length_control.seeds]
        for done, (phase, sel, seed) in enumerate(jobs, 1):
            self._train_run(phase, sel, seed, eval_texts, f"[{done}/{len(jobs)}]")

        scores = self._alignment_scores(datasets, selections) if datasets else None
        summary = self._summary(mix, examples, tokenizer, selections, datasets)
        if scores is not None:
            summary["alignment_scores"] = scores
        if reference is not None:
            summary["reference"] = {k: v for k, v in reference.data.items() if k != "phase"}
        if ablation:
            summary["ablation"] = {"budget": cfg.ablation.budget, "target_examples": examples.data["target"],
                                   "selections": [{k: v for k, v in a.data.items() if k != "phase"}
                                                  for a in ablation]}
        if stratified:
            summary["length_control"] = self._length_summary(selections, stratified)
        from zipfit.harness.report import statistics, write_report

        summary["statistics"] = statistics(summary)
        write_json(self.out / "experiment.json", summary)
        report = write_report(summary, self.out)
        log.info("report: %s", report)
        return ExperimentResult(self.out, report, summary)

    def _prepare(self) -> tuple[StepRecord, StepRecord, StepRecord]:
        """The mix, the target and eval examples, and the tokenizer that counts budgets: what every selection
        needs."""
        cfg = self.cfg
        mix = self._step("data", "mix", {"sources": [dataclasses.asdict(s) | {"files": _fingerprints(s.files)}
                                                     for s in cfg.sources], "seed": cfg.seed},
                         self._build_mix)
        examples = self._step("data", "examples", {"target": _example_params(cfg.target),
                                                   "eval": _example_params(cfg.eval)}, self._write_examples)
        tokenizer = self._step("tokenizer", "tokenizer", {"mix": self._sha(self.mix), "train": self._tok_params(),
                                                          "seed": cfg.seed}, self._make_tokenizer)
        self.count_unit = tokenizer.data["count_unit"]
        self.train_tokenizer = tokenizer.data["train_tokenizer"]
        self.decontamination = self._decontamination()
        self.eval_ngrams = ngram_set([r["text"] for r in read_records(self.eval)])
        return mix, examples, tokenizer

    def _step(self, phase: str, name: str, params: Mapping[str, Any],
              compute: Callable[[], tuple[dict[str, Any], list[Path]]]) -> StepRecord:
        record = self.cache.run(name, params, compute)
        record.data.setdefault("phase", phase)
        if record.cached:
            log.info("%s: reused (%.1f s when it ran)", name, record.seconds)
        return record

    def _sha(self, path: Path) -> str:
        return file_sha256(path)

    def _build_mix(self) -> tuple[dict[str, Any], list[Path]]:
        summary = build_mix(self.cfg.sources, self.cfg.seed, self.mix)
        return {"documents": summary.documents, "domains": summary.domains}, [self.mix]

    def _write_examples(self) -> tuple[dict[str, Any], list[Path]]:
        target = read_examples(self.cfg.target, "target")
        evaluation = read_examples(self.cfg.eval, "eval")
        overlap = len(set(target) & set(evaluation))
        if overlap:
            log.warning("%d target examples are also eval examples: the eval loss is not held out", overlap)
        write_examples(target, self.target)
        write_examples(evaluation, self.eval)
        return {"target": len(target), "eval": len(evaluation), "target_eval_overlap": overlap}, [self.target,
                                                                                                  self.eval]

    # ---- tokenizer -----------------------------------------------------------------------------------------

    def _tok_params(self) -> dict[str, Any]:
        train = self.cfg.train
        spec = train.get("tokenizer")
        return {"model": _model_key(train.get("model", TINY)), "tokenizer": _model_key(spec) if spec else None,
                "vocab_size": train.get("vocab_size"), "sample_docs": self.cfg.tokenizer_sample_docs}

    def _make_tokenizer(self) -> tuple[dict[str, Any], list[Path]]:
        """One tokenizer for counting selection budgets and for training, so budgets are training tokens."""
        train = self.cfg.train
        model = train.get("model", TINY)
        path = self.out / "tokenizer" / "tokenizer.json"
        if model != TINY:
            _export_model_tokenizer(model, path)
            return {"kind": "model", "count_unit": str(path), "train_tokenizer": None, "path": str(path)}, [path]
        spec = train.get("tokenizer")
        if spec == "bytes":
            marker = self.out / "tokenizer" / "bytes.txt"
            marker.write_text("UTF-8 bytes: no tokenizer to train\n", encoding="utf-8")
            return {"kind": "bytes", "count_unit": "bytes", "train_tokenizer": "bytes"}, [marker]
        if spec is not None:
            return {"kind": "file", "count_unit": str(spec), "train_tokenizer": str(spec), "path": str(spec)}, []
        records = read_records(self.mix)
        n = min(self.cfg.tokenizer_sample_docs, len(records))
        sample = [records[i]["text"] for i in sorted(random.Random(self.cfg.seed).sample(range(len(records)), n))]
        vocab = int(train.get("vocab_size", _default(self.train.TrainConfig, "vocab_size")))
        log.info("training a %s-token BPE tokenizer on %s source-mix documents", f"{vocab:,}", f"{n:,}")
        self.train.train_tokenizer(sample, vocab, path)
        return {"kind": "bpe", "count_unit": str(path), "train_tokenizer": str(path), "path": str(path),
                "vocab_size": vocab, "sample_docs": n}, [path]

    # ---- selection ---------------------------------------------------------------------------------------

    def _decontamination(self) -> dict[str, Any]:
        requested = self.cfg.eval.exclude
        return {"requested": requested, "applied": requested, "dedup": self.cfg.selection.dedup, "note": ""}

    def _params(self, method: str) -> dict[str, Any]:
        """The method's parameters from the config: codec and level where the method takes them."""
        from zipfit.methods import accepted_parameters

        opts = self.cfg.selection
        accepted = accepted_parameters(method)
        params = {k: v for k, v in (("codec", opts.codec), ("level", opts.level)) if k in accepted}
        return params | dict(opts.options.get(method, {}))

    def _select_kwargs(self, method: str, *, dedup: bool = True) -> dict[str, Any]:
        opts = self.cfg.selection
        kwargs: dict[str, Any] = {"text_field": "text", "target_text_field": "text", "params": self._params(method),
                                  "workers": opts.workers, "tokenizer": self.count_unit, "seed": self.cfg.seed,
                                  "overwrite": True, "progress": self.progress}
        if self.decontamination["applied"]:
            kwargs.update(exclude=[str(self.eval)], exclude_text_field="text")
        if dedup and self.decontamination["dedup"]:
            kwargs["dedup"] = True
        return kwargs

    def _scores(self, method: str, target: Path | None = None, tag: str = "", phase: str = "scoring") -> StepRecord:
        """The method's score dataset over the whole mix: computed once, every budget is cut from it.

        ``target`` (with a ``tag`` that names it) scores against a subset of the target examples instead."""
        target = target or self.target
        name = f"score-{method}{tag}"
        if name in self.cache.records:
            return self.cache.records[name]  # every budget is cut from the same scores: looked up once per run
        path = self.out / "scores" / f"{method}{tag}"

        def compute() -> tuple[dict[str, Any], list[Path]]:
            import zipfit

            log.info("scoring the mix with %s%s (once for every budget)", method, tag)
            path.parent.mkdir(parents=True, exist_ok=True)
            kwargs = self._select_kwargs(method, dedup=False)
            result = zipfit.score(str(self.mix), str(target), out=path, method=method, **kwargs)
            return {"method": method, "scored": result.manifest["counts"]["scored"]}, [path]

        params = {k: v for k, v in self._selection_params(method, 0, target=target).items()
                  if k not in ("budget", "dedup")}
        return self._step(phase, name, params, compute)

    def _selection_params(self, method: str, budget: int | None, where: Mapping[str, str] | None = None,
                          target: Path | None = None) -> dict[str, Any]:
        from zipfit import __version__

        opts = self.cfg.selection
        return {"mix": self._sha(self.mix), "target": self._sha(target or self.target),
                "eval": self._sha(self.eval) if self.decontamination["applied"] else None,
                "count_unit": _unit_key(self.count_unit), "method": method, "budget": budget, "where": where,
                "codec": opts.codec, "level": opts.level, "dedup": self.decontamination["dedup"],
                "options": dict(opts.options.get(method, {})), "seed": self.cfg.seed, "zipfit": __version__}

    def _selection(self, method: str, budget: int, subset: tuple[int, int, Path] | None = None) -> StepRecord:
        """``method``'s selection of ``budget`` tokens; with ``subset`` = (n, seed, file), made for the first n
        target examples of that seed's order (the target-size ablation) instead of all of them."""
        from zipfit.methods import SCORES, method_class

        target = subset[2] if subset else self.target
        tag = f"-n{subset[0]}-s{subset[1]}" if subset else ""
        phase = "ablation_" if subset else ""
        path = self.out / "selections" / f"{method}-{budget}{tag}.jsonl"
        params = self._selection_params(method, budget, target=target)
        scores = (self._scores(method, target, tag, phase + "scoring") if method_class(method).kind == SCORES
                  else None)
        if scores is not None:
            params["scores"] = scores.hash  # a rescored mix makes every selection cut from it stale

        def compute() -> tuple[dict[str, Any], list[Path]]:
            import zipfit

            log.info("selecting %s tokens with %s%s", f"{budget:,}", method, tag)
            if scores is None:
                result = zipfit.select(str(self.mix), str(target), out=path, tokens=budget, method=method,
                                       **self._select_kwargs(method))
            else:
                opts = self.cfg.selection
                result = zipfit.select(out=path, tokens=budget, scores=self.out / "scores" / f"{method}{tag}",
                                       dedup=bool(self.decontamination["dedup"]), workers=opts.workers,
                                       overwrite=True, progress=self.progress)
            data = self._describe_selection(path, result.manifest)
            extra = {"target_size": subset[0], "subset_seed": subset[1]} if subset else {}
            return data | {"method": method, "budget": budget} | extra, [path]

        return self._step(phase + "selection", f"select-{method}-{budget}{tag}", params, compute)

    # ---- the target-size ablation and the whole-source reference ----------------------------------------------

    def _target_subset(self, n: int, seed: int) -> StepRecord:
        """The first n target examples in seed's order: every seed shuffles the target once, so a seed's
        subsets are nested (its 10 examples are among its 25)."""
        path = self.out / "data" / f"target-n{n}-s{seed}.jsonl"

        def compute() -> tuple[dict[str, Any], list[Path]]:
            records = read_records(self.target)
            order = list(range(len(records)))
            random.Random(f"target-subset:{self.cfg.seed}:{seed}").shuffle(order)
            picked = sorted(order[:n])  # file order, so the subset reads like the target
            write_examples([records[i]["text"] for i in picked], path)
            return {"target_size": n, "subset_seed": seed, "indices": picked}, [path]

        params = {"target": self._sha(self.target), "n": n, "seed": seed, "data_seed": self.cfg.seed}
        return self._step("ablation_data", f"target-n{n}-s{seed}", params, compute)

    def _ablation_selections(self, target_examples: int) -> list[StepRecord]:
        ab = self.cfg.ablation
        sizes = [n for n in ab.target_sizes if n < target_examples]
        if len(sizes) < len(ab.target_sizes):
            log.warning("ablation: target sizes %s are not below the %d target examples; the normal runs are "
                        "the \"all\" point", [n for n in ab.target_sizes if n >= target_examples], target_examples)
        out = []
        for seed in ab.seeds:
            for n in sizes:
                subset = self._target_subset(n, seed)
                for method in ab.methods:
                    out.append(self._selection(method, ab.budget, (n, seed, self.out / subset.outputs[0])))
        return out

    # ---- the length control ------------------------------------------------------------------------------------

    def _length_selections(self) -> list[StepRecord]:
        """Each method's selection at the length control's budget, cut again from the same score dataset with
        ``length_strata``: no rescoring, so it differs from the main selection by the cut alone."""
        lc = self.cfg.length_control
        out = []
        for method in lc.methods:
            scores = self._scores(method)
            path = self.out / "selections" / f"{method}-{lc.budget}-strata{lc.strata}.jsonl"

            def compute(method: str = method, path: Path = path) -> tuple[dict[str, Any], list[Path]]:
                import zipfit

                log.info("selecting %s tokens with %s, %d length strata", f"{lc.budget:,}", method, lc.strata)
                result = zipfit.select(out=path, tokens=lc.budget, scores=self.out / "scores" / method,
                                       length_strata=lc.strata, workers=self.cfg.selection.workers, overwrite=True,
                                       progress=self.progress)
                data = self._describe_selection(path, result.manifest)
                return data | {"method": method, "budget": lc.budget, "length_strata": lc.strata}, [path]

            params = self._selection_params(method, lc.budget) | {"scores": scores.hash, "length_strata": lc.strata}
            out.append(self._step("length_selection", f"select-{method}-{lc.budget}-strata{lc.strata}", params,
                                  compute))
        return out

    def _length_summary(self, selections: list[StepRecord], stratified: list[StepRecord]) -> dict[str, Any]:
        """The stratified selections and, per method, how its score and both its selections relate to length."""
        from zipfit.harness.length_control import measure

        lc = self.cfg.length_control
        plain = {(r.data["method"], r.data["budget"]): r for r in selections}
        domains = {str(r["id"]): str(r["domain"]) for r in read_records(self.mix)}
        lengths = {}
        for rec in stratified:
            method = rec.data["method"]
            scores = self.out / self._scores(method).outputs[0]
            lengths[method] = measure(scores, {"plain": self.out / plain[(method, lc.budget)].outputs[0],
                                               "stratified": self.out / rec.outputs[0]}, domains)
        return {"strata": lc.strata, "budget": lc.budget, "methods": list(lc.methods), "lengths": lengths,
                "selections": [{k: v for k, v in r.data.items() if k != "phase"} for r in stratified]}

    def _reference_sample(self) -> StepRecord:
        """The whole source mix (decontaminated like every selection), or a seeded random part of it of
        ``reference.max_tokens`` tokens: what training on everything, unselected, gives."""
        cap = self.cfg.reference.max_tokens
        path = self.out / "selections" / "full-source.jsonl"

        def compute() -> tuple[dict[str, Any], list[Path]]:
            import zipfit

            log.info("the whole-source reference: %s", f"{cap:,} tokens of the mix" if cap else "the whole mix")
            budget = {"tokens": cap} if cap else {"fraction": 1.0}
            result = zipfit.select(str(self.mix), str(self.target), out=path, method="random", **budget,
                                   **self._select_kwargs("random"))
            data = self._describe_selection(path, result.manifest, align=False)
            # the budget the run trains on: the cap, or one pass over everything (with a separator per document)
            budget = cap if cap else data["tokens"] + data["documents"]
            return data | {"method": "full-source", "reference": True, "budget": budget, "max_tokens": cap}, [path]

        params = self._selection_params("random", cap) | {"reference": "full-source"}
        return self._step("reference_selection", "reference-full-source", params, compute)

    def _dataset_sample(self, domain: str, budget: int) -> StepRecord:
        """A random sample of ~budget tokens of one source dataset, for the alignment-CE fit."""
        path = self.out / "datasets" / f"{domain}-{budget}.jsonl"

        def compute() -> tuple[dict[str, Any], list[Path]]:
            import zipfit

            log.info("sampling %s tokens of %s alone", f"{budget:,}", domain)
            result = zipfit.select(str(self.mix), str(self.target), out=path, tokens=budget, method="random",
                                   where={"domain": domain}, **self._select_kwargs("random"))
            data = self._describe_selection(path, result.manifest)
            return data | {"method": "random", "domain": domain, "budget": budget}, [path]

        params = self._selection_params("random", budget, where={"domain": domain})
        return self._step("dataset_selection", f"dataset-{domain}-{budget}", params, compute)

    def _describe_selection(self, path: Path, manifest: Mapping[str, Any], *, align: bool = True) -> dict[str, Any]:
        """Size, domain mix, length distribution and mean alignment of a selection file."""
        import zipfit
        from zipfit.tokens import TokenCounter

        records = read_records(path)
        texts = [r["text"] for r in records]
        tokens = TokenCounter(self.count_unit).count(texts) if texts else []
        domains: dict[str, dict[str, int]] = {}
        for rec, n in zip(records, tokens, strict=True):
            d = domains.setdefault(str(rec.get("domain")), {"documents": 0, "tokens": 0})
            d["documents"] += 1
            d["tokens"] += int(n)
        started = time.perf_counter()
        opts = self.cfg.selection
        alignment = None
        if align and records:
            alignment = zipfit.align([str(path)], str(self.target), text_field="text", codec=opts.codec,
                                     level=opts.level, workers=opts.workers, progress=self.progress)[0]["alignment"]
        counts = manifest.get("counts", {})
        standard = {"source_records", "source_eligible", "source_excluded", "source_filtered", "targets", "selected",
                    "selected_tokens", "source_tokens", "selected_target_copies"}
        return {
            "documents": len(records),
            "tokens": int(sum(int(n) for n in tokens)),
            "domains": domains,
            "lengths": length_percentiles([len(t) for t in texts]),
            "alignment": alignment,
            "alignment_seconds": round(time.perf_counter() - started, 3),
            "selection_seconds": manifest.get("timings_s", {}).get("total"),
            "source_documents": counts.get("source_eligible"),
            "target_copies": counts.get("selected_target_copies", 0),
            "eval_ngram_overlap": ngram_overlap(texts, self.eval_ngrams),
            "exclusions": {k: v for k, v in counts.items() if k not in standard},
        }

    # ---- training --------------------------------------------------------------------------------------------

    def _train_config(self, budget: int, max_tokens: int, seed: int, *, final_only: bool = False) -> Any:
        train = dict(self.cfg.train)
        if train.get("model", TINY) == TINY:
            train["tokenizer"] = self.train_tokenizer
        else:
            train.pop("tokenizer", None)
        if final_only:
            train["eval_every"] = budget  # per-dataset runs need the final CE only: evaluations cost time
        elif train.get("eval_every") is None:
            train["eval_every"] = max(1, budget // DEFAULT_EVALS)
        return self.train.TrainConfig(**train, max_tokens=max_tokens, seed=seed)

    @staticmethod
    def _max_tokens(budget: int, selection: Mapping[str, Any]) -> int:
        """The budget, or one epoch when the selection is smaller (packing adds a separator per document):
        training must never repeat a selection to fill its budget."""
        return max(1, min(budget, selection["tokens"] + selection["documents"] - 1))

    def _train_run(self, phase: str, selection: StepRecord, seed: int, eval_texts: list[str], counter: str) -> None:
        sel = selection.data
        kind = ("dataset" if "domain" in sel else "reference" if sel.get("reference")
                else "ablation" if "target_size" in sel else "length" if "length_strata" in sel else "selection")
        label = f"{sel['domain'] if kind == 'dataset' else sel['method']}-{sel['budget']}-s{seed}"
        if kind == "dataset":
            label = "dataset-" + label
        elif kind == "reference":
            label = f"reference-full-source-s{seed}"
        elif kind == "ablation":
            label = f"ablation-{sel['method']}-{sel['budget']}-n{sel['target_size']}-s{seed}"
        elif kind == "length":
            label = f"length-{sel['method']}-{sel['budget']}-strata{sel['length_strata']}-s{seed}"
        selection_path = self.out / selection.outputs[0]
        config = self._train_config(sel["budget"], self._max_tokens(sel["budget"], sel), seed,
                                    final_only=kind == "dataset")
        if kind == "reference":
            every = self.cfg.reference.eval_every or self.cfg.train.get("eval_every")
            config = dataclasses.replace(config, eval_every=every or max(1, config.max_tokens // DEFAULT_EVALS))
        params = {"selection": self._sha(selection_path), "eval": self._sha(self.eval),
                  "tokenizer": _unit_key(self.train_tokenizer) if self.train_tokenizer else None,
                  "config": {k: _model_key(v) if k in ("model", "tokenizer") and v else v
                             for k, v in dataclasses.asdict(config).items()
                             if not (k == "precision" and v == "fp32")}}  # runs from before the key stay valid

        def compute() -> tuple[dict[str, Any], list[Path]]:
            what = {"dataset": f"{sel.get('domain')} alone", "reference": "the whole source mix",
                    "ablation": f"{sel['method']} for {sel.get('target_size')} target examples",
                    "length": f"{sel['method']} in {sel.get('length_strata')} length strata"}.get(kind, sel["method"])
            log.info("%s training on %s (%s tokens selected), seed %d", counter, what, f"{sel['tokens']:,}", seed)
            texts = [r["text"] for r in read_records(selection_path)]
            # selections are written best first; training in that order would be a curriculum, not a selection
            random.Random(seed).shuffle(texts)
            result = self.train.train_eval(texts, eval_texts, config, progress=self.progress)
            written = self.train.write_curve(result, self.out / "runs" / label, overwrite=True, label=label)
            return {"result": result.to_dict()}, list(written)

        record = self._step(phase, f"train-{label}", params, compute)
        final = record.data["result"]["curve"][-1]
        log.info("%s %s: final CE %.4f nats/token, %.4f bits/byte", counter, label, final["ce_nats"],
                 final["bits_per_byte"])
        run = {"label": label, "kind": kind, "method": sel["method"], "budget": sel["budget"], "seed": seed,
               **({"domain": sel["domain"]} if kind == "dataset" else {}),
               **({"target_size": sel["target_size"]} if kind == "ablation" else {}),
               **({"length_strata": sel["length_strata"]} if kind == "length" else {}), **record.data["result"],
               "cached": record.cached}
        self.runs.append(run)

    # ---- dataset-level alignment under several scores ----------------------------------------------------------

    def _alignment_scores(self, datasets: list[StepRecord], selections: list[StepRecord]) -> dict[str, Any]:
        """Each per-dataset sample's (and each selection's) mean score under every method of
        ``per_dataset.scores``: the paper's alignment is ``zipfit``'s mean; the others ask whether the
        alignment-CE relation holds for a score that does not favour short documents.

        The means are read from the methods' score datasets over the whole mix (scored once, as for
        selection), so they cost one scoring pass per method and nothing per dataset."""
        import pyarrow.parquet as pq

        out: dict[str, Any] = {"methods": [], "datasets": {}, "selections": {}}
        for method in self.cfg.per_dataset.scores:
            record = self._scores(method, phase="alignment_scoring")
            table = pq.read_table(self.out / record.outputs[0], columns=["id", "score", "status"]).to_pydict()
            # the mix gives every document a unique id, and the score dataset keeps it
            by_id = {i: score for i, score, status in zip(table["id"], table["score"], table["status"], strict=True)
                     if status == "scored"}
            out["methods"].append(method)
            for kind, records in (("datasets", datasets), ("selections", selections)):
                for rec in records:
                    key = rec.data.get("domain") or f"{rec.data['method']}-{rec.data['budget']}"
                    values = [by_id.get(str(r.get("id"))) for r in read_records(self.out / rec.outputs[0])]
                    values = [v for v in values if v is not None]
                    if values:
                        out[kind].setdefault(key, {})[method] = sum(values) / len(values)
        return out

    # ---- summary ---------------------------------------------------------------------------------------------

    def _summary(self, mix: StepRecord, examples: StepRecord, tokenizer: StepRecord, selections: list[StepRecord],
                 datasets: list[StepRecord]) -> dict[str, Any]:
        phases: dict[str, dict[str, Any]] = {}
        for record in self.cache.records.values():
            p = phases.setdefault(record.data.get("phase", "other"), {"seconds": 0.0, "steps": 0, "reused": 0})
            p["seconds"] = round(p["seconds"] + record.seconds, 1)
            p["steps"] += 1
            p["reused"] += int(record.cached)
        cfg = self.cfg
        return {
            "name": cfg.name,
            "description": cfg.description,
            "config": cfg.as_dict(),
            "mix": mix.data,
            "examples": examples.data,
            "tokenizer": tokenizer.data,
            "decontamination": self.decontamination,
            "baselines": list(cfg.baselines),
            "selections": [{k: v for k, v in s.data.items() if k != "phase"} for s in selections],
            "datasets": [{k: v for k, v in d.data.items() if k != "phase"} for d in datasets],
            "runs": self.runs,
            "timings": {"phases": phases, "compute_seconds": round(sum(p["seconds"] for p in phases.values()), 1),
                        "wall_seconds": round(time.perf_counter() - self.started, 1)},
            "machine": {"cpus": os.cpu_count(), "load_average": _load_average()},
        }


# ---- helpers ---------------------------------------------------------------------------------------------------


def _fingerprints(files: tuple[Path, ...]) -> list[dict[str, Any]]:
    return [{"path": str(f), "sha256": file_sha256(f) if f.is_file() else _dir_key(f)} for f in files]


def _dir_key(path: Path) -> str:
    st = path.stat()
    return f"dir:{st.st_mtime_ns}"


def _example_params(spec: Any) -> dict[str, Any]:
    return dataclasses.asdict(spec) | {"files": _fingerprints(spec.files)}


def _model_key(value: str) -> str:
    """A model or tokenizer named by path is identified by its size and mtime (hashing a 100 MB model is slow)."""
    path = Path(value)
    if path.is_file():
        st = path.stat()
        return f"{value}@{st.st_size}:{st.st_mtime_ns}"
    return value


def _unit_key(unit: str) -> str:
    path = Path(unit)
    return f"{unit}@{file_sha256(path)}" if path.is_file() else unit


def _default(cls: type, name: str) -> Any:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.default
    raise KeyError(name)


def _export_model_tokenizer(model: str, path: Path) -> None:
    """The tokenizer of a Hugging Face model directory or GGUF file, as a tokenizer.json for counting budgets."""
    source = Path(model)
    if source.is_dir() and (source / "tokenizer.json").is_file():
        with atomic_output(path) as tmp:
            tmp.write_bytes((source / "tokenizer.json").read_bytes())
        return
    transformers = need("transformers")
    try:
        if source.suffix == ".gguf":
            tok = transformers.AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        else:
            tok = transformers.AutoTokenizer.from_pretrained(str(source))
    except (OSError, ValueError) as exc:
        raise ZipfitError(f"cannot load the tokenizer of {model}: {str(exc).splitlines()[0]}") from None
    if not getattr(tok, "is_fast", False):
        raise ZipfitError(f"{model}: its tokenizer has no tokenizer.json form; give train.tokenizer instead")
    with atomic_output(path) as tmp:
        tok.backend_tokenizer.save(str(tmp))


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
