"""The analyzer: kline batches in, signals out (a map handler on the shared runner).

Replicas share the ``klines`` topic in one consumer group: add a replica to
add capacity (up to the topic's partition count). Whatever is waiting is taken
in one poll and fitted together (the batched band function). The runner
commits the poll only after the broker acknowledged every signal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from autonama_analyzer.analyze import backtest_of, signals_of
from autonama_analyzer.live import LiveState
from autonama_analyzer.settings import Settings
from autonama_shared.errors import AutonamaError, DataError
from autonama_shared.messaging.events import (
    BacktestComputed,
    BacktestKlines,
    CandleClosed,
    KlineBatch,
    SignalComputed,
)
from autonama_shared.messaging.ports import Emit, MapHandler, of_type
from autonama_shared.messaging.startup import open_runner

if TYPE_CHECKING:
    from autonama_shared.sources.binance import BinanceSource

__all__ = ["analyse_poll", "make_handler", "run"]

log = logging.getLogger("autonama.analyzer")


async def analyse_poll(events: Sequence[Any]) -> list[SignalComputed | BacktestComputed]:
    """The signals of a poll's kline batches and the backtests of its histories."""
    batches = of_type(events, KlineBatch)
    out: list[SignalComputed | BacktestComputed] = []
    try:
        out.extend(signals_of(batches))
    except DataError as e:  # a batch whose candles are inconsistent: that symbol's error
        log.error("a poll of %d batches is analysed one by one: %s", len(batches), e)
        for b in batches:
            try:
                out.extend(signals_of([b]))
            except DataError as one:
                out.extend(signals_of([b.model_copy(update={"error": str(one)})]))
    for bt in of_type(events, BacktestKlines):  # CPU work: a sweep per symbol
        try:
            out.append(await asyncio.to_thread(backtest_of, bt))
        except (AutonamaError, ValueError) as e:
            log.error("backtest %s of %s failed: %s", bt.backtest_id, bt.symbol, e)
            out.append(backtest_of(bt.model_copy(update={"error": str(e)})))
    return out


def make_handler(signals_topic: str, live: LiveState | None = None) -> MapHandler:
    async def handle(events: Sequence[Any], emit: Emit) -> None:
        results: list[Any] = await analyse_poll(events)
        closes = of_type(events, CandleClosed)
        if closes and live is not None:
            loaded = live.counts["loaded"]
            for close in closes:  # in order: a key's candles follow one another
                results.extend(await live.handle(close))
            if live.counts["loaded"] > loaded:
                log.info(
                    "live: %d of %d closes were of keys loaded over REST now (a first "
                    "candle, a restart or a rebalance)",
                    live.counts["loaded"] - loaded,
                    len(closes),
                )
        for event in results:
            await emit(signals_topic, event, event.symbol.encode())
        batches, backtests = of_type(events, KlineBatch), of_type(events, BacktestKlines)
        if batches:
            log.info("analysed %d batches", len(batches))
        if backtests:
            log.info("backtested %d symbols", len(backtests))

    return handle


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Two loops, each its own consumer group: kline batches of scans, and backtest histories
    (fitted in a thread), so a scan is never queued behind a large backtest."""
    who = f"analyzer-{settings.replica}"
    async with AsyncExitStack() as stack:
        scans = await stack.enter_async_context(
            open_runner(
                settings.kafka,
                stop,
                service="analyzer",
                who=who,
                inputs=["klines"],
                accepted=(KlineBatch, BacktestKlines, CandleClosed),
                group_id=settings.group_id,
                max_records=settings.max_batch,
                poll_ms=settings.poll_ms,
            )
        )
        backtests = await stack.enter_async_context(
            open_runner(
                settings.kafka,
                stop,
                service="analyzer",
                who=f"{who}-backtests",
                inputs=["backtest-klines"],
                accepted=(BacktestKlines,),
                group_id=f"{settings.group_id}-backtests",
                max_records=1,
                poll_ms=settings.poll_ms,
            )
        )
        # The REST client (python-binance) is loaded on the first live key that needs its
        # history: a scan-only analyzer starts without it.
        sources: list[BinanceSource] = []

        async def source() -> BinanceSource:
            if not sources:
                from autonama_shared.sources.binance import BinanceSource

                sources.append(await stack.enter_async_context(BinanceSource(settings.binance)))
            return sources[0]

        async def fetch(*args: Any, **kwargs: Any) -> Any:
            return await (await source()).fetch(*args, **kwargs)

        async def server_now() -> int:
            return await (await source()).server_now_ms(max_age=0.0)

        handler = make_handler(scans.topics.signals, LiveState(fetch, server_now))
        async with asyncio.TaskGroup() as group:
            group.create_task(scans.map(handler))
            group.create_task(backtests.map(handler))
