"""Reads of the alerts: pages by filter and cursor, the summary, the stream's catch-up."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
import orjson

from autonama_alerts_api.models.alerts import Alert
from autonama_shared.db.outbox import ALERT_COLUMNS as _RECORD_COLUMNS
from autonama_shared.db.outcomes import OUTCOME_COLUMNS
from autonama_shared.db.pool import one

__all__ = [
    "ALERT_COLUMNS",
    "CURRENT_JOIN",
    "OUTCOME_JOIN",
    "AlertFilter",
    "Cursor",
    "Sort",
    "alert_of",
    "alerts_after",
    "alerts_json",
    "list_alerts",
    "summary_rows",
    "with_outcome",
]


Sort = Literal["potential_return", "target_return", "time"]


_SORT_COLUMN = {
    "potential_return": "a.potential_return",
    "target_return": "a.target_return",
    "time": "a.id",
}


#: The columns of an alert as the API gives it: the record's (``db.outbox``), then its
#: outcome so far (migration 0025; ``OUTCOME_JOIN``) under ``outcome_`` names, which
#: ``with_outcome`` nests as ``outcome`` (null until the ingestor has scored a bar).
ALERT_COLUMNS = f"{_RECORD_COLUMNS}, o.alert_id AS outcome_alert_id, " + ", ".join(
    f"o.{c} AS outcome_{c}" for c in OUTCOME_COLUMNS
)
OUTCOME_JOIN = "LEFT JOIN alert_outcomes o ON o.alert_id = a.id"
_OUTCOME_NAMES = tuple((f"outcome_{c}", c) for c in OUTCOME_COLUMNS)


def with_outcome(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """An ``ALERT_COLUMNS`` row as ``Alert``'s fields in its order: the outcome nested."""
    alert = dict(row)
    scored = alert.pop("outcome_alert_id") is not None
    flat = {name: alert.pop(column) for column, name in _OUTCOME_NAMES}
    alert["outcome"] = (
        {"alert_id": alert["id"], "signal": alert["signal"], **flat} if scored else None
    )
    return alert


#: An alert is current while its signal is the newest of its key: the key's row of
#: current_signals (kept by the ingestor) names it.
CURRENT_JOIN = "JOIN current_signals cs ON cs.alert_id = a.id"


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
        for column, value in (
            ("a.signal", self.signal),
            ("a.symbol", self.symbol),
            ("a.interval", self.interval),
        ):
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
            and (
                self.min_potential_return is None
                or alert.potential_return >= self.min_potential_return
            )
            and (self.since is None or alert.created_at >= self.since)
        )


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
            cursor = cls(str(sort), float(value), int(ident))
        except (ValueError, TypeError) as e:
            raise ValueError("cursor is not one this API returned") from e
        if not (math.isfinite(cursor.value) and 0 <= cursor.id < 2**63):
            raise ValueError("cursor is not one this API returned")
        return cursor


def alert_of(row: asyncpg.Record) -> Alert:
    return Alert.model_validate(with_outcome(row))


async def list_alerts(
    pool: asyncpg.Pool,
    filters: AlertFilter,
    *,
    latest: bool,
    sort: Sort,
    descending: bool,
    limit: int,
    cursor: Cursor | None,
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """A page of alerts as ``Alert``'s fields in its order (``ALERT_COLUMNS``), for
    ``alerts_json``, and the cursor of the next page."""
    args: list[Any] = []
    conditions = filters.where(args)
    column = _SORT_COLUMN[sort]
    if cursor is not None:
        args.extend([cursor.value, cursor.id])
        op = "<" if descending else ">"
        conditions.append(f"({column}, a.id) {op} (${len(args) - 1}, ${len(args)})")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    direction = "DESC" if descending else "ASC"
    args.append(limit + 1)
    current = CURRENT_JOIN if latest else ""
    rows = await pool.fetch(
        f"SELECT {ALERT_COLUMNS} FROM alerts a {current} {OUTCOME_JOIN} {where} "  # noqa: S608
        f"ORDER BY {column} {direction}, a.id {direction} LIMIT ${len(args)}",
        *args,
    )
    alerts = [with_outcome(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = alerts[-1]
        value = {
            "potential_return": last["potential_return"],
            "target_return": last["target_return"],
            "time": float(last["id"]),
        }[sort]
        next_cursor = Cursor(sort, value, last["id"])
    return alerts, next_cursor


def alerts_json(page: object) -> bytes:
    """``page`` (alert rows from ``list_alerts``, in lists or dicts) as JSON: the bytes
    ``Alert.model_dump_json`` makes of the same alerts (tested), without building a model
    per row: on a page that is not in memory that validation was a fifth of the time."""
    return orjson.dumps(page, option=orjson.OPT_UTC_Z)


async def summary_rows(pool: asyncpg.Pool) -> dict[str, Any]:
    """The summary in three round trips: counts, the strongest ids and the last scan; the
    two strongest alerts; the scans that failed since."""
    head = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM current_signals
                   WHERE signal = 'BUY' AND alert_id IS NOT NULL) AS buys,
                  (SELECT count(*) FROM current_signals
                   WHERE signal = 'SELL' AND alert_id IS NOT NULL) AS sells,
                  (SELECT alert_id FROM current_signals WHERE signal = 'BUY'
                     AND alert_id IS NOT NULL
                   ORDER BY potential_return DESC, alert_id DESC LIMIT 1) AS top_buy,
                  (SELECT alert_id FROM current_signals WHERE signal = 'SELL'
                     AND alert_id IS NOT NULL
                   ORDER BY potential_return DESC, alert_id DESC LIMIT 1) AS top_sell,
                  s.scan_id, s.finished_at, s.symbols_expected, s.symbols_failed
           FROM (SELECT 1) one LEFT JOIN LATERAL (
               SELECT scan_id, finished_at, symbols_expected, symbols_failed FROM scans
               WHERE status = 'finished' ORDER BY finished_at DESC LIMIT 1) s ON true"""
    )
    head = one(head, "the summary")
    ids = [i for i in (head["top_buy"], head["top_sell"]) if i is not None]
    strongest: dict[int, Alert] = {}
    if ids:
        rows = await pool.fetch(
            f"SELECT {ALERT_COLUMNS} FROM alerts a {OUTCOME_JOIN} WHERE a.id = ANY($1::bigint[])",  # noqa: S608
            ids,
        )
        strongest = {r["id"]: alert_of(r) for r in rows}
    found = head["scan_id"] is not None
    failures = await pool.fetch(
        """SELECT scan_id::text AS scan_id, requested_at, error FROM scans
           WHERE status = 'failed' AND requested_at > coalesce($1, '-infinity'::timestamptz)
           ORDER BY requested_at DESC LIMIT 3""",
        head["finished_at"],
    )
    return {
        "recent_failures": [dict(f) for f in failures],
        "counts": {"BUY": head["buys"], "SELL": head["sells"]},
        "strongest_buy": strongest.get(head["top_buy"]),
        "strongest_sell": strongest.get(head["top_sell"]),
        "last_scan_id": str(head["scan_id"]) if found else None,
        "last_scan_finished_at": head["finished_at"],
        "last_scan_symbols": head["symbols_expected"],
        "failed_symbols": head["symbols_failed"],
    }


async def alerts_after(
    pool: asyncpg.Pool, filters: AlertFilter, after: int, limit: int, *, upto: int = 2**63 - 1
) -> list[Alert]:
    """Alerts above id ``after`` (and at most ``upto``) that match ``filters``, oldest
    first (a stream catching up, one id range at a time)."""
    args: list[Any] = [after, upto]
    conditions = ["a.id > $1", "a.id <= $2", *filters.where(args)]
    args.append(limit)
    rows = await pool.fetch(
        f"SELECT {ALERT_COLUMNS} FROM alerts a {OUTCOME_JOIN} "  # noqa: S608
        f"WHERE {' AND '.join(conditions)} "
        f"ORDER BY a.id LIMIT ${len(args)}",
        *args,
    )
    return [alert_of(r) for r in rows]
