"""Processes an engine starts die with the driver (the process that runs zipfit), even a SIGKILLed one.

Two mechanisms, both Linux only (elsewhere they do nothing):

- ``die_with_parent``: a worker asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``).
  The local engine's workers call it first thing; multiprocessing's resource tracker then sees its pipe
  close and exits as well. The kernel sends the signal when the parent *thread* that started the worker
  ends: the pool starts its workers in the thread that submits work (``LocalEngine.map``'s), so a
  ``LocalEngine`` must not outlive the thread that first maps with it (the API and the CLI create and
  close it in one call).
- ``Reaper``: for processes zipfit does not start itself, such as those of a local Ray cluster (Ray's
  raylet starts agents and workers that are not the driver's children). A small process holds a pipe
  from the driver and kills the watched processes and all their descendants when the pipe closes, which
  the kernel does when the driver dies, however it dies. See ``zipfit/engines/_reaper.py``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

log = logging.getLogger("zipfit")

_PR_SET_PDEATHSIG = 1
LINUX = sys.platform.startswith("linux")


def die_with_parent(parent: int) -> bool:
    """Have the kernel SIGKILL this process when its parent (``parent``, the PID it expects) dies.

    If the parent is already gone (it died before this was called) the process kills itself now. Returns
    whether the request took effect (False where not on Linux).
    """
    if not LINUX:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died before the request: nobody would send the signal
        os.kill(os.getpid(), signal.SIGKILL)
    return True


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the name (which may hold spaces and parentheses), or None."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes().decode("ascii", "replace")
    except OSError:
        return None
    return data[data.rindex(")") + 2 :].split()


def _start_time(pid: int) -> int | None:
    """A process's start time (clock ticks after boot): with its PID, it names one process, never a successor."""
    fields = _stat(pid)
    return int(fields[19]) if fields is not None else None


def children(pid: int | None = None) -> set[int]:
    """The PIDs of a process's children (this process's by default); empty where there is no /proc."""
    pid = os.getpid() if pid is None else pid
    out: set[int] = set()
    if not LINUX:
        return out
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if name.isdigit():
                fields = _stat(int(name))
                if fields is not None and int(fields[1]) == pid:
                    out.add(int(name))
    return out


class Reaper:
    """A process that kills the processes given to ``watch`` (and their descendants) once this process
    dies or calls ``close``. On other systems than Linux it does nothing."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe: IO[bytes] | None = None
        if not LINUX:
            return
        script = Path(__file__).with_name("_reaper.py")
        try:
            # -I: the script needs nothing but the standard library, whatever the environment says;
            # close_fds (the default) and a non-inheritable pipe: only this process holds the write end
            self._proc = subprocess.Popen([sys.executable, "-I", str(script)], stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as exc:  # no reaper is no reason to fail a run
            log.debug("could not start zipfit's reaper: %s", exc)
            return
        self._pipe = self._proc.stdin

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def watch(self, pids: Iterable[int]) -> None:
        """Kill these processes and their descendants when this process dies (or at ``close``)."""
        lines = []
        for pid in pids:
            start = _start_time(pid)
            if start is not None and pid != self.pid:
                lines.append(f"watch {pid} {start}")
        self._send(lines)

    def adopt(self) -> None:
        """Until ``stop_adopting``, watch every child this process starts (as ``ray.init`` starts the
        cluster's): a driver killed while it starts them leaves none behind either."""
        start = _start_time(os.getpid())
        if start is not None:
            self._send([f"adopt {os.getpid()} {start}"])

    def stop_adopting(self) -> None:
        self._send(["stop"])

    def _send(self, lines: Iterable[str]) -> None:
        if self._pipe is None:
            return
        try:
            self._pipe.write("".join(f"{line}\n" for line in lines).encode())
            self._pipe.flush()
        except OSError as exc:
            log.debug("zipfit's reaper is gone: %s", exc)

    def close(self, timeout: float = 10.0) -> None:
        """Kill whatever of the watched processes is left, and wait (at most ``timeout`` s) for that."""
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                self._pipe.close()
            self._pipe = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout)
            self._proc = None


__all__ = ["Reaper", "children", "die_with_parent"]
