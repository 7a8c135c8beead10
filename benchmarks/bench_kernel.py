"""Exact pair kernels, per pair: the plain formula, the Python path and the compiled kernel on the same pairs.

Pairs: real 1-3 KB source chunks (six domains) x ProofNet statements (examples/proofnet_valid.jsonl).
Every arm computes C(x) once per source and C(x ⊕ y_j) per target (the plain arm with one
``gzip.compress`` each); C(y_j) is computed once up front in all three. Times are interleaved
(the arms alternate within each repeat) in one process.

With ``--callgrind`` each arm and level also runs under valgrind's callgrind, twice: once with a
single warm-up source and once with the warm-up plus ``--callgrind-docs`` sources; the difference
divided by the pairs gives instructions per pair, which do not depend on the machine's load.
glibc's ``rep movsb`` copies are switched off (GLIBC_TUNABLES) so that a copy counts as the
instructions it runs rather than one instruction per byte.

    python benchmarks/bench_kernel.py [--docs 200] [--targets 50] [--levels 1,6] [--callgrind]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
ARMS = ("plain", "python", "native")
# glibc copies with `rep movsb` above this size; callgrind would count such a copy as one instruction per byte
TUNABLES = "glibc.cpu.x86_rep_movsb_threshold=4294967295"


def load_pairs(n_docs: int, n_targets: int) -> tuple[list[bytes], list[bytes]]:
    from common import source_documents

    docs = [d.encode() for d in source_documents(n_docs, 3072, min_chars=1024)]
    with open(ROOT / "examples" / "proofnet_valid.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    targets = [f"{r['nl_statement']}\n{r['formal_statement']}".encode() for r in rows][:n_targets]
    return docs, targets


def make_arm(arm: str, targets: list[bytes], level: int):
    """A function x -> (C(x), [C(x ⊕ y_j)])."""
    if arm == "plain":
        def plain(x: bytes) -> tuple[int, list[int]]:
            return len(gzip.compress(x, level)), [len(gzip.compress(x + y, level)) for y in targets]

        return plain
    if arm == "python":
        from zipfit.ncd import GzipPairLengths, tune_allocator

        tune_allocator()  # as zipfit's own processes run it
        return GzipPairLengths(targets, level).lengths
    from zipfit._native import PairKernel

    return PairKernel(targets, level).lengths


def child(spec_path: str) -> None:
    """Runs one arm over the pairs in a file (under callgrind)."""
    spec = json.loads(Path(spec_path).read_text())
    docs = [bytes.fromhex(d) for d in spec["docs"]]
    targets = [bytes.fromhex(t) for t in spec["targets"]]
    lengths = make_arm(spec["arm"], targets, spec["level"])
    cys = [len(gzip.compress(y, spec["level"])) for y in targets]
    for x in docs:
        lengths(x)
    assert cys


def callgrind_instructions(arm: str, level: int, docs: list[bytes], targets: list[bytes], tmp: Path) -> int:
    spec = tmp / f"{arm}-{level}-{len(docs)}.json"
    spec.write_text(json.dumps({"arm": arm, "level": level, "docs": [d.hex() for d in docs],
                                "targets": [t.hex() for t in targets]}))
    out = tmp / f"callgrind.{arm}.{level}.{len(docs)}"
    env = {**os.environ, "GLIBC_TUNABLES": TUNABLES, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                    "--child", str(spec)], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = out.read_text(errors="replace")
    found = re.search(r"^summary:\s*(\d+)", text, re.M) or re.search(r"^totals:\s*(\d+)", text, re.M)
    assert found, f"no instruction total in {out}"
    return int(found.group(1))


def interleaved_times(docs: list[bytes], targets: list[bytes], level: int, repeats: int) -> dict[str, float]:
    arms = {arm: make_arm(arm, targets, level) for arm in ARMS}
    results = {arm: [fn(x) for x in docs[:5]] for arm, fn in arms.items()}  # warm-up, and a check
    assert results["plain"] == results["python"] == results["native"], "the arms disagree"
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for r in range(repeats):
        order = ARMS if r % 2 == 0 else ARMS[::-1]
        for arm in order:
            fn = arms[arm]
            t = time.process_time()
            for x in docs:
                fn(x)
            times[arm].append(time.process_time() - t)
    pairs = len(docs) * len(targets)
    return {arm: 1e6 * statistics.median(ts) / pairs for arm, ts in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=200, help="sources for the timed runs")
    ap.add_argument("--targets", type=int, default=50)
    ap.add_argument("--levels", default="1,6")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--callgrind", action="store_true", help="also count instructions per pair with valgrind")
    ap.add_argument("--callgrind-docs", type=int, default=12, help="sources per callgrind run")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    if args.callgrind and shutil.which("valgrind") is None:
        sys.exit("bench_kernel: --callgrind needs valgrind (apt-get install valgrind)")
    docs, targets = load_pairs(max(args.docs, args.callgrind_docs + 1), args.targets)
    sizes = [len(d) for d in docs]
    print(f"{len(docs[:args.docs])} sources of {min(sizes)}-{max(sizes)} bytes (mean {statistics.mean(sizes):.0f}) "
          f"x {len(targets)} ProofNet targets (mean {statistics.mean(map(len, targets)):.0f} bytes); "
          f"CPU time per pair, median of {args.repeats} interleaved repeats")
    header = f"{'level':>5} " + " ".join(f"{arm + ' us':>10}" for arm in ARMS)
    if args.callgrind:
        header += " " + " ".join(f"{arm + ' Ir':>10}" for arm in ARMS) + f" {'plain/native':>12}"
    print(header)
    for level in map(int, args.levels.split(",")):
        us = interleaved_times(docs[: args.docs], targets, level, args.repeats)
        line = f"{level:>5} " + " ".join(f"{us[arm]:>10.2f}" for arm in ARMS)
        if args.callgrind:
            with tempfile.TemporaryDirectory() as tmp:
                warm, measured = docs[:1], docs[: args.callgrind_docs + 1]
                ir = {}
                for arm in ARMS:
                    base = callgrind_instructions(arm, level, warm, targets, Path(tmp))
                    full = callgrind_instructions(arm, level, measured, targets, Path(tmp))
                    ir[arm] = (full - base) / (args.callgrind_docs * len(targets))
            line += " " + " ".join(f"{ir[arm] / 1000:>9.1f}k" for arm in ARMS)
            line += f" {ir['plain'] / ir['native']:>11.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
