"""One live run per output: a lock file beside the output, held with ``flock`` for the whole run.

The kernel drops an ``flock`` when its holder dies, however it dies, so a lock left by a killed run is never
mistaken for a live one: the next run takes it over and says whose it was. The file holds who took it (PID,
host, start time, command), so a run that finds the lock held names the live run instead of guessing.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from zipfit.errors import BusyError, from_os_error
from zipfit.io.storage import RemotePath, as_path

log = logging.getLogger("zipfit")

LOCK_SUFFIX = ".zipfit-lock"


def lock_path(out: str | os.PathLike) -> Path:
    """The lock of an output: beside it, so that it lives on the output's own file system."""
    out = Path(out)
    return out.with_name(f".{out.name}{LOCK_SUFFIX}")


def _describe(holder: dict[str, Any]) -> str:
    return (f"PID {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"
            + (f": {holder['command']}" if holder.get("command") else ""))


def _read(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 1 << 16)
        holder = json.loads(data.decode("utf-8")) if data else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


class OutputLock:
    """Held from ``acquire`` to ``release`` (or the process's death). Re-entrant per path within a process is not
    needed: one run writes one set of outputs."""

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = as_path(out)
        self.remote = isinstance(self.out, RemotePath)
        self.path = None if self.remote else lock_path(self.out)
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        if self.remote:
            # an object store has no flock: the one-run-per-output promise is local-only (docs/reliability.md)
            log.debug("%s: outputs on a store are not locked", self.out)
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise from_os_error(exc, f"{self.out}: creating the lock {self.path}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                raise BusyError(f"{self.out} is being written by another run ({_describe(holder)}); wait for it to "
                                f"finish or stop it (its lock: {self.path})") from None
            except OSError as exc:
                os.close(fd)
                raise from_os_error(exc, f"{self.out}: locking {self.path}") from None
            # the holder we waited on may have removed the file after we opened it: lock the file that is there
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = _read(fd)
        if previous.get("pid") is not None:
            log.warning("%s: took over the lock of a run that ended without releasing it (%s)", self.out,
                        _describe(previous))
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(sys.argv)[:500]}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode("utf-8"), 0)
        except OSError as exc:  # a full disk: remove the lock we hold, or it would outlive this failed run
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(fd)
            raise from_os_error(exc, f"{self.out}: writing the lock {self.path}") from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)  # while still held: a waiter re-checks the inode and retries
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
