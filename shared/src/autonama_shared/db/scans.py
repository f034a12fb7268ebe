"""Scans in PostgreSQL: a request as asked, the fetcher's plan, and the recount that
finishes a scan once every symbol of its plan is in (``recount`` serves the backtests too)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from autonama_shared.db.channels import notify_state
from autonama_shared.db.pool import Conn
from autonama_shared.messaging.events import ScanPlanned, ScanRequested

__all__ = [
    "FinishedScan",
    "record_plan",
    "record_request",
    "recount",
    "universe_json",
    "update_progress",
]


def universe_json(symbols: Sequence[str] | None, top: int | None) -> str:
    """How a request chose its symbols, for the ``universe`` column.

    >>> universe_json(None, 10), universe_json(["BTCUSDT"], None), universe_json(None, None)
    ('{"top": 10}', '{"symbols": ["BTCUSDT"]}', '{"core": true}')
    """
    if top is not None:
        return json.dumps({"top": top})
    if symbols is not None:
        return json.dumps({"symbols": list(symbols)})
    return json.dumps({"core": True})


async def record_request(conn: Conn, request: ScanRequested) -> None:
    """A scan as requested (status ``requested``); a second call changes nothing."""
    p = request.params
    await conn.execute(
        """INSERT INTO scans (scan_id, origin, interval, days, degree, kstd, price_scale,
                              universe, schedule, requested_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)
           ON CONFLICT (scan_id) DO NOTHING""",
        uuid.UUID(request.scan_id),
        request.origin,
        p.interval,
        p.days,
        p.degree,
        p.kstd,
        p.price_scale,
        universe_json(request.symbols, request.top),
        request.schedule,
        request.requested_at,
    )


async def record_plan(conn: Conn, plan: ScanPlanned) -> None:
    """The fetcher's plan: the symbols to expect. The scan becomes ``running`` (or ``failed``)."""
    error = plan.error
    await record_request(conn, plan.request)
    await conn.execute(
        """UPDATE scans SET started_at = COALESCE(started_at, $2),
                            symbols_expected = $3, window_candles = $4,
                            status = CASE WHEN $5::text IS NOT NULL THEN 'failed'
                                          WHEN status = 'requested' THEN 'running'
                                          ELSE status END,
                            error = COALESCE($5, error),
                            finished_at = CASE WHEN $5::text IS NOT NULL THEN $2
                                               ELSE finished_at END
           WHERE scan_id = $1""",
        uuid.UUID(plan.scan_id),
        plan.planned_at,
        len(plan.symbols),
        plan.window,
        error,
    )
    if error is not None:
        await notify_state(conn)  # the summary lists scans that failed as a whole


@dataclass(frozen=True)
class FinishedScan:
    scan_id: str
    symbols_done: int
    symbols_failed: int
    finished_at: datetime


async def recount(
    conn: Conn, table: str, key: str, parts: str, ids: Sequence[str]
) -> list[asyncpg.Record]:
    """Recount the done and failed parts (rows of ``parts``) of the open rows of ``table``
    whose ``key`` is in ``ids``; a row whose every planned symbol is in becomes finished.

    Returns the recounted rows; ``finished`` is true for those that finished now (only open
    rows are updated). ``table``, ``key`` and ``parts`` are this module's constants.
    """
    if not ids:
        return []
    done_now = "t.symbols_expected IS NOT NULL AND c.done + c.failed >= t.symbols_expected"
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""WITH counts AS (
               SELECT t.{key},
                      count(p.symbol) FILTER (WHERE p.status = 'done') AS done,
                      count(p.symbol) FILTER (WHERE p.status = 'failed') AS failed
               FROM {table} t LEFT JOIN {parts} p USING ({key})
               WHERE t.{key} = ANY($1::uuid[])
               GROUP BY t.{key})
           UPDATE {table} t
              SET symbols_done = c.done, symbols_failed = c.failed,
                  status = CASE WHEN {done_now} AND t.status = 'running'
                                THEN 'finished' ELSE t.status END,
                  finished_at = CASE WHEN {done_now} AND t.status = 'running'
                                     THEN now() ELSE t.finished_at END
             FROM counts c
            WHERE t.{key} = c.{key} AND t.status IN ('requested', 'running')
        RETURNING t.{key} AS id, t.symbols_done, t.symbols_failed, t.finished_at,
                  t.status = 'finished' AS finished""",  # noqa: S608 - constants only
        [uuid.UUID(i) for i in set(ids)],
    )
    return rows


async def update_progress(conn: Conn, scan_ids: Sequence[str]) -> list[FinishedScan]:
    """Recount the given scans; return those that finished now (every planned symbol in)."""
    rows = await recount(conn, "scans", "scan_id", "scan_symbols", scan_ids)
    finished = [
        FinishedScan(str(r["id"]), r["symbols_done"], r["symbols_failed"], r["finished_at"])
        for r in rows
        if r["finished"]
    ]
    if finished:
        await notify_state(conn)  # the summary names the last finished scan
    return finished
