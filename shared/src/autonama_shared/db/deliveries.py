"""The notifier's side of the deliveries: queue the alerts each subscription matches, claim
due deliveries with a lease, and record what became of each attempt.

- **Claims are fair and leased.** A claim takes the oldest pending delivery of each
  (subscription, key) (a receiver gets a key's alerts in order), at most ``per_subscription``
  in flight per subscription and sender (one slow receiver holds a few slots, never all),
  round-robin across subscriptions, and stamps each row with a lease id of its own.
- **An outcome is written only by the lease that holds it.** ``record_outcome`` updates a
  delivery only while its lease id is the one claimed: a sender whose lease was taken over
  by another replica (it outlived the lease) can no longer move a delivered row back.
- **Each outcome on its own.** The caller records outcomes in batches and, when a batch
  fails, one by one (``record_outcomes`` of one outcome each): a row that cannot be
  stored never takes the others with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from autonama_shared.db.pool import Conn
from autonama_shared.notify.deliveries import Delivery, Subscription
from autonama_shared.notify.subscriptions import AlertFilter

__all__ = [
    "Claimed",
    "Outcome",
    "claim_due",
    "enqueue_deliveries",
    "live_subscriptions",
    "record_outcomes",
]


async def live_subscriptions(conn: Conn) -> list[Subscription]:
    """The enabled subscriptions (a disabled one is not queued alerts until enabled again)."""
    rows = await conn.fetch(
        "SELECT id, filter::text AS filter, created_at FROM subscriptions WHERE enabled"
    )
    return [
        Subscription(r["id"], AlertFilter.model_validate_json(r["filter"]), r["created_at"])
        for r in rows
    ]


async def enqueue_deliveries(conn: Conn, deliveries: Sequence[Delivery]) -> int:
    """Queue ``deliveries`` (``notify.deliveries.planned``); one queued before (a replayed
    alert) is not queued again. The number of deliveries queued now."""
    if not deliveries:
        return 0
    done = await conn.execute(
        """INSERT INTO deliveries (subscription_id, alert_id, message_id, key, event_type, body,
                                   alert_created_at)
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                                $6::text[], $7::timestamptz[])
           ORDER BY 2, 1
           ON CONFLICT (subscription_id, message_id) DO NOTHING""",
        [d.subscription_id for d in deliveries],
        [d.alert_id for d in deliveries],
        [d.message_id for d in deliveries],
        [d.key for d in deliveries],
        [d.event_type for d in deliveries],
        [d.body for d in deliveries],
        [d.alert_created_at for d in deliveries],
    )
    queued = int(done.rsplit(" ", 1)[-1])
    if queued:
        await conn.execute("SELECT pg_notify(current_schema() || '_deliveries', '')")
    return queued


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased to this sender, with what sending it needs. ``body`` is None for a
    test event (the sender writes it: the API's role cannot write bodies)."""

    id: int
    subscription_id: int
    message_id: str
    body: str | None
    attempts: int
    created_at: datetime
    alert_created_at: datetime | None
    kind: str
    url: str
    secret: str | None
    template: str | None
    name: str = ""
    lease_id: uuid.UUID | None = None


async def claim_due(
    conn: Conn,
    limit: int,
    lease_seconds: float,
    per_subscription: int = 1_000_000,
    per_apprise: int = 1_000_000,
    in_flight: dict[int, int] | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries of enabled subscriptions, each the oldest pending
    of its subscription and key: of each subscription at most ``per_subscription`` less
    what this sender has in flight for it (``in_flight``; ``per_apprise`` for an Apprise
    target, whose sends share a small pool of workers), taken round-robin across
    subscriptions; others' leases are skipped, expired ones taken over. Each subscription
    is one short index range (deliveries_due_per_subscription), however long the queue."""
    busy = in_flight or {}
    rows = await conn.fetch(
        """WITH candidates AS (
               SELECT x.id, x.next_attempt_at, s.id AS subscription_id FROM subscriptions s
               LEFT JOIN unnest($4::bigint[], $5::int[]) AS f(id, n) ON f.id = s.id
               CROSS JOIN LATERAL (
                   SELECT d.id, d.next_attempt_at FROM deliveries d
                   WHERE d.subscription_id = s.id AND d.status = 'pending'
                     AND d.next_attempt_at <= now()
                     AND (d.leased_until IS NULL OR d.leased_until < now())
                     AND NOT EXISTS (
                         SELECT 1 FROM deliveries e
                         WHERE e.subscription_id = d.subscription_id AND e.key = d.key
                           AND e.status = 'pending' AND e.id < d.id)
                   ORDER BY d.next_attempt_at, d.id
                   LIMIT greatest(0, CASE WHEN s.kind = 'apprise' THEN $6::int ELSE $3::int END
                                     - coalesce(f.n, 0))
                   FOR UPDATE OF d SKIP LOCKED) x
               WHERE s.enabled),
           picked AS (
               SELECT id FROM (
                   SELECT id, row_number() OVER (
                       PARTITION BY subscription_id ORDER BY next_attempt_at, id) AS rank
                   FROM candidates) ranked
               ORDER BY rank, id
               LIMIT $1)
           UPDATE deliveries d SET leased_until = now() + make_interval(secs => $2),
                                   lease_id = gen_random_uuid()
           FROM subscriptions s
           WHERE d.id = ANY(ARRAY(SELECT id FROM picked)) AND s.id = d.subscription_id
           RETURNING d.id, d.subscription_id, d.message_id, d.body, d.attempts, d.created_at,
                     d.alert_created_at, s.kind, s.url, s.secret, s.template, s.name,
                     d.lease_id""",
        limit,
        lease_seconds,
        per_subscription,
        list(busy),
        list(busy.values()),
        per_apprise,
    )
    return [Claimed(**dict(r)) for r in sorted(rows, key=lambda r: r["id"])]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt of a claimed delivery, and what becomes of the delivery."""

    delivery_id: int
    subscription_id: int
    attempt: int
    outcome: str  # delivered | retry | failed (the attempt's)
    status: str  # pending | delivered | failed (the delivery's, after it)
    status_code: int | None
    error: str | None
    latency_ms: float
    retry_in: float  # seconds, when still pending
    lease_id: uuid.UUID | None = None


async def record_outcomes(conn: Conn, outcomes: Sequence[Outcome], disable_after: int) -> list[int]:
    """Store the attempts whose lease still holds, move those deliveries on, count each
    subscription's deliveries failed in a row (failed for good: refused, or out of retries;
    a delivered one resets the count; a retried attempt does not count, so an outage within
    the retry window never disables anything) and disable those that reach
    ``disable_after``. A delivered delivery's body is dropped (sent, and its alert kept).
    An outcome whose lease was taken over is dropped (its new holder records its own).
    The ids of the subscriptions disabled now."""
    if not outcomes:
        return []
    o = outcomes
    held = await conn.fetch(
        """UPDATE deliveries d SET
               status = u.status, attempts = u.attempt, leased_until = NULL, lease_id = NULL,
               next_attempt_at = CASE WHEN u.status = 'pending'
                   THEN now() + make_interval(secs => u.retry_in) ELSE d.next_attempt_at END,
               last_status_code = u.status_code, last_error = u.error,
               last_latency_ms = u.latency_ms,
               finished_at = CASE WHEN u.status <> 'pending' THEN now() END,
               body = CASE WHEN u.status <> 'delivered' THEN d.body END  -- migration 0022
           FROM unnest($1::bigint[], $2::int[], $3::text[], $4::int[], $5::text[],
                       $6::float8[], $7::float8[], $8::uuid[])
                AS u(id, attempt, status, status_code, error, latency_ms, retry_in, lease_id)
           WHERE d.id = u.id AND d.lease_id = u.lease_id AND d.status = 'pending'
           RETURNING d.id""",
        [x.delivery_id for x in o],
        [x.attempt for x in o],
        [x.status for x in o],
        [x.status_code for x in o],
        [x.error for x in o],
        [x.latency_ms for x in o],
        [x.retry_in for x in o],
        [x.lease_id for x in o],
    )
    kept = {r["id"] for r in held}
    o = [x for x in o if x.delivery_id in kept]
    if not o:
        return []
    await conn.execute(
        """INSERT INTO delivery_attempts (delivery_id, attempt, outcome, status_code, error,
                                          latency_ms)
           SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::int[], $5::text[],
                                $6::float8[])
           ON CONFLICT DO NOTHING""",
        [x.delivery_id for x in o],
        [x.attempt for x in o],
        [x.outcome for x in o],
        [x.status_code for x in o],
        [x.error for x in o],
        [x.latency_ms for x in o],
    )
    return await _count_failures(conn, o, disable_after)


async def _count_failures(conn: Conn, o: Sequence[Outcome], disable_after: int) -> list[int]:
    # Per subscription, in attempt order: deliveries failed since its last delivered one.
    tally: dict[int, tuple[bool, int, str | None]] = {}
    for x in o:
        reset, failed, last = tally.get(x.subscription_id, (False, 0, None))
        if x.status == "delivered":
            tally[x.subscription_id] = (True, 0, last)
        elif x.status == "failed":
            tally[x.subscription_id] = (reset, failed + 1, x.error)
    if not tally:
        return []
    ids = list(tally)
    rows = await conn.fetch(
        """WITH u AS (
               SELECT u.id, CASE WHEN u.reset THEN u.n ELSE s.consecutive_failures + u.n END
                      AS failures, u.error, s.enabled AS was_enabled
               FROM unnest($1::bigint[], $2::bool[], $3::int[], $4::text[])
                    AS u(id, reset, n, error)
               JOIN subscriptions s ON s.id = u.id)
           UPDATE subscriptions s SET
               consecutive_failures = u.failures,
               enabled = s.enabled AND u.failures < $5,
               disabled_reason = CASE WHEN s.enabled AND u.failures >= $5
                   THEN format('disabled after %s deliveries failed in a row; the last: %s',
                               u.failures, coalesce(u.error, 'no answer'))
                   ELSE s.disabled_reason END,
               updated_at = now()
           FROM u WHERE s.id = u.id
           RETURNING s.id, u.was_enabled AND NOT s.enabled AS disabled_now""",
        ids,
        [tally[i][0] for i in ids],
        [tally[i][1] for i in ids],
        [tally[i][2] for i in ids],
        disable_after,
    )
    return [r["id"] for r in rows if r["disabled_now"]]
