"""Alerts: filtered and sorted pages, the summary, the strongest current ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from autonama_alerts_api.auth import READ_ERRORS, ReadAccess
from autonama_alerts_api.deps import (
    IdPath,
    IntervalQ,
    LimitQ,
    MinPotentialQ,
    SignalQ,
    SinceQ,
    State,
    StateDep,
    SymbolQ,
    alert_filter,
    invalid,
)
from autonama_alerts_api.models.alerts import Alert, AlertOutcome, AlertPage, Summary
from autonama_alerts_api.pages import serve_page
from autonama_alerts_api.queries.alerts import (
    AlertFilter,
    Cursor,
    Sort,
    alerts_json,
    list_alerts,
    summary_rows,
)
from autonama_shared.db.outcomes import NotScored, alert_outcome

router = APIRouter(
    prefix="/v1/alerts",
    tags=["alerts"],
    responses={**READ_ERRORS, 304: {"description": "Not modified since the ETag sent"}},
    dependencies=[ReadAccess],
)


class AlertsQuery(BaseModel):
    """The query of ``GET /v1/alerts``: the route's parameters, and what the fast path (see
    ``pages.CachedPagesMiddleware``) validates a query with, so that both accept the same."""

    signal: SignalQ = None
    symbol: SymbolQ = None
    interval: IntervalQ = None
    min_potential_return: MinPotentialQ = None
    since: SinceQ = None
    latest: bool = Field(True, description="Only the current alert per key")
    sort: Sort = "potential_return"
    order: Literal["desc", "asc"] = "desc"
    cursor: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")
    limit: LimitQ = 50


def alerts_page(state: State, q: AlertsQuery) -> Callable[[], Awaitable[bytes]]:
    """What builds the page ``q`` asks for; HTTPException (422) when the query is invalid."""
    after = None
    if q.cursor is not None:
        try:
            after = Cursor.decode(q.cursor)
        except ValueError as e:
            raise invalid("cursor", str(e)) from e
        if after.sort != q.sort:
            raise invalid("cursor", "it belongs to another sort order")
    filters = alert_filter(q.signal, q.symbol, q.interval, q.min_potential_return, q.since)

    async def build() -> bytes:
        items, nxt = await list_alerts(
            state.pool,
            filters,
            latest=q.latest,
            sort=q.sort,
            descending=q.order == "desc",
            limit=q.limit,
            cursor=after,
        )
        return alerts_json({"items": items, "next_cursor": nxt.encode() if nxt else None})

    return build


def fast_alerts_page(state: State, query: dict[str, str]) -> Callable[[], Awaitable[bytes]] | None:
    """``GET /v1/alerts`` built before routing (``pages.CachedPagesMiddleware``), or None
    for a query the route refuses: the route then answers its 422."""
    try:
        return alerts_page(state, AlertsQuery.model_validate(query))
    except (ValidationError, HTTPException):
        return None


@router.get("", response_model=AlertPage, summary="List alerts")
async def alerts(state: StateDep, request: Request, q: Annotated[AlertsQuery, Query()]) -> Response:
    """Alerts, filtered and sorted, one page at a time. With `latest` (the default) only the
    current alert of each key (symbol, interval, degree, kstd, price scale, days) is listed;
    `latest=false` lists the history, ended alerts included. The order is stable: pass
    `next_cursor` as `cursor` for the next page (a cursor belongs to its sort). Pages carry
    an ETag; send it back as `If-None-Match` and the answer is 304 until a new alert lands.

    Example: `GET /v1/alerts?signal=BUY&min_potential_return=10&limit=20`."""
    return await serve_page(state, request, alerts_page(state, q))


@router.get("/summary", response_model=Summary, summary="Alert counts and the last scan")
async def summary(state: StateDep, request: Request) -> Response:
    """Counts of current alerts per signal, the strongest current BUY and SELL by potential
    return, the last finished scan (its size and failed symbols) and the scans that failed as
    a whole since then, with their reasons. What the dashboard's header shows."""

    async def build() -> bytes:
        return Summary(**await summary_rows(state.pool)).model_dump_json().encode()

    return await serve_page(state, request, build)


async def _top(state: StateDep, signal: Literal["BUY", "SELL"], limit: int) -> bytes:
    items, _ = await list_alerts(
        state.pool,
        AlertFilter(signal=signal),
        latest=True,
        sort="potential_return",
        descending=True,
        limit=limit,
        cursor=None,
    )
    return alerts_json(items)


@router.get("/top-buy", response_model=list[Alert], summary="Strongest current BUY alerts")
async def top_buy(state: StateDep, request: Request, limit: LimitQ = 10) -> Response:
    """The current BUY alerts (price below the lower band) with the largest potential
    return first. Example: `GET /v1/alerts/top-buy?limit=5`."""
    build = partial(_top, state, "BUY", limit)
    return await serve_page(state, request, build)


@router.get("/top-sell", response_model=list[Alert], summary="Strongest current SELL alerts")
async def top_sell(state: StateDep, request: Request, limit: LimitQ = 10) -> Response:
    """The current SELL alerts (price above the upper band) with the largest potential
    return first. Example: `GET /v1/alerts/top-sell?limit=5`."""
    build = partial(_top, state, "SELL", limit)
    return await serve_page(state, request, build)


@router.get(
    "/{alert_id}/outcome",
    response_model=AlertOutcome,
    summary="What the market did after an alert",
    responses={404: {"description": "No such alert, or an ended alert (not scored)"}},
)
async def outcome(state: StateDep, alert_id: IdPath) -> AlertOutcome:
    """The alert's outcome so far from the closed bars of its key after it: entry at the
    next bar's open, returns after 1, 5 and 20 bars, when the target (the fit) and the
    opposite band were reached, the worst excursion against it, when its key turned HOLD.
    A final one (20 bars) as stored; an open one scored from the stored candles on the
    spot (nothing is estimated; a gap in the key's candles stops the count). Example:
    `GET /v1/alerts/1234/outcome`."""
    try:
        scored = await alert_outcome(state.pool, alert_id)
    except NotScored as e:
        raise HTTPException(404, str(e)) from e
    if scored is None:
        raise HTTPException(404, f"no alert {alert_id}")
    return AlertOutcome(alert_id=alert_id, **asdict(scored))
