"""Filters applied around selection: decontamination against excluded documents, duplicate removal."""

from zipfit.filters.contamination import ContaminationIndex
from zipfit.filters.dedup import DuplicateKeys, GreedyDeduplicator

__all__ = ["ContaminationIndex", "DuplicateKeys", "GreedyDeduplicator"]
