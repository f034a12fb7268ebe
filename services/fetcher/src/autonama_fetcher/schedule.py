"""Scans the fetcher starts itself, a few seconds after every candle close.

Several fetcher replicas may run the same schedules: for each (schedule, close)
the first replica to insert a row into ``schedule_claims`` publishes the scan
request; the others see the conflict and do nothing, before or after a restart.
The scan id is derived from the schedule and the close, so even a request
published twice would name the same scan.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from autonama_fetcher.settings import Schedule
from autonama_shared.engine.intervals import interval_ms
from autonama_shared.messaging.events import ScanRequested, encode
from autonama_shared.messaging.ports import Producer
from autonama_shared.messaging.topics import Topics

__all__ = ["Scheduler", "next_close_ms", "scan_id_for"]

log = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("6f1c3f0e-8a0c-4f4e-9a53-5d1f2b7c9e10")


def next_close_ms(now_ms: int, interval: str) -> int:
    """The next candle close (= the next open) strictly after ``now_ms``.

    >>> next_close_ms(90_000, "1m"), next_close_ms(120_000, "1m")
    (120000, 180000)
    """
    step = interval_ms(interval)
    return (now_ms // step + 1) * step


def scan_id_for(schedule: str, close_ms: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{schedule}@{close_ms}"))


class Scheduler:
    def __init__(
        self,
        schedules: list[Schedule],
        pool: asyncpg.Pool,
        producer: Producer,
        topics: Topics,
        replica: str,
        delay_seconds: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.schedules = schedules
        self.pool = pool
        self.producer = producer
        self.topics = topics
        self.replica = replica
        self.delay = delay_seconds
        self.clock = clock
        self.sleep = sleep
        self.started: list[str] = []  # scan ids this replica started

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._run_one(s, stop) for s in self.schedules))

    async def _run_one(self, schedule: Schedule, stop: asyncio.Event) -> None:
        close = next_close_ms(int(self.clock() * 1000), schedule.params.interval)
        while not stop.is_set():
            due = close / 1000 + self.delay
            wait = due - self.clock()
            if wait > 0:
                sleeper = asyncio.ensure_future(self.sleep(wait))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
                sleeper.cancel()
                stopper.cancel()
                if stop.is_set():
                    return
                continue
            await self.fire(schedule, close)
            close = next_close_ms(int(self.clock() * 1000), schedule.params.interval)

    async def fire(self, schedule: Schedule, close_ms: int) -> bool:
        """Claim (schedule, close); publish the request if this replica won. True if it did."""
        scan_id = scan_id_for(schedule.name, close_ms)
        close_time = datetime.fromtimestamp(close_ms / 1000, tz=UTC)
        async with self.pool.acquire() as conn:
            won = await conn.fetchval(
                """INSERT INTO schedule_claims (schedule, close_time, scan_id, claimed_by)
                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
                schedule.name,
                close_time,
                uuid.UUID(scan_id),
                self.replica,
            )
        if not won:
            return False
        request = ScanRequested(
            scan_id=scan_id,
            origin="schedule",
            params=schedule.params,
            symbols=schedule.symbols,
            top=schedule.top,
            schedule=f"{schedule.name}@{close_time.isoformat()}",
        )
        future = await self.producer.send(
            self.topics.scan_requests, encode(request), key=scan_id.encode()
        )
        await future
        self.started.append(scan_id)
        log.info(
            "schedule %s: started scan %s for the close at %s",
            schedule.name,
            scan_id,
            close_time.isoformat(),
        )
        return True
