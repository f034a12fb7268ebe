"""Subscriptions and their deliveries in PostgreSQL: managed by the API and the CLI, matched
and delivered by the notifier.

A delivery is one message (an alert, or a test event) to one subscription. The notifier
claims due deliveries with a lease (``FOR UPDATE SKIP LOCKED``: replicas share the work),
sends them, and records each attempt; a delivery of a key waits while an older one of the
same subscription and key is pending, so a receiver gets a key's alerts in order.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.notify.messages import event_type, probe_body, webhook_body
from autonama_shared.notify.records import DeliveryView, SubscriptionCreated, SubscriptionView
from autonama_shared.notify.subscriptions import AlertFilter, SubscriptionSpec, matches

__all__ = [
    "Claimed",
    "Outcome",
    "Subscription",
    "claim_due",
    "create_subscription",
    "delete_subscription",
    "deliveries_channel",
    "enqueue_alerts",
    "enqueue_test",
    "get_subscription",
    "list_subscriptions",
    "live_subscriptions",
    "recent_deliveries",
    "record_outcomes",
    "set_enabled",
]

Conn = asyncpg.Connection | PoolConnectionProxy

_COLUMNS = (
    "id, name, kind, url, filter::text AS filter, template, enabled, disabled_reason, "
    "consecutive_failures, created_at"
)


def deliveries_channel(schema: str) -> str:
    """The NOTIFY channel of new deliveries (the notifier's senders wake on it)."""
    return f"{schema}_deliveries"


def _view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        **{k: row[k] for k in ("id", "name", "template", "enabled", "disabled_reason")},
        "consecutive_failures": row["consecutive_failures"],
        "created_at": row["created_at"],
        "target": {"kind": row["kind"], "url": row["url"]},
        "filter": json.loads(row["filter"]),
    }


def new_secret() -> str:
    """A webhook signing secret: ``whsec_`` and 24 random bytes in base64 (Standard Webhooks)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


async def create_subscription(conn: Conn, spec: SubscriptionSpec) -> SubscriptionCreated:
    """Store ``spec``; a webhook gets its signing secret (returned here, and only here)."""
    secret = new_secret() if spec.target.kind == "webhook" else None
    row = await conn.fetchrow(
        f"""INSERT INTO subscriptions (name, kind, url, secret, filter, template)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING {_COLUMNS}""",  # noqa: S608
        spec.name,
        spec.target.kind,
        spec.target.url,
        secret,
        spec.filter.model_dump_json(),
        spec.template,
    )
    assert row is not None
    return SubscriptionCreated.model_validate({**_view(row), "secret": secret})


async def list_subscriptions(conn: Conn) -> list[SubscriptionView]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM subscriptions ORDER BY id")  # noqa: S608
    return [SubscriptionView.model_validate(_view(r)) for r in rows]


async def get_subscription(conn: Conn, subscription_id: int) -> SubscriptionView | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE id = $1",  # noqa: S608
        subscription_id,
    )
    return SubscriptionView.model_validate(_view(row)) if row is not None else None


async def delete_subscription(conn: Conn, subscription_id: int) -> bool:
    """Delete it and its deliveries; False when there was none."""
    done = await conn.execute("DELETE FROM subscriptions WHERE id = $1", subscription_id)
    return bool(done.endswith(" 1"))


async def set_enabled(
    conn: Conn, subscription_id: int, enabled: bool, reason: str = "disabled by an operator"
) -> SubscriptionView | None:
    """Enable (its failure count starts again from 0) or disable a subscription."""
    row = await conn.fetchrow(
        f"""UPDATE subscriptions SET enabled = $2,
                   disabled_reason = CASE WHEN $2 THEN NULL ELSE $3 END,
                   consecutive_failures = CASE WHEN $2 THEN 0 ELSE consecutive_failures END,
                   updated_at = now()
            WHERE id = $1 RETURNING {_COLUMNS}""",  # noqa: S608
        subscription_id,
        enabled,
        reason,
    )
    return SubscriptionView.model_validate(_view(row)) if row is not None else None


async def enqueue_test(conn: Conn, subscription_id: int, name: str) -> int:
    """Queue a test event for one subscription (delivered like an alert); its delivery id."""
    tag = uuid.uuid4().hex
    delivery_id: int = await conn.fetchval(
        """INSERT INTO deliveries (subscription_id, message_id, key, event_type, body)
           VALUES ($1, $2, $3, 'subscription.test', $4) RETURNING id""",
        subscription_id,
        f"msg_test_{tag}",
        f"test/{tag}",
        probe_body(subscription_id, name),
    )
    await conn.execute("SELECT pg_notify(current_schema() || '_deliveries', '')")
    return delivery_id


async def recent_deliveries(
    conn: Conn, subscription_id: int, limit: int = 50
) -> list[DeliveryView]:
    """The subscription's newest deliveries, each with its last 10 attempts."""
    rows = await conn.fetch(
        """SELECT d.id, d.alert_id, d.message_id, d.event_type, d.status, d.attempts,
                  CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
                  d.last_status_code, d.last_error, d.last_latency_ms, d.created_at,
                  d.finished_at,
                  coalesce((SELECT json_agg(a ORDER BY a.attempt DESC)::text FROM (
                      SELECT attempt, at, outcome, status_code, error, latency_ms
                      FROM delivery_attempts WHERE delivery_id = d.id
                      ORDER BY attempt DESC LIMIT 10) a), '[]') AS attempt_log
           FROM deliveries d WHERE d.subscription_id = $1 ORDER BY d.id DESC LIMIT $2""",
        subscription_id,
        limit,
    )
    return [
        DeliveryView.model_validate({**dict(r), "attempt_log": json.loads(r["attempt_log"])})
        for r in rows
    ]


# -- the notifier ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscription:
    """What the notifier matches an alert against."""

    id: int
    filter: AlertFilter
    created_at: datetime


async def live_subscriptions(conn: Conn) -> list[Subscription]:
    """The enabled subscriptions (a disabled one is not queued alerts until enabled again)."""
    rows = await conn.fetch(
        "SELECT id, filter::text AS filter, created_at FROM subscriptions WHERE enabled"
    )
    return [
        Subscription(r["id"], AlertFilter.model_validate_json(r["filter"]), r["created_at"])
        for r in rows
    ]


async def enqueue_alerts(
    conn: Conn,
    alerts: Sequence[AlertRecord],
    subscriptions: Sequence[Subscription],
    public_url: str,
) -> int:
    """Queue a delivery of each alert to each subscription it matches (one made before the
    alert was committed); an alert queued before (a replay) is not queued again. The number
    of deliveries queued now."""
    rows: list[tuple[Any, ...]] = []
    bodies: dict[int, str] = {}
    for alert in alerts:
        for sub in subscriptions:
            if sub.created_at <= alert.created_at and matches(sub.filter, alert):
                if alert.id not in bodies:
                    bodies[alert.id] = webhook_body(alert, public_url)
                rows.append(
                    (
                        sub.id,
                        alert.id,
                        f"msg_{alert.id}_{sub.id}",
                        alert.key,
                        event_type(alert),
                        bodies[alert.id],
                        alert.created_at,
                    )
                )
    if not rows:
        return 0
    columns = list(zip(*rows, strict=True))
    done = await conn.execute(
        """INSERT INTO deliveries (subscription_id, alert_id, message_id, key, event_type, body,
                                   alert_created_at)
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                                $6::text[], $7::timestamptz[])
           ORDER BY 2, 1
           ON CONFLICT (subscription_id, message_id) DO NOTHING""",
        *columns,
    )
    queued = int(done.rsplit(" ", 1)[-1])
    if queued:
        await conn.execute("SELECT pg_notify(current_schema() || '_deliveries', '')")
    return queued


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased to this sender, with what sending it needs."""

    id: int
    subscription_id: int
    message_id: str
    body: str
    attempts: int
    created_at: datetime
    alert_created_at: datetime | None
    kind: str
    url: str
    secret: str | None
    template: str | None


async def claim_due(conn: Conn, limit: int, lease_seconds: float) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries of enabled subscriptions, each the oldest pending
    of its subscription and key; others' leases are skipped, expired ones taken over."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT d.id FROM deliveries d
               JOIN subscriptions s ON s.id = d.subscription_id AND s.enabled
               WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                 AND (d.leased_until IS NULL OR d.leased_until < now())
                 AND NOT EXISTS (
                     SELECT 1 FROM deliveries e
                     WHERE e.subscription_id = d.subscription_id AND e.key = d.key
                       AND e.status = 'pending' AND e.id < d.id)
               ORDER BY d.next_attempt_at, d.id
               LIMIT $1
               FOR UPDATE OF d SKIP LOCKED)
           UPDATE deliveries d SET leased_until = now() + make_interval(secs => $2)
           FROM due, subscriptions s
           WHERE d.id = due.id AND s.id = d.subscription_id
           RETURNING d.id, d.subscription_id, d.message_id, d.body, d.attempts, d.created_at,
                     d.alert_created_at, s.kind, s.url, s.secret, s.template""",
        limit,
        lease_seconds,
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


async def record_outcomes(conn: Conn, outcomes: Sequence[Outcome], disable_after: int) -> list[int]:
    """Store the attempts, move the deliveries on, count each subscription's deliveries
    failed in a row (failed for good: refused, or out of retries; a delivered one resets
    the count; a retried attempt does not count, so an outage within the retry window
    never disables anything) and disable those that reach ``disable_after``.
    The ids of the subscriptions disabled now."""
    if not outcomes:
        return []
    o = outcomes
    await conn.execute(
        """UPDATE deliveries d SET
               status = u.status, attempts = u.attempt, leased_until = NULL,
               next_attempt_at = CASE WHEN u.status = 'pending'
                   THEN now() + make_interval(secs => u.retry_in) ELSE d.next_attempt_at END,
               last_status_code = u.status_code, last_error = u.error,
               last_latency_ms = u.latency_ms,
               finished_at = CASE WHEN u.status <> 'pending' THEN now() END
           FROM unnest($1::bigint[], $2::int[], $3::text[], $4::int[], $5::text[],
                       $6::float8[], $7::float8[])
                AS u(id, attempt, status, status_code, error, latency_ms, retry_in)
           WHERE d.id = u.id""",
        [x.delivery_id for x in o],
        [x.attempt for x in o],
        [x.status for x in o],
        [x.status_code for x in o],
        [x.error for x in o],
        [x.latency_ms for x in o],
        [x.retry_in for x in o],
    )
    await conn.execute(
        """INSERT INTO delivery_attempts (delivery_id, attempt, outcome, status_code, error,
                                          latency_ms)
           SELECT u.* FROM unnest($1::bigint[], $2::int[], $3::text[], $4::int[], $5::text[],
                                  $6::float8[]) AS u(id, attempt, outcome, code, error, ms)
           JOIN deliveries d ON d.id = u.id
           ON CONFLICT DO NOTHING""",
        [x.delivery_id for x in o],
        [x.attempt for x in o],
        [x.outcome for x in o],
        [x.status_code for x in o],
        [x.error for x in o],
        [x.latency_ms for x in o],
    )
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
