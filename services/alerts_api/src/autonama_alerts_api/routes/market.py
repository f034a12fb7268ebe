"""The market watch: the current signal of every key, HOLD included; a signal's window."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from autonama_alerts_api.auth import READ_ERRORS, ReadAccess
from autonama_alerts_api.deps import IdPath, IntervalQ, StateDep, invalid
from autonama_alerts_api.models.common import Problem
from autonama_alerts_api.models.market import BandSeries, MarketPage
from autonama_alerts_api.pages import serve_page
from autonama_alerts_api.queries.market import MarketCursor, market
from autonama_alerts_api.queries.windows import pruned, signal_window

router = APIRouter(tags=["market"], responses=READ_ERRORS, dependencies=[ReadAccess])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}


@router.get(
    "/v1/market",
    response_model=MarketPage,
    summary="Market watch: every key's current signal",
    responses={304: {"description": "Not modified since the ETag sent"}},
)
async def market_watch(
    state: StateDep,
    request: Request,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=20,
            pattern=r"^[A-Za-z0-9]+$",
            description="Symbols containing this text, e.g. BTC",
        ),
    ] = None,
    interval: IntervalQ = None,
    signal: Annotated[Literal["BUY", "SELL", "HOLD"] | None, Query()] = None,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=300, pattern=r"^[A-Za-z0-9_-]+$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Keys per page")] = 200,
) -> Response:
    """Every key's current signal (symbol, interval, degree, kstd, price scale, days), HOLD
    included, in key order so that a symbol's parameter sets stand together: price, bands,
    distance to the nearer band in sigmas, potential and target return, the candle's close
    and when it turns stale, the last closes for a sparkline. `keys` and `counts` cover every
    key whatever the filters. Example: `GET /v1/market?q=BTC&interval=1d`."""
    after = None
    if cursor is not None:
        try:
            after = MarketCursor.decode(cursor)
        except ValueError as e:
            raise invalid("cursor", str(e)) from e

    async def build() -> bytes:
        items, nxt, counts = await market(
            state.pool,
            search=q.upper() if q else None,
            interval=interval,
            signal=signal,
            limit=limit,
            cursor=after,
        )
        page = MarketPage(
            items=items,
            keys=sum(counts.values()),
            counts={s: counts.get(s, 0) for s in ("BUY", "SELL", "HOLD")},
            next_cursor=nxt.encode() if nxt else None,
        )
        return page.model_dump_json().encode()

    return await serve_page(state, request, build)


@router.get(
    "/v1/signals/{signal_id}/bands",
    response_model=BandSeries,
    summary="One signal's window: candles, fit and bands",
    responses={**NOT_FOUND, 410: {"model": Problem, "description": "Pruned by retention"}},
)
async def signal_bands(state: StateDep, signal_id: IdPath) -> BandSeries:
    """The stored window of one signal (a market-watch row, an alert's signal): candles, fit
    and bands as that fit drew them, with the key's alerts within the window. Signal ids come
    from `/v1/market` rows (`signal_id`) and alerts (`signal_id`). A live close is stored
    without its window (only a key's first signal and the changes of its signal carry
    one): the newest window of its key before it is answered, then its `trail`, the key's
    closes since up to this one, each with the bands its own fit drew at it. 404 when the
    key has none (results files without windows); 410 when retention has dropped the
    signal (its alert and the market watch keep its numbers)."""
    found = await signal_window(state.pool, signal_id)
    if found is not None:
        return found
    interval = await pruned(state.pool, signal_id)
    if interval is not None:
        raise HTTPException(
            410,
            f"signal {signal_id} ({interval}) is older than its interval's retention and was "
            "pruned; its alert and the market watch keep its numbers",
        )
    raise HTTPException(404, f"no stored window for signal {signal_id}")
