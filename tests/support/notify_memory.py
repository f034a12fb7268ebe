"""The notifier's delivery queue in memory, for unit tests of its handler: the same rules as
``autonama_notifier.queue.PostgresQueue`` (which alert to which enabled subscription:
``notify.deliveries.planned``; a delivery queued once), held to the same scenarios by
``tests/integration/test_notify_queue.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.notify.deliveries import Delivery, Subscription, planned
from autonama_shared.notify.subscriptions import SubscriptionSpec


@dataclass
class MemoryQueue:
    public_url: str = "http://127.0.0.1:3001"
    subscriptions: dict[int, tuple[Subscription, bool]] = field(default_factory=dict)
    deliveries: dict[tuple[int, str], Delivery] = field(default_factory=dict)

    async def subscribe(self, spec: SubscriptionSpec) -> int:
        sid = len(self.subscriptions) + 1
        self.subscriptions[sid] = (Subscription(sid, spec.filter, datetime.now(UTC)), True)
        return sid

    async def enable(self, sid: int, enabled: bool) -> None:
        self.subscriptions[sid] = (self.subscriptions[sid][0], enabled)

    async def queue(self, alerts: Sequence[AlertRecord]) -> int:
        live = [s for s, enabled in self.subscriptions.values() if enabled]
        plan = sorted(
            planned(alerts, live, self.public_url), key=lambda d: (d.alert_id, d.subscription_id)
        )
        new = [d for d in plan if (d.subscription_id, d.message_id) not in self.deliveries]
        for d in new:
            self.deliveries[(d.subscription_id, d.message_id)] = d
        return len(new)

    async def queued(self) -> list[tuple[int, int]]:
        """(subscription, alert) of every delivery, in the order queued."""
        return [(d.subscription_id, d.alert_id) for d in self.deliveries.values()]
