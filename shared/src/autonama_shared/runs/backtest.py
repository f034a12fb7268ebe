"""One backtest of one symbol, as the CLI and the analyzer service both run it.

``BacktestSpec`` holds the sweep and the trading rules (validated, with
messages that name the option); ``run_symbol`` sweeps, chooses (in sample, or
on the first part with ``split``), and returns the report row with the curves
to draw or store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from autonama_shared.engine.backtest import Metrics, buy_and_hold, metrics_of
from autonama_shared.engine.bands import BandSweep
from autonama_shared.engine.candles import Candles
from autonama_shared.engine.specs import BacktestSpec
from autonama_shared.engine.sweep import (
    ComboResult,
    Grid,
    SeriesSweep,
    choose_and_test,
    rolling_folds,
    sweep_series,
)
from autonama_shared.formats.report import (
    MAX_CURVE_POINTS,
    BacktestParameters,
    ComboMetrics,
    EquityCurve,
    FoldModel,
    MetricsModel,
    SymbolBacktest,
    TradeModel,
)

__all__ = ["SymbolRun", "metrics_model", "parameters_of", "portfolio", "run_symbol"]


def parameters_of(spec: BacktestSpec, source: str) -> BacktestParameters:
    """The report's record of what was run."""
    r = spec.rules
    return BacktestParameters(
        interval=spec.interval,
        degrees=list(spec.degrees),
        kstds=list(spec.kstds),
        windows=list(spec.windows),
        price_scale=spec.price_scale,
        fee=r.fee,
        slippage_bps=r.slippage_bps,
        allow_short=r.allow_short,
        stop_loss=r.stop_loss,
        max_hold=r.max_hold,
        split=spec.split,
        folds=spec.folds,
        metric=spec.metric,
        source=source,
    )


@dataclass(frozen=True)
class SymbolRun:
    row: SymbolBacktest
    times: np.ndarray | None = None  # open times of the reported bars
    equity: np.ndarray | None = None  # the reported run's equity on those bars
    hold: np.ndarray | None = None  # buy and hold on those bars
    sweep: SeriesSweep | None = None  # every combination (in sample)
    window: int | None = None  # the window of the chosen combination (for a heatmap)
    title: str = ""  # what the reported run is
    entries: tuple[int, ...] | list[int] = ()  # bar indexes into ``equity``
    exits: tuple[int, ...] | list[int] = ()


def metrics_model(m: Metrics) -> MetricsModel:
    values = asdict(m)
    values.pop("extra", None)
    return MetricsModel(**values)


def _combo(r: ComboResult) -> ComboMetrics:
    c = r.combo
    return ComboMetrics(
        degree=c.degree, kstd=c.kstd, window=c.window, metrics=metrics_model(r.metrics)
    )


def _trades(r: ComboResult, candles: Candles, offset: int) -> list[TradeModel]:
    t = candles.open_time
    return [
        TradeModel(
            side=x.side,
            signal_time=int(t[offset + x.signal_bar]),
            entry_time=int(t[offset + x.entry_bar]),
            entry_price=x.entry_price,
            exit_time=int(t[offset + x.exit_bar]),
            exit_price=x.exit_price,
            reason=x.reason,
            net_return=x.net_return,
        )
        for x in r.trades
    ]


def failed(symbol: str, error: str) -> SymbolRun:
    return SymbolRun(
        SymbolBacktest(
            symbol=symbol,
            first_time=None,
            last_time=None,
            bars=0,
            chosen=None,
            out_of_sample=None,
            buy_and_hold=None,
            buy_and_hold_out_of_sample=None,
            trades=[],
            combinations=[],
            error=error,
        )
    )


def run_symbol(
    symbol: str,
    candles: Candles | None,
    error: str | None,
    spec: BacktestSpec,
    on_combo: Callable[[], None] | None = None,
) -> SymbolRun:
    """Sweep and choose for one symbol (see ``BacktestSpec``); a symbol without enough
    candles, or whose candles could not be had, is a row with its error.

    Three steps: the sweep and the choice (in sample, or on the first part of a split);
    the run that is reported (the chosen one, or its test on the held-out part); with
    folds, the walk-forward's test parts chained in its place.
    """
    if candles is None or len(candles) < max(spec.windows) + 2:
        count = len(candles) if candles is not None else 0
        return failed(symbol, error or f"{count} candles are fewer than the window")
    grid = Grid(spec.degrees, spec.kstds, spec.windows, spec.rules, spec.per_year, spec.price_scale)
    bands: dict[int, BandSweep] = {}  # one band computation for every sweep below
    if spec.split is None:
        sweep = sweep_series(candles, grid, on_combo=on_combo, bands=bands)
        chosen = reported = sweep.best(spec.metric)
        report_sweep, out_of_sample = sweep, None
    else:
        sweep, report_sweep, chosen = choose_and_test(
            candles, grid, spec.split, metric=spec.metric, bands=bands
        )
        reported = report_sweep.results[0]
        out_of_sample = _combo(reported)
    run = (
        _walk_forward(grid, candles, spec, spec.folds, bands)
        if spec.folds is not None
        else _chosen_run(candles, report_sweep, reported)
    )
    row = SymbolBacktest(
        symbol=symbol,
        first_time=int(run.times[0]),
        last_time=int(run.times[-1]),
        bars=len(run.times),
        chosen=_combo(chosen),
        out_of_sample=out_of_sample,
        buy_and_hold=metrics_model(sweep.buy_and_hold),
        buy_and_hold_out_of_sample=(
            metrics_model(metrics_of(run.hold, spec.per_year))
            if spec.split is not None or spec.folds is not None
            else None
        ),
        trades=run.trades,
        combinations=[_combo(r) for r in sweep.results],
        folds=run.folds,
        walk_forward=run.walk_forward,
        equity_curve=curve_of(run.times, run.equity, run.hold),
    )
    return SymbolRun(
        row,
        run.times,
        run.equity,
        run.hold,
        sweep,
        reported.combo.window,
        run.title,
        run.entries,
        run.exits,
    )


@dataclass(frozen=True)
class _Run:
    """What a symbol's row reports: its bars, equity and buy-and-hold, its trades (and their
    entry and exit bars for the chart), the walk-forward's folds."""

    times: np.ndarray
    equity: np.ndarray
    hold: np.ndarray
    trades: list[TradeModel]
    entries: list[int]
    exits: list[int]
    title: str
    folds: list[FoldModel] = field(default_factory=list)
    walk_forward: MetricsModel | None = None


def _chosen_run(candles: Candles, report_sweep: SeriesSweep, reported: ComboResult) -> _Run:
    """The chosen combination's run (on the held-out part with a split)."""
    c = reported.combo
    return _Run(
        times=candles.open_time[report_sweep.start : report_sweep.end],
        equity=reported.equity,
        hold=report_sweep.buy_and_hold_equity,
        trades=_trades(reported, candles, report_sweep.start),
        entries=[x.entry_bar for x in reported.trades],
        exits=[x.exit_bar for x in reported.trades],
        title=f"degree {c.degree}, kstd {c.kstd:g}, window {c.window}",
    )


def _walk_forward(
    grid: Grid,
    candles: Candles,
    spec: BacktestSpec,
    folds: int,
    bands: dict[int, BandSweep],
) -> _Run:
    """The walk-forward: each fold's choice tested on the part after it, the test parts
    chained (trades, curves and metrics are theirs)."""
    steps, equity = rolling_folds(candles, grid, folds, metric=spec.metric, bands=bands)
    t = candles.open_time
    lo, hi = steps[0].test[0], steps[-1].test[1]
    in_market = sum(f.result.metrics.exposure * (f.test[1] - f.test[0]) for f in steps)
    combined = metrics_of(
        equity, spec.per_year, [x for f in steps for x in f.result.trades], in_market / (hi - lo)
    )
    return _Run(
        times=t[lo:hi],
        equity=equity,
        hold=buy_and_hold(candles.open[lo:hi], candles.close[lo:hi], spec.rules),
        trades=[x for f in steps for x in _trades(f.result, candles, f.test[0])],
        entries=[f.test[0] - lo + x.entry_bar for f in steps for x in f.result.trades],
        exits=[f.test[0] - lo + x.exit_bar for f in steps for x in f.result.trades],
        title=f"walk-forward over {folds} folds",
        folds=[
            FoldModel(
                train_start=int(t[f.train[0]]),
                train_end=int(t[f.train[1] - 1]),
                test_start=int(t[f.test[0]]),
                test_end=int(t[f.test[1] - 1]),
                chosen=_combo(f.chosen),
                test=_combo(f.result),
            )
            for f in steps
        ],
        walk_forward=metrics_model(combined),
    )


def curve_of(
    times: np.ndarray, equity: np.ndarray, hold: np.ndarray, most: int = MAX_CURVE_POINTS
) -> EquityCurve:
    """The reported run's equity beside buy-and-hold, at most ``most`` points (evenly spaced
    bars, the first and the last always kept), for a page to draw without re-running.

    >>> c = curve_of(np.arange(5) * 10, np.linspace(1, 2, 5), np.ones(5), most=3)
    >>> c.time, c.equity
    ([0, 20, 40], [1.0, 1.5, 2.0])
    """
    n = len(times)
    keep = np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(np.int64))
    return EquityCurve(
        time=[int(x) for x in times[keep]],
        equity=[float(x) for x in equity[keep]],
        buy_and_hold=[float(x) for x in hold[keep]],
    )


def portfolio(curves: Sequence[tuple[np.ndarray, np.ndarray]], per_year: float) -> Metrics | None:
    """Equal weight, rebalanced every bar, over the union of the symbols' bars."""
    if not curves:
        return None
    import pandas as pd  # only the CLI's report needs it: the analyzer never loads pandas

    frame = pd.concat([pd.Series(eq, index=times) for times, eq in curves], axis=1).sort_index()
    returns = frame.pct_change().mean(axis=1, skipna=True).fillna(0.0)
    equity = np.cumprod(1.0 + returns.to_numpy(dtype=np.float64)).astype(np.float64)
    return metrics_of(equity, per_year)
