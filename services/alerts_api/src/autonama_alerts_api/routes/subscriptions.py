"""Subscriptions: who gets which alerts where (webhooks, Apprise targets), their test events
and their deliveries. Every operation needs a write token (targets can hold secrets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict

from autonama_alerts_api.auth import WRITE_ERRORS, ManageAccess
from autonama_alerts_api.deps import State, StateDep, invalid
from autonama_alerts_api.models.common import Problem
from autonama_shared.db import subscriptions as db
from autonama_shared.notify.network import AllowList, check_host
from autonama_shared.notify.records import DeliveryView, SubscriptionCreated, SubscriptionView
from autonama_shared.notify.subscriptions import SubscriptionSpec

router = APIRouter(
    prefix="/v1/subscriptions",
    tags=["subscriptions"],
    responses={
        **{k: v for k, v in WRITE_ERRORS.items() if k != 429},
        503: {"model": Problem, "description": "The database is unreachable"},
    },
    dependencies=[ManageAccess],
)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
NOT_JSON: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body is not JSON"}
}
SubscriptionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The subscription's id")]


class EnabledBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"enabled": True}]}
    )

    enabled: bool


class TestQueued(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"delivery_id": 312, "deliveries_url": "/v1/subscriptions/7/deliveries"}]
        }
    )

    delivery_id: int
    deliveries_url: str


@asynccontextmanager
async def manage_connection(state: State) -> AsyncIterator[PoolConnectionProxy]:
    if state.manage is None:  # pragma: no cover - the lifespan always opens it
        raise HTTPException(503, "subscriptions are not available")
    try:
        async with state.manage.acquire() as conn, conn.transaction():
            yield conn
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as e:
        raise HTTPException(503, f"the database is unreachable: {e}") from e


async def check_target(state: State, url: str) -> None:
    """422 when the target's host is, or resolves to, an address the notifier refuses (the
    notifier checks every connection again: this is for a clear answer now)."""

    def check() -> None:
        check_host(url, AllowList.parse(state.settings.allowed_networks))

    try:
        await asyncio.to_thread(check)
    except ValueError as e:
        raise invalid("target.url", str(e), where="body") from None


def _missing(subscription_id: int) -> HTTPException:
    return HTTPException(404, f"subscription {subscription_id} does not exist")


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionCreated,
    summary="Create a subscription",
    responses=NOT_JSON,
)
async def create(
    state: StateDep, body: SubscriptionSpec, response: Response
) -> SubscriptionCreated:
    """Subscribe a target to the alerts its filter matches: a webhook (each alert POSTed as
    JSON, signed per Standard Webhooks) or an Apprise URL (Telegram, Discord, Slack, e-mail,
    ntfy and 100+ more). Alerts committed from now on are delivered; a webhook's signing
    secret (`whsec_...`) is in this answer and never shown again. An Apprise URL that
    Apprise cannot use, a target on a loopback, private or link-local address (unless the
    operator allowed it), or a template with an unknown `$placeholder`, is refused with 422."""
    await check_target(state, body.target.url)
    async with manage_connection(state) as conn:
        created = await db.create_subscription(conn, body)
    response.headers["Location"] = f"/v1/subscriptions/{created.id}"
    return created


@router.get("", response_model=list[SubscriptionView], summary="List subscriptions")
async def list_all(state: StateDep) -> list[SubscriptionView]:
    """Every subscription, oldest first: target, filter, whether it is enabled (and why
    not) and its deliveries failed in a row. Secrets are never listed."""
    async with manage_connection(state) as conn:
        return await db.list_subscriptions(conn)


@router.get(
    "/{subscription_id}",
    response_model=SubscriptionView,
    summary="One subscription",
    responses=NOT_FOUND,
)
async def get_one(state: StateDep, subscription_id: SubscriptionId) -> SubscriptionView:
    """One subscription: its target, filter and template, whether it is enabled (and why
    not: the notifier says which failure disabled it), and its deliveries failed in a row."""
    async with manage_connection(state) as conn:
        found = await db.get_subscription(conn, subscription_id)
    if found is None:
        raise _missing(subscription_id)
    return found


@router.patch(
    "/{subscription_id}",
    response_model=SubscriptionView,
    summary="Enable or disable a subscription",
    responses={**NOT_FOUND, **NOT_JSON},
)
async def set_enabled(
    state: StateDep, subscription_id: SubscriptionId, body: EnabledBody
) -> SubscriptionView:
    """`{"enabled": true}` enables a subscription again (after the notifier disabled it for
    failing 50 deliveries in a row, say) with its failure count at 0; its pending deliveries
    resume. `{"enabled": false}` pauses it: no alert is queued for it meanwhile."""
    async with manage_connection(state) as conn:
        found = await db.set_enabled(conn, subscription_id, body.enabled)
    if found is None:
        raise _missing(subscription_id)
    return found


@router.delete(
    "/{subscription_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a subscription",
    responses={204: {"description": "Deleted, with its deliveries"}, **NOT_FOUND},
)
async def delete(state: StateDep, subscription_id: SubscriptionId) -> Response:
    """Delete the subscription and its deliveries: pending ones are not sent, and alerts
    committed from now on are not matched against it. 404 if there is no such id."""
    async with manage_connection(state) as conn:
        if not await db.delete_subscription(conn, subscription_id):
            raise _missing(subscription_id)
    return Response(status_code=204)


@router.post(
    "/{subscription_id}/test",
    status_code=202,
    response_model=TestQueued,
    summary="Send a test event",
    responses=NOT_FOUND,
)
async def send_test(state: StateDep, subscription_id: SubscriptionId) -> TestQueued:
    """Queue a `subscription.test` event for this subscription: delivered like an alert
    (signed, retried), so a receiver can be checked end to end. Follow it in the
    deliveries."""
    async with manage_connection(state) as conn:
        found = await db.get_subscription(conn, subscription_id)
        if found is None:
            raise _missing(subscription_id)
        delivery_id = await db.enqueue_test(conn, subscription_id)
    return TestQueued(
        delivery_id=delivery_id,
        deliveries_url=f"/v1/subscriptions/{subscription_id}/deliveries",
    )


@router.get(
    "/{subscription_id}/deliveries",
    response_model=list[DeliveryView],
    summary="A subscription's deliveries",
    responses=NOT_FOUND,
)
async def deliveries(
    state: StateDep,
    subscription_id: SubscriptionId,
    limit: Annotated[int, Query(ge=1, le=500, description="How many, newest first")] = 50,
) -> list[DeliveryView]:
    """The newest deliveries of a subscription: pending, delivered or failed, attempts
    made, the last status code, error and latency, when the next retry is due, and the
    last attempts one by one."""
    async with manage_connection(state) as conn:
        if await db.get_subscription(conn, subscription_id) is None:
            raise _missing(subscription_id)
        return await db.recent_deliveries(conn, subscription_id, limit)
