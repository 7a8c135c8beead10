from collections import Counter

import pytest

import zipfit
from zipfit.errors import ZipfitError
from zipfit.harness.quality import DOMAINS, STRATA, TASKS, build_mix, quality


@pytest.fixture(scope="module")
def mix():
    return build_mix("lean", n_sources=240, n_targets=30, prevalence=0.25, seed=7)


def test_every_domain_is_labelled_and_a_third_of_it_short_medium_and_long(mix):
    assert len(mix.texts) == len(mix.domains) == len(mix.strata) == len(mix.datasets) == 240
    assert mix.target_domain == "lean" and set(mix.domains) == set(DOMAINS)
    counts = Counter(mix.domains)
    assert counts["lean"] == mix.relevant == 60 and all(counts[d] == 60 for d in DOMAINS)
    for domain in DOMAINS:
        strata = Counter(s for s, d in zip(mix.strata, mix.domains, strict=True) if d == domain)
        assert sorted(strata.values()) == [20, 20, 20]
    bounds = {name: (lo, hi) for name, lo, hi in STRATA}
    for text, stratum in zip(mix.texts, mix.strata, strict=True):
        lo, hi = bounds[stratum]
        assert lo <= len(text) <= hi
    # the target domain comes from several datasets, not only the one the targets were held out from
    assert len({d for d, dom in zip(mix.datasets, mix.domains, strict=True) if dom == "lean"}) >= 2


def test_targets_are_held_out_records_the_source_never_sees(mix):
    assert len(mix.targets) == 30
    # files share licence headers, so compare what is their own: the end of each target example
    assert not any(t.rstrip()[-150:] in s for t in mix.targets for s in mix.texts)


def test_the_same_seed_builds_the_same_mix_and_another_seed_another():
    a = build_mix("prose", n_sources=120, n_targets=10, seed=1)
    assert a == build_mix("prose", n_sources=120, n_targets=10, seed=1)
    assert a.texts != build_mix("prose", n_sources=120, n_targets=10, seed=2).texts


def test_quality_counts_hits_of_the_target_domain(mix):
    hits = [i for i, d in enumerate(mix.domains) if d == "lean"][:6]
    misses = [i for i, d in enumerate(mix.domains) if d != "lean"][:4]
    q = quality(mix, hits + misses)
    assert (q.k, q.precision, q.recall) == (10, 0.6, 6 / 60)
    with pytest.raises(ZipfitError, match="empty selection"):
        quality(mix, [])


def test_bad_task_or_sizes_are_clear_errors():
    with pytest.raises(ZipfitError, match="unknown quality task 'cobol'; choose one of " + ", ".join(TASKS)):
        build_mix("cobol")
    with pytest.raises(ZipfitError, match="prevalence must be between 0 and 1"):
        build_mix("lean", prevalence=1.5)
    with pytest.raises(ZipfitError, match="lower n_sources"):
        build_mix("latex", n_sources=100_000)


def test_a_planted_domain_is_found_by_a_target_aware_method_and_not_by_random(mix):
    k = 30  # half of what the source holds of the target's domain
    precision = {}
    for method in ("zipfit-ml", "random"):
        result = zipfit.select(mix.records(), mix.targets, k=k, method=method, workers=1, seed=0, progress=False)
        precision[method] = quality(mix, result.table.column("id").to_pylist()).precision
    assert precision["zipfit-ml"] >= 0.9
    assert precision["random"] <= 0.5  # a quarter of the source is Lean
