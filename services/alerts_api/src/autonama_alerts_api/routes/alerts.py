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


@router.get("", response_model=AlertPage)
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
    """Alerts, filtered and sorted, one page at a time (stable order, cursor pagination)."""
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


@router.get("/summary", response_model=Summary)
async def summary(state: StateDep, request: Request) -> Response:
    """Counts of current alerts, the strongest BUY and SELL, and the last finished scan."""

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


@router.get("/top-buy", response_model=list[Alert])
async def top_buy(state: StateDep, request: Request, limit: LimitQ = 10) -> Response:
    """The strongest current BUY alerts by potential return."""
    build = partial(_top, state, "BUY", limit)
    return await serve_page(state, request, build)


@router.get("/top-sell", response_model=list[Alert])
async def top_sell(state: StateDep, request: Request, limit: LimitQ = 10) -> Response:
    """The strongest current SELL alerts by potential return."""
    build = partial(_top, state, "SELL", limit)
    return await serve_page(state, request, build)
