"""The consoles the commands print to."""

from __future__ import annotations

from rich.console import Console

__all__ = ["stdout_console"]


def stdout_console() -> Console:
    """Standard output; wide when it is a pipe or a file, so tables are not squeezed to 80."""
    out = Console()
    return out if out.is_terminal else Console(width=200)
