"""Alerts: filtered and sorted pages, the summary, the strongest current ones."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter

from autonama_alerts_api.auth import READ_ERRORS, ReadAccess
from autonama_alerts_api.deps import (
    IntervalQ,
    LimitQ,
    MinPotentialQ,
    SignalQ,
    SinceQ,
    StateDep,
    SymbolQ,
    alert_filter,
    invalid,
)
from autonama_alerts_api.models import Alert, AlertPage, Summary
from autonama_alerts_api.pages import serve_page
from autonama_alerts_api.queries import (
    AlertFilter,
    Cursor,
    Sort,
    list_alerts,
    summary_rows,
)

router = APIRouter(
    prefix="/v1/alerts",
    tags=["alerts"],
    responses={**READ_ERRORS, 304: {"description": "Not modified since the ETag sent"}},
    dependencies=[ReadAccess],
)


ALERTS = TypeAdapter(list[Alert])
CursorQ = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("", response_model=AlertPage, summary="List alerts")
async def alerts(
    state: StateDep,
    request: Request,
    signal: SignalQ = None,
    symbol: SymbolQ = None,
    interval: IntervalQ = None,
    min_potential_return: MinPotentialQ = None,
    since: SinceQ = None,
    latest: Annotated[bool, Query(description="Only the current alert per key")] = True,
    sort: Annotated[Sort, Query()] = "potential_return",
    order: Annotated[Literal["desc", "asc"], Query()] = "desc",
    cursor: CursorQ = None,
    limit: LimitQ = 50,
) -> Response:
    """Alerts, filtered and sorted, one page at a time. With `latest` (the default) only the
    current alert of each key (symbol, interval, degree, kstd, price scale, days) is listed;
    `latest=false` lists the history, ended alerts included. The order is stable: pass
    `next_cursor` as `cursor` for the next page (a cursor belongs to its sort). Pages carry
    an ETag; send it back as `If-None-Match` and the answer is 304 until a new alert lands.

    Example: `GET /v1/alerts?signal=BUY&min_potential_return=10&limit=20`."""
    after = None
    if cursor is not None:
        try:
            after = Cursor.decode(cursor)
        except ValueError as e:
            raise invalid("cursor", str(e)) from e
        if after.sort != sort:
            raise invalid("cursor", "it belongs to another sort order")
    filters = alert_filter(signal, symbol, interval, min_potential_return, since)

    async def build() -> bytes:
        items, nxt = await list_alerts(
            state.pool,
            filters,
            latest=latest,
            sort=sort,
            descending=order == "desc",
            limit=limit,
            cursor=after,
        )
        page = AlertPage(items=items, next_cursor=nxt.encode() if nxt else None)
        return page.model_dump_json().encode()

    return await serve_page(state, request, build)


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
    return ALERTS.dump_json(items)


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
