"""The exceptions users see, each reported in one line with its own exit code.

A user mistake (bad option, bad input) is a ``ZipfitError``; the environment failing under a run (a full disk,
a permission, a damaged file, another run holding the output) is one of its subclasses, so scripts can tell
them apart by exit code. Anything else is an internal bug: the CLI prints its traceback and asks for a report.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager


class ZipfitError(Exception):
    """A user-facing error (bad input, bad option). The CLI prints it without a traceback."""

    exit_code = 2


class CorruptFileError(ZipfitError):
    """A file zipfit reads is damaged or not what it claims to be (a score part, a manifest, a model file)."""

    exit_code = 3


class DiskFullError(ZipfitError):
    """No space (or quota) left while writing."""

    exit_code = 4


class AccessError(ZipfitError):
    """Permission denied, or a read-only file system."""

    exit_code = 5


class StorageError(ZipfitError):
    """Any other failure of the file system or store under a run (an I/O error, a vanished directory)."""

    exit_code = 6


class BusyError(ZipfitError):
    """Another live run writes the same output."""

    exit_code = 7


INTERNAL_EXIT = 70  # sysexits' EX_SOFTWARE: a bug in zipfit
INTERRUPTED_EXIT = 130

EXIT_CODES = {
    0: "success",
    2: "a mistake in what was asked (bad option, bad or missing input)",
    3: "a damaged file (an input, a checkpoint or score part, a manifest, a model file)",
    4: "the disk (or quota) is full",
    5: "permission denied or a read-only file system",
    6: "another storage failure (an I/O error)",
    7: "another live run is writing the same output",
    INTERNAL_EXIT: "an internal error in zipfit (a traceback is printed; please report it)",
    INTERRUPTED_EXIT: "interrupted (Ctrl-C or SIGTERM); finish with the same command and --resume",
}


def from_os_error(exc: OSError, doing: str) -> ZipfitError:
    """The one-line error for an OSError raised while ``doing`` (e.g. "writing out.jsonl")."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) not in doing else ""
    message = f"{doing}: {reason}{where}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(message + "; free some space and finish with the same command and --resume")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return AccessError(message)
    return StorageError(message)


@contextmanager
def reported(doing: str) -> Iterator[None]:
    """Turn an OSError raised in the block into the one-line error for ``doing``."""
    try:
        yield
    except OSError as exc:
        raise from_os_error(exc, doing) from None
