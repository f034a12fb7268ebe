"""The bars open outcomes lack, caught up by the fetcher (#28; migration 0027).

A key followed live stores every close with its candle, and its alerts' outcomes are
scored from those. A key only scanned now and then stores a close per scan: without more,
its outcome stops at the first bar it lacks. Each round the fetcher asks ``wanted`` which
symbols and intervals have an open outcome whose next bar has closed and is stored
nowhere, fetches their candles (its cache, then Binance within the weight budget), keeps
those in the spans asked for (``keep``), and deletes what no open outcome needs any more
(``prune``): the table holds a few bars per open outcome, not history.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from autonama_shared.db.pool import Conn
from autonama_shared.engine.outcomes import FINAL_BARS

__all__ = ["Wanted", "keep", "prune", "wanted"]


@dataclass(frozen=True)
class Wanted:
    """A symbol's candles at an interval that open outcomes lack, from ``start`` (the
    earliest bar lacking) to ``end`` (the last bar any of them needs), both open times."""

    symbol: str
    interval: str
    start: datetime
    end: datetime


#: Per symbol and interval, the open outcomes whose next bar (t + bars_seen + 1 steps) has
#: closed two minutes ago or more (a live key's close is stored within seconds of its
#: candle's close: not fetched for), is not a close of the key with its candle, nor a bar
#: caught up already: the earliest such bar and the last any of them needs; the longest
#: waiting first.
_WANTED = f"""
WITH lacking AS (
    SELECT a.symbol, a.interval,
           a.last_candle_time + (o.bars_seen + 1) * autonama_interval_step(a.interval) AS next,
           a.last_candle_time + {FINAL_BARS} * autonama_interval_step(a.interval) AS last
    FROM alert_outcomes o JOIN alerts a ON a.id = o.alert_id
    WHERE o.open)
SELECT l.symbol, l.interval, min(l.next) AS start, max(l.last) AS "end"
FROM lacking l
WHERE l.next + autonama_interval_step(l.interval) + interval '2 minutes' <= now()
  AND (l.symbol, l.interval) NOT IN (SELECT * FROM unnest($2::text[], $3::text[]))
  AND NOT EXISTS (SELECT 1 FROM outcome_bars b
                  WHERE (b.symbol, b.interval, b.open_time) = (l.symbol, l.interval, l.next))
  AND NOT EXISTS (SELECT 1 FROM closes c JOIN signal_keys k ON k.id = c.key_id
                  WHERE k.symbol = l.symbol AND k.interval = l.interval
                    AND c.interval = l.interval AND c.last_candle_time = l.next
                    AND c.candle_open IS NOT NULL)
GROUP BY l.symbol, l.interval
ORDER BY min(l.next)
LIMIT $1
"""  # noqa: S608 - constants only


async def wanted(conn: Conn, most: int, skip: Collection[tuple[str, str]] = ()) -> list[Wanted]:
    """At most ``most`` symbols and intervals whose candles open outcomes lack, but those
    of ``skip`` (symbol, interval): asked for in vain lately, they must not take the places
    of the others round after round."""
    rows = await conn.fetch(_WANTED, most, [s for s, _ in skip], [i for _, i in skip])
    return [Wanted(r["symbol"], r["interval"], r["start"], r["end"]) for r in rows]


async def keep(
    conn: Conn,
    symbol: str,
    interval: str,
    bars: Iterable[tuple[datetime, float, float, float, float]],
) -> int:
    """Store ``bars`` (open time, open, high, low, close) of ``symbol`` at ``interval``;
    those already there are left as they are. Returns how many were new."""
    rows = list(bars)
    if not rows:
        return 0
    status = await conn.execute(
        """INSERT INTO outcome_bars (symbol, interval, open_time, open, high, low, close)
           SELECT $1, $2, t, o, h, l, c
           FROM unnest($3::timestamptz[], $4::float8[], $5::float8[], $6::float8[],
                       $7::float8[]) AS u (t, o, h, l, c)
           ON CONFLICT DO NOTHING""",
        symbol,
        interval,
        *(list(column) for column in zip(*rows, strict=True)),
    )
    return int(status.split()[-1])


#: The bars no open outcome needs: not within the 20 bars after an open outcome's alert.
_PRUNE = f"""
DELETE FROM outcome_bars b
WHERE NOT EXISTS (
    SELECT 1 FROM alert_outcomes o JOIN alerts a ON a.id = o.alert_id
    WHERE o.open AND (a.symbol, a.interval) = (b.symbol, b.interval)
      AND b.open_time > a.last_candle_time
      AND b.open_time <= a.last_candle_time
                         + {FINAL_BARS} * autonama_interval_step(a.interval))
"""  # noqa: S608 - constants only


async def prune(conn: Conn) -> int:
    """Delete the bars no open outcome needs; how many went."""
    return int((await conn.execute(_PRUNE)).split()[-1])
