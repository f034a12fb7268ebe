"""Which dead letters were replayed (``dead_letter_replays``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from asyncpg import Connection
from asyncpg.pool import PoolConnectionProxy

__all__ = ["record_replays", "replayed"]

Conn = Connection | PoolConnectionProxy


async def replayed(conn: Conn, digests: Sequence[str]) -> dict[str, datetime]:
    """Of ``digests`` (letters' SHA-256), those replayed before, and when."""
    rows = await conn.fetch(
        "SELECT letter_sha256, replayed_at FROM dead_letter_replays "
        "WHERE letter_sha256 = ANY($1::text[])",
        list(digests),
    )
    return {r["letter_sha256"]: r["replayed_at"] for r in rows}


async def record_replays(conn: Conn, letters: Sequence[tuple[str, str, str]]) -> None:
    """Mark (digest, letter id, topic) replayed now (again: the time moves on)."""
    await conn.executemany(
        """INSERT INTO dead_letter_replays (letter_sha256, letter_id, topic)
           VALUES ($1, $2, $3)
           ON CONFLICT (letter_sha256) DO UPDATE SET replayed_at = now()""",
        letters,
    )
