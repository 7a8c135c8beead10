"""The score dataset: what the map pass produces, saved, and the one artifact every later stage reads.

A directory with one Parquet file per input shard (``part-FFFFF-SSSSSSS.parquet``: input file, shard)
holding a row per record of that shard, in input order:

    file, row, id, score, n_tokens, n_chars, status, reason, detail

``status`` is ``scored``; ``unscorable`` (the method gave no score: ``reason`` says why, ``score`` is
NaN); ``contaminated`` (dropped by decontamination before scoring, or the status another map-stage
filter declares; ``reason`` is the filter's); ``excluded``
(the record could not be used: malformed JSON, missing text, ...); or ``filtered`` (failed ``--where``).
Excluded and filtered records have no lengths. Every record of the input is there, so nothing is lost
without a trace, and a later stage can recount every exclusion from the table alone.

Parts are written atomically as shards finish, which makes the dataset its own checkpoint: a run that is
killed resumes from the parts that exist. ``_run.json`` holds the fingerprint of everything the scores
depend on (a part is reused only by a run with the same one); ``_manifest.json`` is written last, so a
dataset is complete exactly when it exists. Both start with ``_``, which Arrow's dataset discovery skips:
``pyarrow.parquet.read_table(DIR)`` and ``pandas.read_parquet(DIR)`` read the table as it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zipfit import failpoints
from zipfit.errors import CorruptFileError, ZipfitError, reported
from zipfit.fingerprint import fingerprint
from zipfit.io import Exclusions, atomic_output
from zipfit.io.exclusions import FILTERED
from zipfit.io.storage import RemotePath, as_path

log = logging.getLogger("zipfit")

FORMAT = "zipfit-scores/1"
RUN_FILE = "_run.json"
MANIFEST_FILE = "_manifest.json"
SCHEMA = pa.schema([
    ("file", pa.string()), ("row", pa.int64()), ("id", pa.string()), ("score", pa.float64()),
    ("n_tokens", pa.int64()), ("n_chars", pa.int64()), ("status", pa.string()), ("reason", pa.string()),
    ("detail", pa.string()),
])
SCORED, UNSCORABLE, CONTAMINATED, EXCLUDED = "scored", "unscorable", "contaminated", "excluded"
STATUSES = (SCORED, UNSCORABLE, CONTAMINATED, EXCLUDED, FILTERED)


@dataclass
class ShardScores:
    """One shard's part of a map pass. Per eligible document, in input order: its row, id, score (NaN when
    unscorable or contaminated), tokens and characters; then the shard's excluded records and the documents
    a filter dropped (positions among the eligible ones, with reasons and examples)."""

    scores: np.ndarray
    n_tokens: np.ndarray
    n_chars: np.ndarray
    exclusions: Exclusions = field(default_factory=Exclusions)
    contaminated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    contamination: Exclusions = field(default_factory=Exclusions)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ids: list[str | None] = field(default_factory=list)
    excluded: list[tuple[int, str, str]] = field(default_factory=list)  # (row, reason, detail)
    reasons: list[str] = field(default_factory=list)  # per contaminated position, its reason
    statuses: list[str] = field(default_factory=list)  # and the status its filter gives ("contaminated")


def _digest(table: pa.Table) -> str:
    """A checksum of a part's rows (not its file bytes, which depend on the Parquet writer): a part edited and
    re-saved, even with its metadata copied, does not match it."""
    sink = pa.BufferOutputStream()
    plain = table.replace_schema_metadata(None).combine_chunks()
    with pa.ipc.new_stream(sink, plain.schema) as writer:
        writer.write_table(plain)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def part_name(shard_key: str) -> str:
    return f"part-{shard_key}.parquet"


class ScoreDataset:
    """A score dataset directory, being written or complete. Picklable: workers that read shards save
    their own parts."""

    def __init__(self, directory: str | os.PathLike, files: Sequence[str] = (), run: dict[str, Any] | None = None,
                 unscorable_reason: str = "unscorable") -> None:
        self.directory = as_path(directory)  # a local directory, or a prefix on a store (parts uploaded whole)
        self.files = [str(f) for f in files]  # input paths, as the "file" column and exclusion examples say them
        self.run = run or {}
        self.key = fingerprint(self.run)
        # what a part's rows depend on: the run without how it was read, so parts are the same bytes on every engine
        self.content_key = fingerprint({k: v for k, v in self.run.items() if k != "reader"})
        self.unscorable_reason = unscorable_reason
        self.resumed = 0
        self.manifest: dict[str, Any] = {}

    # ---- opening -------------------------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: str | os.PathLike, files: Sequence[str], run: dict[str, Any], *, resume: bool,
               overwrite: bool, unscorable_reason: str = "unscorable", keep: bool = False) -> ScoreDataset:
        """The dataset this run writes. Parts of an earlier run with the same fingerprint are reused with
        ``resume``; without it they are an error (unless ``overwrite``): hours of scoring are not thrown
        away because a flag was forgotten. A complete dataset (``keep``: one the user asked for) is
        replaced only with ``overwrite``."""
        dataset = cls(directory, files, run, unscorable_reason)
        root = dataset.directory
        if root.exists() and not root.is_dir():
            raise ZipfitError(f"{root} exists and is not a directory: a score dataset is a directory")
        if not root.exists():
            if resume:
                log.info("--resume: nothing at %s, starting from the beginning", root)
            return dataset
        complete = (root / MANIFEST_FILE).is_file()
        same = dataset._recorded_key() == dataset.key
        if complete and resume and same and not overwrite:
            # this run's own result, finished before a kill: its parts are reused and the manifest written again
            (root / MANIFEST_FILE).unlink()
            complete = False
        if complete and keep and not overwrite:
            raise ZipfitError(f"{root} already holds a score dataset; pass --overwrite to replace it")
        done = dataset.done()
        if complete or not resume:
            if done and not overwrite and not complete:
                raise ZipfitError(f"{root} holds {done} finished shards of an interrupted run: pass --resume to "
                                  "continue it, or --overwrite to start over")
            dataset.clear()
        elif not same:
            if done:
                log.warning("%s: shards of a run with other inputs or parameters are not reused", root)
            dataset.clear()
        elif done:
            log.info("resuming: %d shards already scored in %s", done, root)
        for leftover in root.glob(".*.tmp-*"):  # parts a killed run was writing; the caller holds the lock
            leftover.unlink(missing_ok=True)
        return dataset

    @classmethod
    def open(cls, directory: str | os.PathLike) -> ScoreDataset:
        """A complete dataset, for selecting from it."""
        root = as_path(directory)
        if not root.is_dir():
            raise ZipfitError(f"--scores {root}: no such directory (write one with `zipfit score ... --out DIR` or "
                              "`zipfit select ... --scores-out DIR`)")
        path = root / MANIFEST_FILE
        if not path.is_file():
            raise ZipfitError(f"--scores {root}: not a complete score dataset (no {MANIFEST_FILE}); an interrupted "
                              "`zipfit score` finishes with the same command and --resume")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorruptFileError(f"--scores {root}: cannot read {MANIFEST_FILE} ({exc})") from None
        if manifest.get("format") != FORMAT:
            raise ZipfitError(f"--scores {root}: format {manifest.get('format')!r}, expected {FORMAT!r}")
        dataset = cls(root, [f.get("name", f["path"]) for f in manifest["inputs"]["sources"]], manifest["run"],
                      manifest["method"].get("unscorable_reason", "unscorable"))
        dataset.manifest = manifest
        return dataset

    def _recorded_key(self) -> str | None:
        try:
            return fingerprint(json.loads((self.directory / RUN_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def done(self) -> int:
        if not self.directory.is_dir():
            return 0
        return sum(1 for p in self.directory.glob("part-*.parquet"))

    def clear(self) -> None:
        """Remove the manifest first: a directory being replaced never looks complete."""
        (self.directory / MANIFEST_FILE).unlink(missing_ok=True)
        self.remove()

    def remove(self) -> None:
        if isinstance(self.directory, RemotePath):
            try:
                self.directory.rmtree()
            except OSError as exc:
                log.warning("%s: could not remove it (%s)", self.directory, exc)
            return
        shutil.rmtree(self.directory, ignore_errors=True)

    # ---- parts ---------------------------------------------------------------------------------------------

    def load(self, shard_key: str) -> ShardScores | None:
        """The saved part of a shard; None when there is none, or when the file there is damaged or belongs to
        another shard (copied, swapped): then it is removed, said in one line, and the shard is scored again."""
        path = self.directory / part_name(shard_key)
        try:
            table = self.read_part(shard_key)
        except FileNotFoundError:
            return None
        except ValueError as exc:
            log.warning("%s: %s; scoring that shard again", path, exc)
            path.unlink(missing_ok=True)
            return None
        return self.part_from_table(table)

    def read_part(self, shard_key: str) -> pa.Table:
        """A part's table, checked: readable, with its page checksums, and holding the rows of ``shard_key``."""
        path = self.directory / part_name(shard_key)
        try:
            source = pa.BufferReader(path.read_bytes()) if isinstance(path, RemotePath) else path
            table = pq.read_table(source, page_checksum_verification=True)
            meta = table.schema.metadata or {}
            table = table.replace_schema_metadata(None).cast(SCHEMA)
        except FileNotFoundError:
            raise
        except (OSError, pa.ArrowException, ValueError, KeyError) as exc:
            raise ValueError(f"not a readable score part ({str(exc).splitlines()[0][:200]})") from None
        if meta.get(b"zipfit.run", b"").decode() != self.content_key:
            raise ValueError("it was written by another run (other inputs or parameters)")
        if meta.get(b"zipfit.shard", b"").decode() != shard_key:
            raise ValueError(f"the part of shard {meta.get(b'zipfit.shard', b'?').decode()}, not {shard_key}")
        file = int(shard_key.split("-")[0])
        if file >= len(self.files) or meta.get(b"zipfit.file", b"").decode() != self.files[file]:
            raise ValueError(f"the part of {meta.get(b'zipfit.file', b'?').decode()}, not of this shard's file")
        if meta.get(b"zipfit.rows", b"").decode() != str(table.num_rows):
            raise ValueError("its row count does not match the one it was written with")
        if meta.get(b"zipfit.digest", b"").decode() != _digest(table):
            raise ValueError("its rows are not the ones it was written with (checksum mismatch)")
        rows_per_shard = int(self.run.get("shard_rows", 0) or 0)
        if rows_per_shard and table.num_rows:
            file, number = (int(x) for x in shard_key.split("-"))
            rows = table.column("row").to_numpy()
            lo, hi = number * rows_per_shard + 1, (number + 1) * rows_per_shard
            if rows.min() < lo or rows.max() > hi or table.column("file").to_pylist()[0] != self.files[file]:
                raise ValueError(f"its rows are not rows {lo:,}-{hi:,} of {self.files[file]}")
        return table

    def part_from_table(self, table: pa.Table) -> ShardScores:
        columns = table.to_pydict()
        status, reason, detail, rows = columns["status"], columns["reason"], columns["detail"], columns["row"]
        files = columns["file"]
        eligible = [i for i, s in enumerate(status) if s not in (EXCLUDED, FILTERED)]
        exclusions, contamination = Exclusions(), Exclusions()
        exclusions.n_records = len(status)
        excluded, contaminated, reasons, statuses = [], [], [], []
        position = 0
        for i, s in enumerate(status):
            if s in (EXCLUDED, FILTERED):
                exclusions.add(reason[i], files[i], rows[i], detail[i] or "")
                excluded.append((rows[i], reason[i], detail[i] or ""))
                continue
            if s not in (SCORED, UNSCORABLE):  # dropped by a map-stage filter
                contamination.add(reason[i], files[i], rows[i])
                contaminated.append(position)
                reasons.append(reason[i])
                statuses.append(s)
            position += 1
        take = np.array(eligible, dtype=np.int64)

        def numbers(name: str, dtype: type) -> np.ndarray:
            values = table.column(name).to_numpy(zero_copy_only=False)
            return np.asarray(values[take], dtype=dtype) if len(take) else np.zeros(0, dtype=dtype)

        return ShardScores(numbers("score", np.float64), numbers("n_tokens", np.uint32), numbers("n_chars", np.uint32),
                           exclusions, np.array(contaminated, dtype=np.int64), contamination,
                           numbers("row", np.int64), [columns["id"][i] for i in eligible], excluded, reasons,
                           statuses)

    def save(self, shard_key: str, file: int, part: ShardScores) -> None:
        """Write one finished shard (the directory and its run record are created by the first save: a run
        that fails early leaves nothing)."""
        if not (self.directory / RUN_FILE).is_file():
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomic(self.directory / RUN_FILE,
                         json.dumps(self.run, sort_keys=True, default=str, indent=1).encode("utf-8"))
        buffer = pa.BufferOutputStream()
        table = self.part_table(file, part)
        # what the part belongs to travels with it, so a copied or swapped file is recognised on --resume
        table = table.replace_schema_metadata({
            "zipfit.run": self.content_key, "zipfit.file": self.files[file], "zipfit.shard": shard_key,
            "zipfit.rows": str(table.num_rows), "zipfit.digest": _digest(table)})
        pq.write_table(table, buffer, compression="zstd", write_page_checksum=True)
        write_atomic(self.directory / part_name(shard_key), buffer.getvalue().to_pybytes())
        failpoints.point("part_saved")

    def part_table(self, file: int, part: ShardScores) -> pa.Table:
        """The shard's rows in input order: eligible documents and excluded records interleaved by row."""
        n = len(part.scores)
        status = [SCORED] * n
        reason: list[str | None] = [None] * n
        statuses = part.statuses or [CONTAMINATED] * len(part.reasons)
        for position, why, flagged in zip(part.contaminated.tolist(), part.reasons, statuses, strict=True):
            status[position], reason[position] = flagged, why
        scores = np.asarray(part.scores, dtype=np.float64)
        for position in np.flatnonzero(~np.isfinite(scores)).tolist():
            if status[position] == SCORED:
                status[position], reason[position] = UNSCORABLE, self.unscorable_reason
        row = np.asarray(part.rows, dtype=np.int64).tolist()
        ids = list(part.ids) if part.ids else [None] * n
        records = [(r, 0, i) for i, r in enumerate(row)] + [(r, 1, j) for j, (r, _, _) in enumerate(part.excluded)]
        records.sort()
        out: dict[str, list] = {name: [] for name in SCHEMA.names}
        path = self.files[file]
        for r, kind, i in records:
            out["file"].append(path)
            out["row"].append(r)
            if kind == 0:
                out["id"].append(ids[i])
                out["score"].append(float(scores[i]))
                out["n_tokens"].append(int(part.n_tokens[i]))
                out["n_chars"].append(int(part.n_chars[i]))
                out["status"].append(status[i])
                out["reason"].append(reason[i])
                out["detail"].append(None)
            else:
                _, why, detail = part.excluded[i]
                out["id"].append(None)
                out["score"].append(None)
                out["n_tokens"].append(None)
                out["n_chars"].append(None)
                out["status"].append(FILTERED if why == FILTERED else EXCLUDED)
                out["reason"].append(why)
                out["detail"].append(detail or None)
        return pa.table(out, schema=SCHEMA)

    def part_keys(self) -> list[str]:
        """The shard keys of the parts present, in input order."""
        return sorted(p.name[len("part-"):-len(".parquet")] for p in self.directory.glob("part-*.parquet"))

    def finish(self, manifest: dict[str, Any]) -> None:
        """Write the manifest: from now on the dataset is complete."""
        self.manifest = {"format": FORMAT, **manifest, "run": self.run}
        write_atomic(self.directory / MANIFEST_FILE,
                     json.dumps(self.manifest, indent=1, sort_keys=False, default=str).encode("utf-8"))


def write_atomic(path: Path | RemotePath, data: bytes) -> None:
    """``data`` at ``path``, whole or not at all (on a store: one upload); a failed write (a full disk) leaves no
    temp file behind."""
    with reported(f"writing {path}"), atomic_output(path) as tmp:
        tmp.write_bytes(data)
