"""The fetcher's part of the live market: what to follow (the default watch of the settings
and the stored watches, read again every ``poll_seconds``), and the feed that follows it.

When the watches change, the feed is replaced by one for the new plan; the new one is
given what the old one published, so a stream that stays publishes nothing twice and
misses nothing (its catch-up starts after the last candle published).

One fetcher replica follows the market at a time: the one holding a PostgreSQL session
lock (released by the server when that replica dies); the others wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError

from autonama_fetcher.settings import Settings
from autonama_shared.db.pool import classified, open_pool
from autonama_shared.db.watches import published_streams, record_published, stored_specs
from autonama_shared.errors import TemporaryError
from autonama_shared.lifecycle import wait_for_any
from autonama_shared.messaging.events import CandleClosed, ScanParams, encode
from autonama_shared.messaging.runner import Runner
from autonama_shared.sources.binance import BinanceSource
from autonama_shared.sources.live import LiveFeed
from autonama_shared.sources.watches import Key, WatchSpec, plan_of

__all__ = ["LiveMarket"]

log = logging.getLogger("autonama.fetcher")


class PublishedRecords:
    """Each stream's last candle published, written in batches: at a boundary where 1,200
    streams close, a statement or two instead of 1,200 transactions (each a WAL flush the
    ingestor's transactions queued behind). ``record`` returns once its batch committed."""

    def __init__(self, pool: asyncpg.Pool, gather_seconds: float = 0.02) -> None:
        self.pool = pool
        self.gather_seconds = gather_seconds
        self._pending: dict[str, int] = {}
        self._batch: asyncio.Future[None] | None = None  # the batch that takes new records

    async def record(self, stream: str, open_time: int) -> None:
        self._pending[stream] = max(open_time, self._pending.get(stream, open_time))
        if self._batch is None:
            self._batch = asyncio.ensure_future(self._write())
        await asyncio.shield(self._batch)

    async def _write(self) -> None:
        await asyncio.sleep(self.gather_seconds)  # the rest of the burst joins this batch
        published, self._pending, self._batch = self._pending, {}, None
        with classified():
            async with self.pool.acquire() as conn:
                await record_published(conn, published)


class LiveMarket:
    def __init__(self, settings: Settings, source: BinanceSource, runner: Runner) -> None:
        self.settings = settings
        self.watch = settings.watch
        self.source = source
        self.runner = runner
        self.published: dict[str, int] = {}

    async def publish(self, event: CandleClosed, key: bytes) -> asyncio.Future[Any]:
        """Send a closed candle; its acknowledgement is awaited by the feed, not here."""
        try:
            return await self.runner.producer.send(
                self.runner.topics.klines, encode(event), key=key
            )
        except KafkaError as e:
            raise TemporaryError(f"Kafka: a live batch was not published: {e}") from e

    async def sync_clock(self) -> int:
        # the exchange's "now", not a stale offset
        return await self.source.server_now_ms(max_age=0.0)

    async def watches(self, pool: asyncpg.Pool) -> list[WatchSpec]:
        specs: list[WatchSpec] = [self.watch] if self.watch.enabled else []
        with classified("PostgreSQL: the watches cannot be read"):
            async with pool.acquire() as conn:
                specs += await stored_specs(conn)
        return specs

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the watches until ``stop`` (raises when a dependency fails: supervise it)."""
        async with (
            open_pool(
                self.settings.postgres, application_name=f"fetcher-{self.settings.replica}-live"
            ) as pool,
            pool.acquire() as holder,
        ):
            while not await holder.fetchval(
                "SELECT pg_try_advisory_lock(hashtext(current_schema() || '.live-market'))"
            ):
                await wait_for_any(self.watch.poll_seconds, stop)
                if stop.is_set():
                    return
            log.info("live: this replica follows the market")
            await self._follow(pool, stop)

    async def _follow(self, pool: asyncpg.Pool, stop: asyncio.Event) -> None:
        async with pool.acquire() as conn:
            self.published = await published_streams(conn)

        record = PublishedRecords(pool).record

        plan: dict[Key, list[ScanParams]] | None = None
        feed_stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                wanted = await plan_of(await self.watches(pool), self.source.top_symbols)
                if wanted != plan:
                    if task is not None:
                        feed_stop.set()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                    plan, feed_stop = wanted, asyncio.Event()
                    task = None
                    if plan:
                        feed = LiveFeed(
                            plan,
                            self.watch,
                            self.source.fetch,
                            self.publish,
                            sync_clock=self.sync_clock,
                            published=self.published,
                            on_published=record,
                        )
                        log.info(
                            "live: following %d streams (%d symbols)",
                            len(plan),
                            len({s for s, _ in plan}),
                        )
                        task = asyncio.create_task(feed.run(feed_stop), name="live-feed")
                    else:
                        log.info("live: no watch to follow")
                if task is not None and task.done():
                    task.result()  # a feed that died: raise its error (supervised)
                await wait_for_any(self.watch.poll_seconds, stop)
        finally:
            feed_stop.set()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
