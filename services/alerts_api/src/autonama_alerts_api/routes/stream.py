"""The live stream of alerts (server-sent events), resumable by ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from autonama_alerts_api.auth import READ_ERRORS, ReadAccess, StreamAccess
from autonama_alerts_api.deps import (
    MAX_ID,
    IntervalQ,
    MinPotentialQ,
    SignalQ,
    State,
    StateDep,
    SymbolQ,
    alert_filter,
    alert_id,
    invalid,
)
from autonama_alerts_api.limits import TICKET_SECONDS, issue_ticket
from autonama_alerts_api.queries.alerts import alerts_after
from autonama_alerts_api.stream import Client, sse_event

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=READ_ERRORS)

_CATCH_UP_PAGE = 500
#: Alert ids one catch-up query looks through (an index range: its cost is bounded even
#: when the filter matches nothing), and per connection before the client is asked to
#: come back (its EventSource reconnects with Last-Event-ID where the catch-up stopped).
CATCH_UP_WINDOW = 5_000
CATCH_UP_BUDGET = 100_000


class StreamTicket(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"needed": True, "ticket": "tkt_3q2x...", "expires_in": 30},
                {"needed": False, "ticket": None, "expires_in": None},
            ]
        }
    )

    needed: bool
    ticket: str | None
    expires_in: int | None


@router.post(
    "/stream/ticket",
    response_model=StreamTicket,
    summary="A single-use ticket that opens one stream",
    dependencies=[ReadAccess],
)
async def ticket(state: StateDep) -> StreamTicket:
    """When reads need a token (`AUTONAMA_ALERTS_API_AUTH=all`), a browser's EventSource
    cannot send it: ask for a ticket here (with the token in the Authorization header) and
    open `/v1/alerts/stream?ticket=...` within 30 s. A ticket opens one stream, once; the
    token itself never travels in a URL. When reads are open, no ticket is needed (and
    none is made): `needed` is false."""
    if state.settings.auth != "all":
        return StreamTicket(needed=False, ticket=None, expires_in=None)
    return StreamTicket(
        needed=True, ticket=await issue_ticket(state, "read"), expires_in=TICKET_SECONDS
    )


SSE_EXAMPLE = (
    "id: 43\nevent: alert\n"
    'data: {"id": 43, "signal_id": 1210, "symbol": "ETHUSDT", "interval": "1d", "degree": 4, '
    '"kstd": 2.0, "price_scale": "linear", "days": 720, "signal": "HOLD", '
    '"previous_signal": "SELL", "reason": "ended", "price": 3120.5, "lower": 2890.1, '
    '"upper": 3402.7, "fit": 3146.4, "potential_return": 17.74, "target_return": 0.83, '
    '"last_candle_time": "2026-03-15T00:00:00Z", "created_at": "2026-03-16T00:00:07Z", '
    '"scan_id": "0b0e7f9c-6c55-4b0f-9a43-2f3c1e8d7a10"}\n\n'
    ": keep-alive\n\n"
)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    summary="Live stream of new alerts (server-sent events)",
    dependencies=[StreamAccess],
    responses={
        429: {"description": "Too many open streams from this address (see Retry-After)"},
        503: {"description": "No stream left to open on this process (see Retry-After)"},
        200: {
            "content": {"text/event-stream": {"example": SSE_EXAMPLE}},
            "description": "Server-sent events: `id` is the alert id, `event` is `alert`, "
            "`data` the alert as `GET /v1/alerts` serves it (an `ended` one included); "
            'with `market=true` also `event: market` (`data: {"version": n}`, no id) '
            "when the current state changed; `: keep-alive` comments while nothing happens",
        },
    },
)
async def stream(
    request: Request,
    state: StateDep,
    signal: SignalQ = None,
    symbol: SymbolQ = None,
    interval: IntervalQ = None,
    min_potential_return: MinPotentialQ = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Resume after this alert id")
    ] = None,
    market: Annotated[
        bool,
        Query(
            description="Also `market` events: the current state changed (a close stored, "
            "HOLD included), at most four a second; re-read `/v1/market`"
        ),
    ] = False,
) -> StreamingResponse:
    """New alerts as they are committed. Reconnect with `Last-Event-ID` (or `after`) to
    receive every alert missed, in order, then live ones. The filters are those of
    `GET /v1/alerts`. A client too slow to read is dropped (it reconnects and resumes).
    With `market=true`, what follows the market watch live (the dashboard) also hears
    of every change of the current state, HOLD closes included. A catch-up from far back
    is served in parts: the stream ends after 100,000 alert ids and the client resumes from
    where it stopped (EventSource does this by itself). When reads need a token, open it
    with a `ticket` (`POST /v1/alerts/stream/ticket`).
    Example: `curl -N /v1/alerts/stream?signal=BUY` or `new EventSource(...)` in a browser."""
    filters = alert_filter(signal, symbol, interval, min_potential_return, None)
    resume = after
    if last_event_id is not None:
        resume = alert_id(last_event_id)
        if resume is None:
            raise invalid(
                "Last-Event-ID", f"must be an alert id from 0 to {MAX_ID}", where="header"
            )
    address = request.client.host if request.client else "unknown"
    state.seats.take(address)
    try:
        client, seen = state.broadcaster.subscribe(filters, market=market)
    except BaseException:
        state.seats.give_back(address)
        raise
    return StreamingResponse(
        _events(state, client, seen if resume is None else resume, seen, address),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    state: State, client: Client, after: int, newest: int, address: str
) -> AsyncIterator[str]:
    """The stream of one client: missed alerts from the database (at most
    ``CATCH_UP_BUDGET`` ids of them per connection), then live ones."""
    metrics, broadcaster = state.metrics, state.broadcaster
    metrics.sse_clients.inc()
    sent = cursor = after
    try:
        yield "retry: 2000\n\n"
        while cursor < newest:  # what was committed before (or while) it subscribed
            if cursor - after >= CATCH_UP_BUDGET:
                # come back from here: an id with no data moves the client's Last-Event-ID
                yield f"id: {cursor}\n\n"
                return
            upper = min(cursor + CATCH_UP_WINDOW, newest)
            missed = await alerts_after(
                state.pool, client.filters, cursor, _CATCH_UP_PAGE, upto=upper
            )
            for alert in missed:
                yield sse_event(alert)
                metrics.alerts_sent.inc()
                sent = alert.id
            cursor = missed[-1].id if len(missed) == _CATCH_UP_PAGE else upper
        heartbeat = state.settings.sse_heartbeat_seconds
        while not client.dropped.is_set():
            try:
                async with asyncio.timeout(heartbeat):  # no task per wait, as wait_for makes
                    ident, text = await client.queue.get()
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if ident is None:  # a market event
                yield text
                continue
            if ident <= sent:
                continue  # already sent from the database
            yield text
            metrics.alerts_sent.inc()
            sent = ident
    finally:
        broadcaster.unsubscribe(client)
        state.seats.give_back(address)
        metrics.sse_clients.dec()
