"""The fetcher: scan and backtest requests in, plans and kline batches out (a map handler).

One request per poll: the runner commits it once every batch of it was
acknowledged. A request whose parameters are invalid is dead-lettered by the
runner (the ``ConfigError`` names the parameter). With schedules, the
scheduler runs beside the loop and is stopped with it; with a watch
(``AUTONAMA_WATCH__ENABLED``), so does the live feed (``sources.live``): it lives here
because the fetcher already holds Binance (the REST client its catch-up needs, the
candle cache and the one weight budget of this IP) and the producer of the ``klines``
topic the analyzers read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from aiokafka.errors import KafkaError

from autonama_fetcher.fetch import handle_backtest, handle_request
from autonama_fetcher.schedule import Scheduler
from autonama_fetcher.settings import Settings
from autonama_shared.db.pool import migrate_when_ready, open_pool
from autonama_shared.errors import TemporaryError
from autonama_shared.lifecycle import supervise
from autonama_shared.messaging.events import (
    BacktestRequested,
    KlineBatch,
    ScanRequested,
    encode,
)
from autonama_shared.messaging.runner import Emit, MapHandler, Runner, open_runner
from autonama_shared.messaging.topics import Topics
from autonama_shared.sources.base import CORE_MOVERS, CandleSource
from autonama_shared.sources.binance import BinanceSource
from autonama_shared.sources.cache import KlineCache
from autonama_shared.sources.live import LiveFeed, WatchSettings

__all__ = ["live_feed", "make_handler", "run"]

log = logging.getLogger("autonama.fetcher")


async def live_feed(watch: WatchSettings, source: BinanceSource, runner: Runner) -> LiveFeed:
    """The live feed of ``watch``: its universe resolved, its batches on the klines topic."""
    if watch.symbols is not None:
        symbols = list(watch.symbols)
    elif watch.top is not None:
        symbols = await source.top_symbols(watch.top)
    else:
        symbols = list(CORE_MOVERS)

    async def publish(batch: KlineBatch, key: bytes) -> None:
        try:
            await (await runner.producer.send(runner.topics.klines, encode(batch), key=key))
        except KafkaError as e:
            raise TemporaryError(f"Kafka: a live batch was not published: {e}") from e

    log.info(
        "live: following %d symbols x %s, %d parameter sets",
        len(symbols),
        ",".join(watch.intervals),
        len(watch.params),
    )

    async def sync_clock() -> None:
        await source.server_now_ms(max_age=0.0)  # the exchange's "now", not a stale offset

    return LiveFeed(watch, symbols, source.fetch, publish, sync_clock=sync_clock)


def make_handler(
    source: CandleSource, topics: Topics, stop: asyncio.Event, concurrency: int
) -> MapHandler:
    async def handle(events: Sequence[Any], emit: Emit) -> None:
        for request in events:
            if isinstance(request, ScanRequested):
                await handle_request(request, source, emit, topics, stop, concurrency)
            else:
                await handle_backtest(request, source, emit, topics, stop, concurrency)

    return handle


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Two loops, each its own consumer group: scan requests, and backtest requests (whose
    long histories never hold up a scan)."""
    who = f"fetcher-{settings.replica}"
    async with AsyncExitStack() as stack:
        source = BinanceSource(settings.binance, cache=KlineCache(settings.cache_dir, "binance"))
        await stack.enter_async_context(source)
        scans = await stack.enter_async_context(
            open_runner(
                settings.kafka,
                stop,
                service="fetcher",
                who=who,
                inputs=["scan-requests"],
                accepted=(ScanRequested, BacktestRequested),
                group_id=settings.group_id,
                max_records=1,
            )
        )
        backtests = await stack.enter_async_context(
            open_runner(
                settings.kafka,
                stop,
                service="fetcher",
                who=f"{who}-backtests",
                inputs=["backtest-requests"],
                accepted=(BacktestRequested,),
                group_id=f"{settings.group_id}-backtests",
                max_records=1,
            )
        )
        if settings.schedules:
            await migrate_when_ready(settings.postgres, stop, who)
            pool = await stack.enter_async_context(
                open_pool(settings.postgres, application_name=who)
            )
            scheduler = Scheduler(
                settings.schedules,
                pool,
                scans.producer,
                scans.topics,
                settings.replica,
                settings.schedule_delay_seconds,
            )
            scans.add_task(scheduler.run(stop), name="scheduler")
        if settings.watch.enabled:
            feed = await live_feed(settings.watch, source, scans)
            scans.add_task(
                supervise("live feed", lambda: feed.run(stop), stop, logger=log), name="live"
            )
        handler = make_handler(source, scans.topics, stop, settings.concurrency)
        async with asyncio.TaskGroup() as group:
            group.create_task(scans.map(handler))
            group.create_task(backtests.map(handler))
