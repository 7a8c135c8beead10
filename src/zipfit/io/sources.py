"""One source with its own reading options, so one run can mix inputs whose text lives in different fields.

``Source("stack/*.jsonl.gz", text_field="content")`` in Python, ``--source 'stack/*.jsonl.gz' text_field=content``
on the command line. Options a source leaves out come from the run's (``--text-field``, ``--template``,
``--where``): a source that sets ``template`` or ``text_field`` sets how its text is built, and one that sets
``where`` replaces the run's filters for its records.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zipfit.errors import ZipfitError
from zipfit.io.textspec import TextSpec, parse_where, unescape

KEYS = ("text_field", "template", "where")


@dataclass(frozen=True)
class Source:
    """A path or glob and how to read its records."""

    path: str | os.PathLike
    text_field: str | None = None
    template: str | None = None
    where: tuple[tuple[str, str], ...] | Mapping[str, Any] | Sequence[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, (str, os.PathLike)):
            raise ZipfitError(f"Source path must be a path or glob, not {type(self.path).__name__}")
        if self.text_field is not None and self.template is not None:
            raise ZipfitError(f"source {os.fspath(self.path)}: give text_field or template, not both")
        if self.where is not None:
            object.__setattr__(self, "where", parse_where(self.where))
        self.spec(TextSpec())  # a bad template or filter is an error now, not when the source is read

    def spec(self, default: TextSpec) -> TextSpec:
        """This source's text spec: its own options over the run's ``default``."""
        field, template = default.field, default.template
        if self.text_field is not None:
            field, template = self.text_field, None
        elif self.template is not None:
            template = self.template
        where = default.where if self.where is None else self.where
        return dataclasses.replace(default, field=field, template=template, where=where)


def parse_source(tokens: Sequence[str]) -> Source:
    """``["data/b.jsonl", "text_field=contents", "where=lang=py"]`` (the CLI's ``--source``) -> a Source."""
    if not tokens:
        raise ZipfitError("--source takes a path or glob, then KEY=VALUE options")
    path, options = tokens[0], tokens[1:]
    text_field = template = None
    where: list[str] = []
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or key not in KEYS:
            raise ZipfitError(f"--source {path}: {item!r} is not one of {', '.join(k + '=...' for k in KEYS)} "
                              "(--source takes every word up to the next option: give plain sources before it)")
        if key == "where":
            where.append(value)
        elif key == "text_field":
            text_field = value
        else:
            template = unescape(value)
    return Source(path, text_field=text_field, template=template, where=where or None)
