"""Turning a scan or backtest request into a plan and one batch of candles per symbol."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from autonama_shared.candles import Candles
from autonama_shared.errors import AutonamaError
from autonama_shared.events import (
    BacktestKlines,
    BacktestPlanned,
    BacktestRequested,
    KlineBatch,
    ScanPlanned,
    ScanRequested,
    encode,
)
from autonama_shared.scan import ScanSpec, resolve_universe
from autonama_shared.sources.base import CandleSource
from autonama_shared.sources.binance import BinanceSource
from autonama_shared.topics import Topics

__all__ = ["handle_backtest", "handle_request"]

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


async def _fetch_each(
    symbols: list[str],
    source: CandleSource,
    interval: str,
    candles: int,
    make: MakeEvent,
    producer: AIOKafkaProducer,
    topic: str,
    stop: asyncio.Event,
    concurrency: int,
) -> bool:
    """One event per symbol (keyed by symbol), bounded in concurrency; True when every event
    was acknowledged, False when ``stop`` came first."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(symbol: str) -> asyncio.Future[object] | None:
        async with semaphore:
            if stop.is_set():
                return None
            try:
                event = make(symbol, await source.fetch(symbol, interval, candles), None)
            except AutonamaError as e:
                log.warning("%s: %s", symbol, e)
                event = make(symbol, None, str(e))
            future: asyncio.Future[object] = await producer.send(
                topic, encode(event), key=symbol.encode()
            )
            return future

    futures = await asyncio.gather(*(one(s) for s in symbols))
    sent = [f for f in futures if f is not None]
    await asyncio.gather(*sent)  # every event acknowledged by the broker
    return len(sent) == len(symbols)


def _columns(c: Candles | None) -> dict[str, list[float] | list[int]]:
    if c is None:
        return {}
    names = ("open_time", "open", "high", "low", "close", "volume")
    return {name: getattr(c, name).tolist() for name in names}


async def handle_request(
    request: ScanRequested,
    source: CandleSource,
    producer: AIOKafkaProducer,
    topics: Topics,
    stop: asyncio.Event,
    concurrency: int,
) -> bool:
    """Publish the plan, then a kline batch per symbol; True when every send was acknowledged.

    False means ``stop`` came first: the request is left uncommitted and will be
    handled again (downstream writes are idempotent).
    """
    spec = request.params.spec(
        tuple(request.symbols) if request.symbols is not None else None, request.top
    )
    symbols, error = await _universe(source, spec)
    plan = ScanPlanned(
        scan_id=request.scan_id, request=request, symbols=symbols, window=spec.window, error=error
    )
    await producer.send_and_wait(topics.scans, encode(plan), key=request.scan_id.encode())
    log.info("scan %s: %d symbols planned (%s, %d candles)%s", request.scan_id, len(symbols),
             spec.interval, spec.window, f": {error}" if error else "")  # fmt: skip

    def make(symbol: str, candles: Candles | None, problem: str | None) -> KlineBatch:
        return KlineBatch(scan_id=request.scan_id, symbol=symbol, params=request.params,
                          window=spec.window, error=problem, **_columns(candles))  # fmt: skip

    return await _fetch_each(symbols, source, spec.interval, spec.window, make, producer,
                             topics.klines, stop, concurrency)  # fmt: skip


async def handle_backtest(
    request: BacktestRequested,
    source: CandleSource,
    producer: AIOKafkaProducer,
    topics: Topics,
    stop: asyncio.Event,
    concurrency: int,
) -> bool:
    """Publish the backtest's plan, then each symbol's history (for the analyzers)."""
    params = request.params
    spec = ScanSpec(interval=params.interval,
                    symbols=tuple(request.symbols) if request.symbols is not None else None,
                    top=request.top)  # fmt: skip
    symbols, error = await _universe(source, spec)
    plan = BacktestPlanned(backtest_id=request.backtest_id, request=request, symbols=symbols,
                           error=error)  # fmt: skip
    await producer.send_and_wait(topics.scans, encode(plan), key=request.backtest_id.encode())
    log.info("backtest %s: %d symbols planned", request.backtest_id, len(symbols))

    def make(symbol: str, candles: Candles | None, problem: str | None) -> BacktestKlines:
        return BacktestKlines(backtest_id=request.backtest_id, symbol=symbol, params=params,
                              error=problem, **_columns(candles))  # fmt: skip

    return await _fetch_each(symbols, source, params.interval, params.history, make, producer,
                             topics.klines, stop, concurrency)  # fmt: skip
