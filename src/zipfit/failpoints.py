"""Named moments of a run where the fault-injection tests stop or kill it: the promises about kills are checked
at exact moments (between the manifest's and the output's rename, say), not at whatever moment a timer hits.

Off unless ``ZIPFIT_FAILPOINT`` is set, to ``NAME``, ``NAME:ACTION`` or ``NAME:ACTION@N`` (the N-th time the
moment is reached in this process; default 1). ACTION is ``kill`` (SIGKILL this process: nothing is cleaned up,
as after a power cut or the OOM killer) or ``stop`` (SIGSTOP: the test changes something, then continues it).
"""

from __future__ import annotations

import os
import signal

_ENV = "ZIPFIT_FAILPOINT"
_hits: dict[str, int] = {}


def point(name: str) -> None:
    spec = os.environ.get(_ENV)
    if not spec:
        return
    target, _, rest = spec.partition(":")
    if target != name:
        return
    action, _, nth = rest.partition("@")
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] != int(nth or 1):
        return
    os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)
