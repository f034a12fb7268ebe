"""Waiting between attempts, the same way everywhere: the notifier's retries of a
delivery, the Binance client's retries of a request, and each service's waits on a
dependency that is away (``lifecycle.Backoff``).

An exponential backoff (``base`` doubling per attempt, up to ``cap``), with jitter where
many clients might fail together, and the receiver's Retry-After honoured within the cap.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["backoff_seconds", "retry_after_seconds"]


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
    jitter: bool = True,
) -> float:
    """The wait before the next attempt, after ``attempts`` failed ones: ``base`` doubling
    per attempt up to ``cap``, drawn uniformly from its upper half (``jitter``: clients that
    fail together do not come back together); a Retry-After longer than that wins, up to
    ``cap``.

    >>> backoff_seconds(1, base=1, cap=60, rng=random.Random(0)) <= 1.0
    True
    >>> 30 <= backoff_seconds(10, base=1, cap=60, rng=random.Random(0)) <= 60
    True
    >>> backoff_seconds(1, base=1, cap=60, retry_after=45)
    45.0
    >>> [backoff_seconds(n, base=0.5, cap=2, jitter=False) for n in (1, 2, 3, 4)]
    [0.5, 1.0, 2.0, 2.0]
    """
    ceiling = min(float(cap), base * 2.0 ** min(max(attempts - 1, 0), 60))
    wait = ceiling * (0.5 + 0.5 * (rng or random).random()) if jitter else ceiling
    if retry_after is not None:
        wait = max(wait, min(float(retry_after), cap))
    return wait
