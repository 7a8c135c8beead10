"""Peak memory of streaming a ``datasets.IterableDataset`` into zipfit: 10^5 vs 10^6 rows, each in a fresh process.

The rows come from a generator (``IterableDataset.from_generator``: nothing is held), ~400 characters each, real
text chunks repeated. Measured: the materialisation zipfit does before any run (``zipfit.io.memory.Staging``,
batch by batch to Parquet in a temp directory), peak RSS (``ru_maxrss``) of the process, against the same
process's peak after importing datasets and building the generator (the baseline).

    python benchmarks/bench_memory_inputs.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import source_documents

CHILD = """
import json, resource, sys, time
import datasets
from zipfit.io.memory import Staging
n, chunks = int(sys.argv[1]), json.loads(sys.stdin.read())
def rows():
    for i in range(n):
        yield {"id": f"doc-{i}", "text": chunks[i % len(chunks)]}
data = datasets.IterableDataset.from_generator(rows)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
with Staging() as staging:
    [path], kind = staging.stage(data, "source")
    size = __import__("os").path.getsize(path)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": n, "seconds": seconds, "baseline_mb": base, "peak_mb": peak, "parquet_mb": size / 2**20}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    args = ap.parse_args()
    chunks = [d[:400] for d in source_documents(2000) if len(d) >= 200][:1000]
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        proc = subprocess.run([sys.executable, "-c", CHILD, str(n)], input=json.dumps(chunks), text=True,
                              capture_output=True, check=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{r['rows']:>9,} rows  {r['seconds']:6.1f} s  {r['rows'] / r['seconds']:9,.0f} rows/s  "
              f"baseline {r['baseline_mb']:6.1f} MB  peak {r['peak_mb']:6.1f} MB  parquet {r['parquet_mb']:6.1f} MB")
    if len(results) > 1:
        grow = [(r["peak_mb"] - r["baseline_mb"]) for r in results]
        print(f"peak above baseline: {' vs '.join(f'{g:.1f} MB' for g in grow)}; "
              f"peak ratio {results[-1]['peak_mb'] / results[0]['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
