"""Step records that let an interrupted experiment continue: a step whose outputs exist and whose parameters
hash to the recorded value is not run again.

A record is written only after the step's outputs are complete (they are written atomically), so a crash
leaves either a complete step with its record or a step that is run again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zipfit.errors import ZipfitError
from zipfit.fingerprint import fingerprint
from zipfit.io import write_json


@dataclass
class StepRecord:
    name: str
    hash: str
    outputs: list[str]  # relative to the experiment directory
    data: dict[str, Any]  # what the step produced that later steps and the report need
    seconds: float  # compute time when the step ran (also when it is reused later)
    cached: bool = False  # reused in this invocation


class StepCache:
    """Records under ``<out>/steps/``; ``overwrite`` allows replacing a step whose parameters changed."""

    def __init__(self, root: Path, *, overwrite: bool = False) -> None:
        self.root = root
        self.dir = root / "steps"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.overwrite = overwrite
        self.records: dict[str, StepRecord] = {}

    def _path(self, name: str) -> Path:
        return self.dir / (name.replace("/", "_") + ".json")

    def lookup(self, name: str, params: Mapping[str, Any]) -> StepRecord | None:
        """The step's record if it can be reused; raises if its outputs are stale and ``overwrite`` is off."""
        path = self._path(name)
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            record = StepRecord(name, raw["hash"], list(raw["outputs"]), dict(raw["data"]), float(raw["seconds"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # an unreadable record is as good as none: the step runs again
        if record.hash != fingerprint(params):
            if not self.overwrite:
                raise ZipfitError(f"{self.root}: step {name} was run with other parameters; pass --overwrite to "
                                  "replace its outputs, or choose another --out")
            return None
        if not all((self.root / rel).exists() for rel in record.outputs):
            return None
        record.cached = True
        return record

    def run(self, name: str, params: Mapping[str, Any],
            compute: Callable[[], tuple[dict[str, Any], Sequence[Path]]]) -> StepRecord:
        """Reuse the step, or run ``compute`` (it writes its outputs and returns the step's data and the output
        paths) and record it."""
        found = self.lookup(name, params)
        if found is not None:
            self.records[name] = found
            return found
        start = time.perf_counter()
        data, outputs = compute()
        seconds = time.perf_counter() - start
        rel = [str(Path(p).resolve().relative_to(self.root.resolve())) for p in outputs]
        missing = [r for r in rel if not (self.root / r).exists()]
        if missing:
            raise RuntimeError(f"step {name} did not write {', '.join(missing)}")
        record = StepRecord(name, fingerprint(params), rel, data, round(seconds, 3))
        write_json(self._path(name), {"name": name, "hash": record.hash, "params": dict(params),
                                      "outputs": rel, "data": data, "seconds": record.seconds})
        self.records[name] = record
        return record
