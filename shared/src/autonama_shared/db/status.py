"""A service's parts in ``worker_status``, the table the API's ``/readyz`` reads."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from autonama_shared.db.pool import DATABASE_ERRORS
from autonama_shared.health import OK, Health
from autonama_shared.lifecycle import wait_for_any
from autonama_shared.untrusted import printable

__all__ = ["HEARTBEAT_SECONDS", "record_status", "report_health"]

log = logging.getLogger(__name__)

#: How often a part says it is alive (the API takes a part silent for 60 s as stopped).
HEARTBEAT_SECONDS = 10.0


async def record_status(pool: asyncpg.Pool, name: str, running: bool, detail: str) -> None:
    """Upsert one part's row (best effort: the database may be what is away); ``detail``
    often quotes an error's text, so it is bounded and escaped."""
    try:
        await pool.execute(
            """INSERT INTO worker_status (name, running, detail, updated_at)
               VALUES ($1, $2, $3, now())
               ON CONFLICT (name) DO UPDATE
               SET running = EXCLUDED.running, detail = EXCLUDED.detail,
                   updated_at = EXCLUDED.updated_at""",
            name,
            running,
            printable(detail, 1000),
        )
    except DATABASE_ERRORS as e:
        log.debug("status of %s not recorded: %s", name, e)


#: A sibling replica silent this long is gone (killed and replaced, or scaled down).
GONE_SECONDS = 90.0


async def report_health(
    pool: asyncpg.Pool, health: Health, stop: asyncio.Event, *, service: str | None = None
) -> None:
    """Write every part of ``health`` now, on each change, and every ``HEARTBEAT_SECONDS``.
    At a clean stop the parts' rows go (a part that stopped on purpose is no fault); a
    killed process's rows fall silent, which ``/readyz`` reports. With ``service`` (the
    parts are named ``<service>-<replica>.<part>``), the rows of a replica of the same
    service silent for ``GONE_SECONDS`` are removed: a process killed and started again
    under a new replica name leaves no stale row; the last replica of a service that died
    stays reported, as nobody removes its rows."""
    while not stop.is_set():
        health.changed.clear()
        for part, state in list(health.parts.items()):
            await record_status(pool, part, state == OK, state)
        if service is not None:
            try:
                await pool.execute(
                    """DELETE FROM worker_status
                       WHERE starts_with(name, $1) AND NOT (name = ANY($2::text[]))
                         AND updated_at < now() - make_interval(secs => $3)""",
                    f"{service}-",
                    list(health.parts),
                    GONE_SECONDS,
                )
            except DATABASE_ERRORS as e:
                log.debug("stale status rows not removed: %s", e)
        await wait_for_any(HEARTBEAT_SECONDS, stop, health.changed)
    try:
        await pool.execute(
            "DELETE FROM worker_status WHERE name = ANY($1::text[])", list(health.parts)
        )
    except DATABASE_ERRORS as e:
        log.debug("status rows not removed: %s", e)
