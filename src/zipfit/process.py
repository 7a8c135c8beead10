"""Whether zipfit owns the process it runs in.

Some settings change a whole process (glibc's allocator thresholds, see ``zipfit.ncd.tune_allocator``):
zipfit may apply them only in processes it started or was started as (engine workers, the CLI), never
in a library user's own process. Engines and the CLI mark the processes they own; a method checks
``owned()`` before changing process-wide settings. A neutral module, so engines need not know methods.
"""

from __future__ import annotations

_owned = False


def mark_owned() -> None:
    """Declare this process zipfit's (an engine worker, the CLI): methods may tune it for throughput."""
    global _owned
    _owned = True


def owned() -> bool:
    """Whether this process was marked as zipfit's own."""
    return _owned


__all__ = ["mark_owned", "owned"]
