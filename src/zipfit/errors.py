"""The one exception type users see: a mistake in what they asked for, reported in one line."""


class ZipfitError(Exception):
    """A user-facing error (bad input, bad option). The CLI prints it without a traceback."""
