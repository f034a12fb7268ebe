"""Reads of the scans, the drop folder's ingestions and the backtests."""

from __future__ import annotations

import uuid

import asyncpg

from autonama_alerts_api.models.runs import Backtest, Ingestion, Scan
from autonama_shared.formats.report import SymbolBacktest

__all__ = [
    "backtest_by_id",
    "backtest_equity",
    "recent_backtests",
    "recent_ingestions",
    "recent_scans",
    "scan_by_id",
]


_SCAN_COLUMNS = "s.*, s.scan_id::text AS scan_id"


async def recent_scans(pool: asyncpg.Pool, limit: int) -> list[Scan]:
    rows = await pool.fetch(
        f"SELECT {_SCAN_COLUMNS} FROM scans s ORDER BY s.requested_at DESC LIMIT $1",  # noqa: S608
        limit,
    )
    return [Scan.model_validate(dict(r)) for r in rows]


async def scan_by_id(pool: asyncpg.Pool, scan_id: uuid.UUID) -> Scan | None:
    row = await pool.fetchrow(
        f"SELECT {_SCAN_COLUMNS} FROM scans s WHERE s.scan_id = $1",  # noqa: S608
        scan_id,
    )
    if row is None:
        return None
    failed = await pool.fetch(
        """SELECT symbol, coalesce(error, '') AS error FROM scan_symbols
           WHERE scan_id = $1 AND status = 'failed' ORDER BY symbol""",
        scan_id,
    )
    return Scan.model_validate({**dict(row), "failed": [dict(f) for f in failed]})


async def recent_ingestions(pool: asyncpg.Pool, limit: int) -> list[Ingestion]:
    rows = await pool.fetch(
        """SELECT i.*, i.scan_id::text AS scan_id FROM ingestions i
           ORDER BY i.ingested_at DESC, i.id DESC LIMIT $1""",
        limit,
    )
    return [Ingestion.model_validate(dict(r)) for r in rows]


_BACKTEST_COLUMNS = "b.*, b.backtest_id::text AS backtest_id"


async def recent_backtests(pool: asyncpg.Pool, limit: int) -> list[Backtest]:
    rows = await pool.fetch(
        f"SELECT {_BACKTEST_COLUMNS} FROM backtests b "  # noqa: S608
        "ORDER BY b.requested_at DESC LIMIT $1",
        limit,
    )
    return [Backtest.model_validate(dict(r)) for r in rows]


async def backtest_by_id(pool: asyncpg.Pool, backtest_id: uuid.UUID) -> Backtest | None:
    row = await pool.fetchrow(
        f"SELECT {_BACKTEST_COLUMNS} FROM backtests b WHERE b.backtest_id = $1",  # noqa: S608
        backtest_id,
    )
    if row is None:
        return None
    results = await pool.fetch(
        "SELECT result FROM backtest_results WHERE backtest_id = $1 ORDER BY symbol",
        backtest_id,
    )
    return Backtest.model_validate(
        {
            **dict(row),
            "results": [SymbolBacktest.model_validate_json(r["result"]) for r in results],
        }
    )


async def backtest_equity(
    pool: asyncpg.Pool, backtest_id: uuid.UUID, symbol: str
) -> asyncpg.Record | None:
    """The stored result, bar times, equity and buy-and-hold equity of one symbol."""
    row: asyncpg.Record | None = await pool.fetchrow(
        """SELECT result, equity_time, equity, hold_equity FROM backtest_results
           WHERE backtest_id = $1 AND symbol = $2""",
        backtest_id,
        symbol,
    )
    return row
