"""One shape for an alert: as the ingestor stores it, the API serves it, Kafka carries it
(``alert.raised`` / ``alert.ended``) and a webhook delivers it.

An alert is raised when a key (symbol, interval, degree, kstd, price scale, days) turns
BUY or SELL, and ``ended`` when a key that was BUY or SELL turns HOLD (signal HOLD,
previous_signal the side that ended).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from autonama_shared.formats.records import STRICT

__all__ = ["AlertRecord", "alert_key"]


class AlertRecord(BaseModel):
    """A BUY or SELL signal that was new for its symbol, interval and parameters, or the end
    of one: signal HOLD, reason ``ended``, previous_signal the side that ended."""

    model_config = STRICT

    id: int = Field(description="Increases with every alert; the event id of the stream.")
    signal_id: int = Field(description="The signal that raised it (its chart: /v1/signals/{id}).")
    symbol: str
    interval: str
    degree: int
    kstd: float
    price_scale: str
    days: int
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
        """The key the alert belongs to (Kafka key, delivery order): see ``alert_key``."""
        return alert_key(
            self.symbol, self.interval, self.degree, self.kstd, self.price_scale, self.days
        )

    @property
    def ended(self) -> bool:
        return self.reason == "ended"


def alert_key(
    symbol: str, interval: str, degree: int, kstd: float, price_scale: str, days: int
) -> str:
    """The text of one key: alerts of one key are delivered in id order.

    >>> alert_key("BTCUSDT", "1d", 4, 2.0, "linear", 720)
    'BTCUSDT/1d/4/2/linear/720'
    """
    return f"{symbol}/{interval}/{degree}/{kstd:g}/{price_scale}/{days}"
