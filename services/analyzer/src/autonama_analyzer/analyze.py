"""Kline batches to signals, with the same band function as ``autonama scan``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from autonama_shared import __version__
from autonama_shared.backtest_run import run_symbol
from autonama_shared.candles import Candles
from autonama_shared.events import (
    BacktestComputed,
    BacktestKlines,
    KlineBatch,
    ScanParams,
    SignalComputed,
)
from autonama_shared.scan import SymbolScan, analyse

__all__ = ["backtest_of", "signals_of"]


def _candles(batch: KlineBatch) -> Candles:
    return Candles(
        batch.symbol,
        batch.params.interval,
        np.asarray(batch.open_time, dtype=np.int64),
        np.asarray(batch.open, dtype=np.float64),
        np.asarray(batch.high, dtype=np.float64),
        np.asarray(batch.low, dtype=np.float64),
        np.asarray(batch.close, dtype=np.float64),
        np.asarray(batch.volume, dtype=np.float64),
    )


def _event(batch: KlineBatch, item: SymbolScan) -> SignalComputed:
    r, c = item.result, item.candles
    series = None
    last = None
    if r.error is None and c is not None and r.bands is not None:
        window = c.tail(r.candles)
        last = datetime.fromtimestamp(int(window.open_time[-1]) / 1000, tz=UTC)
        series = {
            "open_time": window.open_time.tolist(),
            "open": window.open.tolist(),
            "high": window.high.tolist(),
            "low": window.low.tolist(),
            "close": window.close.tolist(),
            "fit": np.asarray(r.bands.fit).tolist(),
            "lower": np.asarray(r.bands.lower).tolist(),
            "upper": np.asarray(r.bands.upper).tolist(),
        }
    return SignalComputed(
        scan_id=batch.scan_id, symbol=batch.symbol, params=batch.params, window=batch.window,
        engine_version=__version__, signal=r.signal, potential_return=r.potential_return,
        candles=r.candles, partial_window=r.partial_window, last_candle_time=last,
        price=r.price, lower=r.lower, upper=r.upper, fit=r.fit, sigma=r.sigma,
        target_return=r.target_return, error=r.error, series=series,
    )  # fmt: skip


def signals_of(batches: Sequence[KlineBatch]) -> list[SignalComputed]:
    """One signal per batch, in order; batches of one scan setting are fitted together."""
    groups: dict[tuple[ScanParams, int], list[int]] = defaultdict(list)
    for i, b in enumerate(batches):
        groups[(b.params, b.window)].append(i)
    out: list[SignalComputed | None] = [None] * len(batches)
    for (params, _window), members in groups.items():
        spec = params.spec()
        fetched: list[tuple[str, Candles | None, str | None]] = []
        for i in members:
            b = batches[i]
            if b.error is not None:
                fetched.append((b.symbol, None, f"fetch failed: {b.error}"))
            else:
                fetched.append((b.symbol, _candles(b), None))
        for i, item in zip(members, analyse(fetched, spec, with_bands=True), strict=True):
            out[i] = _event(batches[i], item)
    return [e for e in out if e is not None]


def backtest_of(batch: BacktestKlines) -> BacktestComputed:
    """One symbol's backtest, with the same ``run_symbol`` as ``autonama backtest``."""
    spec = batch.params.spec()
    candles = None if batch.error is not None else Candles(
        batch.symbol, batch.params.interval,
        np.asarray(batch.open_time, dtype=np.int64), np.asarray(batch.open, dtype=np.float64),
        np.asarray(batch.high, dtype=np.float64), np.asarray(batch.low, dtype=np.float64),
        np.asarray(batch.close, dtype=np.float64), np.asarray(batch.volume, dtype=np.float64),
    )  # fmt: skip
    run = run_symbol(batch.symbol, candles, batch.error, spec)
    return BacktestComputed(
        backtest_id=batch.backtest_id, symbol=batch.symbol, engine_version=__version__,
        result=run.row,
        equity_time=run.times.tolist() if run.times is not None else None,
        equity=run.equity.tolist() if run.equity is not None else None,
        hold=run.hold.tolist() if run.hold is not None else None,
    )  # fmt: skip
