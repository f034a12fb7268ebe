"""One scan: resolve the universe, fetch candles, compute every symbol's signal.

The same path for the offline ``autonama scan`` and (through ``analyse``) the
analyzer service: both call ``bands.scan_signals``. Fetching is bounded in
concurrency; a symbol whose fetch fails gets an error result and the scan goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from autonama_shared import __version__
from autonama_shared.engine.bands import SignalResult, error_result, scan_signals
from autonama_shared.engine.candles import Candles
from autonama_shared.engine.specs import ScanSpec
from autonama_shared.errors import AutonamaError
from autonama_shared.formats.records import record_of, series_of
from autonama_shared.formats.results import (
    ResultsFile,
    ScanParameters,
    SymbolResult,
    pack_series,
)
from autonama_shared.sources.base import CORE_MOVERS, CandleSource

__all__ = [
    "ScanReport",
    "SymbolScan",
    "analyse",
    "fetch_all",
    "resolve_universe",
    "results_file",
    "run_scan",
]


@dataclass(frozen=True)
class SymbolScan:
    symbol: str
    interval: str
    result: SignalResult
    candles: Candles | None  # the window that was fitted; None when the fetch failed


@dataclass(frozen=True)
class ScanReport:
    spec: ScanSpec
    source: str
    symbols: list[str]
    items: list[SymbolScan]
    started_at: datetime
    finished_at: datetime


async def resolve_universe(source: CandleSource, spec: ScanSpec) -> list[str]:
    if spec.top is not None:
        return await source.top_symbols(spec.top)
    return list(spec.symbols if spec.symbols is not None else CORE_MOVERS)


def analyse(
    fetched: Sequence[tuple[str, Candles | None, str | None]],
    spec: ScanSpec,
    *,
    with_bands: bool = False,
) -> list[SymbolScan]:
    """Signals of fetched candle windows ((symbol, candles or None, fetch error)), batched."""
    ok = [(s, c) for s, c, _ in fetched if c is not None]
    results = iter(
        scan_signals([c.close for _, c in ok], spec.params, spec.window, with_bands=with_bands)
    )
    out = []
    for symbol, candles, error in fetched:
        if candles is None:
            result = error_result(error or "no candles", 0, spec.window)
        else:
            result = next(results)
        out.append(SymbolScan(symbol, spec.interval, result, candles))
    return out


async def fetch_all(
    source: CandleSource,
    symbols: Sequence[str],
    interval: str,
    candles: int,
    *,
    concurrency: int = 8,
    on_fetched: Callable[[str, str | None], None] | None = None,
) -> list[tuple[str, Candles | None, str | None]]:
    """The latest ``candles`` of every symbol, in order, at most ``concurrency`` at once:
    (symbol, candles, None), or (symbol, None, why) for a symbol that failed."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(symbol: str) -> tuple[str, Candles | None, str | None]:
        async with semaphore:
            try:
                got = await source.fetch(symbol, interval, candles)
            except AutonamaError as e:
                if on_fetched:
                    on_fetched(symbol, str(e))
                return symbol, None, str(e)
        if on_fetched:
            on_fetched(symbol, None)
        return symbol, got, None

    return list(await asyncio.gather(*(one(s) for s in symbols)))


async def run_scan(
    source: CandleSource,
    spec: ScanSpec,
    *,
    concurrency: int = 8,
    on_universe: Callable[[list[str]], None] | None = None,
    on_fetched: Callable[[str, str | None], None] | None = None,
    with_bands: bool = True,
) -> ScanReport:
    """Fetch every symbol of the universe (bounded concurrency) and compute the signals.

    ``on_universe`` hears the symbols once resolved; ``on_fetched`` hears each
    symbol as its fetch ends, with the error text when it failed.
    """
    started = datetime.now(UTC)
    symbols = await resolve_universe(source, spec)
    if on_universe:
        on_universe(symbols)
    fetched = await fetch_all(
        source, symbols, spec.interval, spec.window, concurrency=concurrency, on_fetched=on_fetched
    )
    items = analyse(fetched, spec, with_bands=with_bands)
    return ScanReport(spec, source.name, symbols, items, started, datetime.now(UTC))


def _utc(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def results_file(report: ScanReport) -> ResultsFile:
    """The scan's results file (``formats.results``): what the drop folder ingests."""
    spec = report.spec
    results = []
    for item in report.items:
        r, c = item.result, item.candles
        window = c.tail(r.candles) if c is not None and r.candles else None
        columns = series_of(r, c, with_ohlc=True)
        results.append(
            SymbolResult(
                **record_of(r),
                symbol=item.symbol,
                interval=item.interval,
                first_candle_time=_utc(window.first_open_time) if window else None,
                last_candle_time=_utc(window.last_open_time) if window else None,
                series=pack_series(columns) if columns is not None else None,
            )
        )
    return ResultsFile(
        engine_version=__version__,
        generated_at=report.finished_at,
        parameters=ScanParameters(
            interval=spec.interval,
            degree=spec.params.degree,
            kstd=spec.params.kstd,
            days=spec.days,
            window=spec.window,
            price_scale=spec.params.price_scale,
            source=report.source,
            universe=spec.universe,
        ),
        results=results,
    )
