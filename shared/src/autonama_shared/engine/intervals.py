"""Binance kline intervals: their length, and how many candles make a window of days."""

from __future__ import annotations

import math
from typing import Literal, get_args

from autonama_shared.errors import ConfigError

__all__ = ["INTERVALS", "IntervalName", "candles_per_day", "interval_ms", "window_candles"]

#: The interval names, as a type (for API schemas); the same keys as ``INTERVALS``.
IntervalName = Literal[
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
    "1d", "3d", "1w", "1M",
]  # fmt: skip

_MINUTE = 60_000
#: Every interval Binance spot serves, with its length in milliseconds. A month
#: ("1M") varies in length; 30 days is used for window arithmetic only.
INTERVALS: dict[str, int] = {
    "1s": 1_000,
    "1m": _MINUTE,
    "3m": 3 * _MINUTE,
    "5m": 5 * _MINUTE,
    "15m": 15 * _MINUTE,
    "30m": 30 * _MINUTE,
    "1h": 60 * _MINUTE,
    "2h": 120 * _MINUTE,
    "4h": 240 * _MINUTE,
    "6h": 360 * _MINUTE,
    "8h": 480 * _MINUTE,
    "12h": 720 * _MINUTE,
    "1d": 1_440 * _MINUTE,
    "3d": 3 * 1_440 * _MINUTE,
    "1w": 7 * 1_440 * _MINUTE,
    "1M": 30 * 1_440 * _MINUTE,
}
_DAY_MS = 1_440 * _MINUTE


def interval_ms(interval: str) -> int:
    """Length of one candle of ``interval`` in milliseconds.

    >>> interval_ms("4h")
    14400000
    """
    try:
        return INTERVALS[interval]
    except KeyError:
        raise ConfigError(
            f"unknown interval {interval!r}; Binance intervals are {', '.join(INTERVALS)}"
        ) from None


def candles_per_day(interval: str) -> float:
    """Candles of ``interval`` in one day (a fraction for intervals over a day).

    >>> candles_per_day("15m"), candles_per_day("1d")
    (96.0, 1.0)
    """
    return _DAY_MS / interval_ms(interval)


def window_candles(days: int, interval: str) -> int:
    """Candles in a window of ``days`` days: days x candles per day, rounded up.

    >>> window_candles(720, "1d"), window_candles(720, "4h"), window_candles(30, "1w")
    (720, 4320, 5)
    """
    length = interval_ms(interval)
    return max(1, math.ceil(days * _DAY_MS / length))


if set(get_args(IntervalName)) != set(INTERVALS):  # pragma: no cover - a guard for editors
    raise ConfigError("IntervalName and INTERVALS list different intervals")
