"""How an alert is scored: what the market did in the bars after it (#28).

For a raised BUY or SELL alert whose last candle is bar t (its close the alert's price;
its fit and bands as stored with the alert), from the bars t+1, t+2, ... that have
closed since, in order and without a gap:

- **entry**: the open of bar t+1 (as the backtest fills);
- **return after h bars**, h in 1, 5, 20: BUY ``(close[t+h] - entry) / entry * 100``,
  SELL ``(entry - close[t+h]) / entry * 100``; gross; none until bar t+h has closed;
- **target**: the fit at bar t; **target hit after k bars**: the first k in 1..20 with
  ``high[t+k] >= target`` (BUY) or ``low[t+k] <= target`` (SELL);
- **opposite band hit after k bars**: the same with the upper band (BUY) or the lower band
  (SELL) at bar t;
- **max adverse excursion**: over bars t+1 .. t+min(20, target hit), BUY
  ``(min low - entry) / entry * 100``, SELL ``(entry - max high) / entry * 100``, never
  above zero (a bar that went only the right way has no adverse excursion);
- **ended after k bars**: when the key turned HOLD (its ended alert), if within 20 bars;
- **final** once 20 bars have closed: nothing changes after.

Only closed bars are ever given (the caller reads stored closes), so no field can exist
before its bar: there is no look-ahead to guard against here, and scoring the same bars
twice gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["FINAL_BARS", "HORIZONS", "Bar", "Outcome", "TrackRecord", "score"]

#: The bars after which an outcome is final, and the horizons of its returns.
FINAL_BARS = 20
HORIZONS = (1, 5, 20)


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed candle after the alert's."""

    open_time: datetime
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True, slots=True)
class Outcome:
    signal: Literal["BUY", "SELL"]
    entry_time: datetime | None
    entry_price: float | None
    return_1: float | None
    return_5: float | None
    return_20: float | None
    target_price: float
    target_hit_after: int | None
    opposite_band_price: float
    opposite_band_hit_after: int | None
    max_adverse: float | None
    ended_after: int | None
    bars_seen: int
    final: bool


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """A key's final outcomes so far: how many, the share that reached the target, their
    median return after 5 bars (none without a final outcome)."""

    sample: int
    hit_rate: float | None
    median_return_5: float | None


def score(
    signal: Literal["BUY", "SELL"],
    fit: float,
    lower: float,
    upper: float,
    after: Sequence[Bar],
    ended_after: int | None = None,
) -> Outcome:
    """The outcome of a ``signal`` alert with its ``fit`` and bands, given the closed bars
    ``after`` it (t+1 first, consecutive: the caller stops at a gap; more than 20 are
    ignored) and the bars after which its key turned HOLD (``ended_after``, if known).

    >>> from datetime import UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> o = score("BUY", fit=110, lower=90, upper=130, after=[Bar(t, 100, 111, 95, 104)])
    >>> o.entry_price, o.return_1, o.target_hit_after, o.max_adverse, o.final
    (100, 4.0, 1, -5.0, False)
    """
    bars = list(after[:FINAL_BARS])
    buy = signal == "BUY"
    opposite = upper if buy else lower
    entry = bars[0].open if bars else None

    def gain(price: float) -> float | None:
        if entry is None:
            return None
        return ((price - entry) if buy else (entry - price)) / entry * 100

    def reached(level: float) -> int | None:
        for k, bar in enumerate(bars, start=1):
            if (bar.high >= level) if buy else (bar.low <= level):
                return k
        return None

    returns = {h: gain(bars[h - 1].close) if len(bars) >= h else None for h in HORIZONS}
    hit = reached(fit)
    adverse = None
    if bars:
        span = bars[: hit or len(bars)]
        worst = gain(min(b.low for b in span) if buy else max(b.high for b in span))
        adverse = None if worst is None else min(0.0, worst)
    return Outcome(
        signal=signal,
        entry_time=bars[0].open_time if bars else None,
        entry_price=entry,
        return_1=returns[1],
        return_5=returns[5],
        return_20=returns[20],
        target_price=fit,
        target_hit_after=hit,
        opposite_band_price=opposite,
        opposite_band_hit_after=reached(opposite),
        max_adverse=adverse,
        ended_after=ended_after if ended_after is not None and ended_after <= FINAL_BARS else None,
        bars_seen=len(bars),
        final=len(bars) >= FINAL_BARS,
    )
