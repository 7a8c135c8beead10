"""Process hygiene of real runs of the CLI, read from /proc: a local Ray cluster of zipfit's own listens on
loopback only and has usage statistics off, and a SIGKILLed driver leaves no process behind (Ray's, or the
local engine's workers and resource tracker). Linux only: the mechanisms and the observations are."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG: Linux only")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
GONE_WITHIN_S = 5.0


# --- /proc -------------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, str, int, int] | None:
    """(parent PID, state, CPU ticks used, start time) of a process, or None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes().decode("ascii", "replace")
    except OSError:
        return None
    f = data[data.rindex(")") + 2 :].split()
    return int(f[1]), f[0], int(f[11]) + int(f[12]), int(f[19])


def _table() -> dict[int, tuple[int, str, int, int]]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (info := _stat(int(name))) is not None:
            table[int(name)] = info
    return table


def _descendants(root: int, table: dict[int, tuple[int, str, int, int]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, info in table.items():
        children.setdefault(info[0], []).append(pid)
    out, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            out.add(child)
            todo.append(child)
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if b"=" in item)
    return {key: value for key, _, value in pairs}


def _listening() -> dict[int, tuple[str, str, int]]:
    """Every listening TCP socket and bound UDP socket of the machine: inode -> (protocol, address, port)."""
    out = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != ("0A" if proto.startswith("tcp") else "07"):  # TCP_LISTEN; UDP's unconnected state
                continue
            host, port = fields[1].split(":")
            raw = bytes.fromhex(host)
            if len(raw) == 4:
                address = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:  # four 32-bit words, each in host (little-endian) order
                address = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
            out[int(fields[9])] = (proto, address, int(port, 16))
    return out


def _socket_inodes(pid: int) -> set[int]:
    out = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def _alive(pid: int, start: int) -> bool:
    """Whether that process (the PID with that start time) still runs: a zombie has stopped."""
    info = _stat(pid)
    return info is not None and info[3] == start and info[1] not in "ZX"


# --- runs --------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = os.environ.copy()
    for key in ("RAY_ADDRESS", "RAY_USAGE_STATS_ENABLED"):  # zipfit's own local cluster, zipfit's defaults
        env.pop(key, None)
    return env


def _select(sources: Path, out: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "zipfit", "select", str(sources), "--target", str(EXAMPLES / "proofnet_valid.jsonl"),
            "--target-template", "{nl_statement}\n{formal_statement}", "--k", "20", "--out", str(out), *extra]
    return subprocess.Popen(args, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


class Tree:
    """Everything ever seen under a driver, polled from /proc: PIDs (with start times) and command lines."""

    def __init__(self, driver: subprocess.Popen) -> None:
        self.driver = driver
        self.seen: dict[int, int] = {}
        self.cmdlines: dict[int, str] = {}

    def poll(self) -> dict[int, tuple[int, str, int, int]]:
        table = _table()
        for pid in _descendants(self.driver.pid, table):
            self.seen.setdefault(pid, table[pid][3])
            if cmdline := _cmdline(pid):  # the latest: Ray's workers rename themselves (ray::IDLE, ray::<actor>)
                self.cmdlines[pid] = cmdline
        return table

    def named(self, text: str) -> list[int]:
        return [pid for pid, cmd in self.cmdlines.items() if text in cmd]

    def wait_for(self, ready, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            table = self.poll()
            if self.driver.poll() is not None:
                pytest.fail(f"the run ended (exit {self.driver.returncode}) before it was ready: "
                            f"{self.driver.stderr.read()[-3000:]}")
            if ready(table):
                return
            time.sleep(0.1)
        pytest.fail("the run did not get ready in time")

    def survivors(self, extra: dict[int, int] | None = None) -> dict[int, str]:
        """The processes seen (and ``extra``) still alive GONE_WITHIN_S after now, if any."""
        watched = {**self.seen, **(extra or {})}
        deadline = time.monotonic() + GONE_WITHIN_S
        while True:
            left = {pid: self.cmdlines.get(pid) or _cmdline(pid)
                    for pid, start in watched.items() if _alive(pid, start)}
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.1)

    def kill_rest(self) -> None:
        """Clean up after a failed test: kill what is still alive of the tree (ours alone: PID and start time)."""
        if self.driver.poll() is None:
            self.driver.kill()
        self.driver.wait()
        for pid, start in self.seen.items():
            if _alive(pid, start):
                os.kill(pid, signal.SIGKILL)


def _session_processes(session: str) -> dict[int, int]:
    """Every live process on the machine whose command line names the Ray session directory."""
    out = {}
    for pid, info in _table().items():
        if session in _cmdline(pid) and info[1] not in "ZX":
            out[pid] = info[3]
    return out


def _session_dir(tree: Tree) -> str:
    for pid in tree.named("gcs_server"):
        for arg in tree.cmdlines[pid].split():
            if arg.startswith(("--session-dir=", "--session_dir=")):
                return arg.partition("=")[2]
    pytest.fail(f"no session directory in the GCS server's command line: {tree.named('gcs_server')}")


@pytest.fixture()
def big_source(data_dir: Path) -> Path:
    """6,847 Python functions: scoring them on two workers takes long enough to kill a run in the middle."""
    return data_dir / "code" / "cpython311_stdlib_functions.jsonl.gz"


# --- tests -------------------------------------------------------------------------------------------


def test_a_local_ray_cluster_listens_on_loopback_only_with_usage_stats_off_and_leaves_nothing(tmp_path):
    run = _select(EXAMPLES / "source_mix.jsonl.gz", tmp_path / "out.jsonl", "--engine", "ray", "--workers", "2")
    tree = Tree(run)
    sockets: dict[int, set[tuple[str, str, int]]] = {}  # pid -> its listening sockets, over the whole run
    usage: dict[int, str | None] = {}
    try:
        while run.poll() is None:
            tree.poll()
            listening = _listening()
            for pid in [run.pid, *tree.seen]:
                sockets.setdefault(pid, set()).update(listening[i] for i in _socket_inodes(pid) if i in listening)
                if pid not in usage and (env := _environ(pid)):  # Ray's agents overwrite theirs (setproctitle)
                    usage[pid] = env.get("RAY_USAGE_STATS_ENABLED")
            time.sleep(0.2)
        assert run.returncode == 0, run.stderr.read()[-3000:]
        survivors = tree.survivors()
    finally:
        tree.kill_rest()
    assert not survivors, f"processes of a finished run still alive: {survivors}"

    def name(pid):
        return "driver" if pid == run.pid else tree.cmdlines.get(pid, "")

    listeners = {pid: s for pid, s in sockets.items() if s}
    # the observation covered Ray's servers: the GCS, the raylet, its workers, the driver
    for needed in ("gcs_server", "raylet", "ray::"):
        assert any(needed in name(pid) for pid in listeners), f"no listening socket seen in {needed}"
    assert run.pid in listeners
    exposed = {name(pid): sorted(s) for pid, s in listeners.items() if any(a not in LOOPBACK for _, a, _ in s)}
    assert not exposed, f"sockets listening beyond loopback: {exposed}"

    # Ray's head processes (the GCS, the raylet, the dashboard's API server, the monitors) start with usage
    # statistics off; the environment of a process that renamed itself (ray::...) may not be readable
    head = {name(pid): value for pid, value in usage.items() if "site-packages/ray/" in name(pid)}
    assert any("gcs_server" in n for n in head) and any("raylet" in n for n in head), head
    assert set(head.values()) == {"0"}, head


def test_a_killed_ray_driver_leaves_no_process_of_its_cluster(tmp_path, big_source):
    run = _select(big_source, tmp_path / "out.jsonl", "--text-field", "code", "--engine", "ray", "--workers", "2")
    tree = Tree(run)
    try:
        # scoring has begun when a Ray Data actor of the map pass has used a second of CPU
        def scoring(table):
            return any(pid in table and table[pid][2] >= os.sysconf("SC_CLK_TCK") for pid in tree.named("ShardScorer"))

        tree.wait_for(scoring)
        session = _session_dir(tree)
        assert tree.named("raylet") and tree.named("DashboardAgent") and tree.named("RuntimeEnvAgent")
        run.send_signal(signal.SIGKILL)
        run.wait()
        survivors = tree.survivors(_session_processes(session))
    finally:
        tree.kill_rest()
    assert not survivors, f"processes of a killed Ray driver still alive after {GONE_WITHIN_S} s: {survivors}"
    assert not _session_processes(session)


def test_a_killed_local_driver_leaves_no_worker_nor_resource_tracker(tmp_path, big_source):
    run = _select(big_source, tmp_path / "out.jsonl", "--text-field", "code", "--engine", "local", "--workers", "2")
    tree = Tree(run)
    try:
        def scoring(table):  # both workers have used a second of CPU between them
            workers = [pid for pid in tree.named("multiprocessing.spawn") if pid in table]
            return len(workers) == 2 and sum(table[pid][2] for pid in workers) >= os.sysconf("SC_CLK_TCK")

        tree.wait_for(scoring)
        assert tree.named("multiprocessing.resource_tracker")
        run.send_signal(signal.SIGKILL)
        run.wait()
        survivors = tree.survivors()
    finally:
        tree.kill_rest()
    assert not survivors, f"processes of a killed local driver still alive after {GONE_WITHIN_S} s: {survivors}"
