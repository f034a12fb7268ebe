"""The consoles the commands print to."""

from __future__ import annotations

import os

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["progress_bar", "stdout_console"]


def stdout_console() -> Console:
    """Standard output; wide when it is a pipe or a file, so tables are not squeezed to 80,
    unless COLUMNS says how wide (a terminal's own width wins)."""
    out = Console()
    if out.is_terminal:
        return out
    columns = os.environ.get("COLUMNS", "")
    return Console(width=int(columns) if columns.isdigit() and int(columns) > 0 else 200)


def progress_bar(console: Console) -> Progress:
    """A transient bar on ``console``: what is happening, how far, how long."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
