"""The real data the report tests share (imported by their conftest and tests: tests/reporting is on sys.path)."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TARGET = EXAMPLES / "proofnet_valid.jsonl"
TEMPLATE = "{formal_statement}"
BAD_LINES = ['{"id": "broken", "text": "no closing brace"', '{"id": "empty", "domain": "bad", "text": ""}',
             '{"id": "no-text", "domain": "bad", "body": "the text is elsewhere"}']
