"""When a delivery is tried again: the outcome of one attempt and the backoff.

2xx                                delivered
408, 429, 5xx, timeout, no answer  tried again: exponential backoff with jitter
                                   (Retry-After honoured, within the cap), until
                                   the delivery is older than its maximum age
any other status (3xx, 4xx)        failed for good: the receiver refused it
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

__all__ = ["Attempt", "backoff_seconds", "of_status", "retry_after_seconds"]

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


def retry_after_seconds(header: str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delay-seconds or an HTTP date), or None.

    >>> retry_after_seconds("120")
    120.0
    >>> retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT",
    ...     datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC))
    30.0
    >>> retry_after_seconds("soon") is None
    True
    """
    if header is None:
        return None
    text = header.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_seconds(
    attempts: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """The wait before the next attempt, after ``attempts`` failed ones: ``base`` doubling
    per attempt up to ``cap``, drawn uniformly from its upper half (jitter: receivers that
    fail together are not hit together again); a Retry-After longer than that wins, up to
    ``cap``.

    >>> backoff_seconds(1, base=1, cap=60, rng=random.Random(0)) <= 1.0
    True
    >>> 30 <= backoff_seconds(10, base=1, cap=60, rng=random.Random(0)) <= 60
    True
    >>> backoff_seconds(1, base=1, cap=60, retry_after=45)
    45.0
    """
    ceiling = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 60))
    wait = ceiling * (0.5 + 0.5 * (rng or random).random())
    if retry_after is not None:
        wait = max(wait, min(float(retry_after), cap))
    return wait
