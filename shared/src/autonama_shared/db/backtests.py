"""Storing backtests that ran through the pipeline (idempotent, in the caller's transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from autonama_shared.db.pool import Conn
from autonama_shared.db.scans import recount, universe_json
from autonama_shared.messaging.events import BacktestComputed, BacktestPlanned, BacktestRequested

__all__ = [
    "record_backtest_plan",
    "record_backtest_request",
    "store_backtest_results",
    "update_backtest_progress",
]


async def record_backtest_request(conn: Conn, request: BacktestRequested) -> None:
    await conn.execute(
        """INSERT INTO backtests (backtest_id, origin, parameters, universe, requested_at)
           VALUES ($1, $2, $3::jsonb, $4::jsonb, $5) ON CONFLICT (backtest_id) DO NOTHING""",
        uuid.UUID(request.backtest_id),
        request.origin,
        request.params.model_dump_json(),
        universe_json(request.symbols, request.top),
        request.requested_at,
    )


async def record_backtest_plan(conn: Conn, plan: BacktestPlanned) -> None:
    await record_backtest_request(conn, plan.request)
    await conn.execute(
        """UPDATE backtests SET started_at = COALESCE(started_at, $2), symbols_expected = $3,
                  status = CASE WHEN $4::text IS NOT NULL THEN 'failed'
                                WHEN status = 'requested' THEN 'running' ELSE status END,
                  error = COALESCE($4, error),
                  finished_at = CASE WHEN $4::text IS NOT NULL THEN $2 ELSE finished_at END
           WHERE backtest_id = $1""",
        uuid.UUID(plan.backtest_id),
        plan.planned_at,
        len(plan.symbols),
        plan.error,
    )


async def store_backtest_results(conn: Conn, results: Sequence[BacktestComputed]) -> None:
    """Store per-symbol results (a replayed one changes nothing)."""
    if not results:
        return
    await conn.executemany(
        """INSERT INTO backtest_results (backtest_id, symbol, status, result, equity_time,
                                         equity, hold_equity, engine_version, computed_at)
           VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)
           ON CONFLICT (backtest_id, symbol) DO NOTHING""",
        [
            (
                uuid.UUID(r.backtest_id),
                r.symbol,
                "failed" if r.result.error else "done",
                r.result.model_dump_json(),
                r.equity_time,
                r.equity,
                r.hold,
                r.engine_version,
                r.computed_at,
            )
            for r in results
        ],
    )


async def update_backtest_progress(conn: Conn, backtest_ids: Sequence[str]) -> list[str]:
    """Recount the given backtests; return the ids of those that finished now."""
    rows = await recount(conn, "backtests", "backtest_id", "backtest_results", backtest_ids)
    return [str(r["id"]) for r in rows if r["finished"]]
