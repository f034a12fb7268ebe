"""The senders' loop: claim due deliveries (a lease, shared with other replicas), send them
concurrently, record every attempt and what becomes of each delivery, in one transaction
per round. Woken by the deliveries' NOTIFY, and every ``poll_seconds`` for due retries."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import UTC, datetime

import aiohttp
import asyncpg

from autonama_notifier.senders import USER_AGENT, send
from autonama_notifier.settings import Settings
from autonama_shared.db.pool import transaction
from autonama_shared.db.subscriptions import Claimed, Outcome, claim_due, record_outcomes
from autonama_shared.lifecycle import wait_for_any
from autonama_shared.notify.retry import Attempt, backoff_seconds

__all__ = ["Deliverer", "next_state"]

log = logging.getLogger("autonama.notifier")


def next_state(d: Claimed, attempt: Attempt, s: Settings, now: datetime) -> Outcome:
    """What the attempt makes of the delivery: delivered, failed for good, or pending again
    after a backoff (failed when that would pass its maximum age)."""
    n = d.attempts + 1
    status: str = attempt.outcome
    error, wait = attempt.error, 0.0
    if attempt.outcome == "retry":
        wait = backoff_seconds(
            n,
            base=s.retry_base_seconds,
            cap=s.retry_max_delay_seconds,
            retry_after=attempt.retry_after,
        )
        age = (now - d.created_at).total_seconds()
        if age + wait > s.max_age_seconds:
            status = "failed"
            error = f"{error}; gave up after {n} attempts over {age / 3600:.1f} h"
        else:
            status = "pending"
    return Outcome(
        delivery_id=d.id,
        subscription_id=d.subscription_id,
        attempt=n,
        outcome=attempt.outcome,
        status=status,
        status_code=attempt.status_code,
        error=error[:1000] if error else None,
        latency_ms=0.0,
        retry_in=wait,
    )


class Deliverer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        channel: str,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.channel = channel
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop``; raises when the database fails (supervise it)."""
        s = self.settings
        connector = aiohttp.TCPConnector(limit=s.concurrency, limit_per_host=s.concurrency)
        async with (
            aiohttp.ClientSession(connector=connector, headers={"user-agent": USER_AGENT}) as http,
            self.pool.acquire() as listener,
        ):
            await listener.add_listener(self.channel, self._notified)
            try:
                while not stop.is_set():
                    self.wake.clear()
                    done = await self.round(http)
                    if done < s.concurrency:
                        await wait_for_any(s.poll_seconds, stop, self.wake)
            finally:
                await listener.remove_listener(self.channel, self._notified)

    def _notified(self, *_: object) -> None:
        self.wake.set()

    async def round(self, http: aiohttp.ClientSession) -> int:
        """Claim, send, record: how many deliveries were attempted."""
        s = self.settings
        async with transaction(self.pool) as conn:
            claimed = await claim_due(conn, s.concurrency, s.lease_seconds)
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(http, d) for d in claimed))
        async with transaction(self.pool) as conn:
            disabled = await record_outcomes(conn, outcomes, s.disable_after)
        for sub in disabled:
            log.warning(
                "subscription %d disabled after %d deliveries failed in a row; enable it "
                "again with PATCH /v1/subscriptions/%d or `autonama subscribe enable %d`",
                sub,
                s.disable_after,
                sub,
                sub,
            )
        failed = [o for o in outcomes if o.outcome != "delivered"]
        if failed:
            log.info(
                "%d of %d deliveries not made (e.g. subscription %d: %s; %s)",
                len(failed),
                len(outcomes),
                failed[0].subscription_id,
                failed[0].error,
                f"next try in {failed[0].retry_in:.1f} s"
                if failed[0].status == "pending"
                else "failed for good",
            )
        return len(claimed)

    async def _attempt(self, http: aiohttp.ClientSession, d: Claimed) -> Outcome:
        started = time.perf_counter()
        attempt = await send(http, d, self.settings.timeout_seconds)
        latency = (time.perf_counter() - started) * 1000
        outcome = next_state(d, attempt, self.settings, datetime.now(UTC))
        return dataclasses.replace(outcome, latency_ms=latency)
