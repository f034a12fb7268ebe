"""Scheduled scans: two fetcher replicas, three candle closes, exactly three scans.

The schedulers run in this process on a clock the test drives, against the real
Kafka broker and the real PostgreSQL that arbitrates the claims.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer

from autonama_fetcher.schedule import Scheduler, next_close_ms, scan_id_for
from autonama_fetcher.settings import Schedule
from autonama_shared.db import migrate
from autonama_shared.db.pool import open_pool
from autonama_shared.messaging.events import ScanParams, ScanRequested, decode
from autonama_shared.messaging.kafka import ensure_topics, make_producer
from autonama_shared.messaging.topics import Topics
from autonama_shared.settings import KafkaSettings, PostgresSettings


class DrivenClock:
    """Time moves only when every scheduler loop is asleep: then to the earliest wake-up."""

    def __init__(self, start: float) -> None:
        self.now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    async def run_until(self, end: float, loops: int) -> None:
        while True:
            self._sleepers = [(t, f) for t, f in self._sleepers if not f.done()]
            if len(self._sleepers) < loops:
                await asyncio.sleep(0.01)  # someone is firing (real Kafka and DB I/O)
                continue
            wake = min(t for t, _ in self._sleepers)
            if wake > end:
                return
            self.now = max(self.now, wake)
            for t, f in self._sleepers:
                if t <= self.now:
                    f.set_result(None)


async def requests_on(kafka: KafkaSettings, topic: str) -> list[ScanRequested]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[ScanRequested] = []
    try:
        for _ in range(6):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found.extend(decode(r.value, ScanRequested) for r in records)
    finally:
        await consumer.stop()
    return found


async def test_two_replicas_start_exactly_one_scan_per_close(
    kafka_settings: KafkaSettings, pg_settings: PostgresSettings
) -> None:
    topics = Topics.of(kafka_settings)
    await ensure_topics(kafka_settings.bootstrap_servers, topics.specs())
    schedule = Schedule(
        name="core-1m",
        params=ScanParams(interval="1m", days=1, degree=4, kstd=2.0),
        symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"],
    )
    start = 1_800_000_000.0 + 30.0  # half past a minute
    clock = DrivenClock(start)
    producer = make_producer(kafka_settings, client_id="test-scheduler")
    await producer.start()
    try:
        async with open_pool(pg_settings) as pool:
            async with pool.acquire() as conn:
                await migrate(conn, pg_settings.db_schema)

            def replica(name: str) -> Scheduler:
                sleep: Callable[[float], Awaitable[None]] = clock.sleep
                return Scheduler(
                    [schedule],
                    pool,
                    producer,
                    topics,
                    name,
                    delay_seconds=3.0,
                    clock=clock.time,
                    sleep=sleep,
                )

            replicas = [replica("fetcher-a"), replica("fetcher-b")]
            stop = asyncio.Event()
            tasks = [asyncio.create_task(r.run(stop)) for r in replicas]
            # Three closes: start+30 s, +90 s, +150 s (each fired 3 s after the close).
            await clock.run_until(start + 175.0, loops=2)
            stop.set()
            await asyncio.gather(*tasks)

            # A replica restarted after the third close was fired, before its due time
            # passed on its own clock, tries the same close again: the claim refuses it.
            closes = [next_close_ms(int(start * 1000) + i * 60_000, "1m") for i in range(3)]
            restarted = replica("fetcher-a-restarted")
            assert await restarted.fire(schedule, closes[-1]) is False

            claims = await pool.fetch(
                "SELECT close_time, scan_id, claimed_by FROM schedule_claims ORDER BY close_time"
            )
    finally:
        await producer.stop()

    started = replicas[0].started + replicas[1].started
    assert len(started) == 3
    assert len(set(started)) == 3
    assert sorted(started) == sorted(scan_id_for("core-1m", c) for c in closes)
    assert [int(r["close_time"].timestamp() * 1000) for r in claims] == closes
    requests = await requests_on(kafka_settings, topics.scan_requests)
    assert sorted(r.scan_id for r in requests) == sorted(started)
    assert all(r.origin == "schedule" and r.symbols == schedule.symbols for r in requests)
