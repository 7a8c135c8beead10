"""The contract every selection method follows, in the spirit of scikit-learn estimators.

Parameters go to ``__init__`` (no work there) and are declared once, as :class:`Param` entries in
``parameters``: the registry validates them, the CLI generates its options from them and the
manifest records them. ``fit`` sees the target examples. What a method gives back is declared by
``kind``, and what else it needs from the source by ``needs``; the pipeline dispatches on these two
alone:

- ``"scores"`` (:data:`SCORES`): ``score`` maps a batch of source texts to one float64 per text,
  higher = better fit; the pipeline cuts the global top-K.
- ``"cascade"`` (:data:`CASCADE`): a per-document score computed in stages (``zipfit-fast``): the
  pipeline drives its calibration and proxy hooks and scores exactly only the contenders.
- ``"set"`` (:data:`SET`): chooses a set from the whole pool at once (``d4``): no per-document
  score; the pipeline runs its ``embedder()`` over every document and calls ``select`` or
  ``select_tokens`` on the stacked vectors.

``needs`` is a subset of :data:`NEEDS`: ``"background"`` (a seeded sample of source texts before
scoring: ``background_size()`` says how many, ``fit_background(texts)`` takes them) and
``"source_stats"`` (a pass over every source document first: ``source_counts(texts)`` per batch,
summed, goes to ``fit_source(total)``). Defining a class checks that it has the hooks its kind and
needs promise.

Engines pickle a fitted method, call ``setup`` once per worker and ``score`` per batch: a method
never knows how many processes or machines run it.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from zipfit.errors import ZipfitError

SCORES = "scores"
CASCADE = "cascade"
SET = "set"
KINDS = (SCORES, CASCADE, SET)

BACKGROUND = "background"
SOURCE_STATS = "source_stats"
NEEDS = frozenset({BACKGROUND, SOURCE_STATS})

# the hooks the pipeline calls for each kind and need, checked when a class is defined
_KIND_HOOKS = {
    SCORES: ("score",),
    CASCADE: ("profiler", "calibrate", "survivors", "candidates", "more_candidates", "worthwhile"),
    SET: ("embedder", "select", "select_tokens"),
}
_NEED_HOOKS = {BACKGROUND: ("background_size", "fit_background"), SOURCE_STATS: ("source_counts", "fit_source")}

_TYPES = (int, float, str, bool)
_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _number(value: float) -> str:
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Param:
    """One constructor parameter of a method, as the CLI, the registry and the manifest see it.

    ``minimum`` and ``maximum`` are inclusive; ``above`` is an exclusive lower bound (for a fraction
    in (0, 1]). ``allow_none`` makes ``None`` a legal value meaning "automatic", which ``none_means``
    words for the help (e.g. "the codec's default"). ``path`` lets a ``str`` parameter also take an
    ``os.PathLike``. Floats must be finite.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    allow_none: bool = False
    none_means: str = "automatic"
    path: bool = False
    metavar: str | None = None

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"parameter {self.name}: type must be one of int, float, str, bool, got {self.type}")
        if self.default is None and not self.allow_none:
            raise TypeError(f"parameter {self.name}: default None needs allow_none=True")
        self.check(self.default)  # a declaration whose own default is illegal is a bug, found at import

    @property
    def flag(self) -> str:
        """The CLI option that sets this parameter: ``--num-buckets`` for ``num_buckets``."""
        return "--" + self.name.replace("_", "-")

    @property
    def cli_flag(self) -> str:
        """The option a user types: a bool that is on by default is turned off with ``--no-...``."""
        return "--no-" + self.name.replace("_", "-") if self.type is bool and self.default else self.flag

    def describe_default(self) -> str:
        if self.default is None:
            return self.none_means
        if self.type is bool:
            return "on" if self.default else "off"
        return _number(self.default) if self.type in (int, float) else str(self.default)

    def check(self, value: Any) -> Any:
        """``value`` if it is legal for this parameter; otherwise a ZipfitError naming the CLI flag.

        Nothing is converted: 5.0 for an integer parameter is an error, not 5 (an int is a legal float).
        """
        flag = self.flag
        if value is None:
            if self.allow_none:
                return None
            raise ZipfitError(f"{flag} needs a value, got none")
        if self.type is bool:
            ok = isinstance(value, (bool, np.bool_))
        elif self.type is int:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
        elif self.type is float:
            ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
        else:
            ok = isinstance(value, str) or (self.path and isinstance(value, os.PathLike))
        if not ok:
            raise ZipfitError(f"{flag} must be {_TYPE_WORDS[self.type]}, got {value!r} ({type(value).__name__})")
        if self.type is float and not math.isfinite(value):
            raise ZipfitError(f"{flag} must be a finite number, got {value}")
        if self.choices is not None and value not in self.choices:
            raise ZipfitError(f"{flag} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ZipfitError(f"{flag} must be at least {_number(self.minimum)}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise ZipfitError(f"{flag} must be at most {_number(self.maximum)}, got {value}")
        if self.above is not None and value <= self.above:
            raise ZipfitError(f"{flag} must be greater than {_number(self.above)}, got {value}")
        return value

    def same_setting(self, other: Param) -> bool:
        """Whether two methods' declarations of one name can share one CLI option and one meaning."""
        return (self.name, self.type, self.default, self.choices, self.allow_none, self.path) == (
            other.name, other.type, other.default, other.choices, other.allow_none, other.path)


def _texts_not_a_string(fn: Any) -> Any:
    """``fit`` and ``score`` take a sequence of texts; one string would be read as one text per character."""
    if getattr(fn, "_checks_texts", False):
        return fn

    @functools.wraps(fn)
    def checked(self: Any, texts: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(texts, (str, bytes)):
            raise ZipfitError(f"{type(self).__name__}.{fn.__name__} takes a sequence of texts, not one string (it "
                              f"would be read as one text per character): write [text]")
        return fn(self, texts, *args, **kwargs)

    checked._checks_texts = True  # type: ignore[attr-defined]
    return checked


class Method(ABC):
    """A selection method: declared ``name``, ``kind``, ``needs`` and ``parameters``; ``fit`` then ``score``."""

    name: ClassVar[str]
    kind: ClassVar[str] = SCORES
    needs: ClassVar[frozenset[str]] = frozenset()
    parameters: ClassVar[tuple[Param, ...]] = ()
    # the exclusion reason the pipeline records for a document whose score is NaN
    unscorable_reason: ClassVar[str] = "unscorable"
    # the registered name of this method's cascade, which the ``fast`` parameter selects (None: no cascade)
    fast_variant: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind not in KINDS:
            raise TypeError(f"{cls.__name__}.kind must be one of {', '.join(KINDS)}, got {cls.kind!r}")
        if not isinstance(cls.needs, frozenset) or not cls.needs <= NEEDS:
            raise TypeError(f"{cls.__name__}.needs must be a frozenset of {sorted(NEEDS)}, got {cls.needs!r}")
        names = [p.name for p in cls.parameters]
        if len(set(names)) != len(names):
            raise TypeError(f"{cls.__name__} declares a parameter twice: {names}")
        hooks = [*_KIND_HOOKS[cls.kind], *(h for need in sorted(cls.needs) for h in _NEED_HOOKS[need])]
        missing = [h for h in hooks if not callable(getattr(cls, h, None))]
        if missing:
            raise TypeError(f"{cls.__name__} (kind {cls.kind!r}, needs {sorted(cls.needs)}) lacks {', '.join(missing)}")
        for hook in ("fit", "score"):
            if hook in cls.__dict__:
                setattr(cls, hook, _texts_not_a_string(cls.__dict__[hook]))

    @abstractmethod
    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> Method:
        """Learn whatever the method needs from the target examples; returns self."""

    @abstractmethod
    def score(self, texts: Sequence[str]) -> np.ndarray:
        """One float64 per text; higher means a better fit to the target."""

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Build per-process state once per worker (after unpickling)."""

    def get_params(self) -> dict[str, Any]:
        """The declared parameters' values as given to ``__init__`` (scikit-learn's ``get_params``)."""
        return {p.name: getattr(self, p.name) for p in self.parameters}

    def params(self) -> dict[str, Any]:
        """Parameters as recorded in the manifest: every declared one, resolved where fitting resolved it
        (e.g. ``level`` None becomes the codec's default), and what fitting learned about the data."""
        return self.get_params()

    @classmethod
    def parameter(cls, name: str) -> Param | None:
        return next((p for p in cls.parameters if p.name == name), None)

    @classmethod
    def declaration_errors(cls) -> list[str]:
        """Where ``parameters`` and ``__init__`` disagree (names, defaults); empty when they agree."""
        signature = inspect.signature(cls.__init__).parameters
        given = {n: p.default for n, p in signature.items() if n != "self"}
        declared = {p.name: p.default for p in cls.parameters}
        errors = [f"__init__ takes {n!r}, not declared" for n in given if n not in declared]
        errors += [f"{n!r} declared, not taken by __init__" for n in declared if n not in given]
        errors += [f"{n!r} defaults to {given[n]!r} in __init__ but {declared[n]!r} in parameters"
                   for n in declared if n in given and given[n] != declared[n]]
        return errors

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` validated against the declarations; an undeclared name is a ZipfitError."""
        out = {}
        for key, value in params.items():
            param = cls.parameter(key)
            if param is None:
                flag = "--" + key.replace("_", "-")
                raise ZipfitError(f"{flag} does not apply to --method {cls.name}")
            out[key] = param.check(value)
        return out


# A general run setting rather than a method's own: every method that takes a seed is handed the run's.
SEED = Param("seed", int, 0, "seed of the method's random choices; the same seed gives the same selection",
             minimum=0)
