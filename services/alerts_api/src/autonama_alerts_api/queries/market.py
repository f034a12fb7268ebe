"""The market watch: every key's current signal in key order, with its sparkline."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from autonama_alerts_api.models.market import MarketRow
from autonama_shared.db.keys import key_columns
from autonama_shared.db.windows import unpack
from autonama_shared.engine.intervals import interval_ms
from autonama_shared.formats.keys import SignalKey

__all__ = ["SPARK", "MarketCursor", "market", "market_row"]


#: How many closes a market row carries for its sparkline.
SPARK = 60


@dataclass(frozen=True)
class MarketCursor:
    """After this key, in key order (keyset pagination: a page costs the page)."""

    key: SignalKey

    def encode(self) -> str:
        return base64.urlsafe_b64encode(json.dumps(self.key.values()).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> MarketCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            return cls(SignalKey.of(json.loads(raw)))
        except (ValueError, TypeError) as e:  # pydantic's ValidationError is a ValueError
            raise ValueError("cursor is not one this API returned") from e


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
        args.extend(cursor.key.values())
        places = ", ".join(f"${n}" for n in range(len(args) - 5, len(args) + 1))
        conditions.append(f"({key_columns('c')}) > ({places})")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    args.append(limit + 1)
    rows = await pool.fetch(
        f"""SELECT c.signal_id, {key_columns("c")}, c.signal, c.price,
                  c.lower_band AS lower, c.upper_band AS upper, c.fit,
                  c.sigma, c.potential_return, c.target_return, c.last_candle_time,
                  c.alert_id,
                  substring(w.close FROM greatest(1, length(w.close) - {8 * SPARK - 1}))
                      AS packed_closes,
                  b.close[greatest(1, array_length(b.close, 1) - {SPARK - 1}):] AS old_closes
           FROM current_signals c
           LEFT JOIN band_windows w ON w.signal_id = c.signal_id  -- one partition
                AND w.interval = c.interval AND w.last_candle_time = c.last_candle_time
           LEFT JOIN band_series b ON b.signal_id = c.signal_id
           {where}
           ORDER BY {key_columns("c")}
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
        nxt = MarketCursor(SignalKey.of(last.values()))
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
