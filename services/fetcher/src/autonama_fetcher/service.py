"""The fetcher's loop: scan requests in, plans and kline batches out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from typing import cast

from aiokafka.errors import KafkaError

from autonama_fetcher.fetch import handle_backtest, handle_request
from autonama_fetcher.schedule import Scheduler
from autonama_fetcher.settings import Settings
from autonama_shared.db.pool import open_pool
from autonama_shared.errors import ConfigError
from autonama_shared.events import BacktestRequested, EventDecodeError, ScanRequested, decode
from autonama_shared.kafka import send_dead_letter
from autonama_shared.service import migrate_when_ready, open_kafka, wait_or_stop
from autonama_shared.sources.binance import BinanceSource
from autonama_shared.sources.cache import KlineCache
from autonama_shared.topics import Topics

__all__ = ["run"]

log = logging.getLogger("autonama.fetcher")


async def run(settings: Settings, stop: asyncio.Event) -> None:
    topics = Topics.of(settings.kafka)
    who = f"fetcher-{settings.replica}"
    async with AsyncExitStack() as stack:
        kafka = await open_kafka(
            stack, settings.kafka, stop, who, topics.scan_requests,
            group_id=settings.group_id, max_records=1,
        )  # fmt: skip
        if kafka is None:
            return
        producer, consumer = kafka
        source = BinanceSource(settings.binance, cache=KlineCache(settings.cache_dir, "binance"))
        await stack.enter_async_context(source)

        scheduler_task = None
        if settings.schedules:
            if not await migrate_when_ready(settings.postgres, stop, who):
                return
            pool = await stack.enter_async_context(
                open_pool(settings.postgres, application_name=who)
            )
            scheduler = Scheduler(
                settings.schedules, pool, producer, topics, settings.replica,
                settings.schedule_delay_seconds,
            )  # fmt: skip
            scheduler_task = asyncio.create_task(scheduler.run(stop), name="scheduler")

        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=1000, max_records=1)
                for tp, records in batch.items():
                    for record in records:
                        try:
                            request = cast(
                                ScanRequested | BacktestRequested,
                                decode(record.value, ScanRequested, BacktestRequested),
                            )
                            if isinstance(request, ScanRequested):
                                request.params.spec(
                                    tuple(request.symbols) if request.symbols else None,
                                    request.top,
                                )
                            else:
                                request.params.spec()
                        except (EventDecodeError, ConfigError) as e:
                            await send_dead_letter(
                                producer, topics.dead_letters, "fetcher", record, str(e)
                            )
                            await consumer.commit({tp: record.offset + 1})
                            continue
                        work = (source, producer, topics, stop, settings.concurrency)
                        try:
                            if isinstance(request, ScanRequested):
                                done = await handle_request(request, *work)
                            else:
                                done = await handle_backtest(request, *work)
                        except KafkaError as e:
                            # Not acknowledged: handle the same request again once Kafka is back.
                            log.warning("Kafka error (%s); retrying the request", e)
                            consumer.seek(tp, record.offset)
                            await wait_or_stop(stop, 2.0)
                            break
                        if not done:
                            log.info("request abandoned at stop; it will be handled again")
                            return
                        await consumer.commit({tp: record.offset + 1})
        finally:
            if scheduler_task is not None:
                scheduler_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scheduler_task
