"""Parameter sweeps of the band strategy: degree x kstd x window, at vectorised speed.

For each series and window, one walk-forward sweep fits every degree at once
(one basis); every kstd reuses those fits. Each combination is then traded by
``backtest.simulate`` over the same bars (from the first bar where the longest
window is full), so combinations compare fairly, and buy-and-hold is measured
over those bars too.

Out of sample: ``split`` chooses the best combination on the first part of the
bars and reports it on the rest (``choose_and_test``); ``rolling_folds`` does it
again and again, each part chosen on the one before it (walk-forward optimisation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from autonama_shared.engine.backtest import (
    Metrics,
    Trade,
    TradeResult,
    buy_and_hold,
    metrics_from,
    metrics_of,
    simulate,
)
from autonama_shared.engine.bands import BandSweep, walk_forward_sweep
from autonama_shared.engine.candles import Candles
from autonama_shared.engine.specs import METRICS, PriceScale, TradeRules
from autonama_shared.errors import ConfigError

__all__ = [
    "Combo",
    "ComboResult",
    "Fold",
    "Grid",
    "SeriesSweep",
    "choose_and_test",
    "rolling_folds",
    "sweep_series",
]


@dataclass(frozen=True, slots=True, order=True)
class Combo:
    degree: int
    kstd: float
    window: int


@dataclass(frozen=True, slots=True)
class ComboResult:
    combo: Combo
    metrics: Metrics
    outcome: TradeResult

    @property
    def trades(self) -> list[Trade]:
        return self.outcome.trades

    @property
    def equity(self) -> np.ndarray:
        return self.outcome.equity


@dataclass(frozen=True, slots=True)
class SeriesSweep:
    symbol: str
    start: int  # first evaluated bar
    end: int  # one past the last evaluated bar
    results: list[ComboResult]
    buy_and_hold: Metrics
    buy_and_hold_equity: np.ndarray

    def best(self, metric: str = "sharpe") -> ComboResult:
        if metric not in METRICS:
            raise ConfigError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        return max(self.results, key=lambda r: (getattr(r.metrics, metric), -r.combo.degree))


@dataclass(frozen=True, slots=True)
class Grid:
    """What a sweep tries and how it trades: every degree x kstd x window, under ``rules``,
    annualised with ``per_year`` bars a year, the bands fitted on ``price_scale`` prices."""

    degrees: Sequence[int]
    kstds: Sequence[float]
    windows: Sequence[int]
    rules: TradeRules
    per_year: float
    price_scale: PriceScale = "linear"

    @property
    def first(self) -> int:
        """The first bar every window has full (the first bar a sweep trades)."""
        return max(self.windows) - 1

    def only(self, combo: Combo) -> Grid:
        """This grid narrowed to one combination."""
        return replace(self, degrees=[combo.degree], kstds=[combo.kstd], windows=[combo.window])


def sweep_series(
    candles: Candles,
    grid: Grid,
    *,
    start: int | None = None,
    end: int | None = None,
    on_combo: Callable[[], None] | None = None,
    bands: dict[int, BandSweep] | None = None,
) -> SeriesSweep:
    """Trade every combination over bars ``start`` .. ``end`` (default: all bars after the
    longest window's first full window).

    ``bands`` (window -> walk-forward fits) lets several calls on the same candles share
    the band computation: the bands at a bar do not depend on the bars traded.
    """
    n = len(candles)
    lo = grid.first if start is None else max(start, grid.first)
    hi = n if end is None else min(end, n)
    if hi - lo < 2:
        raise ConfigError(
            f"{candles.symbol}: {n} candles leave no bars to trade after a "
            f"{max(grid.windows)}-candle window"
        )
    degrees, rules, per_year = grid.degrees, grid.rules, grid.per_year
    o, h, lw, c = candles.open[lo:hi], candles.high[lo:hi], candles.low[lo:hi], candles.close[lo:hi]
    results = []
    cache = {} if bands is None else bands
    for window in grid.windows:
        sweep = cache.get(window)
        if sweep is None or not set(degrees) <= set(sweep.degrees):
            sweep = cache[window] = walk_forward_sweep(
                candles.close, window, degrees, grid.price_scale
            )
        for degree in degrees:
            k = sweep.degrees.index(degree)
            for kstd in grid.kstds:
                lower, fit, upper = sweep.bands(k, kstd)
                outcome = simulate(o, h, lw, c, lower[lo:hi], fit[lo:hi], upper[lo:hi], rules)
                metrics = metrics_from(
                    outcome.equity, per_year, outcome.net_returns, outcome.exposure
                )
                combo = Combo(degree, float(kstd), window)
                results.append(ComboResult(combo, metrics, outcome))
                if on_combo is not None:
                    on_combo()
    hold = buy_and_hold(o, c, rules)
    return SeriesSweep(candles.symbol, lo, hi, results, metrics_of(hold, per_year), hold)


def choose_and_test(
    candles: Candles,
    grid: Grid,
    split: float,
    *,
    metric: str = "sharpe",
    bands: dict[int, BandSweep] | None = None,
) -> tuple[SeriesSweep, SeriesSweep, ComboResult]:
    """Choose on the first ``split`` of the tradable bars, then test only that choice on the rest.

    Returns the in-sample sweep, the out-of-sample result of the chosen
    combination (as a one-result sweep), and the chosen in-sample result.
    """
    if not 0.1 <= split <= 0.9:
        raise ConfigError(f"split must be from 0.1 to 0.9, got {split}")
    cut = grid.first + int((len(candles) - grid.first) * split)
    return _train_and_test(
        candles, grid, (None, cut), (cut, None), metric, {} if bands is None else bands
    )


def _train_and_test(
    candles: Candles,
    grid: Grid,
    train: tuple[int | None, int | None],
    test: tuple[int | None, int | None],
    metric: str,
    bands: dict[int, BandSweep],
) -> tuple[SeriesSweep, SeriesSweep, ComboResult]:
    """Sweep the ``train`` bars, choose the best by ``metric``, trade only it on ``test``."""
    trained = sweep_series(candles, grid, start=train[0], end=train[1], bands=bands)
    chosen = trained.best(metric)
    tested = sweep_series(candles, grid.only(chosen.combo), start=test[0], end=test[1], bands=bands)
    return trained, tested, chosen


@dataclass(frozen=True, slots=True)
class Fold:
    """One step of the walk-forward: chosen on ``train`` bars, traded on the following ``test``."""

    train: tuple[int, int]  # bar range [start, end)
    test: tuple[int, int]
    chosen: ComboResult  # in sample, on the training bars
    result: ComboResult  # the chosen combination on the test bars


def rolling_folds(
    candles: Candles,
    grid: Grid,
    folds: int,
    *,
    metric: str = "sharpe",
    bands: dict[int, BandSweep] | None = None,
) -> tuple[list[Fold], np.ndarray]:
    """Walk-forward optimisation: the tradable bars are cut into ``folds + 1`` equal parts;
    the best combination on part i is traded on part i + 1. Returns the folds and the
    out-of-sample equity of all test parts chained (starting at 1)."""
    if not 2 <= folds <= 20:
        raise ConfigError(f"folds must be from 2 to 20, got {folds}")
    edges = np.linspace(grid.first, len(candles), folds + 2).astype(int)
    if np.min(np.diff(edges)) < 2:
        raise ConfigError(f"{candles.symbol}: too few bars for {folds} folds")
    out: list[Fold] = []
    chained: list[np.ndarray] = []
    level = 1.0
    bands = {} if bands is None else bands  # computed once, shared by every fold
    for i in range(folds):
        train, test, chosen = _train_and_test(
            candles,
            grid,
            (int(edges[i]), int(edges[i + 1])),
            (int(edges[i + 1]), int(edges[i + 2])),
            metric,
            bands,
        )
        result = test.results[0]
        out.append(Fold((train.start, train.end), (test.start, test.end), chosen, result))
        chained.append(level * result.equity)
        level *= float(result.equity[-1])
    return out, np.concatenate(chained)
