"""A finished run's inputs, read again from the paths its manifest records: the sources as it read them, and its
target examples. None where they cannot be (held in memory by the run, moved, changed)."""

from __future__ import annotations

import logging
from typing import Any

from zipfit.errors import ZipfitError
from zipfit.io.corpus import Corpus
from zipfit.io.sources import Source
from zipfit.io.texts import read_texts
from zipfit.io.textspec import TextSpec

log = logging.getLogger("zipfit")


def _spec(block: dict[str, Any]) -> TextSpec:
    return TextSpec(field=block.get("text_field") or "text", template=block.get("template"),
                    where=tuple(tuple(p) for p in block.get("where", [])))


def source_corpus(manifest: dict[str, Any]) -> Corpus | None:
    """The run's sources, read as it read them; None where they cannot be (in memory, moved, changed)."""
    sources = manifest["inputs"]["sources"]
    if any("name" in f for f in sources):
        return None
    params = manifest["parameters"]
    if "per_source" in params:
        inputs: list[Any] = [Source(p["path"], text_field=p["text_field"] if p["template"] is None else None,
                                    template=p["template"], where=p["where"]) for p in params["per_source"]]
    else:
        inputs = [f["path"] for f in sources]
    try:
        return Corpus(inputs, _spec(params["source"]), role="source")
    except (ZipfitError, OSError) as exc:
        log.warning("report: the sources cannot be read (%s); the examples are shown without their text", exc)
        return None


def recorded_targets(manifest: dict[str, Any]) -> list[str] | None:
    """The run's target examples, read again from the files its manifest names; None where they cannot be."""
    target = manifest["inputs"].get("target") or {}
    files = [f["path"] for f in target.get("files", []) if "name" not in f]
    if not files or len(files) != len(target.get("files", [])):
        return None
    try:
        texts, _, _ = read_texts(files, _spec(target.get("spec", {})), "target")
    except (ZipfitError, OSError) as exc:
        log.warning("report: the targets cannot be read (%s); no target coverage", exc)
        return None
    return texts
