"""The NOTIFY channels through which readers (the API's pages and stream) hear of changes."""

from __future__ import annotations

from autonama_shared.db.pool import Conn

__all__ = ["alerts_channel", "notify_state", "state_channel"]


def state_channel(schema: str) -> str:
    """The NOTIFY channel of a change of ``schema``'s current state (current_signals,
    finished scans) that raised no alert; no payload. Readers that cache pages listen."""
    return f"{schema}_state"


async def notify_state(conn: Conn) -> None:
    """Tell listeners (after commit: NOTIFY is transactional) that the current state changed."""
    await conn.execute("SELECT pg_notify(current_schema() || '_state', '')")


def alerts_channel(schema: str) -> str:
    """The NOTIFY channel of ``schema``'s new alerts (payload: the highest new alert id)."""
    return f"{schema}_alerts"
