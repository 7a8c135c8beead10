"""Which text to score in a record: one field, or a template over several, plus equality filters."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zipfit.errors import ZipfitError

WhereLike = Mapping[str, Any] | Sequence[str] | Sequence[tuple[str, Any]] | None
_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\\\": "\\"}


def unescape(template: str | None) -> str | None:
    """Let shell users write ``"{a}\\n{b}"`` for a newline, as the examples in the docs do."""
    if template is None:
        return None
    out, i = [], 0
    while i < len(template):
        pair = template[i : i + 2]
        if pair in _ESCAPES:
            out.append(_ESCAPES[pair])
            i += 2
        else:
            out.append(template[i])
            i += 1
    return "".join(out)


def template_fields(template: str) -> tuple[str, ...]:
    """Field names used by a template, in first-use order; rejects anything but plain `{name}` references.

    Attribute/index access would let a template reach into arbitrary objects and would make the set of needed
    columns impossible to know up front (Parquet reads only the needed columns). Format specs and conversions
    (``{n:>9}``, ``{x:.2f}``, ``{t!r}``) are refused too: the fields are strings (a record whose template field
    is not a string is excluded), so they could only pad, cut or quote text, and a width such as
    ``{text:>2000000000}`` would take gigabytes for each record.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ZipfitError(f"invalid --template {template!r}: {exc}") from None
    names: list[str] = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise ZipfitError(
                f"invalid --template {template!r}: use field names such as {{text}}, not positional {{{name}}}"
            )
        if "." in name or "[" in name:
            raise ZipfitError(
                f"invalid --template {template!r}: {{{name}}} is not allowed; "
                "use plain top-level field names such as {prompt}"
            )
        if spec or conversion:
            used = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ZipfitError(
                f"invalid --template {template!r}: {used} is not allowed; a template takes plain {{field}} "
                "references to string fields only, with no format spec (:...) or conversion (!r, !s, !a)"
            )
        if name not in names:
            names.append(name)
    if not names:
        raise ZipfitError(f"invalid --template {template!r}: it uses no {{field}}, so every text would be the same")
    return tuple(names)


def parse_where(where: WhereLike) -> tuple[tuple[str, str], ...]:
    """``{"split": "valid"}``, ``["split=valid"]`` or ``[("split", "valid")]`` -> (("split", "valid"),)."""
    if not where:
        return ()
    items = where.items() if isinstance(where, Mapping) else where
    pairs = []
    for item in items:
        if isinstance(item, str):
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise ZipfitError(f"--where takes FIELD=VALUE, got {item!r}")
            pairs.append((name, value))
        else:
            name, value = item
            pairs.append((str(name), str(value)))
    return tuple(pairs)


@dataclass(frozen=True)
class TextSpec:
    """How to get the text from a record; validated on construction so mistakes surface before any reading."""

    field: str = "text"
    template: str | None = None
    where: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.template is None and not self.field:
            raise ZipfitError("the text field name is empty; pass --text-field NAME")
        if self.template is not None:
            template_fields(self.template)
        where = tuple(self.where)
        for item in where:
            if len(item) != 2 or not isinstance(item[0], str) or not isinstance(item[1], str) or not item[0]:
                raise ZipfitError(f"invalid --where {item!r}: expected FIELD=VALUE")
        object.__setattr__(self, "where", tuple((f, v) for f, v in where))

    @property
    def text_fields(self) -> tuple[str, ...]:
        """Fields the text is built from."""
        return template_fields(self.template) if self.template is not None else (self.field,)

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field a record must have: text fields, then where-filter fields (no duplicates)."""
        out = list(self.text_fields)
        for f, _ in self.where:
            if f not in out:
                out.append(f)
        return tuple(out)

    def passes(self, record: Mapping[str, Any]) -> bool:
        """Whether a record passes every where-filter (the caller has checked the fields exist)."""
        return all(str(record[f]) == v for f, v in self.where)

    def describe(self) -> str:
        """How the text is chosen, in CLI terms, for error messages and manifests."""
        what = f"--template {self.template!r}" if self.template is not None else f"--text-field {self.field!r}"
        for f, v in self.where:
            what += f" --where {f}={v}"
        return what
