"""The harness's subcommands. Importing this module must stay cheap: heavy imports go inside handlers."""

from __future__ import annotations

from typing import Any


def add_commands(sub: Any) -> None:
    """Register the harness's subcommands on the main parser's subparsers; each sets ``handler``."""


