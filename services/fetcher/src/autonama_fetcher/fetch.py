"""Turning one scan request into a plan and one kline batch per symbol."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer

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


async def handle_request(
    request: ScanRequested,
    source: CandleSource,
    producer: AIOKafkaProducer,
    topics: Topics,
    stop: asyncio.Event,
    concurrency: int,
) -> bool:
    """Publish the plan, then a batch per symbol; True when every send was acknowledged.

    False means ``stop`` came first: the request is left uncommitted and will be
    handled again (downstream writes are idempotent).
    """
    spec = request.params.spec(
        tuple(request.symbols) if request.symbols is not None else None, request.top
    )
    try:
        if isinstance(source, BinanceSource):
            await source.check_reachable()  # fail the scan at once, not symbol by symbol
        symbols = await resolve_universe(source, spec)
        error = None
    except AutonamaError as e:
        symbols, error = [], str(e)
        log.error("scan %s: %s", request.scan_id, error)
    plan = ScanPlanned(
        scan_id=request.scan_id, request=request, symbols=symbols, window=spec.window, error=error
    )
    await producer.send_and_wait(topics.scans, encode(plan), key=request.scan_id.encode())
    log.info("scan %s: %d symbols planned (%s, %d candles)", request.scan_id, len(symbols),
             spec.interval, spec.window)  # fmt: skip
    semaphore = asyncio.Semaphore(concurrency)

    async def one(symbol: str) -> asyncio.Future[object] | None:
        async with semaphore:
            if stop.is_set():
                return None
            try:
                c = await source.fetch(symbol, spec.interval, spec.window)
                batch = KlineBatch(
                    scan_id=request.scan_id, symbol=symbol, params=request.params,
                    window=spec.window, open_time=c.open_time.tolist(), open=c.open.tolist(),
                    high=c.high.tolist(), low=c.low.tolist(), close=c.close.tolist(),
                    volume=c.volume.tolist(),
                )  # fmt: skip
            except AutonamaError as e:
                log.warning("scan %s: %s: %s", request.scan_id, symbol, e)
                batch = KlineBatch(
                    scan_id=request.scan_id, symbol=symbol, params=request.params,
                    window=spec.window, error=str(e),
                )  # fmt: skip
            future: asyncio.Future[object] = await producer.send(
                topics.klines, encode(batch), key=symbol.encode()
            )
            return future

    futures = await asyncio.gather(*(one(s) for s in symbols))
    sent = [f for f in futures if f is not None]
    await asyncio.gather(*sent)  # every batch acknowledged by the broker
    return len(sent) == len(symbols)


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
    try:
        if isinstance(source, BinanceSource):
            await source.check_reachable()
        symbols = await resolve_universe(source, spec)
        error = None
    except AutonamaError as e:
        symbols, error = [], str(e)
    plan = BacktestPlanned(backtest_id=request.backtest_id, request=request, symbols=symbols,
                           error=error)  # fmt: skip
    await producer.send_and_wait(topics.scans, encode(plan), key=request.backtest_id.encode())
    semaphore = asyncio.Semaphore(concurrency)

    async def one(symbol: str) -> asyncio.Future[object] | None:
        async with semaphore:
            if stop.is_set():
                return None
            try:
                c = await source.fetch(symbol, params.interval, params.history)
                event = BacktestKlines(
                    backtest_id=request.backtest_id, symbol=symbol, params=params,
                    open_time=c.open_time.tolist(), open=c.open.tolist(), high=c.high.tolist(),
                    low=c.low.tolist(), close=c.close.tolist(), volume=c.volume.tolist(),
                )  # fmt: skip
            except AutonamaError as e:
                event = BacktestKlines(backtest_id=request.backtest_id, symbol=symbol,
                                       params=params, error=str(e))  # fmt: skip
            future: asyncio.Future[object] = await producer.send(
                topics.klines, encode(event), key=symbol.encode()
            )
            return future

    futures = await asyncio.gather(*(one(s) for s in symbols))
    sent = [f for f in futures if f is not None]
    await asyncio.gather(*sent)
    return len(sent) == len(symbols)
