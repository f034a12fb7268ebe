"""The alerts on Kafka (topic ``alerts``, keyed by the alert's key), published by the
ingestor's outbox relay in alert-id order, read by the notifier."""

from __future__ import annotations

from typing import Literal

from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.messaging._base import _Event

__all__ = ["AlertEnded", "AlertRaised", "alert_event"]


class AlertRaised(_Event, AlertRecord):
    """A key turned BUY or SELL (reason new, changed or confirmed)."""

    type: Literal["alert.raised"] = "alert.raised"


class AlertEnded(_Event, AlertRecord):
    """A key that was BUY or SELL turned HOLD (reason ended)."""

    type: Literal["alert.ended"] = "alert.ended"


def alert_event(record: AlertRecord) -> AlertRaised | AlertEnded:
    """The event that carries ``record``: ended or raised."""
    cls = AlertEnded if record.ended else AlertRaised
    return cls(**record.model_dump())
