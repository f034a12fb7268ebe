"""Alerts: filtered and sorted pages, the summary, the strongest current ones."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

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
from autonama_alerts_api.queries import (
    AlertFilter,
    Cursor,
    Sort,
    list_alerts,
    state_version,
    summary_rows,
)

router = APIRouter(
    prefix="/v1/alerts",
    tags=["alerts"],
    responses={**READ_ERRORS, 304: {"description": "Not modified since the ETag sent"}},
    dependencies=[ReadAccess],
)


async def not_modified(state: StateDep, request: Request, response: Response) -> Response | None:
    """Conditional GET: the page's ETag is the state it was read from and its query; a
    client that sends it back (If-None-Match) gets 304 without the page being read."""
    version = await state_version(state.pool)
    query = hashlib.sha1(str(request.url.include_query_params()).encode()).hexdigest()[:12]  # noqa: S324
    etag = f'W/"{version}-{query}"'
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return None


CursorQ = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("", response_model=AlertPage)
async def alerts(
    state: StateDep,
    request: Request,
    response: Response,
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
) -> AlertPage:
    """Alerts, filtered and sorted, one page at a time (stable order, cursor pagination)."""
    if (unchanged := await not_modified(state, request, response)) is not None:
        return unchanged  # type: ignore[return-value]
    after = None
    if cursor is not None:
        try:
            after = Cursor.decode(cursor)
        except ValueError as e:
            raise invalid("cursor", str(e)) from e
        if after.sort != sort:
            raise invalid("cursor", "it belongs to another sort order")
    items, nxt = await list_alerts(
        state.pool,
        alert_filter(signal, symbol, interval, min_potential_return, since),
        latest=latest,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        cursor=after,
    )
    return AlertPage(items=items, next_cursor=nxt.encode() if nxt else None)


@router.get("/summary", response_model=Summary)
async def summary(state: StateDep, request: Request, response: Response) -> Summary:
    """Counts of current alerts, the strongest BUY and SELL, and the last finished scan."""
    if (unchanged := await not_modified(state, request, response)) is not None:
        return unchanged  # type: ignore[return-value]
    return Summary(**await summary_rows(state.pool))


async def _top(state: StateDep, signal: Literal["BUY", "SELL"], limit: int) -> list[Alert]:
    items, _ = await list_alerts(
        state.pool,
        AlertFilter(signal=signal),
        latest=True,
        sort="potential_return",
        descending=True,
        limit=limit,
        cursor=None,
    )
    return items


@router.get("/top-buy", response_model=list[Alert])
async def top_buy(
    state: StateDep, request: Request, response: Response, limit: LimitQ = 10
) -> list[Alert]:
    """The strongest current BUY alerts by potential return."""
    if (unchanged := await not_modified(state, request, response)) is not None:
        return unchanged  # type: ignore[return-value]
    return await _top(state, "BUY", limit)


@router.get("/top-sell", response_model=list[Alert])
async def top_sell(
    state: StateDep, request: Request, response: Response, limit: LimitQ = 10
) -> list[Alert]:
    """The strongest current SELL alerts by potential return."""
    if (unchanged := await not_modified(state, request, response)) is not None:
        return unchanged  # type: ignore[return-value]
    return await _top(state, "SELL", limit)
