"""Reads of the scorecard: the final outcomes of a filter, and (``compare=backtest``) the
bars their keys closed over the same span, for the backtest beside each group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import numpy as np

from autonama_shared.db.keys import key_columns
from autonama_shared.engine.outcomes import FINAL_BARS
from autonama_shared.engine.scorecard import Segment
from autonama_shared.errors import ConfigError
from autonama_shared.formats.keys import KEY_FIELDS

__all__ = ["MAX_BARS", "final_outcomes", "scored_bars"]

#: The most bars one request may trade beside a scorecard (a live 1m key closes 1,440 a
#: day): past it, the filter is to be narrowed. Every bar is read into the API's memory
#: (some 300 bytes a row as a record): 100,000 is about 30 MB a request.
MAX_BARS = 100_000


def _where(symbol: str | None, interval: str | None, signal: str | None) -> tuple[str, list[Any]]:
    conditions, args = ["o.final"], []
    for column, value in (("a.symbol", symbol), ("a.interval", interval), ("a.signal", signal)):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    return " AND ".join(conditions), args


async def final_outcomes(
    pool: asyncpg.Pool, symbol: str | None, interval: str | None, signal: str | None
) -> list[dict[str, Any]]:
    """The final outcomes of the filter, each with its alert's key and signal."""
    where, args = _where(symbol, interval, signal)
    rows = await pool.fetch(
        f"""SELECT {key_columns("a")}, a.signal, o.return_1, o.return_5, o.return_20,
                   o.target_hit_after, o.opposite_band_hit_after, o.max_adverse
            FROM alert_outcomes o JOIN alerts a ON a.id = o.alert_id
            WHERE {where}""",  # noqa: S608 - constants and placeholders
        *args,
    )
    return [dict(r) for r in rows]


async def scored_bars(
    pool: asyncpg.Pool, symbol: str | None, interval: str | None, signal: str | None
) -> list[tuple[tuple[Any, ...], Segment]]:
    """Each key's stored bars from its first scored alert to 20 bars past its last (the
    span its final outcomes were scored on), split where a bar is missing or has no candle
    (a close stored before candles were kept): (the key's fields, the segment's columns).
    ``ConfigError`` past ``MAX_BARS``."""
    where, args = _where(symbol, interval, signal)
    rows = await pool.fetch(
        f"""WITH spans AS (
                SELECT {key_columns("a")}, min(a.last_candle_time) AS first,
                       max(a.last_candle_time) AS last
                FROM alert_outcomes o JOIN alerts a ON a.id = o.alert_id
                WHERE {where}
                GROUP BY {key_columns("a")}
            ), bars AS (
                SELECT {key_columns("p")}, c.last_candle_time AS t, c.candle_open, c.candle_high,
                       c.candle_low, c.price, c.lower_band, c.fit, c.upper_band,
                       autonama_interval_step(p.interval) AS step
                FROM spans p
                JOIN signal_keys k ON ({key_columns("k")}) = ({key_columns("p")})
                JOIN closes c ON c.key_id = k.id AND c.interval = p.interval
                WHERE c.last_candle_time BETWEEN p.first
                      AND p.last + {FINAL_BARS} * autonama_interval_step(p.interval)
                  AND c.candle_open IS NOT NULL AND c.candle_high IS NOT NULL
                  AND c.candle_low IS NOT NULL
            )
            SELECT *, sum(CASE WHEN prior + step < t THEN 1 ELSE 0 END)
                          OVER (PARTITION BY {", ".join(KEY_FIELDS)} ORDER BY t) AS segment
            FROM (SELECT *, lag(t) OVER (PARTITION BY {", ".join(KEY_FIELDS)} ORDER BY t)
                            AS prior FROM bars) b
            ORDER BY {", ".join(KEY_FIELDS)}, t
            LIMIT {MAX_BARS + 1}""",  # noqa: S608 - constants and placeholders
        *args,
    )
    if len(rows) > MAX_BARS:
        raise ConfigError(
            f"more than {MAX_BARS:,} bars to trade beside this scorecard: narrow it "
            "(symbol, interval or signal)"
        )
    segments: dict[tuple[Any, ...], list[asyncpg.Record]] = {}
    for r in rows:
        segments.setdefault((*(r[f] for f in KEY_FIELDS), r["segment"]), []).append(r)
    return [(key[:-1], _columns(bars)) for key, bars in segments.items()]


def _columns(bars: Sequence[asyncpg.Record]) -> Segment:
    def column(name: str) -> np.ndarray:
        return np.fromiter((r[name] for r in bars), dtype=np.float64, count=len(bars))

    return {
        "open": column("candle_open"),
        "high": column("candle_high"),
        "low": column("candle_low"),
        "close": column("price"),
        "lower": column("lower_band"),
        "fit": column("fit"),
        "upper": column("upper_band"),
    }
