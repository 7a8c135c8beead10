"""Settings that travel together, as frozen dataclasses validated once, and the keyword shortcuts that build them.

``zipfit.select(..., workers=2, exclude="test.jsonl", target_template="{a}")`` and
``zipfit.select(..., settings=Settings(run=Run(workers=2), ...))`` are the same call: every shortcut names
one field of one of these classes (or a method parameter), so a call reads naturally and the code behind it
sees one validated object.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zipfit.engines import engine_names
from zipfit.errors import ZipfitError
from zipfit.io.shards import ROWS_PER_SHARD
from zipfit.io.sources import Source
from zipfit.io.textspec import TextSpec, parse_where

PathsLike = str | os.PathLike | Source | Sequence[str | os.PathLike | Source]
ORDERS = ("rank", "input")


def paths(value: PathsLike) -> list[str | os.PathLike | Source]:
    return [value] if isinstance(value, (str, os.PathLike, Source)) else list(value)


@dataclass(frozen=True)
class Texts:
    """How to read text, one spec per role. The target's field defaults to the source's; the excluded
    documents are read like the target unless their own spec is given."""

    source: TextSpec = field(default_factory=TextSpec)
    target: TextSpec | None = None
    exclude: TextSpec | None = None

    @property
    def target_spec(self) -> TextSpec:
        return self.target if self.target is not None else TextSpec(field=self.source.field)

    @property
    def exclude_spec(self) -> TextSpec:
        if self.exclude is not None:
            return self.exclude
        target = self.target_spec
        return TextSpec(field=target.field, template=target.template)  # the target's filters are its own


@dataclass(frozen=True)
class Run:
    """How to run: where (engine, workers, Ray address), shown how (progress), in which units of work and
    checkpoint (shard_rows), resumed or not, and whether existing outputs may be replaced."""

    engine: str = "local"
    workers: int | None = None
    ray_address: str | None = None
    progress: bool | None = None
    shard_rows: int = ROWS_PER_SHARD
    resume: bool = False
    overwrite: bool = False
    # for URL inputs and outputs (s3://...): fsspec storage options, e.g. {"endpoint_url": ...}; never recorded
    storage_options: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.storage_options is not None and not isinstance(self.storage_options, dict):
            raise ZipfitError("storage_options must be a dict (--storage-options: a JSON object)")
        if self.engine not in engine_names():
            raise ZipfitError(f"unknown engine {self.engine!r}; choose one of {', '.join(engine_names())}")
        if self.workers is not None and self.workers < 1:
            raise ZipfitError(f"--workers must be at least 1, got {self.workers}")
        if self.shard_rows < 1:
            raise ZipfitError(f"--shard-rows must be at least 1, got {self.shard_rows}")
        if self.ray_address is not None and self.engine != "ray":
            raise ZipfitError("--ray-address needs --engine ray")


@dataclass(frozen=True)
class Decontamination:
    """Drop source documents that overlap these files (typically the target's test split) before scoring."""

    files: tuple[str, ...]
    ngram: int = 13
    unit: str = "word"
    near_duplicate: float | None = 0.8

    def __post_init__(self) -> None:
        from zipfit.filters.contamination import ContaminationIndex

        if not self.files:
            raise ZipfitError("--exclude needs at least one file")
        ContaminationIndex(self.ngram, self.unit, self.near_duplicate)._check_params()


@dataclass(frozen=True)
class Dedup:
    """Skip exact copies and near-duplicates (MinHash Jaccard >= ``threshold``; None: exact only) of
    better-ranked documents before the budget is cut."""

    threshold: float | None = 0.8
    seed: int = 0

    def __post_init__(self) -> None:
        from zipfit.filters.dedup import DuplicateKeys

        DuplicateKeys(near_duplicate=self.threshold, seed=self.seed)._check_params()


@dataclass(frozen=True)
class Compression:
    """Codec and level of the compression scores (zipfit, zipfit-fast, zipfit-debiased, align)."""

    codec: str = "gzip"
    level: int | None = None
    allow_level_0: bool = False

    def params(self) -> dict[str, Any]:
        return {"codec": self.codec, "level": self.level, "allow_level_0": self.allow_level_0}


@dataclass(frozen=True)
class Settings:
    """Everything about a run except its inputs, method name, budget and outputs."""

    texts: Texts = field(default_factory=Texts)
    run: Run = field(default_factory=Run)
    decontamination: Decontamination | None = None
    dedup: Dedup | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # method parameters the user set
    seed: int = 0
    tokenizer: str = "whitespace"
    order: str = "rank"
    sampling: str = "top-k"
    group_by: str | None = None
    group_weights: Mapping[str, float] | str | None = None
    length_strata: int | None = None
    target_texts: tuple[str, ...] | None = None
    filters: tuple[Any, ...] = ()  # the user's own map-stage filters (zipfit.filters.base.Filter), applied in order
    given: frozenset[str] = frozenset()  # the shortcut names the caller used (for --scores consistency checks)

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ZipfitError(f"order must be 'rank' or 'input', got {self.order!r}")
        from zipfit.filters.base import MAP, Filter

        for f in self.filters:
            if not isinstance(f, Filter) or f.stage != MAP:
                raise ZipfitError(f"filters= takes map-stage zipfit.filters.base.Filter objects, got {f!r}")


TEXT_KEYS = ("text_field", "template", "where", "target_text_field", "target_template", "target_where",
             "exclude_text_field", "exclude_template", "exclude_where")
RUN_KEYS = tuple(f.name for f in dataclasses.fields(Run))
EXCLUDE_KEYS = ("exclude_ngram", "exclude_unit", "exclude_near_duplicate")
PLAIN_KEYS = ("seed", "tokenizer", "order", "sampling", "group_by", "group_weights", "length_strata", "target_texts",
              "filters")


def settings_from(settings: Settings | None, options: Mapping[str, Any], *, function: str,
                  method_parameters: frozenset[str]) -> Settings:
    """One ``Settings`` from a base (or the defaults) and keyword shortcuts. ``method_parameters``: every name a
    registered method declares; those go to ``params`` (checked against the chosen method later)."""
    base = settings or Settings()
    options = dict(options)
    given = frozenset(options) | base.given
    params = dict(base.params)
    compression = options.pop("compression", None)
    if compression is not None:
        if not isinstance(compression, Compression):
            raise ZipfitError(f"compression= takes a zipfit.config.Compression, got {compression!r}")
        params.update(compression.params())
    for legacy in ("method_options", "params"):
        params.update(options.pop(legacy, None) or {})
    for name in list(options):
        if name in method_parameters and name not in PLAIN_KEYS and name not in RUN_KEYS:
            value = options.pop(name)
            if value is not None:
                params[name] = value
    unknown = sorted(set(options) - {*TEXT_KEYS, *RUN_KEYS, *EXCLUDE_KEYS, *PLAIN_KEYS, "exclude", "dedup",
                                     "dedup_threshold", "texts", "run"})
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument {unknown[0]!r}")
    texts = options.pop("texts", None) or base.texts
    if any(k in options for k in TEXT_KEYS):
        texts = _texts(texts, options)
    run = options.pop("run", None) or base.run
    run_changes = {k: options.pop(k) for k in RUN_KEYS if k in options}
    if run_changes:
        run = dataclasses.replace(run, **run_changes)
    seed = options.get("seed", base.seed)
    decontamination = _decontamination(base.decontamination, options)
    dedup = options.pop("dedup", None)
    threshold = options.pop("dedup_threshold", 0.8 if base.dedup is None else base.dedup.threshold)
    if dedup is True:
        dedup = Dedup(threshold=threshold, seed=seed)
    elif dedup is None or dedup is False:
        dedup = base.dedup if dedup is None else None
    elif not isinstance(dedup, Dedup):
        raise ZipfitError(f"dedup must be True, False or a Dedup, got {dedup!r}")
    plain = {k: options[k] for k in PLAIN_KEYS if k in options}
    if plain.get("target_texts") is not None:
        if isinstance(plain["target_texts"], (str, bytes)):
            raise ZipfitError("target_texts takes a sequence of texts, not one string (it would be read as one "
                              "target per character): write target_texts=[text]")
        plain["target_texts"] = tuple(plain["target_texts"])
    if "filters" in plain:
        plain["filters"] = tuple(plain["filters"] or ())
    return dataclasses.replace(base, texts=texts, run=run, decontamination=decontamination, dedup=dedup,
                               params=params, given=given, **plain)


def _texts(texts: Texts, options: dict[str, Any]) -> Texts:
    def spec(prefix: str, fallback: TextSpec | None) -> TextSpec | None:
        names = (f"{prefix}text_field", f"{prefix}template", f"{prefix}where")
        if not any(options.get(n) is not None for n in names):
            return fallback
        base = fallback or TextSpec(field=texts.source.field)
        field_ = options.get(names[0]) or base.field
        template = options.get(names[1])
        if template is None and options.get(names[0]) is None:
            template = base.template  # a new filter alone keeps the role's field or template
        where = parse_where(options[names[2]]) if options.get(names[2]) is not None else base.where
        return TextSpec(field=field_, template=template, where=where)

    source = spec("", texts.source) or TextSpec()
    target = spec("target_", texts.target if texts.target is not None else TextSpec(field=source.field))
    exclude = texts.exclude
    if any(options.get(n) is not None for n in ("exclude_text_field", "exclude_template", "exclude_where")):
        own = options.get("exclude_text_field") is not None or options.get("exclude_template") is not None
        assert target is not None
        exclude = TextSpec(field=options.get("exclude_text_field") or target.field,
                           template=options.get("exclude_template") if own else target.template,
                           where=parse_where(options.get("exclude_where")))
    return Texts(source, target, exclude)


def _decontamination(base: Decontamination | None, options: dict[str, Any]) -> Decontamination | None:
    exclude = options.pop("exclude", None)
    extra = {k[len("exclude_"):]: options.pop(k) for k in EXCLUDE_KEYS if k in options}
    if isinstance(exclude, Decontamination):
        return dataclasses.replace(exclude, **extra) if extra else exclude
    if exclude is None:
        return dataclasses.replace(base, **extra) if base is not None and extra else base
    return Decontamination(tuple(str(p) for p in paths(exclude)), **extra)
