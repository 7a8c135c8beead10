"""Peak memory of ``zipfit.select`` on 10^5 vs 10^6 documents (5 targets), each run in a fresh process.

Documents are real text chunks (~400 characters), repeated to reach the size. Reported: peak RSS
of the driver process (which holds the per-document numbers) and of the largest worker.

    python benchmarks/bench_memory.py [--sizes 100000,1000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import source_documents, targets, write_jsonl

# ru_maxrss of children is useless here (Linux carries the parent's peak across fork/exec), so a
# thread samples each worker's own high-water mark, VmHWM, from /proc while the run goes on.
CHILD = """
import json, os, resource, sys, threading, time
import zipfit
src, out, tgt, k, workers, method = sys.argv[1:7]
peaks, done = {{}}, threading.Event()
def sample():
    me = str(os.getpid())
    while not done.wait(0.05):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{{pid}}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[1] != me:
                        continue
                with open(f"/proc/{{pid}}/status") as f:
                    hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
                peaks[pid] = max(peaks.get(pid, 0), hwm)
            except (OSError, StopIteration, IndexError):
                pass
threading.Thread(target=sample, daemon=True).start()
t = time.perf_counter()
result = zipfit.{method}(src, out=out, target_texts=json.load(open(tgt)), workers=int(workers), progress=False,
                         method="zipfit", {budget})
seconds = time.perf_counter() - t
done.set()
print(json.dumps({{
    "seconds": seconds,
    "driver_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "worker_mb": max(peaks.values(), default=0) / 1024,
}}))
"""


def measure(src: Path, out: Path, tgt: Path, workers: int, method: str) -> dict:
    budget = "k=int(k)" if method == "select" else ""
    code = CHILD.format(method=method, budget=budget)
    proc = subprocess.run([sys.executable, "-c", code, str(src), str(out), str(tgt), "1000", str(workers), method],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--commands", default="select,score")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    chunks = source_documents(5000, 400)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tgt = tmp / "targets.json"
        tgt.write_text(json.dumps(targets(5)))
        print(f"5 targets, documents of ~400 chars, {args.workers} workers")
        print(f"{'command':<8} {'documents':>10} {'seconds':>8} {'docs/s':>8} {'driver MB':>10} {'worker MB':>10}")
        for command in args.commands.split(","):
            rows = []
            for n in sizes:
                src = write_jsonl(tmp / f"src{n}.jsonl", chunks, repeat=-(-n // len(chunks)))
                suffix = ".jsonl" if command == "select" else ".parquet"
                r = measure(src, tmp / f"out{n}{suffix}", tgt, args.workers, command)
                rows.append(r)
                print(f"{command:<8} {n:>10,} {r['seconds']:>8.1f} {n / r['seconds']:>8,.0f} {r['driver_mb']:>10.1f} "
                      f"{r['worker_mb']:>10.1f}")
                src.unlink()
            print(f"{command:<8} peak driver RSS ratio {sizes[-1]:,} / {sizes[0]:,} docs: "
                  f"{rows[-1]['driver_mb'] / rows[0]['driver_mb']:.2f}; "
                  f"worker ratio {rows[-1]['worker_mb'] / rows[0]['worker_mb']:.2f}")


if __name__ == "__main__":
    main()
