"""The API's reads (through the read-only role). Filters are bound parameters, never text."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from autonama_alerts_api.models import Alert

__all__ = ["AlertFilter", "Cursor", "alert_of", "list_alerts", "summary_rows"]

Sort = Literal["potential_return", "target_return", "time"]
_SORT_COLUMN = {"potential_return": "a.potential_return", "target_return": "a.target_return",
                "time": "a.id"}  # fmt: skip
#: An alert is current while its signal is the newest of its key: one probe of the
#: signals' unique key per alert (cheaper than the DISTINCT ON of latest_signals).
CURRENT = """NOT EXISTS (
    SELECT 1 FROM signals n
    WHERE (n.symbol, n.interval, n.degree, n.kstd, n.price_scale, n.days)
        = (a.symbol, a.interval, a.degree, a.kstd, a.price_scale, a.days)
      AND n.last_candle_time > a.last_candle_time)"""
ALERT_COLUMNS = (
    "a.id, a.symbol, a.interval, a.degree, a.kstd, a.price_scale, a.days, a.signal, "
    "a.previous_signal, a.reason, a.price, a.lower_band, a.upper_band, a.fit, "
    "a.potential_return, a.target_return, a.last_candle_time, a.created_at, a.scan_id"
)


@dataclass(frozen=True)
class AlertFilter:
    signal: Literal["BUY", "SELL"] | None = None
    symbol: str | None = None
    interval: str | None = None
    min_potential_return: float | None = None
    since: datetime | None = None

    def where(self, args: list[Any]) -> list[str]:
        """SQL conditions on ``a`` (alerts), appending their values to ``args``."""
        conditions = []
        for column, value in (("a.signal", self.signal), ("a.symbol", self.symbol),
                              ("a.interval", self.interval)):  # fmt: skip
            if value is not None:
                args.append(value)
                conditions.append(f"{column} = ${len(args)}")
        if self.min_potential_return is not None:
            args.append(self.min_potential_return)
            conditions.append(f"a.potential_return >= ${len(args)}")
        if self.since is not None:
            args.append(self.since)
            conditions.append(f"a.created_at >= ${len(args)}")
        return conditions

    def matches(self, alert: Alert) -> bool:
        return (
            (self.signal is None or alert.signal == self.signal)
            and (self.symbol is None or alert.symbol == self.symbol)
            and (self.interval is None or alert.interval == self.interval)
            and (self.min_potential_return is None
                 or alert.potential_return >= self.min_potential_return)
            and (self.since is None or alert.created_at >= self.since)
        )  # fmt: skip


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the sort value and id of its last alert (opaque to clients)."""

    sort: str
    value: float
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.sort, self.value, self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """ValueError when ``text`` is not a cursor this API made."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            sort, value, ident = json.loads(raw)
            return cls(str(sort), float(value), int(ident))
        except (ValueError, TypeError) as e:
            raise ValueError("cursor is not one this API returned") from e


def alert_of(row: asyncpg.Record) -> Alert:
    return Alert(
        id=row["id"], symbol=row["symbol"], interval=row["interval"], degree=row["degree"],
        kstd=row["kstd"], price_scale=row["price_scale"], days=row["days"],
        signal=row["signal"], previous_signal=row["previous_signal"], reason=row["reason"],
        price=row["price"], lower=row["lower_band"], upper=row["upper_band"], fit=row["fit"],
        potential_return=row["potential_return"], target_return=row["target_return"],
        last_candle_time=row["last_candle_time"], created_at=row["created_at"],
        scan_id=str(row["scan_id"]) if row["scan_id"] else None,
    )  # fmt: skip


async def list_alerts(
    pool: asyncpg.Pool,
    filters: AlertFilter,
    *,
    latest: bool,
    sort: Sort,
    descending: bool,
    limit: int,
    cursor: Cursor | None,
) -> tuple[list[Alert], Cursor | None]:
    args: list[Any] = []
    conditions = filters.where(args)
    column = _SORT_COLUMN[sort]
    if cursor is not None:
        args.extend([cursor.value, cursor.id])
        op = "<" if descending else ">"
        conditions.append(f"({column}, a.id) {op} (${len(args) - 1}, ${len(args)})")
    if latest:
        conditions.append(CURRENT)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    direction = "DESC" if descending else "ASC"
    args.append(limit + 1)
    rows = await pool.fetch(
        f"SELECT {ALERT_COLUMNS} FROM alerts a {where} "  # noqa: S608 - no user text
        f"ORDER BY {column} {direction}, a.id {direction} LIMIT ${len(args)}",
        *args,
    )
    alerts = [alert_of(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = alerts[-1]
        value = {"potential_return": last.potential_return, "target_return": last.target_return,
                 "time": float(last.id)}[sort]  # fmt: skip
        next_cursor = Cursor(sort, value, last.id)
    return alerts, next_cursor


async def summary_rows(pool: asyncpg.Pool) -> dict[str, Any]:
    counts = await pool.fetch(
        f"SELECT a.signal, count(*) AS n FROM alerts a WHERE {CURRENT} GROUP BY a.signal"  # noqa: S608
    )
    strongest = {}
    for signal in ("BUY", "SELL"):
        row = await pool.fetchrow(
            f"""SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.signal = $1 AND {CURRENT}
                ORDER BY a.potential_return DESC, a.id DESC LIMIT 1""",  # noqa: S608
            signal,
        )
        strongest[signal] = alert_of(row) if row else None
    scan = await pool.fetchrow(
        """SELECT scan_id, finished_at, symbols_expected, symbols_failed FROM scans
           WHERE status = 'finished' ORDER BY finished_at DESC LIMIT 1"""
    )
    return {
        "counts": {"BUY": 0, "SELL": 0, **{r["signal"]: r["n"] for r in counts}},
        "strongest_buy": strongest["BUY"],
        "strongest_sell": strongest["SELL"],
        "last_scan_id": str(scan["scan_id"]) if scan else None,
        "last_scan_finished_at": scan["finished_at"] if scan else None,
        "last_scan_symbols": scan["symbols_expected"] if scan else None,
        "failed_symbols": scan["symbols_failed"] if scan else None,
    }
