"""Engines own parallelism and progress; they never know which method they run."""

from zipfit.engines.local import LocalEngine

__all__ = ["LocalEngine"]
