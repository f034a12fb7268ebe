"""A service's parts in ``worker_status``, the table the API's ``/readyz`` reads."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from autonama_shared.db.pool import DATABASE_ERRORS
from autonama_shared.health import OK, Health
from autonama_shared.lifecycle import wait_for_any

__all__ = ["HEARTBEAT_SECONDS", "record_status", "report_health"]

log = logging.getLogger(__name__)

#: How often a part says it is alive (the API takes a part silent for 60 s as stopped).
HEARTBEAT_SECONDS = 10.0


async def record_status(pool: asyncpg.Pool, name: str, running: bool, detail: str) -> None:
    """Upsert one part's row (best effort: the database may be what is away)."""
    try:
        await pool.execute(
            """INSERT INTO worker_status (name, running, detail, updated_at)
               VALUES ($1, $2, $3, now())
               ON CONFLICT (name) DO UPDATE
               SET running = EXCLUDED.running, detail = EXCLUDED.detail,
                   updated_at = EXCLUDED.updated_at""",
            name,
            running,
            detail[:1000],
        )
    except DATABASE_ERRORS as e:
        log.debug("status of %s not recorded: %s", name, e)


async def report_health(pool: asyncpg.Pool, health: Health, stop: asyncio.Event) -> None:
    """Write every part of ``health`` now, on each change, and every ``HEARTBEAT_SECONDS``.
    At a clean stop the parts' rows go (a part that stopped on purpose is no fault); a
    killed process's rows fall silent, which ``/readyz`` reports until it is back."""
    while not stop.is_set():
        health.changed.clear()
        for part, state in list(health.parts.items()):
            await record_status(pool, part, state == OK, state)
        await wait_for_any(HEARTBEAT_SECONDS, stop, health.changed)
    try:
        await pool.execute(
            "DELETE FROM worker_status WHERE name = ANY($1::text[])", list(health.parts)
        )
    except DATABASE_ERRORS as e:
        log.debug("status rows not removed: %s", e)
