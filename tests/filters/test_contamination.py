import json
import pickle
import random
import re
import subprocess
import sys

import numpy as np
import pytest
from plain_shingles import jaccard
from realdata import read_jsonl

from zipfit.errors import ZipfitError
from zipfit.filters import shingles
from zipfit.filters.contamination import ContaminationIndex
from zipfit.filters.shingles import minhash, permutations, units

# -- plain references: the obvious, slow way ---------------------------------------------------


def plain_units(text: str, unit: str) -> list[str]:
    lowered = text.lower().replace("ς", "σ")
    if unit == "word":
        return re.findall(r"[^\W_]+", lowered)  # \w is isalnum or "_" in re: this is runs of isalnum
    return list(" ".join(lowered.split()))


class PlainCheck:
    """GPT-3-style overlap: a shared n-gram, a whole short excluded document inside, or equality."""

    def __init__(self, excluded: list[str], n: int, unit: str, min_units: int) -> None:
        self.n, self.unit = n, unit
        self.grams, self.short, self.tiny = set(), [], set()
        for doc in excluded:
            u = plain_units(doc, unit)
            if len(u) >= n:
                self.grams.update(tuple(u[i : i + n]) for i in range(len(u) - n + 1))
            elif len(u) >= min_units:
                self.short.append(self.joined(u))
            elif u:
                self.tiny.add(tuple(u))

    def joined(self, u: list[str]) -> str:
        # units as one string in which a contiguous run of units is a substring and nothing else is
        return "".join(u) if self.unit == "char" else " " + " ".join(u) + " "

    def __call__(self, text: str) -> bool:
        s = plain_units(text, self.unit)
        n = self.n
        if any(tuple(s[i : i + n]) in self.grams for i in range(len(s) - n + 1)):
            return True
        whole = self.joined(s)
        return any(d in whole for d in self.short) or (bool(s) and tuple(s) in self.tiny)


def plain_check(excluded: list[str], text: str, n: int, unit: str, min_units: int) -> bool:
    return PlainCheck(excluded, n, unit, min_units)(text)


# -- real data ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proofnet(data_dir):
    return [r for r in read_jsonl(data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl") if r["split"] == "test"]


@pytest.fixture(scope="module")
def statements(proofnet):
    return [f"{r['nl_statement']}\n{r['formal_statement']}" for r in proofnet]


@pytest.fixture(scope="module")
def formals(proofnet):
    return [r["formal_statement"] for r in proofnet]


@pytest.fixture(scope="module")
def lean_docs(data_dir):
    """Real Lean files (mathlib, batteries, formal-conjectures) cut to 6,000 characters."""
    docs = [r["text"] for r in read_jsonl(data_dir / "lean4" / "mathlib4_c46b5e4.jsonl.gz", 1200)]
    docs += [r["text"] for r in read_jsonl(data_dir / "lean4" / "batteries.jsonl.gz")]
    docs += [r["text"] for r in read_jsonl(data_dir / "lean4" / "formal_conjectures.jsonl.gz", 600)]
    return [d[:6000] for d in docs if d.strip()]


@pytest.fixture(scope="module")
def tex_docs(data_dir):
    """LaTeX chapters cut into 4,000-character pieces."""
    docs = [r["text"] for r in read_jsonl(data_dir / "math" / "hott_book_tex.jsonl.gz")]
    docs += [r["text"] for r in read_jsonl(data_dir / "math" / "stacks_project_tex.jsonl.gz", 40)]
    return [d[i : i + 4000] for d in docs for i in range(0, min(len(d), 40_000), 4000)]


@pytest.fixture(scope="module")
def mbpp(data_dir):
    return [r["text"] + "\n" + r["code"] for r in read_jsonl(data_dir / "mbpp" / "mbpp.jsonl")]


@pytest.fixture(scope="module")
def stdlib(data_dir):
    return [r["code"] for r in read_jsonl(data_dir / "code" / "cpython311_stdlib_functions.jsonl.gz", 3000)]


@pytest.fixture(scope="module")
def humaneval(data_dir):
    return read_jsonl(data_dir / "humaneval" / "HumanEval.jsonl.gz")


@pytest.fixture(scope="module")
def index(statements):
    return ContaminationIndex().fit(statements)


def plant(statement: str, host: str, rng: random.Random, variant: int) -> str:
    """The statement inside a real document, at a line boundary; variants change whitespace and case."""
    if variant == 1:
        statement = statement.upper()
    elif variant == 2:
        statement = re.sub(r"\s+", lambda m: rng.choice(["  ", "\n", "\t ", " \n  "]), statement)
    lines = host.split("\n")
    at = rng.randrange(len(lines) + 1)
    return "\n".join([*lines[:at], statement, *lines[at:]])


def checked(index: ContaminationIndex, texts: list[str]) -> list[str | None]:
    out: list[str | None] = []
    for lo in range(0, len(texts), 64):
        out += index.check(texts[lo : lo + 64])
    return out


# -- the fast path is the plain definition -------------------------------------------------------


@pytest.mark.parametrize("unit,n,min_units", [("word", 13, 8), ("word", 8, 8), ("char", 50, 32)])
def test_ngram_check_agrees_with_the_plain_reference(statements, formals, lean_docs, mbpp, unit, n, min_units):
    rng = random.Random(0)
    # excluded: long statements, short formal statements (the "contained" regime) and tiny ones
    excluded = statements[:60] + formals[60:120] + ["Prove it.", "theorem foo", "x"]
    texts = [plant(s, rng.choice(lean_docs)[:1500], rng, rng.randrange(3)) for s in statements[:60]]
    texts += [plant(f, rng.choice(mbpp), rng, 0) for f in formals[60:120]]
    texts += [f[: len(f) // 2] for f in formals[60:90]]  # a cut short statement is not contained
    texts += ["Prove it.", "  PROVE   it ", "Prove it. And more.", "theorem foo", "x", "", "   "]
    texts += [d[:1500] for d in rng.sample(lean_docs, 80)] + rng.sample(mbpp, 80)
    idx = ContaminationIndex(n, unit, near_duplicate=None, min_units=min_units).fit(excluded)
    fast = [r is not None for r in checked(idx, texts)]
    plain = list(map(PlainCheck(excluded, n, unit, min_units), texts))
    assert fast == plain
    assert 100 < sum(plain) < len(texts) - 100  # both kinds are well represented


def test_units_are_the_plain_normalisation(statements, lean_docs):
    texts = [*statements[:50], *(d[:800] for d in lean_docs[:50]), "ΟΔΟΣ οδος", "a_b  c\u00a0d", "", "x"]
    for unit in ("word", "char"):
        u = units(texts, unit)
        assert u.counts.tolist() == [len(plain_units(t, unit)) for t in texts]
        # equal unit sequences hash equal, in any text, batch or position: each text against itself alone
        assert u.whole().tolist() == [units([t], unit).whole()[0] for t in texts]
        hashes, owner = u.windows(7)
        for i in (0, 55, 99):
            expect = [tuple(plain_units(texts[i], unit)[j : j + 7]) for j in range(u.counts[i] - 6)]
            got = hashes[owner == i].tolist()
            # same windows, same hashes: a window's hash is its units' (equal windows, equal hashes)
            assert len(got) == len(expect)
            assert len(set(got)) == len(set(expect))
    words = units(["ΟΔΟΣ", "οδοσ", "Οδος", "odos"], "word").whole()
    assert words[0] == words[1] == words[2] != words[3]


def test_minhash_is_the_plain_definition_and_estimates_jaccard(statements):
    a, b = permutations(16, seed=3)
    u = units(statements[:4], "char")
    hashes, owner = u.shingles(5)
    sig = minhash(hashes, owner, 4, a, b)
    for i in range(4):
        keys = [h >> 32 for h in hashes[owner == i].tolist()]
        perms = zip(a.tolist(), b.tolist(), strict=True)
        plain = [min(((x * y + z) % (1 << 64)) >> 32 for x in keys) for y, z in perms]
        assert sig[i].tolist() == plain
    # estimates against exact Jaccard on real pairs: a statement and edited copies of it
    rng = random.Random(1)
    pairs = []
    for s in statements[:80]:
        words = s.split(" ")
        for _ in range(rng.randrange(1, 12)):
            k = rng.randrange(len(words))
            words[k] = words[k][::-1] + "x"
        pairs.append((s, " ".join(words)))
    a, b = permutations(128, seed=0)
    flat = [t for p in pairs for t in p]
    u = units(flat, "char")
    hashes, owner = u.shingles(5)
    sig = minhash(hashes, owner, len(flat), a, b)
    estimate = (sig[0::2] == sig[1::2]).mean(axis=1)
    exact = np.array([jaccard(x, y) for x, y in pairs])
    assert exact.min() < 0.6 < 0.9 < exact.max()
    error = estimate - exact
    assert abs(error.mean()) < 0.02  # unbiased
    assert np.abs(error).max() < 4.5 * np.sqrt(0.25 / 128)  # within the binomial spread


# -- planted test statements are found; real documents are not -----------------------------------


def test_planted_proofnet_statements_are_flagged(index, statements, formals, lean_docs, tex_docs):
    rng = random.Random(7)
    hosts = lean_docs + tex_docs
    planted, expect = [], []
    for i, s in enumerate(statements):
        for variant in range(3):
            planted.append(plant(s, rng.choice(hosts), rng, variant))
            expect.append(i)
        planted.append(s if i % 2 else "  " + s.upper() + "\n")  # the statement as a whole document
        expect.append(i)
    results = [index.match(t) for t in planted]
    assert all(r is not None and r[0] == "ngram_overlap" for r in results)
    # the excluded document named is the planted one, or one sharing a 13-gram with it
    for r, i in zip(results, expect, strict=True):
        assert r[1] == i or plain_check([statements[r[1]]], statements[i], 13, "word", 8)

    # the formal statement alone: a 13-gram of it is a 13-gram of "nl\nformal" when it has 13 words
    alone = [plant(f, rng.choice(lean_docs), rng, 2) for f in formals]
    flagged = [r is not None for r in checked(index, alone)]
    long_enough = [len(plain_units(f, "word")) >= 13 for f in formals]
    assert flagged == long_enough
    assert sum(long_enough) == len(formals) - 5
    # ... and all of them against the formal statements themselves: five are in the "contained" regime
    formal_index = ContaminationIndex().fit(formals)
    assert formal_index.params()["excluded_by_regime"] == {"ngram": 181, "contained": 5, "whole_only": 0, "empty": 0}
    assert all(r == "ngram_overlap" for r in checked(formal_index, alone))


def test_real_documents_are_not_flagged(index, formals, lean_docs, tex_docs, mbpp, stdlib):
    # measured: none of these 6,500+ documents shares a 13-gram with, contains, or nearly duplicates
    # a ProofNet test statement (nl + formal, or formal alone)
    clean = lean_docs + tex_docs + mbpp + stdlib
    assert len(clean) > 6500
    assert checked(index, clean).count(None) == len(clean)
    formal_index = ContaminationIndex().fit(formals)
    assert checked(formal_index, lean_docs + tex_docs).count(None) == len(lean_docs) + len(tex_docs)


def test_edited_statements_are_near_duplicates(index, statements):
    """One-letter typos every k space-separated tokens (k from 5 to 17): the denser ones break every
    13-gram, the character shingles keep a similarity from about 0.65 to 0.95."""
    rng = random.Random(3)
    edited, originals = [], []
    for i, s in [*enumerate(statements), *enumerate(statements)]:
        words = s.split(" ")
        every = 5 + (i + len(edited) // len(statements)) % 13
        for k in range(rng.randrange(every), len(words), every):
            w = words[k]
            if w:
                j = rng.randrange(len(w))
                words[k] = w[:j] + ("q" if w[j] != "q" else "z") + w[j + 1 :]
        edited.append(" ".join(words))
        originals.append(i)
    results = [index.match(t) for t in edited]
    exact = np.array([jaccard(statements[i], t) for i, t in zip(originals, edited, strict=True)])
    ngram = np.array([r is not None and r[0] == "ngram_overlap" for r in results])
    near = np.array([r is not None and r[0] == "near_duplicate" for r in results])
    assert near.sum() >= 30 and (~ngram).sum() >= 140
    for i, text, r in zip(originals, edited, results, strict=True):
        if r is not None and r[0] == "near_duplicate":
            assert r[1] == i
        elif r is not None:  # the statement named shares a 13-gram (ProofNet statements share Lean boilerplate)
            assert PlainCheck([statements[r[1]]], 13, "word", 8)(text)
    # the MinHash decision follows the true similarity (an estimate from 128 values: std ~0.035), as
    # measured: every pair from 0.85 up, 25 of 34 from 0.8 up, 2 of 71 in 0.7-0.75, none below 0.7
    assert near[~ngram & (exact >= 0.85)].all()
    assert near[~ngram & (exact >= 0.8)].mean() >= 0.7
    assert near[~ngram & (exact < 0.75)].mean() < 0.05
    assert not near[exact < 0.7].any()
    assert not PlainCheck(statements, 13, "word", 8)(edited[int(np.flatnonzero(near)[0])])


# -- code: characters, and 8-word-grams ------------------------------------------------------------


def test_humaneval_solutions_in_code_char_mode(humaneval, stdlib, mbpp):
    functions = [r["prompt"] + r["canonical_solution"] for r in humaneval]
    idx = ContaminationIndex(ngram=50, unit="char").fit(functions)
    rng = random.Random(5)
    planted = [plant(f, rng.choice(stdlib), rng, 2) for f in functions]
    assert checked(idx, planted).count("ngram_overlap") == len(functions)
    # the solution alone, reindented, inside another function
    bodies = [r["canonical_solution"] for r in humaneval]
    found = checked(idx, [plant(b.replace("    ", "  "), rng.choice(stdlib), rng, 0) for b in bodies])
    long_bodies = [len(plain_units(b, "char")) >= 50 for b in bodies]
    assert [f is not None for f in found] == long_bodies
    # measured: no stdlib function or MBPP solution overlaps a HumanEval problem by 50 characters
    assert checked(idx, stdlib + mbpp).count(None) == len(stdlib) + len(mbpp)
    # 8-word-grams, as common for code: also catches the planted functions, and flags no stdlib function
    words8 = ContaminationIndex(ngram=8, near_duplicate=None).fit(functions)
    assert checked(words8, planted).count("ngram_overlap") == len(functions)
    assert checked(words8, stdlib).count(None) == len(stdlib)


# -- contract: determinism, pickling, batches, parameters -----------------------------------------

CHILD = """
import json, pickle, sys
from zipfit.filters.contamination import ContaminationIndex
from zipfit.filters.shingles import units
texts = json.loads(sys.stdin.read())
index = ContaminationIndex().fit(texts[:50])
print(json.dumps({"check": index.check(texts), "whole": units(texts, "word").whole().tolist(),
                  "sig": index.signatures_[:3].tolist()}))
"""


def test_deterministic_across_processes_and_pickle(statements, lean_docs):
    texts = statements[:50] + [s.replace("e", "é") for s in statements[50:80]] + lean_docs[:20]
    index = ContaminationIndex().fit(texts[:50])
    here = {"check": index.check(texts), "whole": units(texts, "word").whole().tolist(),
            "sig": index.signatures_[:3].tolist()}
    child = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(texts), capture_output=True, text=True,
                           check=True, env={"PYTHONPATH": shingles.__file__.rsplit("/zipfit/", 1)[0],
                                            "PYTHONHASHSEED": "123"})
    assert json.loads(child.stdout) == here
    blob = pickle.dumps(index)
    assert len(blob) < 120_000  # sent to every worker: hashes and signatures only, no lookup tables
    index.setup()
    assert len(pickle.dumps(index)) == len(blob)
    copy = pickle.loads(blob)
    copy.setup()
    assert copy.check(texts) == here["check"]
    assert copy.params() == index.params()


def test_batch_independence_and_edges(index, statements, lean_docs):
    texts = ["", " ", "\n\n", statements[5], lean_docs[0], "ς", statements[6].upper()]
    together = index.check(texts)
    assert together == [index.check([t])[0] for t in texts]
    assert together == [None, None, None, "ngram_overlap", None, None, "ngram_overlap"]
    assert index.check([]) == []


def test_regimes_and_params():
    idx = ContaminationIndex(ngram=5, min_units=3).fit(
        ["one two three four five six", "alpha beta gamma", "solo", "", "!!!"])
    p = idx.params()
    assert p["excluded_by_regime"] == {"ngram": 1, "contained": 1, "whole_only": 1, "empty": 2}
    assert p["bands"] * p["rows"] <= 128 and p["band_recall_at_threshold"] >= 0.999
    checks = idx.check(["x two three four five six y", "x alpha beta gamma y", "solo", "x solo y", "", "!!!",
                        "alpha beta", "x two three four five y"])
    # "!!!" has no word, so no n-gram, but it is the same text as an excluded document: a near duplicate
    assert checks == ["ngram_overlap", "ngram_overlap", "ngram_overlap", None, None, "near_duplicate", None, None]
    assert idx.match("so, ALPHA-beta gamma!") == ("ngram_overlap", 1)
    assert idx.match("a solo") is None


@pytest.mark.parametrize("kwargs", [{"unit": "token"}, {"ngram": 0}, {"near_duplicate": 1.5},
                                    {"min_units": 0}, {"shingle_unit": "line"}])
def test_bad_parameters_are_one_line_errors(kwargs):
    with pytest.raises(ZipfitError):
        ContaminationIndex(**kwargs).fit(["some text"])


def test_nothing_excluded_flags_nothing(statements):
    idx = ContaminationIndex().fit([])
    assert idx.check([*statements[:3], ""]) == [None] * 4
    assert idx.params()["excluded_by_regime"] == {"ngram": 0, "contained": 0, "whole_only": 0, "empty": 0}


def test_check_needs_fit():
    with pytest.raises(ZipfitError, match="fit"):
        ContaminationIndex().check(["text"])
