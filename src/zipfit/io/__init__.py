"""Reading inputs as documents and writing outputs: the only place zipfit touches files."""

from zipfit.io.corpus import Corpus, Document
from zipfit.io.exclusions import Exclusions
from zipfit.io.inputs import InputFile
from zipfit.io.texts import read_texts
from zipfit.io.textspec import TextSpec
from zipfit.io.writers import (
    OUTPUT_SUFFIXES,
    TABLE_SUFFIXES,
    TableWriter,
    atomic_output,
    check_output,
    file_sha256,
    write_json,
    write_ranked,
    write_table,
)

__all__ = [
    "OUTPUT_SUFFIXES",
    "TABLE_SUFFIXES",
    "Corpus",
    "Document",
    "Exclusions",
    "InputFile",
    "TableWriter",
    "TextSpec",
    "atomic_output",
    "check_output",
    "file_sha256",
    "read_texts",
    "write_json",
    "write_ranked",
    "write_table",
]
