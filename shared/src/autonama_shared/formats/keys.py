"""The signal key: what a signal is the signal of, a market and the parameters it was
computed with. Alerts, the current state, Kafka keys and deliveries are per key.

The six fields are spelled here and nowhere else: a record that carries a key
(an alert, a market row, a signal's window) inherits them, placed after its own
leading fields by listing ``SignalKey`` first among its bases (pydantic orders
fields from the last base to the class itself), and SQL names them through
``db.keys``.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["KEY_FIELDS", "SignalKey"]


class SignalKey(BaseModel):
    """A market and the scan parameters of its signals.

    >>> SignalKey.of(("BTCUSDT", "1d", 4, 2.0, "linear", 720)).text
    'BTCUSDT/1d/4/2/linear/720'
    """

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    symbol: str
    interval: str
    degree: int
    kstd: float
    price_scale: str
    days: int

    @classmethod
    def of(cls, values: Iterable[Any]) -> SignalKey:
        """The key of these values, in the fields' order (a row, a decoded cursor)."""
        return SignalKey(**dict(zip(KEY_FIELDS, values, strict=True)))

    def values(self) -> tuple[Any, ...]:
        """The key's values, in the fields' order (SQL arguments, a cursor, a dict key)."""
        return _values(self)

    @property
    def text(self) -> str:
        """The key as text (the Kafka key of its alerts; deliveries go in order per key)."""
        return "/".join(f"{v:g}" if isinstance(v, float) else str(v) for v in self.values())


#: The key's field names, in order.
KEY_FIELDS: tuple[str, ...] = tuple(SignalKey.model_fields)

_values = attrgetter(*KEY_FIELDS)
