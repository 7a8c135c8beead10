"""The method contract, checked on every registered method: declarations, scores, pickling, processes."""

from __future__ import annotations

import inspect
import multiprocessing
import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from zipfit.errors import ZipfitError
from zipfit.methods import (
    BACKGROUND,
    CASCADE,
    KINDS,
    METHODS,
    NEEDS,
    SCORES,
    SET,
    SOURCE_STATS,
    Method,
    Param,
    ZipFit,
    ZipFitDebiased,
    all_parameters,
    check_params,
    make_method,
    method_class,
    method_names,
)
from zipfit.methods import registry as registry_module

NAMES = method_names()


def texts_of(mixed_sources: list[str]) -> list[str]:
    """Real documents of every kind, cut to 3,000 characters, and two that are almost nothing."""
    return [t[:3000] for t in mixed_sources[::7]] + ["?", " "]


def build(name: str, cache_dir: Any) -> Method:
    params = {"cache_dir": str(cache_dir)} if method_class(name).parameter("cache_dir") else {}
    return make_method(name, params, seed=0)


def prepare(method: Method, targets: Sequence[str], source: Sequence[str]) -> Method:
    """Fit as the pipeline does: dispatching on what the method declares it needs, nothing else."""
    method.fit(targets)
    if BACKGROUND in method.needs:
        method.fit_background(source[: method.background_size()])
    if SOURCE_STATS in method.needs:
        method.fit_source(method.source_counts(source))
    return method


def _score_in_worker(blob: bytes, texts: list[str]) -> np.ndarray:
    method = pickle.loads(blob)
    method.setup()
    return method.score(texts)


def _select_in_worker(blob: bytes, embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    indices, scores, _ = pickle.loads(blob).select(embeddings, k)
    return indices, scores


def in_spawned_process(fn: Any, *args: Any) -> Any:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("embeddings")


@pytest.fixture(scope="module")
def targets(proofnet_valid) -> list[str]:
    return proofnet_valid[:8]


# -- declarations ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_declarations_agree_with_the_class(name):
    cls = method_class(name)
    assert cls.name == name and METHODS[name] is cls
    assert cls.kind in KINDS and cls.needs <= NEEDS
    init = {n: p.default for n, p in inspect.signature(cls.__init__).parameters.items() if n != "self"}
    assert {p.name: p.default for p in cls.parameters} == init
    assert cls.declaration_errors() == []
    for param in cls.parameters:
        assert param.check(param.default) == param.default
        assert param.help and param.type in (int, float, str, bool)


def test_kinds_and_needs_are_what_the_pipeline_dispatches_on():
    declared = {name: (method_class(name).kind, method_class(name).needs) for name in NAMES}
    assert declared == {
        "zipfit": (SCORES, frozenset()),
        "zipfit-fast": (CASCADE, frozenset()),
        "zipfit-debiased": (SCORES, frozenset({BACKGROUND})),
        "zipfit-debiased-fast": (CASCADE, frozenset({BACKGROUND})),
        "zipfit-ml": (SCORES, frozenset({BACKGROUND})),
        "random": (SCORES, frozenset()),
        "dsir": (SCORES, frozenset({SOURCE_STATS})),
        "embed": (SCORES, frozenset()),
        "d4": (SET, frozenset()),
    }
    assert method_class("dsir").unscorable_reason == "too_short"


def test_a_shared_parameter_means_the_same_in_every_method():
    shared = all_parameters()
    for name, use in shared.items():
        declarations = [method_class(m).parameter(name) for m in use.methods]
        assert all(d is not None for d in declarations)
        assert {(d.type, d.default, d.choices, d.allow_none) for d in declarations} == \
            {(use.param.type, use.param.default, use.param.choices, use.param.allow_none)}, name
        assert set(use.methods) == {m for m in NAMES if method_class(m).parameter(name) is not None}
    for name in ("codec", "level", "allow_level_0", "seed", "model", "cache_dir", "batch_size"):
        assert len(shared[name].methods) >= 2, name


# -- behaviour ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in NAMES if method_class(n).kind in (SCORES, CASCADE)])
def test_scores_are_one_float64_per_text_and_the_same_in_another_process(name, targets, mixed_sources, cache_dir):
    texts = texts_of(mixed_sources)
    method = prepare(build(name, cache_dir), targets, mixed_sources)
    scores = method.score(texts)
    assert scores.dtype == np.float64 and scores.shape == (len(texts),)
    if name == "dsir":  # shorter than min_example_length words: NaN, counted under unscorable_reason
        assert np.isnan(scores[-2:]).all() and np.isfinite(scores).any()
    else:
        assert np.isfinite(scores).all()
    if method.kind == CASCADE:  # the cascade selects from exact scores: its exact method's
        if BACKGROUND in method.needs:
            exact = ZipFitDebiased(method.codec, method.level, background_docs=method.background_docs)
            exact = exact.fit(targets, mixed_sources[: method.background_size()])
        else:
            exact = ZipFit(method.codec, method.level).fit(targets)
        np.testing.assert_array_equal(scores, exact.score(texts))
    again = pickle.loads(pickle.dumps(method))
    np.testing.assert_array_equal(again.score(texts), scores)
    np.testing.assert_array_equal(in_spawned_process(_score_in_worker, pickle.dumps(method), texts), scores)


@pytest.mark.parametrize("name", [n for n in NAMES if method_class(n).kind == SET])
def test_a_set_method_selects_the_same_set_in_another_process(name, targets, mixed_sources, cache_dir):
    method = prepare(build(name, cache_dir), targets, mixed_sources)
    with pytest.raises(TypeError, match="select"):
        method.score(["a document"])
    embeddings = method.embedder().embed(texts_of(mixed_sources))
    indices, scores, _ = method.select(embeddings, 5)
    assert len(indices) == 5 and scores.dtype == np.float64
    again = pickle.loads(pickle.dumps(method))
    np.testing.assert_array_equal(again.select(embeddings, 5)[0], indices)
    got_indices, got_scores = in_spawned_process(_select_in_worker, pickle.dumps(method), embeddings, 5)
    np.testing.assert_array_equal(got_indices, indices)
    np.testing.assert_array_equal(got_scores, scores)


@pytest.mark.parametrize("name", NAMES)
def test_params_record_every_declared_parameter(name, targets, mixed_sources, cache_dir):
    method = build(name, cache_dir)
    cls = type(method)
    given = method.get_params()
    assert set(given) == {p.name for p in cls.parameters}
    for recorded in (method.params(), prepare(method, targets, mixed_sources).params()):
        assert {p.name for p in cls.parameters} <= set(recorded)
        for param in cls.parameters:
            if given[param.name] is not None:  # None is "automatic": fitting may record what it resolved to
                assert recorded[param.name] == given[param.name], param.name


# -- building by name -----------------------------------------------------------------------------------------


def _illegal(param: Param) -> Any:
    if param.choices is not None:
        return "none-of-these"
    if param.minimum is not None:
        return param.type(param.minimum - 1)
    if param.above is not None:
        return param.type(param.above)
    return None


@pytest.mark.parametrize("name", NAMES)
def test_make_method_refuses_undeclared_and_out_of_range_parameters(name):
    cls = method_class(name)
    other = next(p for n, use in all_parameters().items() if name not in use.methods for p in [use.param])
    with pytest.raises(ZipfitError, match=f"{other.flag} does not apply to --method {name}; it is a parameter of"):
        make_method(name, {other.name: other.default})
    bounded = next(p for p in cls.parameters if _illegal(p) is not None)
    with pytest.raises(ZipfitError, match=f"^{bounded.flag} must "):
        make_method(name, {bounded.name: _illegal(bounded)})
    with pytest.raises(ZipfitError, match="not a parameter of any method"):
        make_method(name, {"no_such_parameter": 1})


@pytest.mark.parametrize("name", NAMES)
def test_the_seed_goes_only_where_it_is_declared(name):
    method = make_method(name, seed=7)
    if method.parameter("seed") is not None:
        assert method.seed == 7
        with pytest.raises(ZipfitError, match="two seeds"):
            make_method(name, {"seed": 1}, seed=7)
    else:
        assert "seed" not in method.get_params()


def test_parameters_are_checked_not_converted():
    with pytest.raises(ZipfitError, match=r"^--num-buckets must be an integer, got 5.0 \(float\)$"):
        make_method("dsir", {"num_buckets": 5.0})
    with pytest.raises(ZipfitError, match=r"^--num-buckets must be at least 1, got 0$"):
        make_method("dsir", {"num_buckets": 0})
    with pytest.raises(ZipfitError, match=r"^--confidence must be a finite number, got nan$"):
        make_method("zipfit-fast", {"confidence": float("nan")})
    with pytest.raises(ZipfitError, match=r"^--r-dedup must be greater than 0, got 0.0$"):
        make_method("d4", {"r_dedup": 0.0})
    with pytest.raises(ZipfitError, match=r"^--allow-level-0 must be true or false"):
        make_method("zipfit", {"allow_level_0": 1})
    assert make_method("zipfit-fast", {"candidate_factor": 2}).candidate_factor == 2  # an int is a number
    assert make_method("d4", {"model": None, "clusters": None}).clusters is None
    assert make_method("zipfit", {"level": np.int64(6)}).level == 6
    assert check_params("dsir", {"ngrams": 3}) == {"ngrams": 3}


def test_the_legacy_keyword_form_ignores_what_a_method_does_not_take():
    method = make_method("zipfit", codec="gzip", level=6, seed=3, stage1_targets=3, num_buckets=5)
    assert isinstance(method, ZipFit) and method.get_params() == {"codec": "gzip", "level": 6, "allow_level_0": False,
                                                                  "fast": False}
    assert make_method("dsir", codec="gzip", seed=3, num_buckets=5).get_params()["seed"] == 3
    with pytest.raises(TypeError, match="not both"):
        make_method("zipfit", {"level": 6}, codec="gzip")


# -- the registry and the contract guard their own consistency ---------------------------------------------------


class _Toy(Method):
    name = "toy"
    parameters = (Param("width", int, 3, "how wide", minimum=1),)

    def __init__(self, width: int = 3) -> None:
        self.width = width

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> _Toy:
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return np.full(len(texts), float(self.width))


def test_a_new_method_is_one_class_and_one_registration():
    registry_module.register(_Toy)
    try:
        assert "toy" in method_names() and all_parameters()["width"].methods == ("toy",)
        assert make_method("toy", {"width": 5}).score(["a", "b"]).tolist() == [5.0, 5.0]
        with pytest.raises(ZipfitError, match="--width does not apply to --method zipfit; it is a parameter of toy"):
            make_method("zipfit", {"width": 5})
    finally:
        registry_module._REGISTRY.pop("toy")
    assert "toy" not in method_names()


def test_registration_refuses_declarations_that_disagree():
    class WrongDefault(_Toy):
        name = "wrong-default"
        parameters = (Param("width", int, 4, "how wide"),)

    class SeedUnlikeTheOthers(_Toy):
        name = "odd-seed"
        parameters = (Param("width", int, 3, "how wide"), Param("seed", int, 1, "a seed"))

        def __init__(self, width: int = 3, seed: int = 1) -> None:
            super().__init__(width)
            self.seed = seed

    with pytest.raises(TypeError, match="defaults to 3 in __init__ but 4"):
        registry_module.register(WrongDefault)
    with pytest.raises(TypeError, match="'seed' unlike"):
        registry_module.register(SeedUnlikeTheOthers)
    with pytest.raises(TypeError, match="taken by"):
        registry_module.register(type("Impostor", (_Toy,), {"name": "zipfit"}))
    assert "wrong-default" not in method_names() and "odd-seed" not in method_names()


def test_a_class_must_have_the_hooks_its_kind_and_needs_promise():
    with pytest.raises(TypeError, match="lacks profiler"):
        type("HalfCascade", (_Toy,), {"name": "half", "kind": CASCADE})
    with pytest.raises(TypeError, match="lacks source_counts, fit_source"):
        type("NoStats", (_Toy,), {"name": "no-stats", "needs": frozenset({SOURCE_STATS})})
    with pytest.raises(TypeError, match="kind must be one of"):
        type("Odd", (_Toy,), {"name": "odd", "kind": "ranking"})
    with pytest.raises(TypeError, match="default None needs allow_none"):
        Param("x", int, None, "x")
    with pytest.raises(ZipfitError, match="--x must be at least 1, got 0"):
        Param("x", int, 0, "x", minimum=1)


@pytest.mark.parametrize("name", ["zipfit", "zipfit-debiased", "zipfit-fast", "random", "dsir"])
def test_one_string_is_not_a_sequence_of_texts(name):
    method = make_method(name)
    with pytest.raises(ZipfitError, match="not one string"):
        method.fit("theorem foo : 1 = 1")
    method.fit(["theorem foo : 1 = 1", "lemma bar : 2 = 2"])
    with pytest.raises(ZipfitError, match="not one string"):
        method.score("lemma bar : 2 = 2")
