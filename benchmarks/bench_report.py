"""The report page on a 10^6-document run costs about as much as cutting a selection from the same score dataset.

A corpus of N real text chunks (~300 characters, six domains, a ``domain`` field) is scored once (``--method
random``: the score dataset is the same shape for any method, and the scoring is not what is measured). Then,
each in a fresh process, interleaved, ``--repeats`` times:

- ``cut``: ``zipfit select --scores DIR --k K --out sel.jsonl`` (read the scores, cut, write K records);
- ``report``: ``zipfit report DIR`` (score dataset only: the report reads its small columns, and by position the
  records it shows and the documents target coverage compares);
- ``report --group-by domain``: the same, with the mix by a field, which needs that field of every record (one
  pass over the corpus);
- ``read corpus``: ``json.loads`` of every line of the corpus, the floor of anything that reads it all.

Prints median wall seconds and peak RSS of each, and their ratios to ``cut``.

    python benchmarks/bench_report.py [--docs 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import source_documents, targets

DOMAINS = ("lean4", "python", "mbpp", "latex", "wikitext", "pile")  # source_documents interleaves them in order
READ = "import json,sys\nn=0\nfor line in open(sys.argv[1], encoding='utf-8'):\n    json.loads(line); n+=1\nprint(n)"


def timed(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command in a fresh process."""
    wrapper = ("import resource,subprocess,sys,time\nt=time.perf_counter()\nsubprocess.run(sys.argv[1:],check=True,"
               "stdout=subprocess.DEVNULL)\nprint(time.perf_counter()-t, "
               "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024)")
    out = subprocess.run([sys.executable, "-c", wrapper, *args], check=True, capture_output=True, text=True)
    seconds, peak = out.stdout.split()
    return float(seconds), float(peak)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    chunks = [d[:300] for d in source_documents(3000) if len(d) >= 200]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = work / "corpus.jsonl"
        with open(corpus, "w", encoding="utf-8") as f:
            for i in range(args.docs):
                f.write(json.dumps({"id": i, "domain": DOMAINS[i % len(chunks) % len(DOMAINS)],
                                    "text": chunks[i % len(chunks)]}, ensure_ascii=False) + "\n")
        (work / "target.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in targets(10)))
        zipfit = [sys.executable, "-m", "zipfit"]
        start = time.perf_counter()
        subprocess.run([*zipfit, "score", str(corpus), "--target", str(work / "target.jsonl"), "--method", "random",
                        "--out", str(work / "scores"), "--quiet"], check=True)
        print(f"{args.docs:,} documents ({corpus.stat().st_size / 2**20:.0f} MB) scored in "
              f"{time.perf_counter() - start:.1f} s")
        commands = {
            "cut": [*zipfit, "select", "--scores", str(work / "scores"), "--k", str(args.k), "--out",
                    str(work / "sel.jsonl"), "--overwrite", "--quiet"],
            "report": [*zipfit, "report", str(work / "scores"), "--out", str(work / "r.html"), "--overwrite", "-q"],
            "report --group-by domain": [*zipfit, "report", str(work / "scores"), "--out", str(work / "g.html"),
                                         "--group-by", "domain", "--overwrite", "-q"],
            "read corpus": [sys.executable, "-c", READ, str(corpus)],
        }
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                runs[name].append(timed(command))
    seconds = {name: statistics.median(s for s, _ in r) for name, r in runs.items()}
    print(f"{'':<26}{'median s':>10}{'peak MB':>10}{'vs cut':>9}")
    for name, r in runs.items():
        print(f"{name:<26}{seconds[name]:>10.2f}{max(p for _, p in r):>10.0f}{seconds[name] / seconds['cut']:>8.2f}x")


if __name__ == "__main__":
    main()
