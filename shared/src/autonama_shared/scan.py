"""One scan: resolve the universe, fetch candles, compute every symbol's signal.

The same path for the offline ``autonama scan`` and (through ``analyse``) the
analyzer service: both call ``bands.scan_signals``. Fetching is bounded in
concurrency; a symbol whose fetch fails gets an error result and the scan goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from autonama_shared.bands import BandParams, SignalResult, error_result, scan_signals
from autonama_shared.candles import Candles
from autonama_shared.errors import AutonamaError, ConfigError
from autonama_shared.intervals import interval_ms, window_candles
from autonama_shared.sources.base import CORE_MOVERS, CandleSource

__all__ = [
    "MAX_DAYS",
    "MIN_DAYS",
    "ScanReport",
    "ScanSpec",
    "SymbolScan",
    "analyse",
    "fetch_all",
    "normalise_symbols",
    "resolve_universe",
    "run_scan",
]

MIN_DAYS, MAX_DAYS = 1, 720
MAX_TOP = 1000


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
