"""Evaluation harness: train language models on selections and measure target-task loss.

It imports the library and is never imported by it (only the CLI reaches it, lazily); its heavy
dependencies (torch, transformers, matplotlib) are in the ``zipfit[train]`` extra.
"""
