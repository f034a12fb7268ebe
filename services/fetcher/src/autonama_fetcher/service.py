"""The fetcher: scan and backtest requests in, plans and kline batches out (a map handler).

One request per poll: the runner commits it once every batch of it was
acknowledged. A request whose parameters are invalid is dead-lettered by the
runner (the ``ConfigError`` names the parameter). With schedules, the
scheduler runs beside the loop and is stopped with it; so does the live market
(``live.LiveMarket``: the default and stored watches, followed by ``sources.live``): it lives here
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

from autonama_fetcher.fetch import Fetcher
from autonama_fetcher.live import LiveMarket
from autonama_fetcher.outcome_bars import OutcomeBars
from autonama_fetcher.schedule import Scheduler
from autonama_fetcher.settings import Settings
from autonama_shared.db.pool import migrate_when_ready, open_pool
from autonama_shared.db.status import report_health
from autonama_shared.health import Health
from autonama_shared.messaging.events import (
    BacktestRequested,
    ScanRequested,
)
from autonama_shared.messaging.ports import Emit, MapHandler
from autonama_shared.messaging.startup import open_runner
from autonama_shared.messaging.topics import Topics
from autonama_shared.sources.base import CandleSource
from autonama_shared.sources.binance import BinanceSource
from autonama_shared.sources.cache import KlineCache

__all__ = ["make_handler", "run"]

log = logging.getLogger("autonama.fetcher")


def make_handler(
    source: CandleSource, topics: Topics, stop: asyncio.Event, concurrency: int
) -> MapHandler:
    fetcher = Fetcher(source, topics, stop, concurrency)

    async def handle(events: Sequence[Any], emit: Emit) -> None:
        for request in events:
            if isinstance(request, ScanRequested):
                await fetcher.scan(request, emit)
            else:
                await fetcher.backtest(request, emit)

    return handle


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Two loops, each its own consumer group: scan requests, and backtest requests (whose
    long histories never hold up a scan)."""
    who = f"fetcher-{settings.replica}"
    health = Health()  # both loops and their tasks; in worker_status when the fetcher has a
    # database (schedules)
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
                health=health,
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
                health=health,
            )
        )
        if settings.schedules:
            await migrate_when_ready(settings.postgres, stop, who)
            pool = await stack.enter_async_context(
                open_pool(settings.postgres, application_name=who, stop=stop)
            )
            scheduler = Scheduler(
                settings.schedules,
                pool,
                scans.producer,
                scans.topics,
                settings.replica,
                settings.schedule_delay_seconds,
            )
            scans.supervise("scheduler", lambda: scheduler.run(stop))
            scans.add_task(report_health(pool, health, stop, service="fetcher"), name="health")
        if settings.live:
            market = LiveMarket(settings, source, scans)
            scans.supervise("live", lambda: market.run(stop))
        if settings.outcome_bars_seconds > 0:
            bars = OutcomeBars(settings, source)
            scans.supervise("outcome-bars", lambda: bars.run(stop))
        handler = make_handler(source, scans.topics, stop, settings.concurrency)
        async with asyncio.TaskGroup() as group:
            group.create_task(scans.map(handler))
            group.create_task(backtests.map(handler))
