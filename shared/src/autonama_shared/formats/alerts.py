"""One shape for an alert: as the ingestor stores it, the API serves it, Kafka carries it
(``alert.raised`` / ``alert.ended``) and a webhook delivers it.

An alert is raised when a key (symbol, interval, degree, kstd, price scale, days) turns
BUY or SELL, and ``ended`` when a key that was BUY or SELL turns HOLD (signal HOLD,
previous_signal the side that ended).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from autonama_shared.formats.keys import SignalKey
from autonama_shared.formats.records import STRICT

__all__ = ["AlertRecord"]


class _AlertIds(BaseModel):
    id: int = Field(description="Increases with every alert; the event id of the stream.")
    signal_id: int = Field(description="The signal that raised it (its chart: /v1/signals/{id}).")


class AlertRecord(SignalKey, _AlertIds):
    """A BUY or SELL signal that was new for its symbol, interval and parameters, or the end
    of one: signal HOLD, reason ``ended``, previous_signal the side that ended."""

    model_config = STRICT

    signal: Literal["BUY", "SELL", "HOLD"]
    previous_signal: Literal["BUY", "SELL", "HOLD"] | None
    reason: Literal["new", "changed", "confirmed", "ended"]
    price: float
    lower: float
    upper: float
    fit: float
    potential_return: float = Field(description="Percent between the bands.")
    target_return: float = Field(description="Percent back to the fit line, signed.")
    last_candle_time: AwareDatetime
    created_at: AwareDatetime
    scan_id: str | None

    @property
    def key(self) -> str:
        """The key the alert belongs to, as text (Kafka key, delivery order)."""
        return self.text

    @property
    def ended(self) -> bool:
        return self.reason == "ended"
