"""Rebuild the small demo corpus shipped in examples/ from ../shared/data (see examples/LICENSES.md).

A source mix of five domains, 120 documents each, and the 185 ProofNet validation statements as
target: the autoformalization setting of the ZIP-FIT paper, small enough to run in seconds.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
PER_DOMAIN = 120
MAX_CHARS = 4000


def jsonl(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def chunks(text: str, size: int = MAX_CHARS):
    """Split on blank lines into pieces of at most ``size`` characters (files can be 100 KB+)."""
    piece = ""
    for para in text.split("\n\n"):
        if piece and len(piece) + len(para) + 2 > size:
            yield piece
            piece = ""
        piece = f"{piece}\n\n{para}" if piece else para
    if piece.strip():
        yield piece[:size]


def main() -> None:
    rng = random.Random(0)
    domains = {
        "lean4-mathlib": [c for r in jsonl(DATA / "lean4/mathlib4_c46b5e4.jsonl.gz")
                          for c in chunks(r["text"])][:20000],
        "python-stdlib": [r["code"] for r in jsonl(DATA / "code/cpython311_stdlib_functions.jsonl.gz")],
        "mbpp": [f"{r['text']}\n{r['code']}" for r in jsonl(DATA / "mbpp/mbpp.jsonl")],
        "latex-hott": [c for r in jsonl(DATA / "math/hott_book_tex.jsonl.gz") for c in chunks(r["text"])],
        "wikitext": [p.strip() for p in (DATA / "text/wikitext-2/valid.txt").read_text().split("\n") if len(p) > 400],
    }
    docs = []
    for domain, texts in domains.items():
        for text in rng.sample(texts, PER_DOMAIN):
            docs.append({"id": f"{domain}-{len(docs)}", "domain": domain, "text": text})
    rng.shuffle(docs)
    with gzip.GzipFile(HERE / "source_mix.jsonl.gz", "wb", mtime=0) as f:
        for doc in docs:
            f.write((json.dumps(doc, ensure_ascii=False) + "\n").encode())
    with open(HERE / "proofnet_valid.jsonl", "w", encoding="utf-8") as f:
        for r in jsonl(DATA / "proofnet/proofnet_lean4_zipfit_v2.jsonl"):
            if r["split"] == "valid":
                row = {k: r[k] for k in ("name", "split", "nl_statement", "formal_statement")}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
