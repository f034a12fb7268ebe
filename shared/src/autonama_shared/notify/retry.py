"""When a delivery is tried again: the outcome of one attempt (the wait: ``autonama_shared.retry``).

2xx                                delivered
408, 429, 5xx, timeout, no answer  tried again: exponential backoff with jitter
                                   (Retry-After honoured, within the cap), until
                                   the delivery is older than its maximum age
any other status (3xx, 4xx)        failed for good: the receiver refused it
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from autonama_shared.retry import retry_after_seconds

__all__ = ["Attempt", "of_status"]

RETRIED_STATUSES = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt came to: ``delivered``, ``retry`` (after ``retry_after`` seconds if
    the receiver said so) or ``failed`` (for good)."""

    outcome: Literal["delivered", "retry", "failed"]
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None


def of_status(code: int, retry_after: str | None = None, now: datetime | None = None) -> Attempt:
    """The attempt a response with ``code`` (and its Retry-After header) makes.

    >>> of_status(204).outcome, of_status(503).outcome, of_status(404).outcome
    ('delivered', 'retry', 'failed')
    >>> of_status(429, "7").retry_after
    7.0
    """
    if 200 <= code < 300:
        return Attempt("delivered", code)
    if code in RETRIED_STATUSES or code >= 500:
        return Attempt("retry", code, f"HTTP {code}", retry_after_seconds(retry_after, now))
    why = "redirects are not followed" if 300 <= code < 400 else "the receiver refused it"
    return Attempt("failed", code, f"HTTP {code}: {why}")
