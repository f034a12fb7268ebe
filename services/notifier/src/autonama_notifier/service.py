"""The notifier: alerts in from Kafka, deliveries out to webhooks and Apprise targets.

Two parts in one process, both sharing the work with other replicas:

- a sink handler on the shared runner (consumer group ``autonama-notifier`` on the
  ``alerts`` topic): each poll's alerts are matched against the enabled subscriptions and
  queued as deliveries in one transaction; the offsets are committed after it, and a
  replayed alert queues nothing twice (one delivery per subscription and message id);
- the senders (``deliver.Deliverer``): claim due deliveries with a lease, send, record.

A kill -9 loses nothing: an alert not yet queued is read again (offsets not committed), a
delivery in flight is taken over when its lease ends and sent again with the same
``webhook-id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from autonama_notifier.deliver import Deliverer
from autonama_notifier.queue import DeliveryQueue, PostgresQueue
from autonama_notifier.settings import Settings
from autonama_shared.db.pool import migrate_when_ready, open_pool
from autonama_shared.db.status import report_health
from autonama_shared.db.subscriptions import deliveries_channel
from autonama_shared.messaging.events import AlertEnded, AlertRaised
from autonama_shared.messaging.ports import SinkHandler
from autonama_shared.messaging.startup import open_worker_runner

__all__ = ["ACCEPTED", "make_handler", "run"]

log = logging.getLogger("autonama.notifier")

ACCEPTED = (AlertRaised, AlertEnded)


def make_handler(queue: DeliveryQueue) -> SinkHandler:
    async def handle(events: Sequence[Any]) -> None:
        alerts = [e for e in events if isinstance(e, AlertRaised | AlertEnded)]
        queued = await queue.queue(alerts)
        if queued:
            log.info("%d alerts: %d deliveries queued", len(alerts), queued)

    return handle


async def run(settings: Settings, stop: asyncio.Event) -> None:
    who = f"notifier-{settings.replica}"
    await migrate_when_ready(settings.postgres, stop, who)
    async with open_worker_runner(
        settings, stop, service="notifier", inputs=["alerts"], accepted=ACCEPTED
    ) as runner:
        pool = await runner.stack.enter_async_context(
            open_pool(settings.postgres, application_name=who, stop=stop)
        )
        deliverer = Deliverer(pool, settings, deliveries_channel(settings.postgres.db_schema))
        runner.supervise("senders", lambda: deliverer.run(stop))
        runner.add_task(report_health(pool, runner.health, stop, service="notifier"), name="health")
        await runner.sink(make_handler(PostgresQueue(pool, settings.public_url)))
