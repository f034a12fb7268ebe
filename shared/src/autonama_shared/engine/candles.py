"""Candles (klines) of one symbol and interval: closed candles only, oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from autonama_shared.engine.intervals import interval_ms
from autonama_shared.errors import DataError

__all__ = ["COLUMNS", "MAX_OPEN_TIME", "MIN_OPEN_TIME", "Candles", "check_columns"]

COLUMNS = ("open_time", "open", "high", "low", "close", "volume")
#: Open times a real candle can have: 2009-01-01 .. 2100-01-01 (ms since the epoch, UTC).
MIN_OPEN_TIME, MAX_OPEN_TIME = 1_230_768_000_000, 4_102_444_800_000


def check_columns(open_time: NDArray[np.int64], prices: dict[str, NDArray[np.float64]]) -> None:
    """Refuse columns no market could produce; ``DataError`` names the column and the row.

    Times within 2009 .. 2100 and strictly increasing; ``open``, ``high``, ``low``,
    ``close`` finite and positive; ``volume`` finite and not negative.

    >>> t = np.array([1_600_000_000_000, 1_600_086_400_000])
    >>> check_columns(t, {"close": np.array([1.0, np.nan])})
    Traceback (most recent call last):
    ...
    autonama_shared.errors.DataError: close is not a finite positive number at row 1: nan
    """
    bad = np.flatnonzero((open_time < MIN_OPEN_TIME) | (open_time > MAX_OPEN_TIME))
    if len(bad):
        raise DataError(
            f"open_time {int(open_time[bad[0]])} at row {int(bad[0])} is not a time "
            "between 2009 and 2100 in ms"
        )
    steps = np.flatnonzero(np.diff(open_time) <= 0)
    if len(steps):
        raise DataError(f"open_time is not strictly increasing at row {int(steps[0]) + 1}")
    for name, values in prices.items():
        ok = np.isfinite(values) & ((values >= 0) if name == "volume" else (values > 0))
        if not bool(np.all(ok)):
            i = int(np.flatnonzero(~ok)[0])
            what = (
                "a finite number, not negative" if name == "volume" else "a finite positive number"
            )
            raise DataError(f"{name} is not {what} at row {i}: {values[i]}")


@dataclass(frozen=True, eq=False)
class Candles:
    """Closed candles of ``symbol`` at ``interval``; ``open_time`` in ms since the epoch, UTC.

    Times are strictly increasing; gaps (exchange outages) are kept as they are.

    >>> rows = [(0, 1, 2, 0.5, 1.5, 10), (86_400_000, 1.5, 2, 1, 1.8, 12)]
    >>> c = Candles.from_rows("BTCUSDT", "1d", rows)
    >>> len(c), float(c.close[-1]), c.last_close_time
    (2, 1.8, 172799999)
    """

    symbol: str
    interval: str
    open_time: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]

    def __post_init__(self) -> None:
        n = len(self.open_time)
        for name in COLUMNS[1:]:
            if len(getattr(self, name)) != n:
                raise DataError(f"{self.symbol} {self.interval}: column {name} has another length")
        if n > 1 and not bool(np.all(np.diff(self.open_time) > 0)):
            i = int(np.flatnonzero(np.diff(self.open_time) <= 0)[0]) + 1
            raise DataError(
                f"{self.symbol} {self.interval}: open_time is not strictly increasing at row {i}"
            )

    def __len__(self) -> int:
        return len(self.open_time)

    @classmethod
    def empty(cls, symbol: str, interval: str) -> Candles:
        return cls.from_rows(symbol, interval, [])

    @classmethod
    def from_rows(cls, symbol: str, interval: str, rows: Sequence[Sequence[float]]) -> Candles:
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        return cls(
            symbol,
            interval,
            arr[:, 0].astype(np.int64),
            arr[:, 1].copy(),
            arr[:, 2].copy(),
            arr[:, 3].copy(),
            arr[:, 4].copy(),
            arr[:, 5].copy(),
        )

    def slice(self, start: int, stop: int | None = None) -> Candles:
        """Candles ``start`` .. ``stop`` (Python slice bounds)."""
        return Candles(self.symbol, self.interval, *(getattr(self, c)[start:stop] for c in COLUMNS))

    def tail(self, n: int) -> Candles:
        """The last ``n`` candles (all of them when there are fewer)."""
        return self if n >= len(self) else self.slice(len(self) - n)

    def merge(self, newer: Candles) -> Candles:
        """Union by ``open_time``; where both have a candle, ``newer``'s wins."""
        if not len(newer):
            return self
        if not len(self):
            return newer
        both = [np.concatenate([getattr(self, c), getattr(newer, c)]) for c in COLUMNS]
        if newer.open_time[0] > self.open_time[-1]:  # all after: nothing to replace
            return Candles(self.symbol, self.interval, *both)
        # The last occurrence of each open time wins: unique over the reversed times.
        _, first_in_reversed = np.unique(both[0][::-1], return_index=True)
        keep = len(both[0]) - 1 - first_in_reversed  # sorted by open time
        return Candles(self.symbol, self.interval, *(column[keep] for column in both))

    @property
    def first_open_time(self) -> int | None:
        return int(self.open_time[0]) if len(self) else None

    @property
    def last_open_time(self) -> int | None:
        return int(self.open_time[-1]) if len(self) else None

    @property
    def last_close_time(self) -> int | None:
        """Close time of the last candle: its open time + the interval - 1 ms (Binance's rule)."""
        if not len(self):
            return None
        return int(self.open_time[-1]) + interval_ms(self.interval) - 1
