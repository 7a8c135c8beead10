"""Selection methods and the names the CLI and API know them by.

Adding a method: one module here with a :class:`Method` subclass that declares its ``name``,
``kind``, ``needs`` and ``parameters``, and one ``register`` line below. The order of the lines is
the order the CLI lists methods in.
"""

from __future__ import annotations

from zipfit.methods.base import BACKGROUND, CASCADE, KINDS, NEEDS, SCORES, SET, SOURCE_STATS, Method, Param
from zipfit.methods.d4 import D4
from zipfit.methods.dsir import DSIR
from zipfit.methods.embed import EmbeddingSimilarity
from zipfit.methods.random import RandomSample
from zipfit.methods.registry import (
    REGISTRY,
    SharedParam,
    accepted_parameters,
    all_parameters,
    check_params,
    make_method,
    method_class,
    method_names,
    register,
)
from zipfit.methods.zipfit import ZipFit
from zipfit.methods.zipfit_debiased import ZipFitDebiased
from zipfit.methods.zipfit_debiased_fast import ZipFitDebiasedFast
from zipfit.methods.zipfit_fast import ZipFitFast
from zipfit.methods.zipfit_ml import ZipFitML

# What select, score and compare use when no method is named: the evidence in README's Results and BENCHMARKS.md's
# selection-quality table (ZIP-FIT contrasted with the source's background beats the paper's score on both).
DEFAULT_METHOD = "zipfit-debiased"

register(ZipFit)
register(ZipFitFast)
register(ZipFitDebiased)
register(ZipFitDebiasedFast)
register(ZipFitML)
register(RandomSample)
register(DSIR)
register(EmbeddingSimilarity)
register(D4)

METHODS = REGISTRY  # name -> class, read-only

__all__ = [
    "BACKGROUND",
    "CASCADE",
    "D4",
    "DEFAULT_METHOD",
    "DSIR",
    "KINDS",
    "METHODS",
    "NEEDS",
    "SCORES",
    "SET",
    "SOURCE_STATS",
    "EmbeddingSimilarity",
    "Method",
    "Param",
    "RandomSample",
    "SharedParam",
    "ZipFit",
    "ZipFitDebiased",
    "ZipFitDebiasedFast",
    "ZipFitFast",
    "ZipFitML",
    "accepted_parameters",
    "all_parameters",
    "check_params",
    "make_method",
    "method_class",
    "method_names",
    "register",
]
