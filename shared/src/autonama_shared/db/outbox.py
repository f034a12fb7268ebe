"""The alerts table as a transactional outbox: the relay publishes committed alerts to Kafka
(``alert.raised`` / ``alert.ended`` on the ``alerts`` topic, keyed by the alert's key) in id
order, and records the last id published in ``outbox_positions``.

One relay at a time: each round holds the position row's lock (``FOR UPDATE``) while it
reads, publishes and waits for the broker's acknowledgements, then moves the position in
the same transaction. A crash between the acknowledgement and the commit publishes those
alerts again (consumers drop them by alert id); no crash loses one. Alert ids commit in
order (the ingestor's writers' lock), so "every id above the position" misses none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from autonama_shared.db.keys import key_columns
from autonama_shared.db.pool import transaction
from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.lifecycle import wait_for_any
from autonama_shared.messaging.events import alert_event, encode

__all__ = ["ALERT_COLUMNS", "AlertRelay"]

log = logging.getLogger(__name__)

#: The columns of an alert under the record's names (``AlertRecord.model_validate(row)``).
ALERT_COLUMNS = (
    f"a.id, a.signal_id, {key_columns('a')}, a.signal, "
    "a.previous_signal, a.reason, a.price, a.lower_band AS lower, a.upper_band AS upper, "
    "a.fit, a.potential_return, a.target_return, a.last_candle_time, a.created_at, "
    "a.scan_id::text AS scan_id"
)

#: Publishes (topic, value, key) and returns once the broker acknowledged it.
Send = Callable[[str, bytes, bytes], Awaitable[Any]]


class AlertRelay:
    """Publishes new alerts until stopped: woken by the alerts' NOTIFY, and every
    ``poll_seconds`` whatever happens (a notification can be missed while reconnecting)."""

    NAME = "alerts"

    def __init__(
        self,
        pool: asyncpg.Pool,
        send: Send,
        topic: str,
        channel: str,
        *,
        batch: int = 1000,
        poll_seconds: float = 1.0,
    ) -> None:
        self.pool = pool
        self.send = send
        self.topic = topic
        self.channel = channel
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.wake = asyncio.Event()

    async def relay_once(self) -> int:
        """Publish the next batch of committed alerts; how many were published."""
        async with transaction(self.pool) as conn:
            position = await conn.fetchval(
                "SELECT last_id FROM outbox_positions WHERE name = $1 FOR UPDATE", self.NAME
            )
            if position is None:  # the row was removed by hand: start after what exists
                await conn.execute(
                    """INSERT INTO outbox_positions (name, last_id)
                       SELECT $1, coalesce(max(id), 0) FROM alerts ON CONFLICT DO NOTHING""",
                    self.NAME,
                )
                return 0
            rows = await conn.fetch(
                f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id > $1 "  # noqa: S608
                "ORDER BY a.id LIMIT $2",
                position,
                self.batch,
            )
            if not rows:
                return 0
            events = [alert_event(AlertRecord.model_validate(dict(r))) for r in rows]
            # Sent together, acknowledged together: the idempotent producer keeps a key's
            # order within its partition.
            await asyncio.gather(
                *(self.send(self.topic, encode(e), e.key.encode()) for e in events)
            )
            await conn.execute(
                "UPDATE outbox_positions SET last_id = $2, updated_at = now() WHERE name = $1",
                self.NAME,
                rows[-1]["id"],
            )
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop``; raises when the database or the broker fails (supervise it)."""
        async with self.pool.acquire() as listener:
            await listener.add_listener(self.channel, self._notified)
            try:
                while not stop.is_set():
                    self.wake.clear()
                    published = await self.relay_once()
                    if published:
                        log.info("relayed %d alerts to %s", published, self.topic)
                        if published == self.batch:
                            continue  # more are waiting
                    await self._wait(stop)
            finally:
                await listener.remove_listener(self.channel, self._notified)

    def _notified(self, *_: object) -> None:
        self.wake.set()

    async def _wait(self, stop: asyncio.Event) -> None:
        await wait_for_any(self.poll_seconds, stop, self.wake)
