"""Where the notifier's handler puts the alerts it reads: a ``DeliveryQueue`` queues each
alert for every subscription it goes to (``notify.deliveries.planned``), once.

``PostgresQueue`` is the real one (one transaction: the enabled subscriptions, then the
deliveries, which the senders claim). The unit tests run the handler on an in-memory one
(``tests/support/notify_memory.py``), and a contract test holds both to the same
scenarios against the real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import asyncpg

from autonama_shared.db.deliveries import enqueue_deliveries, live_subscriptions
from autonama_shared.db.outcomes import track_records
from autonama_shared.db.pool import transaction
from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.formats.keys import KEY_FIELDS
from autonama_shared.notify.deliveries import planned

__all__ = ["DeliveryQueue", "PostgresQueue"]


class DeliveryQueue(Protocol):
    async def queue(self, alerts: Sequence[AlertRecord]) -> int:
        """Queue the deliveries of ``alerts``; the number queued now (a replay: 0)."""
        ...


class PostgresQueue:
    def __init__(self, pool: asyncpg.Pool, public_url: str) -> None:
        self.pool, self.public_url = pool, public_url

    async def queue(self, alerts: Sequence[AlertRecord]) -> int:
        if not alerts:
            return 0  # a poll of other records: no round trip
        async with transaction(self.pool) as conn:
            subscriptions = await live_subscriptions(conn)
            keys = [tuple(getattr(a, f) for f in KEY_FIELDS) for a in alerts]
            tracks = await track_records(conn, keys) if subscriptions else {}
            deliveries = planned(alerts, subscriptions, self.public_url, tracks)
            return await enqueue_deliveries(conn, deliveries)
