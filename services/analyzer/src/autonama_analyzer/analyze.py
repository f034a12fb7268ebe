"""Kline batches to signals, with the same band function as ``autonama scan``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from autonama_shared import __version__
from autonama_shared.engine.candles import Candles
from autonama_shared.formats.records import last_candle_of, record_of, series_of
from autonama_shared.messaging.events import (
    BacktestComputed,
    BacktestKlines,
    KlineBatch,
    ScanParams,
    SignalComputed,
)
from autonama_shared.runs.scan import SymbolScan, analyse

__all__ = ["backtest_of", "signals_of"]


def _event(batch: KlineBatch, item: SymbolScan) -> SignalComputed:
    r, c = item.result, item.candles
    last = None
    if r.error is None and c is not None and r.bands is not None:
        last_ms = c.tail(r.candles).last_open_time
        last = datetime.fromtimestamp(last_ms / 1000, tz=UTC) if last_ms is not None else None
    return SignalComputed(
        **record_of(r),
        scan_id=batch.scan_id,
        symbol=batch.symbol,
        params=batch.params,
        window=batch.window,
        engine_version=__version__,
        last_candle_time=last,
        series=series_of(r, c, with_ohlc=True),
        last_candle=last_candle_of(r, c),
    )


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
                fetched.append((b.symbol, b.to_candles(b.symbol, b.params.interval), None))
        for i, item in zip(members, analyse(fetched, spec, with_bands=True), strict=True):
            out[i] = _event(batches[i], item)
    return [e for e in out if e is not None]


def backtest_of(batch: BacktestKlines) -> BacktestComputed:
    """One symbol's backtest, with the same ``run_symbol`` as ``autonama backtest`` (its
    compiled kernels are loaded with the first backtest, not at start-up)."""
    from autonama_shared.runs.backtest import run_symbol

    spec = batch.params.spec()
    candles = None
    if batch.error is None:
        candles = batch.to_candles(batch.symbol, batch.params.interval)
    run = run_symbol(batch.symbol, candles, batch.error, spec)
    return BacktestComputed(
        backtest_id=batch.backtest_id,
        symbol=batch.symbol,
        engine_version=__version__,
        result=run.row,
        equity_time=run.times.tolist() if run.times is not None else None,
        equity=run.equity.tolist() if run.equity is not None else None,
        hold=run.hold.tolist() if run.hold is not None else None,
    )
