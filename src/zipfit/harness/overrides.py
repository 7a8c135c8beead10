"""``--set KEY=VALUE``: change an experiment config's values from the command line, without editing the file.

KEY is a dotted path into the TOML document: ``train.n_layer``, ``budgets``, ``per_dataset.enabled``,
``selection.options.dsir.min_example_length``. In the ``sources`` list a source is named by its ``name`` (or its
0-based position), and ``*`` stands for every source: ``sources.*.max_docs=50``. VALUE is read as a TOML value
(``1``, ``2.5e-4``, ``true``, ``[2000, 4000]``, ``"text"``); anything that is not one is a plain string, so
``train.device=cuda`` needs no quotes. Overrides apply in order, before the config is checked, so a mistyped key
is reported like one in the file.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from zipfit.errors import ZipfitError

__all__ = ["apply_overrides", "parse_override"]


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.n_layer=1"`` -> (["train", "n_layer"], 1)."""
    key, sep, raw = text.partition("=")
    path = key.strip().split(".")
    if not sep or not all(part.strip() for part in path):
        raise ZipfitError(f"--set {text!r}: use KEY=VALUE with a dotted KEY, e.g. train.n_layer=2 or budgets=[1000]")
    return [part.strip() for part in path], _value(raw.strip())


def toml_module() -> Any:
    """tomllib (Python 3.11+), or its backport tomli on 3.10."""
    try:
        import tomllib
    except ModuleNotFoundError:
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ZipfitError("reading experiment configs needs Python 3.11+ or the tomli package") from None
    return tomllib


def _value(raw: str) -> Any:
    toml = toml_module()
    try:
        return toml.loads(f"v = {raw}")["v"]
    except toml.TOMLDecodeError:
        return raw  # a bare word such as cuda or bf16


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of the raw config (the parsed TOML) with each ``KEY=VALUE`` of `overrides` set, in order."""
    out = copy.deepcopy(dict(raw))
    for text in overrides:
        path, value = parse_override(text)
        _set(out, path, value, text)
    return out


def _set(table: dict[str, Any], path: list[str], value: Any, text: str) -> None:
    head, rest = path[0], path[1:]
    if head == "sources" and rest:
        sources = table.get("sources")
        if not isinstance(sources, list):
            raise ZipfitError(f"--set {text!r}: the config has no [[sources]] list")
        for source in _pick_sources(sources, rest[0], text):
            if not rest[1:]:
                raise ZipfitError(f"--set {text!r}: name a key of the source, e.g. sources.{rest[0]}.max_docs=50")
            _set(source, rest[1:], value, text)
        return
    if not rest:
        table[head] = value
        return
    inner = table.setdefault(head, {})
    if not isinstance(inner, dict):
        raise ZipfitError(f"--set {text!r}: {head} is a {type(inner).__name__}, not a table")
    _set(inner, rest, value, text)


def _pick_sources(sources: list[Any], which: str, text: str) -> list[dict[str, Any]]:
    if which == "*":
        picked = sources
    elif which.isdigit():
        if int(which) >= len(sources):
            raise ZipfitError(f"--set {text!r}: there are {len(sources)} sources (0 to {len(sources) - 1})")
        picked = [sources[int(which)]]
    else:
        picked = [s for s in sources if isinstance(s, Mapping) and s.get("name") == which]
        if not picked:
            names = [str(s.get("name")) for s in sources if isinstance(s, Mapping)]
            raise ZipfitError(f"--set {text!r}: no source named {which!r}; sources: {', '.join(names)}")
    if not all(isinstance(s, dict) for s in picked):
        raise ZipfitError(f"--set {text!r}: every [[sources]] entry must be a table")
    return picked
