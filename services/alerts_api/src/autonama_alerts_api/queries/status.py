"""The workers' health and the state version that the cached pages are read at."""

from __future__ import annotations

import asyncpg

from autonama_shared.db.pool import one

__all__ = ["STALE_SECONDS", "state_version", "worker_states"]


#: A worker part that has not said it is alive for this long is taken as stopped.
STALE_SECONDS = 60.0


async def worker_states(pool: asyncpg.Pool) -> dict[str, str]:
    """Each worker part's state for /readyz: "ok", or why it is not running."""
    rows = await pool.fetch(
        """SELECT name, running, detail, extract(epoch FROM now() - updated_at) AS age
           FROM worker_status ORDER BY name"""
    )
    states = {}
    for r in rows:
        if not r["running"]:
            states[r["name"]] = f"not running: {r['detail']}"
        elif r["age"] > STALE_SECONDS:
            states[r["name"]] = f"not running: silent for {r['age']:.0f} s"
        else:
            states[r["name"]] = "ok"
    return states


async def state_version(pool: asyncpg.Pool) -> str:
    """What the alert pages depend on, in one short text: the newest alert, the newest
    change of current_signals, the last finished scan and how many scans failed (a page's
    ETag; index probes and a count over the scans)."""
    row = await pool.fetchrow(
        """SELECT (SELECT coalesce(max(id), 0) FROM alerts) AS alert,
                  (SELECT coalesce(extract(epoch FROM max(updated_at)) * 1e6, 0)::bigint
                   FROM current_signals) AS changed,
                  (SELECT coalesce(extract(epoch FROM max(finished_at)) * 1e6, 0)::bigint
                   FROM scans WHERE status = 'finished') AS scanned,
                  (SELECT count(*) FROM scans WHERE status = 'failed') AS failed"""
    )
    row = one(row, "the state version")
    return f"{row['alert']}.{row['changed']}.{row['scanned']}.{row['failed']}"
