"""Engines own parallelism and progress; they never know which method they run.

An engine is one class implementing ``zipfit.engines.base.Engine`` plus one ``register_engine`` line: a
factory ``(workers, *, address, progress) -> Engine``, where ``address`` is the cluster to join (Ray's).
"""

from __future__ import annotations

from collections.abc import Callable

from zipfit.engines.base import Engine, Job
from zipfit.engines.local import LocalEngine
from zipfit.errors import ZipfitError

EngineFactory = Callable[..., Engine]
ENGINES = ("local", "ray")  # the built-in ones; engine_names() also lists registered ones


def _local(workers: int | None, *, address: str | None, progress: bool | None) -> Engine:
    if address is not None:
        raise ZipfitError("--ray-address needs --engine ray")
    return LocalEngine(workers, progress=progress)


def _ray(workers: int | None, *, address: str | None, progress: bool | None) -> Engine:
    from zipfit.engines.ray import RayEngine  # ray itself is imported only when the engine starts

    return RayEngine(workers, address=address, progress=progress)


_FACTORIES: dict[str, EngineFactory] = {"local": _local, "ray": _ray}


def register_engine(name: str, factory: EngineFactory) -> None:
    """Make an engine known by name to ``make_engine``, the API's ``engine=`` and the CLI's ``--engine``."""
    if name in _FACTORIES and _FACTORIES[name] is not factory:
        raise TypeError(f"engine name {name!r} is taken")
    _FACTORIES[name] = factory


def unregister_engine(name: str) -> None:
    if name in ENGINES:
        raise TypeError(f"{name!r} is a built-in engine")
    _FACTORIES.pop(name, None)


def engine_names() -> tuple[str, ...]:
    return tuple(_FACTORIES)


def make_engine(name: str = "local", workers: int | None = None, *, ray_address: str | None = None,
                progress: bool | None = None) -> Engine:
    """An engine by name: ``local`` (processes on this machine), ``ray`` (a Ray cluster), or a registered one."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ZipfitError(f"unknown engine {name!r}; choose one of {', '.join(_FACTORIES)}")
    return factory(workers, address=ray_address, progress=progress)


__all__ = ["ENGINES", "Engine", "Job", "LocalEngine", "engine_names", "make_engine", "register_engine",
           "unregister_engine"]
