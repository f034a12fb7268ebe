"""Turning a scan or backtest request into a plan and one batch of candles per symbol."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from autonama_shared.engine.candles import Candles
from autonama_shared.engine.specs import ScanSpec
from autonama_shared.errors import AutonamaError
from autonama_shared.lifecycle import Stopped
from autonama_shared.messaging.events import (
    BacktestKlines,
    BacktestPlanned,
    BacktestRequested,
    KlineBatch,
    ScanPlanned,
    ScanRequested,
)
from autonama_shared.messaging.ports import Emit
from autonama_shared.messaging.topics import Topics
from autonama_shared.runs.scan import resolve_universe
from autonama_shared.sources.base import CandleSource
from autonama_shared.sources.binance import BinanceSource

__all__ = ["Fetcher"]

log = logging.getLogger(__name__)

#: Builds the event of one symbol: (symbol, candles, None) or (symbol, None, error).
MakeEvent = Callable[[str, Candles | None, str | None], KlineBatch | BacktestKlines]


async def _universe(source: CandleSource, spec: ScanSpec) -> tuple[list[str], str | None]:
    """The symbols to fetch, or why there are none (no access fails at once, not per symbol)."""
    try:
        if isinstance(source, BinanceSource):
            await source.check_reachable()
        return await resolve_universe(source, spec), None
    except AutonamaError as e:
        return [], str(e)


@dataclass(frozen=True)
class Fetcher:
    """Fetches from ``source`` for the requests it is given, at most ``concurrency``
    symbols at once, and gives up on a request when ``stop`` is set."""

    source: CandleSource
    topics: Topics
    stop: asyncio.Event
    concurrency: int

    async def scan(self, request: ScanRequested, emit: Emit) -> None:
        """Publish the plan, then a kline batch per symbol (``Stopped`` if ``stop`` came
        first)."""
        spec = request.spec()
        symbols, error = await _universe(self.source, spec)
        plan = ScanPlanned(
            scan_id=request.scan_id,
            request=request,
            symbols=symbols,
            window=spec.window,
            error=error,
        )
        await emit(self.topics.scans, plan, request.scan_id.encode())
        log.info(
            "scan %s: %d symbols planned (%s, %d candles)%s",
            request.scan_id,
            len(symbols),
            spec.interval,
            spec.window,
            f": {error}" if error else "",
        )

        def make(symbol: str, candles: Candles | None, problem: str | None) -> KlineBatch:
            return KlineBatch(
                scan_id=request.scan_id,
                symbol=symbol,
                params=request.params,
                window=spec.window,
                error=problem,
                **KlineBatch.columns_of(candles),
            )

        await self._each(symbols, spec.interval, spec.window, make, emit, self.topics.klines)

    async def backtest(self, request: BacktestRequested, emit: Emit) -> None:
        """Publish the backtest's plan, then each symbol's history (for the analyzers)."""
        params = request.params
        symbols, error = await _universe(self.source, request.universe())
        plan = BacktestPlanned(
            backtest_id=request.backtest_id, request=request, symbols=symbols, error=error
        )
        await emit(self.topics.scans, plan, request.backtest_id.encode())
        log.info("backtest %s: %d symbols planned", request.backtest_id, len(symbols))

        def make(symbol: str, candles: Candles | None, problem: str | None) -> BacktestKlines:
            return BacktestKlines(
                backtest_id=request.backtest_id,
                symbol=symbol,
                params=params,
                error=problem,
                **BacktestKlines.columns_of(candles),
            )

        topic = self.topics.backtest_klines
        await self._each(symbols, params.interval, params.history, make, emit, topic)

    async def _each(
        self,
        symbols: list[str],
        interval: str,
        candles: int,
        make: MakeEvent,
        emit: Emit,
        topic: str,
    ) -> None:
        """One event per symbol (keyed by symbol), at most ``concurrency`` fetches at once.

        ``Stopped`` when ``stop`` came first: the request stays uncommitted and is
        handled again after a restart (downstream writes are idempotent).
        """
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(symbol: str) -> None:
            async with semaphore:
                if self.stop.is_set():
                    return
                try:
                    fetched = await self.source.fetch(symbol, interval, candles)
                    event = make(symbol, fetched, None)
                except AutonamaError as e:
                    log.warning("%s: %s", symbol, e)
                    event = make(symbol, None, str(e))
                await emit(topic, event, symbol.encode())

        await asyncio.gather(*(one(s) for s in symbols))
        if self.stop.is_set():
            raise Stopped("request abandoned at stop; it will be handled again")
