"""Which alert goes to which subscription, stated once (pure): the notifier's queue, in
PostgreSQL or in memory, stores what ``planned`` says."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autonama_shared.engine.outcomes import TrackRecord
from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.formats.keys import KEY_FIELDS
from autonama_shared.notify.messages import event_type, webhook_body
from autonama_shared.notify.subscriptions import AlertFilter, matches

__all__ = ["Delivery", "Subscription", "planned"]


@dataclass(frozen=True, slots=True)
class Subscription:
    """What the notifier matches an alert against (an enabled subscription)."""

    id: int
    filter: AlertFilter
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert to one subscription, as queued: the message id is the receiver's
    idempotency key (the same on every attempt), the key orders a receiver's deliveries."""

    subscription_id: int
    alert_id: int
    message_id: str
    key: str
    event_type: str
    body: str
    alert_created_at: datetime


def planned(
    alerts: Sequence[AlertRecord],
    subscriptions: Sequence[Subscription],
    public_url: str,
    tracks: Mapping[tuple[Any, ...], TrackRecord] | None = None,
) -> list[Delivery]:
    """Each alert to each subscription whose filter it matches and that was made before the
    alert was committed (a subscription is not sent what was raised before it existed);
    ``tracks``: the track record of each alert's key, by its fields' values."""
    out: list[Delivery] = []
    bodies: dict[int, str] = {}
    for alert in alerts:
        for sub in subscriptions:
            if sub.created_at <= alert.created_at and matches(sub.filter, alert):
                if alert.id not in bodies:
                    track = (tracks or {}).get(tuple(getattr(alert, f) for f in KEY_FIELDS))
                    bodies[alert.id] = webhook_body(alert, public_url, track=track)
                out.append(
                    Delivery(
                        sub.id,
                        alert.id,
                        f"msg_{alert.id}_{sub.id}",
                        alert.key,
                        event_type(alert),
                        bodies[alert.id],
                        alert.created_at,
                    )
                )
    return out
