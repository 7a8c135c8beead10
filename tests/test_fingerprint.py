"""One parameter fingerprint and one texts digest for checkpoints and experiment steps."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from zipfit.fingerprint import canonical_json, fingerprint, texts_digest


def test_the_fingerprint_is_sha256_of_canonical_json():
    params = {"b": [1, 2.5, None], "a": {"z": "é", "y": Path("/data/x.jsonl")}}
    text = '{"a":{"y":"/data/x.jsonl","z":"\\u00e9"},"b":[1,2.5,null]}'
    assert canonical_json(params) == text
    assert fingerprint(params) == hashlib.sha256(text.encode("ascii")).hexdigest()


def test_key_order_does_not_matter_and_values_do():
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": "1"})


def test_experiment_step_hashes_are_what_they_were():
    # the harness's step cache hashed parameters exactly this way before it used zipfit.fingerprint:
    # finished experiment steps stay reusable
    params = {"method": "zipfit", "k": 50, "files": [{"path": "a.jsonl", "size": 10}], "note": "ünïcode"}
    old = json.dumps(params, sort_keys=True, ensure_ascii=True, default=str, separators=(",", ":"))
    assert fingerprint(params) == hashlib.sha256(old.encode("ascii")).hexdigest()


def test_texts_digest_tells_apart_sequences_with_the_same_characters():
    assert texts_digest(["ab"]) != texts_digest(["a", "b"])
    assert texts_digest(["a", "b"]) == texts_digest(iter(["a", "b"]))
    assert texts_digest([]) == hashlib.sha256().hexdigest()
