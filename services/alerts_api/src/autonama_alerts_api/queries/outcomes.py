"""An alert's outcome (#28): the bars its key closed after it, scored by
``autonama_shared.engine.outcomes``.

The bars are the key's own stored closes (the candle's open, high and low are kept with
each close), read at the candle times t + k steps (k = 1..20, the store's own step,
``autonama_interval_step``): a time with no close, or a close without its candle, is a
gap, and nothing after a gap is scored (never an estimate). So a key followed live has
its every bar; a key only scanned now and then has gaps, and its outcome stays short.
"""

from __future__ import annotations

import asyncpg

from autonama_shared.db.keys import key_columns
from autonama_shared.engine.outcomes import FINAL_BARS, Bar, Outcome, score

__all__ = ["NotScored", "alert_outcome"]


class NotScored(ValueError):
    """The alert is not one that is scored: an ended alert (HOLD)."""


#: The alert, its key's id and each of the 20 bars after it (null where none is stored),
#: with whether the key's alert at that bar ended it.
_BARS = f"""
WITH a AS (
    SELECT a.id, a.signal, a.fit, a.lower_band, a.upper_band, a.last_candle_time AS t,
           {key_columns("a")}
    FROM alerts a WHERE a.id = $1),
k AS (
    SELECT k.id AS key_id FROM signal_keys k, a WHERE ({key_columns("k")}) = ({key_columns("a")}))
SELECT a.id, a.signal, a.fit, a.lower_band, a.upper_band, g.n, x.at,
       o.candle_open, o.candle_high, o.candle_low, o.price,
       EXISTS (SELECT 1 FROM alerts e
               WHERE ({key_columns("e")}) = ({key_columns("a")})
                 AND e.last_candle_time = x.at AND e.reason = 'ended') AS ended
FROM a
CROSS JOIN generate_series(1, {FINAL_BARS}) AS g (n)
CROSS JOIN LATERAL (SELECT a.t + g.n * autonama_interval_step(a.interval) AS at) x
LEFT JOIN k ON true
LEFT JOIN closes o ON o.key_id = k.key_id AND o.interval = a.interval
                  AND o.last_candle_time = x.at
ORDER BY g.n
"""  # noqa: S608 - constants only


async def alert_outcome(pool: asyncpg.Pool, alert_id: int) -> Outcome | None:
    """The outcome so far of alert ``alert_id``; None if there is no such alert; raises
    ``NotScored`` for an ended alert."""
    rows = await pool.fetch(_BARS, alert_id)
    if not rows:
        return None
    first = rows[0]
    if first["signal"] not in ("BUY", "SELL"):
        raise NotScored(f"alert {alert_id} is an ended alert (HOLD): only BUY and SELL are scored")
    bars: list[Bar] = []
    for r in rows:  # in order, up to the first gap
        candle = (r["candle_open"], r["candle_high"], r["candle_low"], r["price"])
        if any(v is None for v in candle):
            break
        bars.append(Bar(r["at"], *candle))
    ended = next((r["n"] for r in rows if r["ended"]), None)
    return score(
        first["signal"], first["fit"], first["lower_band"], first["upper_band"], bars, ended
    )
