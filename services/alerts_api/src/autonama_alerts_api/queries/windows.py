"""Reads of a signal's window (its candles and bands), for the charts."""

from __future__ import annotations

from typing import Any

import asyncpg

from autonama_alerts_api.models.market import BandSeries
from autonama_alerts_api.queries.alerts import ALERT_COLUMNS, OUTCOME_JOIN, alert_of
from autonama_shared.db.keys import key_columns
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
    found = await _window(pool, "s.id = $1", signal_id)  # its own: one read
    if found is not None:
        return found
    me = await pool.fetchrow(  # where it is: then every read is of its partitions only
        """SELECT key_id, interval, last_candle_time AS t, candles,
                  -- where its span starts: the store's own candle step (migration 0021)
                  last_candle_time - candles * autonama_interval_step(interval) AS since
           FROM closes WHERE id = $1""",
        signal_id,
    )
    if me is None:
        return None
    place = (me["interval"], me["t"])
    trail = await pool.fetchrow(  # its key's closes in its span, as columns, oldest first
        """SELECT array_agg(id) AS ids, array_agg(t) AS times, array_agg(ms) AS open_time,
                  array_agg(price) AS close, array_agg(fit) AS fit_series,
                  array_agg(lower) AS lower_series, array_agg(upper) AS upper_series,
                  array_agg(open) AS open, array_agg(high) AS high, array_agg(low) AS low,
                  array_agg(windowed) AS windowed
           FROM (SELECT * FROM (  -- aggregated in the order of a sorted subquery
               SELECT o.id, o.last_candle_time AS t,
                      (extract(epoch FROM o.last_candle_time) * 1000)::bigint AS ms,
                      o.price, o.fit, o.lower_band AS lower, o.upper_band AS upper,
                      -- a flat candle where only the close is known
                      coalesce(o.candle_open, o.price) AS open,
                      coalesce(o.candle_high, o.price) AS high,
                      coalesce(o.candle_low, o.price) AS low,
                      w.signal_id IS NOT NULL AS windowed
               FROM closes o  -- by key id (migration 0024)
               LEFT JOIN band_windows w ON w.signal_id = o.id
                    AND w.interval = o.interval AND w.last_candle_time = o.last_candle_time
                    AND w.interval = $2 AND w.last_candle_time <= $3
                    AND w.last_candle_time > $4  -- the span's partitions only
               WHERE o.key_id = $1 AND o.interval = $2
                 AND o.last_candle_time <= $3 AND o.last_candle_time > $4
               ORDER BY o.last_candle_time DESC
               LIMIT $5) newest ORDER BY t) closes""",
        me["key_id"],
        me["interval"],
        me["t"],
        me["since"],
        me["candles"],
    )
    where = "s.id = $1 AND s.interval = $2 AND s.last_candle_time = $3"
    own = await _window_row(pool, where, signal_id, *place, own=False)
    if trail is None or not trail["ids"] or trail["ids"][-1] != signal_id or own is None:
        return None  # deleted in between
    windowed = [n for n, w in enumerate(trail["windowed"]) if w]
    base, start = None, 0
    if windowed:  # the newest window among its closes, then the closes after it
        n = windowed[-1]
        base = await _window_row(pool, where, trail["ids"][n], me["interval"], trail["times"][n])
        start = 0 if base is None else n + 1  # (deleted in between: its closes alone)
    series = {k: [*(base[k] if base else []), *trail[k][start:]] for k in _SERIES}
    # open, high and low: absent where the window has closes only (results files of v1)
    ohlc = {}
    if base is None or base["open"] is not None:
        ohlc = {k: [*(base[k] if base else []), *trail[k][start:]] for k in _CANDLE}
    cap = -me["candles"]  # the signal's own window: its candles, the newest
    shown = {k: v[cap:] for k, v in (series | ohlc).items()}
    return await _with_alerts(pool, {**own, **shown, "trail": len(trail["ids"]) - start})


#: A window's series that every stored window has (open, high and low may be absent).
_SERIES = ("open_time", "close", "fit_series", "lower_series", "upper_series")
#: A candle's open, high and low.
_CANDLE = ("open", "high", "low")


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
        f"""SELECT {ALERT_COLUMNS} FROM alerts a {OUTCOME_JOIN}
            WHERE ({key_columns("a")}) = ($1, $2, $3, $4, $5, $6)
              AND a.last_candle_time >= to_timestamp($7 / 1000.0)
              AND a.last_candle_time <= $8 ORDER BY a.id""",  # noqa: S608
        *(found[name] for name in KEY_FIELDS),
        found["open_time"][0],
        found["last_candle_time"],
    )
    return BandSeries.model_validate({**found, "alerts": [alert_of(a) for a in alerts]})
