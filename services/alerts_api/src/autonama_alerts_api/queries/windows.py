"""Reads of a signal's window (its candles and bands), for the charts."""

from __future__ import annotations

from typing import Any

import asyncpg

from autonama_alerts_api.models.market import BandSeries
from autonama_alerts_api.queries.alerts import alert_of
from autonama_shared.db.keys import key_columns
from autonama_shared.db.outbox import ALERT_COLUMNS
from autonama_shared.db.windows import COLUMNS, unpack
from autonama_shared.formats.keys import KEY_FIELDS

__all__ = ["band_series", "pruned", "signal_window"]


#: band_windows' columns, as w_<column>.
_PACKED = ", ".join(f"w.{name} AS w_{name}" for name in COLUMNS)


async def band_series(pool: asyncpg.Pool, symbol: str, interval: str) -> BandSeries | None:
    """The window of the symbol's latest signal at ``interval`` (``signal_window``), else
    the newest stored window of the symbol at it; with its alerts."""
    latest = await pool.fetchval(
        """SELECT signal_id FROM current_signals WHERE symbol = $1 AND interval = $2
           ORDER BY last_candle_time DESC, signal_id DESC LIMIT 1""",
        symbol,
        interval,
    )
    if latest is not None:
        found = await signal_window(pool, latest)
        if found is not None and len(found.open_time) > 1:
            return found
    return await _window(
        pool,
        "s.symbol = $1 AND s.interval = $2 ORDER BY s.last_candle_time DESC, s.id DESC",
        symbol,
        interval,
    )


async def pruned(pool: asyncpg.Pool, signal_id: int) -> str | None:
    """The interval of a signal that an alert or the current state still names but that
    retention has dropped (``db.retention``); None for one never stored, or still there."""
    interval: str | None = await pool.fetchval(
        """SELECT interval FROM (
               SELECT interval FROM alerts WHERE signal_id = $1
               UNION ALL
               SELECT interval FROM current_signals WHERE signal_id = $1) named
           WHERE NOT EXISTS (SELECT 1 FROM closes WHERE id = $1)
           LIMIT 1""",
        signal_id,
    )
    return interval


async def signal_window(pool: asyncpg.Pool, signal_id: int) -> BandSeries | None:
    """The window of one signal (a row of the market watch, an alert's signal): its stored
    window, else its key's closes within it (``trail``: each candle with the bands its own
    fit drew at it), after the newest window of the key among them if any. A key's window
    is stored only where its closes do not already hold it (migration 0021), so a live
    key's chart is its window at first, then its closes. At most the signal's candles;
    its numbers are the signal's own."""
    found = await _window(pool, "s.id = $1", signal_id)
    if found is not None:
        return found
    closes = await pool.fetch(
        """SELECT * FROM (
               SELECT o.id AS signal_id, o.signal, o.price, o.fit, o.lower_band AS lower,
                      o.upper_band AS upper, o.sigma, o.potential_return, o.target_return,
                      o.last_candle_time, o.candle_open, o.candle_high, o.candle_low,
                      w.signal_id IS NOT NULL AS windowed, s.candles AS wanted
               FROM closes s  -- by key id (migration 0024)
               JOIN closes o ON o.key_id = s.key_id AND o.interval = s.interval
                    AND o.last_candle_time <= s.last_candle_time
                    AND o.last_candle_time > s.last_candle_time
                                             - s.candles * autonama_interval_step(s.interval)
               LEFT JOIN band_windows w ON w.signal_id = o.id
                    AND w.interval = o.interval AND w.last_candle_time = o.last_candle_time
               WHERE s.id = $1
               ORDER BY o.last_candle_time DESC
               LIMIT (SELECT candles FROM closes WHERE id = $1)) t
           ORDER BY last_candle_time""",
        signal_id,
    )
    if not closes or closes[-1]["signal_id"] != signal_id:
        return None  # never stored, or deleted in between
    windowed = [n for n, c in enumerate(closes) if c["windowed"]]
    base, trail = None, closes
    if windowed:  # the newest window among its closes, then the closes after it
        base = await _window_row(pool, "s.id = $1", closes[windowed[-1]]["signal_id"])
        trail = closes[windowed[-1] + 1 :]
    if base is None:  # none (or deleted in between): its closes alone
        base = await _window_row(pool, "s.id = $1", signal_id, own=False)
        if base is None:
            return None
    series: dict[str, list[Any]] = {k: list(base[k] or []) for k in _SERIES}
    ohlc = {  # absent where the window has closes only (results files of version 1)
        k: list(base[k] or []) for k in ("open", "high", "low") if base[k] or not base["close"]
    }
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
    cap = -closes[-1]["wanted"]  # the signal's own window: its candles, the newest
    series = {k: v[cap:] for k, v in series.items()}
    ohlc = {k: v[cap:] for k, v in ohlc.items()}
    numbers = {k: v for k, v in closes[-1].items() if k not in _NOT_NUMBERS}
    return await _with_alerts(pool, {**base, **series, **ohlc, **numbers, "trail": len(trail)})


#: A window's series that every stored window has (open, high and low may be absent).
_SERIES = ("open_time", "close", "fit_series", "lower_series", "upper_series")
#: A close's columns that are not its signal's numbers.
_NOT_NUMBERS = {"candle_open", "candle_high", "candle_low", "windowed", "wanted"}


async def _window(pool: asyncpg.Pool, where: str, *args: Any) -> BandSeries | None:
    found = await _window_row(pool, where, *args)
    return None if found is None else await _with_alerts(pool, found)


async def _window_row(
    pool: asyncpg.Pool, where: str, *args: Any, own: bool = True
) -> dict[str, Any] | None:
    """A signal with its stored window (``own=False``: with or without one)."""
    row = await pool.fetchrow(
        f"""SELECT s.id AS signal_id, {key_columns("s")}, s.signal, s.price, s.fit,
                  s.lower_band AS lower,
                  s.upper_band AS upper, s.sigma, s.potential_return, s.target_return,
                  s.last_candle_time, {_PACKED},
                  b.open_time, b.open, b.high, b.low, b.close, b.fit AS fit_series,
                  b.lower_band AS lower_series, b.upper_band AS upper_series
           FROM signals s
           LEFT JOIN band_windows w ON w.signal_id = s.id  -- in its signal's partition
                AND w.interval = s.interval AND w.last_candle_time = s.last_candle_time
           LEFT JOIN band_series b ON b.signal_id = s.id  -- stored before migration 0009
           WHERE ({"w.signal_id IS NOT NULL OR b.signal_id IS NOT NULL" if own else "true"})
             AND {where}
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
            WHERE ({key_columns("a")}) = ($1, $2, $3, $4, $5, $6)
              AND a.last_candle_time >= to_timestamp($7 / 1000.0)
              AND a.last_candle_time <= $8 ORDER BY a.id""",  # noqa: S608
        *(found[name] for name in KEY_FIELDS),
        found["open_time"][0],
        found["last_candle_time"],
    )
    return BandSeries.model_validate({**found, "alerts": [alert_of(a) for a in alerts]})
