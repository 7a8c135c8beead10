"""Engines own parallelism and progress; they never know which method they run."""

from __future__ import annotations

from zipfit.engines.base import Engine, Job
from zipfit.engines.local import LocalEngine
from zipfit.errors import ZipfitError

ENGINES = ("local", "ray")


def make_engine(name: str = "local", workers: int | None = None, *, ray_address: str | None = None,
                progress: bool | None = None) -> Engine:
    """An engine by name: ``local`` (processes on this machine) or ``ray`` (a Ray cluster)."""
    if name == "local":
        if ray_address is not None:
            raise ZipfitError("--ray-address needs --engine ray")
        return LocalEngine(workers, progress=progress)
    if name == "ray":
        from zipfit.engines.ray import RayEngine  # ray itself is imported only when the engine starts

        return RayEngine(workers, address=ray_address, progress=progress)
    raise ZipfitError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


__all__ = ["ENGINES", "Engine", "Job", "LocalEngine", "make_engine"]
