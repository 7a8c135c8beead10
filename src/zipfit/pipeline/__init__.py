"""The stages of a run: score (the score dataset), cut, write."""
