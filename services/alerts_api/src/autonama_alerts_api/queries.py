"""The API's reads (through the read-only role). Filters are bound parameters, never text."""

from __future__ import annotations

import base64
import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg
import orjson

from autonama_alerts_api.models import (
    Alert,
    Backtest,
    BandSeries,
    Ingestion,
    MarketRow,
    Scan,
)
from autonama_shared.db.outbox import ALERT_COLUMNS
from autonama_shared.db.windows import COLUMNS, unpack
from autonama_shared.engine.intervals import interval_ms
from autonama_shared.formats.report import SymbolBacktest

__all__ = [
    "ALERT_COLUMNS",
    "AlertFilter",
    "Cursor",
    "Sort",
    "alert_of",
    "alerts_after",
    "alerts_json",
    "backtest_by_id",
    "backtest_equity",
    "band_series",
    "list_alerts",
    "recent_backtests",
    "recent_ingestions",
    "recent_scans",
    "scan_by_id",
    "state_version",
    "summary_rows",
    "worker_states",
]

Sort = Literal["potential_return", "target_return", "time"]
_SORT_COLUMN = {
    "potential_return": "a.potential_return",
    "target_return": "a.target_return",
    "time": "a.id",
}
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
    return Alert.model_validate(dict(row))


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
        f"SELECT {ALERT_COLUMNS} FROM alerts a {current} {where} "  # noqa: S608 - no user text
        f"ORDER BY {column} {direction}, a.id {direction} LIMIT ${len(args)}",
        *args,
    )
    names = tuple(rows[0].keys()) if rows else ()
    alerts = [dict(zip(names, r, strict=True)) for r in rows[:limit]]
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
    assert head is not None
    ids = [i for i in (head["top_buy"], head["top_sell"]) if i is not None]
    strongest: dict[int, Alert] = {}
    if ids:
        rows = await pool.fetch(
            f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = ANY($1::bigint[])",  # noqa: S608
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
        f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE {' AND '.join(conditions)} "  # noqa: S608
        f"ORDER BY a.id LIMIT ${len(args)}",
        *args,
    )
    return [alert_of(r) for r in rows]


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


#: band_windows' columns, as w_<column>.
_PACKED = ", ".join(f"w.{name} AS w_{name}" for name in COLUMNS)


async def band_series(pool: asyncpg.Pool, symbol: str, interval: str) -> BandSeries | None:
    """The stored window of the symbol's latest signal at ``interval``, with its alerts."""
    return await _window(
        pool,
        "s.symbol = $1 AND s.interval = $2 ORDER BY s.last_candle_time DESC, s.id DESC",
        symbol,
        interval,
    )


async def signal_window(pool: asyncpg.Pool, signal_id: int) -> BandSeries | None:
    """The stored window of one signal (a row of the market watch, an alert's signal). A
    signal stored without one (a live close: only a key's first signal and the changes of
    its signal carry their window) gets the newest window of its key before it, then the
    trail: the key's closes since, up to this signal (at most a window of them), each
    candle with the bands its own fit drew at it. Its numbers are the signal's own."""
    found = await _window(pool, "s.id = $1", signal_id)
    if found is not None:
        return found
    nearest = await pool.fetchval(
        """SELECT o.id FROM signals s
           JOIN signals o ON (o.symbol, o.interval, o.degree, o.kstd, o.price_scale, o.days)
                           = (s.symbol, s.interval, s.degree, s.kstd, s.price_scale, s.days)
                         AND o.last_candle_time <= s.last_candle_time
           JOIN band_windows w ON w.signal_id = o.id
           WHERE s.id = $1
           ORDER BY o.last_candle_time DESC LIMIT 1""",
        signal_id,
    )
    if nearest is None:
        return None
    base = await _window_row(pool, "s.id = $1", nearest)
    if base is None:  # deleted in between
        return None
    trail = await pool.fetch(
        f"""SELECT * FROM (
               SELECT o.id AS signal_id, o.signal, o.price, o.fit, o.lower_band AS lower,
                      o.upper_band AS upper, o.sigma, o.potential_return, o.target_return,
                      o.last_candle_time, o.candle_open, o.candle_high, o.candle_low
               FROM signals s
               JOIN signals o ON ({", ".join("o." + c for c in _KEY6)})
                               = ({", ".join("s." + c for c in _KEY6)})
                             AND o.last_candle_time > $2
                             AND o.last_candle_time <= s.last_candle_time
               WHERE s.id = $1
               ORDER BY o.last_candle_time DESC
               LIMIT (SELECT window_candles FROM signals WHERE id = $1)) t
           ORDER BY last_candle_time""",  # noqa: S608 - constants
        signal_id,
        base["last_candle_time"],
    )
    if not trail or trail[-1]["signal_id"] != signal_id:
        return None  # deleted in between
    series: dict[str, list[Any]] = {k: list(base[k]) for k in _SERIES}
    ohlc = {k: list(base[k]) for k in ("open", "high", "low") if base[k] is not None}
    for t in trail:
        at = {
            "open_time": int(t["last_candle_time"].timestamp() * 1000),
            "close": t["price"],
            "fit_series": t["fit"],
            "lower_series": t["lower"],
            "upper_series": t["upper"],
        }
        for name, value in at.items():
            series[name].append(value)
        for name, values in ohlc.items():
            candle = t[f"candle_{name}"]  # a flat candle where only the close is known
            values.append(t["price"] if candle is None else candle)
    numbers = {k: v for k, v in trail[-1].items() if not k.startswith("candle_")}
    return await _with_alerts(pool, {**base, **series, **ohlc, **numbers, "trail": len(trail)})


#: A window's series that every stored window has (open, high and low may be absent).
_SERIES = ("open_time", "close", "fit_series", "lower_series", "upper_series")


async def _window(pool: asyncpg.Pool, where: str, *args: Any) -> BandSeries | None:
    found = await _window_row(pool, where, *args)
    return None if found is None else await _with_alerts(pool, found)


async def _window_row(pool: asyncpg.Pool, where: str, *args: Any) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        f"""SELECT s.id AS signal_id, s.symbol, s.interval, s.degree, s.kstd, s.price_scale,
                  s.days, s.signal, s.price, s.fit, s.lower_band AS lower,
                  s.upper_band AS upper, s.sigma, s.potential_return, s.target_return,
                  s.last_candle_time, {_PACKED},
                  b.open_time, b.open, b.high, b.low, b.close, b.fit AS fit_series,
                  b.lower_band AS lower_series, b.upper_band AS upper_series
           FROM signals s
           LEFT JOIN band_windows w ON w.signal_id = s.id
           LEFT JOIN band_series b ON b.signal_id = s.id  -- stored before migration 0009
           WHERE (w.signal_id IS NOT NULL OR b.signal_id IS NOT NULL) AND {where}
           LIMIT 1""",  # noqa: S608 - constants
        *args,
    )
    if row is None:
        return None
    found = {k: v for k, v in row.items() if not k.startswith("w_")}
    if row["w_open_time"] is not None:
        window = unpack({name: row[f"w_{name}"] for name in COLUMNS})
        found |= {
            "open_time": window["open_time"],
            "open": window["open"],
            "high": window["high"],
            "low": window["low"],
            "close": window["close"],
            "fit_series": window["fit"],
            "lower_series": window["lower_band"],
            "upper_series": window["upper_band"],
        }
    return found


async def _with_alerts(pool: asyncpg.Pool, found: dict[str, Any]) -> BandSeries:
    """The window with its key's alerts within it."""
    alerts = await pool.fetch(
        f"""SELECT {ALERT_COLUMNS} FROM alerts a
            WHERE (a.symbol, a.interval, a.degree, a.kstd, a.price_scale, a.days)
                = ($1, $2, $3, $4, $5, $6)
              AND a.last_candle_time >= to_timestamp($7 / 1000.0)
              AND a.last_candle_time <= $8 ORDER BY a.id""",  # noqa: S608
        found["symbol"],
        found["interval"],
        found["degree"],
        found["kstd"],
        found["price_scale"],
        found["days"],
        found["open_time"][0],
        found["last_candle_time"],
    )
    return BandSeries.model_validate({**found, "alerts": [alert_of(a) for a in alerts]})


#: How many closes a market row carries for its sparkline.
SPARK = 60

_KEY6 = ("symbol", "interval", "degree", "kstd", "price_scale", "days")


@dataclass(frozen=True)
class MarketCursor:
    """After this key, in key order (keyset pagination: a page costs the page)."""

    key: tuple[str, str, int, float, str, int]

    def encode(self) -> str:
        return base64.urlsafe_b64encode(json.dumps(self.key).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> MarketCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            s, i, d, k, p, n = json.loads(raw)
            key = (str(s), str(i), int(d), float(k), str(p), int(n))
        except (ValueError, TypeError) as e:
            raise ValueError("cursor is not one this API returned") from e
        if not math.isfinite(key[3]):
            raise ValueError("cursor is not one this API returned")
        return cls(key)


async def market(
    pool: asyncpg.Pool,
    *,
    search: str | None,
    interval: str | None,
    signal: str | None,
    limit: int,
    cursor: MarketCursor | None,
) -> tuple[list[MarketRow], MarketCursor | None, dict[str, int]]:
    """Current signals of every key, in key order (symbols together), with the window's last
    closes; and the keys per signal."""
    args: list[Any] = []
    conditions = []
    if search:
        args.append(search)
        conditions.append(f"strpos(c.symbol, ${len(args)}) > 0")
    if interval:
        args.append(interval)
        conditions.append(f"c.interval = ${len(args)}")
    if signal:
        args.append(signal)
        conditions.append(f"c.signal = ${len(args)}")
    if cursor is not None:
        args.extend(cursor.key)
        places = ", ".join(f"${n}" for n in range(len(args) - 5, len(args) + 1))
        conditions.append(f"({', '.join('c.' + k for k in _KEY6)}) > ({places})")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    args.append(limit + 1)
    rows = await pool.fetch(
        f"""SELECT c.signal_id, c.symbol, c.interval, c.degree, c.kstd, c.price_scale, c.days,
                  c.signal, c.price, c.lower_band AS lower, c.upper_band AS upper, c.fit,
                  c.sigma, c.potential_return, c.target_return, c.last_candle_time,
                  c.alert_id,
                  substring(w.close FROM greatest(1, length(w.close) - {8 * SPARK - 1}))
                      AS packed_closes,
                  b.close[greatest(1, array_length(b.close, 1) - {SPARK - 1}):] AS old_closes
           FROM current_signals c
           LEFT JOIN band_windows w ON w.signal_id = c.signal_id
           LEFT JOIN band_series b ON b.signal_id = c.signal_id
           {where}
           ORDER BY {", ".join("c." + k for k in _KEY6)}
           LIMIT ${len(args)}""",  # noqa: S608 - no user text
        *args,
    )
    counts = {
        r["signal"]: r["n"]
        for r in await pool.fetch("SELECT signal, count(*) AS n FROM current_signals GROUP BY 1")
    }
    items = [market_row(r) for r in rows[:limit]]
    nxt = None
    if len(rows) > limit:
        last = items[-1]
        nxt = MarketCursor(
            (last.symbol, last.interval, last.degree, last.kstd, last.price_scale, last.days)
        )
    return items, nxt, counts


def market_row(r: asyncpg.Record) -> MarketRow:
    step = timedelta(milliseconds=interval_ms(r["interval"]))
    closed = r["last_candle_time"] + step
    sigma = r["sigma"]
    nearer = min(r["price"] - r["lower"], r["upper"] - r["price"])
    if r["packed_closes"] is not None:
        closes = unpack({"close": r["packed_closes"]})["close"] or []
    else:
        closes = list(r["old_closes"] or [])
    return MarketRow.model_validate(
        {
            **dict(r),
            "band_distance": nearer / sigma if sigma > 0 else 0.0,
            "candle_closed_at": closed,
            "stale_after": closed + 2 * step,
            "closes": closes,
        }
    )


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
    assert row is not None
    return f"{row['alert']}.{row['changed']}.{row['scanned']}.{row['failed']}"
