"""The consoles the commands print to."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["progress_bar", "stdout_console"]


def stdout_console() -> Console:
    """Standard output; wide when it is a pipe or a file, so tables are not squeezed to 80."""
    out = Console()
    return out if out.is_terminal else Console(width=200)


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
