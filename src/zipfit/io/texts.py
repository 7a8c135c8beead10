"""Small inputs read whole: target examples, excluded documents, a harness's training and eval sets.

The one reader of such sets, so every caller skips and reports the same records (malformed, missing
field, filtered out) and the manifest describes them the same way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from zipfit.io.corpus import Corpus
from zipfit.io.textspec import TextSpec

log = logging.getLogger("zipfit")

PathsLike = str | os.PathLike | Sequence[str | os.PathLike]


def as_paths(value: PathsLike) -> list[str | os.PathLike]:
    """One path or many, as a list (a string is one path, not a sequence of characters)."""
    return [value] if isinstance(value, (str, os.PathLike)) else list(value)


def spec_dict(spec: TextSpec) -> dict[str, Any]:
    """A text spec as the manifest records it."""
    return {"text_field": spec.field, "template": spec.template, "where": [list(p) for p in spec.where]}


def read_texts(paths: PathsLike, spec: TextSpec, role: str,
               filter_name: str | None = None) -> tuple[list[str], dict[str, Any], Corpus]:
    """Every eligible text of a small input set, in input order, read whole.

    Records that are skipped are counted and logged as one warning naming ``role`` ("target",
    "eval", ...). Returns the texts, a description for the manifest (files, spec, count, exclusions)
    and the corpus, whose exclusions a caller may merge into its own counts.
    """
    corpus = Corpus(as_paths(paths), spec, role=role)
    texts = [doc.text for doc in corpus.documents()]
    corpus.exclusions.report(log, role, filter_name or (f"--{role}-where" if role != "source" else "--where"))
    info = {"files": corpus.describe(), "spec": spec_dict(spec), "count": len(texts),
            "exclusions": corpus.exclusions.as_dict()}
    return texts, info, corpus


__all__ = ["PathsLike", "as_paths", "read_texts", "spec_dict"]
