"""What each long-running part of a service says of itself, for an operator to see.

A part (a consumer loop, a folder watcher, the senders) is "ok" or says why it
is not: "retrying: PostgreSQL: ... read-only transaction", "circuit open: ...",
"restarting: ...". Services with a database write their parts to
``worker_status`` (``autonama_shared.db.status``), which the API's ``/readyz``
reads; every change is logged by whoever makes it.
"""

from __future__ import annotations

import asyncio

__all__ = ["OK", "Health"]

OK = "ok"


class Health:
    """The parts of one service and their states (a plain dict, and an event on change)."""

    def __init__(self) -> None:
        self.parts: dict[str, str] = {}
        self.changed = asyncio.Event()

    def set(self, part: str, state: str) -> None:
        if self.parts.get(part) != state:
            self.parts[part] = state
            self.changed.set()

    def ok(self, part: str) -> None:
        self.set(part, OK)

    def problems(self) -> dict[str, str]:
        """The parts that are not ok, and why."""
        return {part: state for part, state in self.parts.items() if state != OK}
