"""Every parameter of a scan or a backtest, its limits, and the one place they are validated.

Pure code (numpy and the error module only). The CLI, the API bodies, the
events and the engine all take these types; a value that passed here is
trusted by every later stage. Out-of-range values are refused with a
``ConfigError`` whose message names the option and its range, never clamped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from autonama_shared.engine.intervals import interval_ms, window_candles
from autonama_shared.errors import ConfigError

__all__ = [
    "MAX_DAYS",
    "MAX_DEGREE",
    "MAX_HISTORY",
    "MAX_KSTD",
    "MAX_TOP",
    "MAX_WINDOW",
    "METRICS",
    "MIN_DAYS",
    "MIN_DEGREE",
    "MIN_KSTD",
    "BacktestSpec",
    "BandParams",
    "PriceScale",
    "ScanSpec",
    "TradeRules",
    "min_candles",
    "normalise_symbols",
]

PriceScale = Literal["linear", "log"]

MIN_DEGREE, MAX_DEGREE = 2, 10
MIN_KSTD, MAX_KSTD = 1.0, 3.0
MIN_DAYS, MAX_DAYS = 1, 720
MAX_TOP = 1000
#: Backtests: the longest trailing window and the longest history, in candles.
MAX_WINDOW = 10_000
MAX_HISTORY = 100_000
#: What a backtest can choose its combination by.
METRICS = ("sharpe", "sortino", "total_return", "cagr")


@dataclass(frozen=True, slots=True)
class BandParams:
    """Degree, band width and price scale of a fit. Out-of-range values are refused, never clamped.

    >>> BandParams(degree=4, kstd=2.0)
    BandParams(degree=4, kstd=2.0, price_scale='linear')
    >>> BandParams(degree=11)
    Traceback (most recent call last):
    ...
    autonama_shared.errors.ConfigError: degree must be an integer from 2 to 10, got 11
    """

    degree: int = 4
    kstd: float = 2.0
    price_scale: PriceScale = "linear"

    def __post_init__(self) -> None:
        if (
            isinstance(self.degree, bool)
            or not isinstance(self.degree, int | np.integer)
            or not MIN_DEGREE <= self.degree <= MAX_DEGREE
        ):
            raise ConfigError(
                f"degree must be an integer from {MIN_DEGREE} to {MAX_DEGREE}, got {self.degree!r}"
            )
        if (
            isinstance(self.kstd, bool)
            or not isinstance(self.kstd, int | float | np.floating)
            or not math.isfinite(self.kstd)
            or not MIN_KSTD <= self.kstd <= MAX_KSTD
        ):
            raise ConfigError(f"kstd must be from {MIN_KSTD} to {MAX_KSTD}, got {self.kstd!r}")
        if self.price_scale not in get_args(PriceScale):
            raise ConfigError(f"price_scale must be 'linear' or 'log', got {self.price_scale!r}")


def min_candles(degree: int) -> int:
    """Fewest closed candles a fit of ``degree`` needs: ``max(30, 2 (d + 1))``.

    >>> min_candles(4), min_candles(10)
    (30, 30)
    """
    return max(30, 2 * (degree + 1))


@dataclass(frozen=True, slots=True)
class TradeRules:
    """Fees, slippage and exits of a backtest (see ``engine.backtest``)."""

    fee: float = 0.001  # per side: Binance spot's 0.1 %
    slippage_bps: float = 0.0
    allow_short: bool = False
    stop_loss: float | None = None  # fraction, e.g. 0.05 for 5 %
    max_hold: int | None = None  # bars

    def __post_init__(self) -> None:
        if not 0 <= self.fee < 0.1:
            raise ConfigError(f"fee must be from 0 to 0.1 (10 %) per side, got {self.fee}")
        if not 0 <= self.slippage_bps < 1000:
            raise ConfigError(f"slippage must be from 0 to 1000 bps, got {self.slippage_bps}")
        if self.stop_loss is not None and not 0 < self.stop_loss < 1:
            raise ConfigError(f"stop-loss must be a fraction between 0 and 1, got {self.stop_loss}")
        if self.max_hold is not None and self.max_hold < 1:
            raise ConfigError(f"max-hold must be at least 1 bar, got {self.max_hold}")


def normalise_symbols(symbols: Sequence[str]) -> tuple[str, ...]:
    """Upper-case, de-duplicated, validated symbols in the order given.

    >>> normalise_symbols(["btcusdt", " ETHUSDT", "BTCUSDT"])
    ('BTCUSDT', 'ETHUSDT')
    """
    out: list[str] = []
    for raw in symbols:
        s = raw.strip().upper()
        if not s:
            continue
        if not s.isalnum() or len(s) > 20:
            raise ConfigError(f"symbol {raw!r} is not a Binance symbol (letters and digits only)")
        if s not in out:
            out.append(s)
    if not out:
        raise ConfigError("no symbols given")
    return tuple(out)


@dataclass(frozen=True)
class ScanSpec:
    """What to scan: the universe, the interval and window, and the band parameters."""

    interval: str = "1d"
    days: int = 720
    params: BandParams = field(default_factory=BandParams)
    symbols: tuple[str, ...] | None = None  # None and top None: the core movers
    top: int | None = None

    def __post_init__(self) -> None:
        interval_ms(self.interval)  # validates
        if isinstance(self.days, bool) or not isinstance(self.days, int):
            raise ConfigError(f"days must be a whole number from {MIN_DAYS} to {MAX_DAYS}")
        if not MIN_DAYS <= self.days <= MAX_DAYS:
            raise ConfigError(f"days must be from {MIN_DAYS} to {MAX_DAYS}, got {self.days}")
        if self.symbols is not None and self.top is not None:
            raise ConfigError("give either symbols or top N, not both")
        if self.top is not None and not 1 <= self.top <= MAX_TOP:
            raise ConfigError(f"top must be from 1 to {MAX_TOP}, got {self.top}")

    @property
    def window(self) -> int:
        return window_candles(self.days, self.interval)

    @property
    def universe(self) -> str:
        if self.top is not None:
            return f"top{self.top}"
        return "symbols" if self.symbols is not None else "core"


@dataclass(frozen=True)
class BacktestSpec:
    """A backtest: the degree x kstd x window sweep, the trading rules, how to choose."""

    interval: str
    degrees: tuple[int, ...]
    kstds: tuple[float, ...]
    windows: tuple[int, ...]
    rules: TradeRules
    price_scale: PriceScale = "linear"
    split: float | None = None
    metric: str = "sharpe"
    history: int = 2000
    folds: int | None = None

    def __post_init__(self) -> None:
        interval_ms(self.interval)
        if not self.degrees or not self.kstds or not self.windows:
            raise ConfigError("give at least one degree, one kstd and one window")
        for d in self.degrees:
            if not MIN_DEGREE <= d <= MAX_DEGREE:
                raise ConfigError(f"--degree {d} is outside {MIN_DEGREE} to {MAX_DEGREE}")
        for k in self.kstds:
            if not MIN_KSTD <= k <= MAX_KSTD:
                raise ConfigError(f"--kstd {k} is outside {MIN_KSTD} to {MAX_KSTD}")
        shortest = min_candles(max(self.degrees))
        for w in self.windows:
            if not shortest <= w <= MAX_WINDOW:
                raise ConfigError(f"--window {w} must be from {shortest} to {MAX_WINDOW} candles")
        longest = max(self.windows)
        if self.history > MAX_HISTORY:
            raise ConfigError(f"--history {self.history} is over {MAX_HISTORY} candles")
        if self.history < longest + 2:
            raise ConfigError(
                f"--window {longest} needs at least {longest + 2} candles of history and "
                f"--history is {self.history}: raise --history (at most {MAX_HISTORY}) or "
                "shorten --window"
            )
        if self.split is not None and not 0.1 <= self.split <= 0.9:
            raise ConfigError(f"--split must be from 0.1 to 0.9, got {self.split}")
        if self.folds is not None and not 2 <= self.folds <= 20:
            raise ConfigError(f"--folds must be from 2 to 20, got {self.folds}")
        if self.folds is not None and self.split is not None:
            raise ConfigError("give --split or --folds, not both")
        if self.metric not in METRICS:
            raise ConfigError(f"--metric must be one of {', '.join(METRICS)}")

    @property
    def combinations(self) -> int:
        return len(self.degrees) * len(self.kstds) * len(self.windows)

    @property
    def per_year(self) -> float:
        """Bars in 365 days of this interval (crypto trades every day)."""
        return 365 * 86_400_000 / interval_ms(self.interval)
