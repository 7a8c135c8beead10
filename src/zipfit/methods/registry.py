"""The names methods are known by, and building one from a name and validated parameters.

A method is registered once (``register(MyMethod)`` in ``zipfit/methods/__init__.py``); from then on
the CLI offers it and its parameters, and the API builds it by name. Registration checks the
declarations against ``__init__`` and against the other methods: a parameter name shared by several
methods (codec, level, seed, model, ...) is one CLI option, so it must mean the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from zipfit.errors import ZipfitError
from zipfit.methods.base import Method, Param

_REGISTRY: dict[str, type[Method]] = {}
REGISTRY: Mapping[str, type[Method]] = MappingProxyType(_REGISTRY)

M = TypeVar("M", bound=type[Method])


@dataclass(frozen=True)
class SharedParam:
    """A parameter name as the CLI sees it: one declaration and the methods (registry order) that take it."""

    param: Param
    methods: tuple[str, ...]


def register(cls: M) -> M:
    """Make a method known by its ``name``; usable as a class decorator. Declarations are checked here."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"only Method subclasses can be registered, got {cls!r}")
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs its own name to be registered")
    if _REGISTRY.get(name, cls) is not cls:
        raise TypeError(f"method name {name!r} is taken by {_REGISTRY[name].__name__}")
    errors = cls.declaration_errors()
    if errors:
        raise TypeError(f"{cls.__name__}.parameters disagree with __init__: {'; '.join(errors)}")
    for param in cls.parameters:
        for other_name, other in _REGISTRY.items():
            theirs = other.parameter(param.name)
            if theirs is not None and other is not cls and not param.same_setting(theirs):
                raise TypeError(f"{cls.__name__} declares {param.name!r} unlike {other_name} does: {param} vs "
                                f"{theirs}; a shared name is one CLI option, so type, default and choices must agree")
    _REGISTRY[name] = cls
    return cls


def method_names() -> list[str]:
    """Every registered method, in registration order."""
    return list(_REGISTRY)


def method_class(name: str) -> type[Method]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ZipfitError(f"unknown method {name!r}; choose one of {', '.join(_REGISTRY)}") from None


def accepted_parameters(name: str) -> set[str]:
    """The parameter names ``name`` declares."""
    return {p.name for p in method_class(name).parameters}


def all_parameters() -> dict[str, SharedParam]:
    """Every declared parameter name, in first-declared order, with the methods that take it."""
    out: dict[str, SharedParam] = {}
    for method, cls in _REGISTRY.items():
        for param in cls.parameters:
            shared = out.get(param.name)
            out[param.name] = SharedParam(param, (method,)) if shared is None else \
                SharedParam(shared.param, (*shared.methods, method))
    return out


def _not_for(name: str, key: str) -> ZipfitError:
    flag = "--" + key.replace("_", "-")
    takers = [m for m, cls in _REGISTRY.items() if cls.parameter(key) is not None]
    if not takers:
        return ZipfitError(f"{flag} is not a parameter of any method")
    return ZipfitError(f"{flag} does not apply to --method {name}; it is a parameter of {', '.join(takers)}")


def resolve_fast(name: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``fast=True`` on a method with a cascade means that cascade: its name, and the other parameters."""
    cls = method_class(name)
    if params.get("fast") is True and cls.fast_variant is not None:
        return cls.fast_variant, {k: v for k, v in params.items() if k != "fast"}
    return name, dict(params)


def check_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` validated for method ``name``: each value by its declaration, an undeclared name refused.

    With ``fast=True`` they are validated for the method's cascade (which takes the cascade's own
    parameters), and ``fast`` is kept so that ``make_method`` builds the cascade."""
    target, rest = resolve_fast(name, params)
    cls = method_class(target)
    for key in rest:
        if cls.parameter(key) is None:
            raise _not_for(name if target == name else f"{name} --fast", key)
    checked = cls.check_params(rest)
    return {**checked, "fast": True} if target != name else checked


def make_method(name: str, params: Mapping[str, Any] | None = None, /, *, seed: int | None = None,
                **legacy: Any) -> Method:
    """The method ``name`` built from ``params``, every one validated against its declaration.

    ``seed`` is the run's seed: passed to the method if it declares one, ignored otherwise (a seed
    is a setting of the run, not of one method). A parameter the method does not declare is a
    ZipfitError.

    Deprecated form, kept until the pipeline passes a ``params`` dict: ``make_method(name,
    codec=..., level=..., seed=..., **others)`` passes the keywords the method declares, unchecked,
    and ignores the others, because callers hand every method the options of all of them.
    """
    cls = method_class(name)
    if legacy:
        if params is not None:
            raise TypeError("make_method takes a params mapping or (deprecated) keyword parameters, not both")
        name, legacy = resolve_fast(name, legacy)
        cls = method_class(name)
        given = {k: v for k, v in legacy.items() if cls.parameter(k) is not None}
        if seed is not None and cls.parameter("seed") is not None:
            given["seed"] = seed
        return cls(**given)
    checked = check_params(name, params or {})
    name, checked = resolve_fast(name, checked)
    cls = method_class(name)
    if seed is not None and cls.parameter("seed") is not None:
        if "seed" in checked and checked["seed"] != seed:
            raise ZipfitError(f"two seeds for {name}: {checked['seed']} in its parameters and {seed} for the run")
        checked["seed"] = cls.parameter("seed").check(seed)  # type: ignore[union-attr]
    return cls(**checked)
