"""The harness's optional dependencies, imported where used, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from zipfit.errors import ZipfitError

TRAIN_EXTRA = "pip install 'zipfit[train]'"


def need(module: str, what: str = "training and evaluating language models") -> ModuleType:
    """Import `module` or raise a one-line ZipfitError naming the `train` extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ZipfitError(f"{what} needs the '{module.split('.')[0]}' package ({exc}); install zipfit[train]: "
                          f"{TRAIN_EXTRA}") from None
