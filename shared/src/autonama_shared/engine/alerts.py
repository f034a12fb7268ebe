"""The alert rule: what a key's next signal says to the people who follow it.

A key (symbol and scan parameters) has a current signal, the one of its newest
candle. A signal on a newer candle moves it forward and may raise an alert:

=========  ============  =========
previous   new           alert
=========  ============  =========
none       BUY / SELL    new
HOLD       BUY / SELL    changed
BUY        SELL          changed
BUY        BUY           confirmed
BUY/SELL   HOLD          ended
none/HOLD  HOLD          (none)
=========  ============  =========

A signal on a candle no newer than the current one (late, or delivered again)
changes nothing. Several signals of one key stored together are decided in
candle order, as if stored one at a time.

The database applies this rule set-wise in one statement (``db/store.py``'s
``_STORE``); ``decide`` states it once, here, and a property test holds the two
together on generated histories.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["Alert", "Reason", "Step", "alert_reason", "decide"]


Reason = Literal["new", "changed", "confirmed", "ended"]

_ACTIVE = frozenset({"BUY", "SELL"})


def alert_reason(previous: str | None, signal: str) -> Reason | None:
    """The alert a key's move from ``previous`` to ``signal`` raises, or None.

    >>> alert_reason(None, "BUY"), alert_reason("HOLD", "SELL"), alert_reason("BUY", "BUY")
    ('new', 'changed', 'confirmed')
    >>> alert_reason("SELL", "HOLD"), alert_reason("HOLD", "HOLD"), alert_reason(None, "HOLD")
    ('ended', None, None)
    """
    if signal not in _ACTIVE:
        return "ended" if previous in _ACTIVE else None
    if previous is None:
        return "new"
    return "confirmed" if previous == signal else "changed"


@dataclass(frozen=True, slots=True)
class Step:
    """One signal of a key on one candle."""

    key: Hashable
    candle_time: datetime
    signal: str


@dataclass(frozen=True, slots=True)
class Alert:
    step: Step
    previous: str | None
    reason: Reason


def decide(
    current: Mapping[Hashable, Step], batch: Iterable[Step]
) -> tuple[list[Alert], dict[Hashable, Step]]:
    """The alerts a batch of new signals raises against each key's ``current`` signal, in
    candle order (ties in batch order), and the current signals after it.

    ``batch`` holds signals not stored before (one per key and candle).
    """
    after = dict(current)
    ordered = sorted(enumerate(batch), key=lambda pair: (pair[1].candle_time, pair[0]))
    alerts: list[Alert] = []
    for _, step in ordered:
        now = after.get(step.key)
        if now is not None and now.candle_time >= step.candle_time:
            continue  # late or known: changes nothing
        previous = now.signal if now is not None else None
        reason = alert_reason(previous, step.signal)
        if reason is not None:
            alerts.append(Alert(step, previous, reason))
        after[step.key] = step
    return alerts, after
