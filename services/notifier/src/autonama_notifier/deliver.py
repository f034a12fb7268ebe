"""The senders' loop. Deliveries are claimed with a lease (shared with other replicas) as
slots free up, each sent by a task of its own, and recorded as they finish: a slow, failing
or hostile receiver holds only its own slots (at most ``per_subscription`` of them), never
a round that every other subscription waits for. Woken by the deliveries' NOTIFY, by each
send that finishes, and every ``poll_seconds`` for due retries.

What becomes of each attempt is recorded in batches, and one by one when a batch fails: an
outcome that cannot be stored never takes the others with it; one whose lease another
replica took over is not written (``db/deliveries.py``).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from datetime import UTC, datetime

import aiohttp
import asyncpg

from autonama_notifier.apprise_pool import ApprisePool
from autonama_notifier.senders import USER_AGENT, guarded_sockets, send
from autonama_notifier.settings import Settings
from autonama_shared.db.deliveries import Claimed, Outcome, claim_due, record_outcomes
from autonama_shared.db.pool import transaction
from autonama_shared.errors import TemporaryError
from autonama_shared.lifecycle import wait_for_any
from autonama_shared.notify.network import AllowList
from autonama_shared.notify.retry import Attempt
from autonama_shared.retry import backoff_seconds
from autonama_shared.untrusted import printable

__all__ = ["Deliverer", "next_state"]

log = logging.getLogger("autonama.notifier")

#: What is stored of a receiver's error text.
ERROR_CHARS = 500
#: Claimed per slot: the next sends wait ready while the database records and claims.
PREFETCH = 2
#: After a send ends, how long at most to let others end before recording and claiming
#: again (one claim and one transaction for many, not one each).
COALESCE_SECONDS = 0.02
#: Stored instead of an error text that PostgreSQL would not take.
UNSTORABLE = "the receiver's answer could not be stored"


def next_state(d: Claimed, attempt: Attempt, s: Settings, now: datetime) -> Outcome:
    """What the attempt makes of the delivery: delivered, failed for good, or pending again
    after a backoff (failed when that would pass its maximum age). The error text is the
    receiver's words: bounded and made printable here, before it is stored or logged."""
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
        error=printable(error, ERROR_CHARS) if error else None,
        latency_ms=0.0,
        retry_in=wait,
        lease_id=d.lease_id,
    )


class Deliverer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        channel: str,
        apprise: ApprisePool | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.channel = channel
        self.allow = AllowList.parse(settings.allowed_networks)
        self.apprise = apprise or ApprisePool(
            settings.apprise_workers, settings.timeout_seconds, settings.allowed_networks
        )
        self.wake = asyncio.Event()
        self.in_flight: set[asyncio.Task[None]] = set()
        #: this sender's deliveries claimed (sending, or ready to), per subscription
        self.per_subscription: collections.Counter[int] = collections.Counter()
        #: sends at once: in all, and per subscription
        self.slots = asyncio.Semaphore(settings.concurrency)
        self.subscription_slots: dict[int, asyncio.Semaphore] = {}
        self.finished: list[Outcome] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop``; raises when the database fails (supervise it)."""
        s = self.settings
        connector = aiohttp.TCPConnector(
            limit=s.concurrency,
            limit_per_host=s.concurrency,
            socket_factory=guarded_sockets(self.allow),
        )
        async with (
            aiohttp.ClientSession(connector=connector, headers={"user-agent": USER_AGENT}) as http,
            self.pool.acquire() as listener,
        ):
            await listener.add_listener(self.channel, self._notified)
            try:
                while not stop.is_set():
                    self.wake.clear()
                    await self.flush()
                    started = await self.claim(http)
                    if not started and not self.finished:
                        await wait_for_any(s.poll_seconds, stop, self.wake)
                        await self._coalesce(stop)
                await self.drain()
            finally:
                await listener.remove_listener(self.channel, self._notified)

    def _notified(self, *_: object) -> None:
        self.wake.set()

    async def _coalesce(self, stop: asyncio.Event) -> None:
        """A send ended: while most slots are still busy, let more end (up to
        ``COALESCE_SECONDS``), so that one transaction records many and one claim fills
        many slots (each is a commit; one per send halved the throughput)."""
        deadline = time.monotonic() + COALESCE_SECONDS
        quarter = max(1, self.settings.concurrency // 4)
        while (
            self.in_flight
            and len(self.finished) < quarter
            and PREFETCH * self.settings.concurrency - len(self.in_flight) < quarter
            and not stop.is_set()
        ):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.wake.clear()
            await wait_for_any(left, stop, self.wake)

    async def claim(self, http: aiohttp.ClientSession) -> int:
        """Lease as many due deliveries as there are free slots and start sending them."""
        s = self.settings
        # Twice what may be sent at once is claimed: the next sends wait here, ready, while
        # the database records and claims (its round trips no longer leave slots idle).
        free = PREFETCH * s.concurrency - len(self.in_flight)
        if len(self.in_flight) > s.concurrency and free < s.concurrency // 2:
            return 0  # enough is ready to send: claim many at once, not a few each time
        if free <= 0:
            return 0
        async with transaction(self.pool) as conn:
            claimed = await claim_due(
                conn,
                free,
                s.lease_seconds,
                PREFETCH * s.per_subscription,
                PREFETCH * s.apprise_per_subscription,
                dict(self.per_subscription),
            )
        for d in claimed:
            task = asyncio.create_task(self._attempt(http, d), name=f"delivery-{d.id}")
            self.in_flight.add(task)
            self.per_subscription[d.subscription_id] += 1
            task.add_done_callback(self.in_flight.discard)
        return len(claimed)

    async def drain(self) -> None:
        """At a stop: let the sends in flight end (each within its deadline), record them."""
        if self.in_flight:
            await asyncio.wait(set(self.in_flight), timeout=self.settings.timeout_seconds + 5)
        await self.flush()
        await self.apprise.close()

    async def flush(self) -> None:
        """Record every finished attempt: in one transaction, or one by one if that fails."""
        batch, self.finished = self.finished, []
        if not batch:
            return
        try:
            disabled = await self._record(batch)
        except TemporaryError:
            self.finished = batch + self.finished  # recorded when the database is back
            raise
        except asyncpg.PostgresError as e:
            log.warning(
                "%d outcomes refused together (%s); recording them one by one",
                len(batch),
                printable(str(e), 200),
            )
            disabled = []
            for outcome in batch:
                disabled += await self._record_alone(outcome)
        for sub in disabled:
            log.warning(
                "subscription %d disabled after %d deliveries failed in a row; enable it "
                "again with PATCH /v1/subscriptions/%d or `autonama subscribe enable %d`",
                sub,
                self.settings.disable_after,
                sub,
                sub,
            )
        self._log_failures(batch)

    async def _record(self, outcomes: list[Outcome]) -> list[int]:
        async with transaction(self.pool) as conn:
            return await record_outcomes(conn, outcomes, self.settings.disable_after)

    async def _record_alone(self, outcome: Outcome) -> list[int]:
        try:
            return await self._record([outcome])
        except asyncpg.PostgresError:
            pass
        try:  # the receiver's words were what PostgreSQL refused
            return await self._record([dataclasses.replace(outcome, error=UNSTORABLE)])
        except asyncpg.PostgresError as e:
            log.error(
                "the outcome of delivery %d cannot be stored (%s); it is sent again when its "
                "lease ends",
                outcome.delivery_id,
                printable(str(e), 200),
            )
            return []

    def _log_failures(self, outcomes: list[Outcome]) -> None:
        failed = [o for o in outcomes if o.outcome != "delivered"]
        if failed:
            first = failed[0]
            log.info(
                "%d of %d deliveries not made (e.g. subscription %d: %s; %s)",
                len(failed),
                len(outcomes),
                first.subscription_id,
                first.error,
                f"next try in {first.retry_in:.1f} s"
                if first.status == "pending"
                else "failed for good",
            )

    def _slots_of(self, d: Claimed) -> asyncio.Semaphore:
        """The sends of one subscription at once (a slow receiver holds these, no more)."""
        slots = self.subscription_slots.get(d.subscription_id)
        if slots is None:
            s = self.settings
            size = s.apprise_per_subscription if d.kind == "apprise" else s.per_subscription
            slots = self.subscription_slots[d.subscription_id] = asyncio.Semaphore(size)
        return slots

    async def _attempt(self, http: aiohttp.ClientSession, d: Claimed) -> None:
        async with self._slots_of(d), self.slots:
            await self._send(http, d)
        self.per_subscription[d.subscription_id] -= 1
        if self.per_subscription[d.subscription_id] <= 0:
            del self.per_subscription[d.subscription_id]
            self.subscription_slots.pop(d.subscription_id, None)
        self.wake.set()

    async def _send(self, http: aiohttp.ClientSession, d: Claimed) -> None:
        started = time.perf_counter()
        try:
            attempt = await send(http, self.apprise, d, self.settings.timeout_seconds)
        except Exception as e:
            log.exception("sending delivery %d failed unexpectedly", d.id)
            attempt = Attempt("retry", error=f"the notifier failed: {type(e).__name__}")
        latency = (time.perf_counter() - started) * 1000
        outcome = next_state(d, attempt, self.settings, datetime.now(UTC))
        self.finished.append(dataclasses.replace(outcome, latency_ms=latency))
