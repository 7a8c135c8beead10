"""The reaper: a small process that kills what a driver started once the driver is gone.

Run as a script (``python -I _reaper.py``, standard library only: it never imports zipfit) by
``zipfit.engines.fate.Reaper``. Its stdin is a pipe from the driver, one command a line:

- ``watch PID STARTTIME``: watch that process (and its descendants);
- ``adopt PID STARTTIME``: until ``stop``, also watch every child that process starts (the driver, while
  ``ray.init`` starts the cluster's processes: a driver killed during the start-up leaves nothing either);
- ``stop``: adopt no more.

While the pipe is open the reaper records every descendant of the watched processes (Ray's raylet starts
agents and workers of its own): ten times a second while adopting, once a second after. It also notes the
Ray session directories that their command lines name. When the pipe reaches end of file (the driver
closed it, exited, or was killed, even by SIGKILL) the reaper stops (SIGSTOP) every recorded process still
alive, so that none can start another, records the descendants of the stopped ones, then kills them all
(SIGKILL) and exits.

A process whose parent died before the reaper recorded it (an agent the raylet started a moment before the
driver was killed: the raylet dies with the driver) is found another way: Ray's processes name the session
directory in their arguments, and keep their log files open there once they have renamed themselves, so a
process started after the reaper, named as Ray's (``ray::...``, or a program under a ``ray`` directory),
with an argument or an open file in a noted session directory, is the cluster's too.

A process is known by its PID and its start time, so a PID reused by an unrelated process is never
touched. Linux only (it reads /proc).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

POLL_S = 1.0  # how often descendants are recorded (Ray's later workers die with their raylet anyway)
ADOPT_POLL_S = 0.1  # the same while the driver starts a cluster
SWEEP_S = 5.0  # at most this long for the final sweep
SESSION_FLAGS = ("--session-dir=", "--session_dir=")

Table = dict[int, tuple[int, str, int]]  # PID -> (parent PID, state, start time)


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent PID, state, start time) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()  # the name (field 2) may hold spaces and parentheses
    return int(fields[1]), fields[0], int(fields[19])


def _table() -> Table:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = _stat(int(name))
            if info is not None:
                table[int(name)] = info
    return table


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def _open_files(pid: int) -> list[str]:
    out = []
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return out


def _signal_all(pids: dict[int, int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


class Reaper:
    def __init__(self) -> None:
        me = _stat(os.getpid())
        self.me = os.getpid()
        self.since = me[2] if me is not None else 0  # this reaper's start time: the cluster starts later
        self.known: dict[int, int] = {}  # PID -> start time
        self.adopting: dict[int, int] = {}  # PID -> its start time
        self.sessions: set[str] = set()

    def alive(self, table: Table) -> dict[int, int]:
        """The known processes that still run: same start time, not a zombie."""
        return {pid: start for pid, start in self.known.items()
                if pid in table and table[pid][2] == start and table[pid][1] not in "ZX"}

    def add(self, pid: int, start: int) -> bool:
        if pid == self.me or pid in self.known:
            return False
        self.known[pid] = start
        for arg in _cmdline(pid):
            if arg.startswith(SESSION_FLAGS):
                self.sessions.add(arg.split("=", 1)[1].rstrip("/") + "/")
        return True

    def record(self, table: Table) -> None:
        """Add every descendant of a known live process, and every child an adopting process started since
        this reaper did."""
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        for parent, start in self.adopting.items():
            if parent in table and table[parent][2] == start:
                for child in children.get(parent, ()):
                    if table[child][2] >= self.since:
                        self.add(child, table[child][2])
        todo = list(self.alive(table))
        while todo:
            for child in children.get(todo.pop(), ()):
                if self.add(child, table[child][2]):
                    todo.append(child)

    def record_strays(self, table: Table) -> None:
        """Add Ray's processes started after this reaper with a file open in a known session directory."""
        if not self.sessions:
            return
        for pid, (_, state, start) in table.items():
            if start < self.since or pid in self.known or pid == self.me or state in "ZX":
                continue
            argv = _cmdline(pid)
            if not argv or not (argv[0].startswith("ray::") or any("/ray/" in arg for arg in argv)):
                continue
            # a path in a session: a log file it has open, or (before it renamed itself) an argument
            paths = [arg.split("=", 1)[-1] for arg in argv] + _open_files(pid)
            if any((path.rstrip("/") + "/").startswith(session) for path in paths for session in self.sessions):
                self.add(pid, start)

    def sweep(self) -> None:
        """Stop every known process (and any it started meanwhile), then kill them all."""
        deadline = time.monotonic() + SWEEP_S
        stopped: dict[int, int] = {}
        while time.monotonic() < deadline:  # stop all, then those found since, until no new one appears
            table = _table()
            self.record(table)
            self.record_strays(table)
            fresh = {pid: start for pid, start in self.alive(table).items() if pid not in stopped}
            if not fresh:
                break
            _signal_all(fresh, signal.SIGSTOP)
            stopped.update(fresh)
        while True:  # at least once: nothing stopped is ever left stopped
            alive = self.alive(_table())
            if not alive:
                break
            _signal_all(alive, signal.SIGKILL)
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)

    def command(self, line: str) -> bool:
        """Apply one command; whether to look at the processes now."""
        command, *args = line.split() or [""]
        if command == "watch" and len(args) == 2:
            self.add(int(args[0]), int(args[1]))
        elif command == "adopt" and len(args) == 2:
            self.adopting[int(args[0])] = int(args[1])
            return True
        elif command == "stop":
            self.adopting.clear()
        return False


def main() -> None:
    # A Ctrl-C or a hangup meant for the driver must not take the reaper first: it exits on its pipe's end.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(sig, signal.SIG_IGN)
    reaper = Reaper()
    lock = threading.Lock()
    done, wake = threading.Event(), threading.Event()

    def read() -> None:
        try:
            for line in sys.stdin:
                with lock:
                    if reaper.command(line):
                        wake.set()
        finally:
            done.set()
            wake.set()

    threading.Thread(target=read, daemon=True).start()
    while True:
        wake.wait(ADOPT_POLL_S if reaper.adopting else POLL_S)
        wake.clear()
        if done.is_set():
            break
        with lock:
            reaper.record(_table())
    with lock:
        reaper.sweep()


if __name__ == "__main__":
    main()
