"""Load: ``zipfit score`` and ``zipfit select`` on 10^5 vs 10^6 real documents in several input files.

Each run is the CLI in a fresh process (local engine, 2 workers by default) on 8 .jsonl.gz files and one
plain .jsonl (real text chunks of ~400 characters, repeated to reach the size) against 10 ProofNet valid
statements. While it runs, this process samples every ``--interval`` seconds, from /proc, the driver and
each of its children: peak RSS (VmHWM), open file descriptors (/proc/PID/fd, and what they point at), and
the checkpoint shard files in ``OUT.zipfit-checkpoint``. Reported side by side: throughput (whole run,
median over checkpoint shards, and per core-second, which load on a shared machine disturbs least), peak RSS
and its ratio 10^6 / 10^5, descriptors at start / max / growth, and shard files written.

    python benchmarks/bench_load.py [--sizes 100000,1000000] [--workers 2] [--commands score,select]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import proofnet, source_documents

SRC = Path(__file__).resolve().parents[1] / "src"

# The driver is the CLI's own entry point; afterwards it prints its peak RSS and the checkpoint shard files it
# wrote, and CPU time: its own and its reaped children's, the workers (the pool is joined before main returns).
# Its VmHWM belongs to the mm created at exec, so unlike ru_maxrss it does not carry the peak of the
# process that started it. Shard files are counted exactly, without touching zipfit, by an audit hook on the
# rename that publishes each one (os.replace raises "os.rename"); the /proc sampler may miss the last ones,
# since the directory is removed soon after.
DRIVER = """
import json, os, sys
shards = set()
def audit(event, args):
    if event == "os.rename":
        dst = os.fsdecode(args[1])
        if ".zipfit-checkpoint" in dst and os.path.basename(dst).startswith("shard-"):
            shards.add(dst)
sys.addaudithook(audit)
from zipfit.cli import main
rc = main(sys.argv[1:])
with open("/proc/self/status") as f:
    hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
t = os.times()
print(json.dumps({"driver_hwm_kb": hwm, "shard_files": len(shards), "driver_cpu": t.user + t.system,
                  "workers_cpu": t.children_user + t.children_system}))
sys.exit(rc)
"""


def write_inputs(directory: Path, n: int, chunks: list[str], gz_files: int) -> list[Path]:
    """n documents over ``gz_files`` .jsonl.gz files and one plain .jsonl, in that order."""
    directory.mkdir()
    files = [directory / f"part-{i:02d}.jsonl.gz" for i in range(gz_files)] + [directory / "part-plain.jsonl"]
    per_file = -(-n // len(files))
    written = 0
    for path in files:
        rows = min(per_file, n - written)
        lines = "".join(json.dumps({"id": f"doc-{written + i}", "text": chunks[(written + i) % len(chunks)]},
                                   ensure_ascii=False) + "\n" for i in range(rows)).encode("utf-8")
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(lines, compresslevel=1, mtime=0))
        else:
            path.write_bytes(lines)
        written += rows
    return files


def file_rows(n: int, files: int) -> list[int]:
    per_file = -(-n // files)
    return [max(0, min(per_file, n - i * per_file)) for i in range(files)]


def expected_shards(n: int, files: int, shard_rows: int) -> int:
    return sum(-(-rows // shard_rows) for rows in file_rows(n, files))


def shard_rate(seen: dict[str, float], rows: list[int], shard_rows: int) -> float | None:
    """Median docs/s between consecutive checkpoint shards (each shard's rows over the time since the one before).

    Shards are saved in input order as their last batch returns, so this is the map pass's steady rate, with
    start-up and the write pass left out and short bursts of load on the machine weighing no more than one shard.
    """
    rates = []
    ordered = sorted(seen.items(), key=lambda item: item[1])
    for (_, before), (name, t) in itertools.pairwise(ordered):
        file_no, number = (int(x) for x in name.removeprefix("shard-").removesuffix(".npz").split("-"))
        size = min(shard_rows, rows[file_no] - number * shard_rows)
        if t > before:
            rates.append(size / (t - before))
    return statistics.median(rates) if rates else None


class Sampler:
    """Samples the driver and its children from /proc in a thread, until stopped."""

    def __init__(self, driver: int, data_dir: Path, checkpoint: Path, interval: float) -> None:
        self.driver, self.data_dir, self.checkpoint, self.interval = driver, str(data_dir), checkpoint, interval
        self.procs: dict[int, dict] = {}  # pid -> {"role", "hwm_kb", "fds": [counts], "input_fds", "ckpt_fds"}
        self.shard_seen: dict[str, float] = {}  # checkpoint shard file -> when it was first seen
        self.max_shards_present = 0
        self.checkpoint_seen = False
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _children(self) -> list[int]:
        kids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == self.driver:
                        kids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
        return kids

    def _role(self, pid: int) -> str:
        if pid == self.driver:
            return "driver"
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            return "child"
        return "resource tracker" if b"resource_tracker" in cmd else "worker"

    def _sample(self, pid: int) -> None:
        try:
            with open(f"/proc/{pid}/status") as f:
                hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
            fd_dir = f"/proc/{pid}/fd"
            targets = []
            for fd in os.listdir(fd_dir):
                with contextlib.suppress(OSError):  # closed between listdir and readlink
                    targets.append(os.readlink(f"{fd_dir}/{fd}"))
        except (OSError, StopIteration):
            return  # exited (or a zombie, which has no VmHWM)
        info = self.procs.get(pid)
        if info is None:
            info = self.procs[pid] = {"role": self._role(pid), "hwm_kb": 0, "fds": [], "input_fds": 0,
                                      "ckpt_fds": 0}
        info["hwm_kb"] = max(info["hwm_kb"], hwm)
        info["fds"].append(len(targets))
        info["input_fds"] = max(info["input_fds"], sum(t.startswith(self.data_dir) for t in targets))
        info["ckpt_fds"] = max(info["ckpt_fds"], sum(".zipfit-checkpoint" in t for t in targets))

    def _run(self) -> None:
        while True:
            last = self._stop.is_set()
            self.samples += 1
            for pid in [self.driver, *self._children()]:
                self._sample(pid)
            if self.checkpoint.is_dir():
                self.checkpoint_seen = True
                names = {p.name for p in self.checkpoint.glob("*/shard-*.npz")}
                now = time.perf_counter()
                for name in names:
                    self.shard_seen.setdefault(name, now)
                self.max_shards_present = max(self.max_shards_present, len(names))
            if last:
                return
            self._stop.wait(self.interval)


def run_cli(command: str, files: list[Path], rows: list[int], target: Path, out: Path, workers: int, k: int,
            shard_rows: int, interval: float) -> dict:
    args = [command, *map(str, files), "--target", str(target), "--out", str(out), "--workers", str(workers),
            "--engine", "local", "--shard-rows", str(shard_rows), "--method", "zipfit"]  # as BENCHMARKS.md measured
    if command == "select":
        args += ["--k", str(k)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    checkpoint = out.with_name(out.name + ".zipfit-checkpoint")
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        with Sampler(proc.pid, files[0].parent, checkpoint, interval) as sampler:
            stdout, stderr = proc.communicate()
    except BaseException:  # Ctrl-C or SIGTERM: stop the run (it shuts down its workers) before the files go
        proc.terminate()
        proc.wait()
        raise
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"zipfit {command} failed ({proc.returncode}):\n{stderr}")
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    report = json.loads(stdout.strip().splitlines()[-1])
    driver = sampler.procs[proc.pid]
    workers_ = [p for p in sampler.procs.values() if p["role"] == "worker"]
    others = [p for p in sampler.procs.values() if p["role"] not in ("driver", "worker")]
    counts = manifest["counts"]
    return {
        "seconds": seconds,
        "score_seconds": manifest["timings_s"]["score"],
        "documents": counts.get("scored", counts.get("source_eligible")),
        "driver_mb": report["driver_hwm_kb"] / 1024,
        "driver_cpu_s": report["driver_cpu"],
        "workers_cpu_s": report["workers_cpu"],
        "worker_mb": max((p["hwm_kb"] for p in workers_), default=0) / 1024,
        "n_workers_seen": len(workers_),
        "fds": [{"role": p["role"], "start": p["fds"][0], "max": max(p["fds"]), "last": p["fds"][-1],
                 "input_fds": p["input_fds"], "ckpt_fds": p["ckpt_fds"]} for p in [driver, *workers_, *others]],
        "shards_written": report["shard_files"],
        "shards_sampled": len(sampler.shard_seen),
        "shard_docs_per_s": shard_rate(sampler.shard_seen, rows, shard_rows),
        "shards_present_max": sampler.max_shards_present,
        "checkpoint_seen": sampler.checkpoint_seen,
        "checkpoint_left": checkpoint.exists(),
        "samples": sampler.samples,
    }


def _rate(r: dict) -> str:
    return "-" if r["shard_docs_per_s"] is None else f"{r['shard_docs_per_s']:,.0f}"


def _per_core(r: dict, n: int) -> float:
    return n / (r["driver_cpu_s"] + r["workers_cpu_s"])


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so SIGTERM, like Ctrl-C, stops the run and removes the temporary files


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--commands", default="score,select")
    ap.add_argument("--targets", type=int, default=10, help="ProofNet valid statements (default: 10)")
    ap.add_argument("--gz-files", type=int, default=8, help=".jsonl.gz inputs besides the plain .jsonl (default: 8)")
    ap.add_argument("--k", type=int, default=1000, help="select --k (default: 1000)")
    ap.add_argument("--shard-rows", type=int, default=4096, help="zipfit --shard-rows (default: 4096, its default)")
    ap.add_argument("--interval", type=float, default=0.1, help="seconds between /proc samples (default: 0.1)")
    ap.add_argument("--json", help="also write every measurement to this file")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    commands = args.commands.split(",")
    chunks = source_documents(20_000, 400)
    results: dict[str, dict[int, dict]] = {c: {} for c in commands}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zipfit-load-") as tmp:
        tmp = Path(tmp)
        target = tmp / "targets.jsonl"
        target.write_text("".join(json.dumps({"text": t}) + "\n" for t in proofnet("valid")[: args.targets]))
        n_files = args.gz_files + 1
        print(f"{args.targets} ProofNet valid targets; {len(set(chunks)):,} distinct real chunks of <= 400 chars "
              f"(mean {statistics.mean(map(len, chunks)):.0f}), repeated; {args.gz_files} .jsonl.gz + 1 .jsonl "
              f"inputs; local engine, {args.workers} workers; zipfit from {SRC}")
        for n in sizes:
            t = time.perf_counter()
            files = write_inputs(tmp / f"in{n}", n, chunks, args.gz_files)
            mb = sum(f.stat().st_size for f in files) / 2**20
            print(f"\n{n:,} documents: {n_files} files, {mb:,.0f} MB on disk, written in "
                  f"{time.perf_counter() - t:.0f} s; {expected_shards(n, n_files, args.shard_rows)} shards of "
                  f"{args.shard_rows} rows")
            for command in commands:
                out = tmp / f"{command}{n}.{'parquet' if command == 'score' else 'jsonl'}"
                r = run_cli(command, files, file_rows(n, n_files), target, out, args.workers, args.k, args.shard_rows,
                            args.interval)
                results[command][n] = r
                print(f"  {command:<6} {r['documents']:>9,} docs  {r['seconds']:6.1f} s  "
                      f"{n / r['seconds']:>6,.0f} docs/s  (map pass {r['score_seconds']:.1f} s, "
                      f"{n / r['score_seconds']:,.0f} docs/s; median over shards {_rate(r)})  driver "
                      f"{r['driver_mb']:.1f} MB  largest worker {r['worker_mb']:.1f} MB")
                cpu = r["driver_cpu_s"] + r["workers_cpu_s"]
                print(f"         CPU: driver {r['driver_cpu_s']:.1f} s, workers {r['workers_cpu_s']:.1f} s; "
                      f"{n / cpu:,.0f} docs per core-second; {cpu / r['seconds']:.2f} cores busy on average")
                print(f"         checkpoint: {r['shards_written']} shard files written ({r['shards_sampled']} seen by "
                      f"the sampler, at most {r['shards_present_max']} at once); directory seen during the run: "
                      f"{'yes' if r['checkpoint_seen'] else 'no'}, left behind: "
                      f"{'yes' if r['checkpoint_left'] else 'no'}")
                for i, p in enumerate(r["fds"]):
                    name = p["role"] if p["role"] != "worker" else f"worker {i}"  # the driver is entry 0
                    print(f"         fds {name:<17} start {p['start']:>3}  max {p['max']:>3}  growth "
                          f"{p['max'] - p['start']:>3}  last {p['last']:>3}  (max on inputs {p['input_fds']}, "
                          f"on checkpoints {p['ckpt_fds']})")
                out.unlink()
            for f in files:
                f.unlink()
    print("\nside by side (fds: start/max/growth; worker fds: the largest of each over the workers)")
    print(f"{'command':<7} {'documents':>10} {'seconds':>8} {'docs/s':>7} {'shard docs/s':>12} {'docs/core-s':>11} "
          f"{'driver MB':>9} "
          f"{'worker MB':>9} {'driver fds':>10} {'worker fds':>10} {'on inputs':>9} {'shards':>6}")
    for command in commands:
        for n in sizes:
            r = results[command][n]
            driver = r["fds"][0]
            workers = [p for p in r["fds"] if p["role"] == "worker"]
            worker_fds = "/".join(str(max((p[key] for p in workers), default=0)) for key in ("start", "max"))
            worker_fds += f"/{max((p['max'] - p['start'] for p in workers), default=0)}"
            driver_fds = f"{driver['start']}/{driver['max']}/{driver['max'] - driver['start']}"
            per_core = _per_core(r, n)
            print(f"{command:<7} {n:>10,} {r['seconds']:>8.1f} {n / r['seconds']:>7,.0f} {_rate(r):>12} "
                  f"{per_core:>11,.0f} {r['driver_mb']:>9.1f} {r['worker_mb']:>9.1f} {driver_fds:>10} {worker_fds:>10} "
                  f"{driver['input_fds']:>9} {r['shards_written']:>6}")
        if len(sizes) > 1:
            lo, hi = results[command][sizes[0]], results[command][sizes[-1]]
            fd_lo, fd_hi = lo["fds"][0]["max"] - lo["fds"][0]["start"], hi["fds"][0]["max"] - hi["fds"][0]["start"]
            print(f"{command:<7} {sizes[-1]:,} / {sizes[0]:,}: peak RSS driver "
                  f"{hi['driver_mb'] / lo['driver_mb']:.2f}, largest worker {hi['worker_mb'] / lo['worker_mb']:.2f}; "
                  f"driver fd growth {fd_lo} -> {fd_hi}; "
                  f"throughput {(sizes[-1] / hi['seconds']) / (sizes[0] / lo['seconds']):.2f} (per core-second "
                  f"{_per_core(hi, sizes[-1]) / _per_core(lo, sizes[0]):.2f}); "
                  f"shards {lo['shards_written']} -> {hi['shards_written']}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
