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
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from autonama_shared.db.pool import one
from autonama_shared.notify.records import DeliveryView, SubscriptionCreated, SubscriptionView
from autonama_shared.notify.subscriptions import SubscriptionSpec

__all__ = [
    "create_subscription",
    "delete_subscription",
    "deliveries_channel",
    "enqueue_test",
    "get_subscription",
    "list_subscriptions",
    "recent_deliveries",
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
    created = one(row, "the new subscription's INSERT")
    return SubscriptionCreated.model_validate({**_view(created), "secret": secret})


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


async def enqueue_test(conn: Conn, subscription_id: int) -> int:
    """Queue a test event for one subscription (delivered like an alert); its delivery id.
    The API's role may queue nothing but this: no body (the notifier writes the test event
    when it sends it), a ``msg_test_`` id (migration 0014's checks)."""
    tag = uuid.uuid4().hex
    delivery_id: int = await conn.fetchval(
        """INSERT INTO deliveries (subscription_id, message_id, key, event_type)
           VALUES ($1, $2, $3, 'subscription.test') RETURNING id""",
        subscription_id,
        f"msg_test_{tag}",
        f"test/{tag}",
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
