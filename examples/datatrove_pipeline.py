"""ZIP-FIT in a datatrove pipeline: score in parallel tasks, then keep the exact global top K.

    pip install 'zipfit[datatrove]'
    python examples/datatrove_pipeline.py --work datatrove-demo --k 50

The demo source (examples/source_mix.jsonl.gz, 600 documents of five domains) is first split into --files input
files, as a corpus on disk would be; then two datatrove pipelines run with LocalPipelineExecutor:

  stage 1 (--tasks tasks): JsonlReader -> ZipfitScore (ProofNet as the target; each task writes its score table)
                           -> JsonlWriter (every document, with zipfit_score in its metadata)
  stage 2 (--tasks tasks, after stage 1): JsonlReader (stage 1's output) -> ZipfitSelect (reads every score table,
                           makes the cut for --k; the documents below it go to the exclusion writer)
                           -> JsonlWriter (the kept documents, with zipfit_score and zipfit_rank)

The kept documents and their scores are those of
    zipfit select examples/source_mix.jsonl.gz --target examples/proofnet_valid.jsonl \
        --target-template "{nl_statement}\\n{formal_statement}" --k 50 --out selected.jsonl
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

from zipfit.integrations.datatrove import ZipfitScore, ZipfitSelect

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source_mix.jsonl.gz"
TARGET = HERE / "proofnet_valid.jsonl"
TEMPLATE = "{nl_statement}\n{formal_statement}"


def split_source(out: Path, files: int) -> None:
    """The source as ``files`` files of consecutive lines: read in path order, they are the source in its order."""
    with gzip.open(SOURCE, "rt", encoding="utf-8") as f:
        lines = f.readlines()
    out.mkdir(parents=True)
    per_file = -(-len(lines) // files)
    for i in range(files):
        with gzip.open(out / f"part-{i:05d}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.writelines(lines[i * per_file : (i + 1) * per_file])


def pipelines(work: Path, *, k: int, tasks: int, workers: int) -> LocalPipelineExecutor:
    """Stage 2's executor, which runs stage 1 first."""
    score = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(work / "input")),
            ZipfitScore(str(TARGET), target_template=TEMPLATE, output_folder=str(work / "scores")),
            JsonlWriter(str(work / "scored")),
        ],
        tasks=tasks, workers=workers, logging_dir=str(work / "logs" / "score"),
    )
    return LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(work / "scored")),
            ZipfitSelect(str(work / "scores"), k=k, exclusion_writer=JsonlWriter(str(work / "rejected"))),
            JsonlWriter(str(work / "selected")),
        ],
        tasks=tasks, workers=workers, logging_dir=str(work / "logs" / "select"), depends=score,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="directory for the inputs, outputs and logs")
    parser.add_argument("--k", type=int, default=50, help="documents to keep")
    parser.add_argument("--files", type=int, default=4, help="input files the demo source is split into")
    parser.add_argument("--tasks", type=int, default=4, help="datatrove tasks per stage")
    parser.add_argument("--workers", type=int, default=2, help="tasks run at once")
    parser.add_argument("--overwrite", action="store_true", help="replace --work if it exists")
    args = parser.parse_args(argv)
    if args.work.exists():
        if not args.overwrite:
            print(f"{args.work} exists; pass --overwrite to replace it", file=sys.stderr)
            return 2
        shutil.rmtree(args.work)
    split_source(args.work / "input", args.files)
    pipelines(args.work, k=args.k, tasks=args.tasks, workers=args.workers).run()
    print(f"kept documents: {args.work / 'selected'}; the others, with their reason: {args.work / 'rejected'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
