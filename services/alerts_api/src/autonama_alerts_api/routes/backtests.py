"""Backtests through the pipeline: request one, list them, read one and its equity chart."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from autonama_alerts_api.auth import READ_ERRORS, WRITE_ERRORS, ReadAccess, WriteAccess
from autonama_alerts_api.deps import SYMBOL, StateDep, invalid, publish, universe_size
from autonama_alerts_api.models.common import PNG, Problem
from autonama_alerts_api.models.runs import Backtest, BacktestAccepted, BacktestRequestBody
from autonama_alerts_api.queries.runs import backtest_by_id, backtest_equity, recent_backtests
from autonama_shared.formats.report import SymbolBacktest

router = APIRouter(
    prefix="/v1/backtests", tags=["backtests"], responses=READ_ERRORS, dependencies=[ReadAccess]
)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}


@router.post(
    "",
    status_code=202,
    response_model=BacktestAccepted,
    summary="Request a backtest",
    responses={
        400: {"model": Problem, "description": "The body is not JSON"},
        503: {"model": Problem},
        **WRITE_ERRORS,
    },
    dependencies=[WriteAccess],
)
async def request_backtest(
    state: StateDep, body: BacktestRequestBody, response: Response
) -> BacktestAccepted:
    """Publish a backtest request (validated like `autonama backtest`): the fetcher loads
    the history, the analyzer pool trades it, the ingestor stores the results. Follow it at
    the `Location`. Needs the write scope when tokens are configured; more work than the
    budget (symbols x combinations x history) is refused with 422."""
    event = body.event()
    spec = event.params.spec()
    work = universe_size(event.symbols, event.top) * spec.combinations * spec.history
    if work > state.settings.max_backtest_work:
        raise invalid(
            "budget",
            f"this backtest would be {work:,} bar-combinations (symbols x combinations x "
            f"history), over the budget of {state.settings.max_backtest_work:,} "
            "(AUTONAMA_ALERTS_API_MAX_BACKTEST_WORK)",
            where="body",
        )
    await publish(state, event, event.backtest_id, "backtest")
    url = f"/v1/backtests/{event.backtest_id}"
    response.headers["Location"] = url
    return BacktestAccepted(backtest_id=event.backtest_id, status_url=url)


@router.get("", response_model=list[Backtest], summary="Recent backtests")
async def backtests(
    state: StateDep, limit: Annotated[int, Query(ge=1, le=500)] = 20
) -> list[Backtest]:
    """The most recent backtests, newest first, with parameters and progress but without
    their per-symbol results (read one for those). Example: `GET /v1/backtests?limit=5`."""
    return await recent_backtests(state.pool, limit)


@router.get("/{backtest_id}", response_model=Backtest, summary="One backtest", responses=NOT_FOUND)
async def backtest(state: StateDep, backtest_id: uuid.UUID) -> Backtest:
    """One backtest: parameters, progress, and per symbol the chosen parameters, their
    metrics in and out of sample beside buy and hold, every combination (the heatmap), the
    trades and the equity curve."""
    found = await backtest_by_id(state.pool, backtest_id)
    if found is None:
        raise HTTPException(404, f"backtest {backtest_id} is not known (yet)")
    return found


@router.get(
    "/{backtest_id}/equity.png",
    response_class=Response,
    summary="A symbol's equity chart",
    responses={200: PNG, **NOT_FOUND},
)
async def equity_chart(
    state: StateDep, backtest_id: uuid.UUID, symbol: Annotated[str, Query(pattern=SYMBOL)]
) -> Response:
    """The reported run's equity against buy and hold as a PNG, entries and exits marked,
    saying whether it is out of sample, walk-forward or in sample.
    Example: `GET /v1/backtests/{id}/equity.png?symbol=BTCUSDT`."""
    from autonama_shared.formats.plotting import equity_chart_png  # matplotlib: on first use

    row = await backtest_equity(state.pool, backtest_id, symbol.upper())
    if row is None or row["equity"] is None:
        raise HTTPException(404, f"no equity curve for {symbol.upper()} in {backtest_id}")
    result = SymbolBacktest.model_validate_json(row["result"])
    times = list(row["equity_time"])
    index = {t: i for i, t in enumerate(times)}
    entries = [index[t.entry_time] for t in result.trades if t.entry_time in index]
    exits = [index[t.exit_time] for t in result.trades if t.exit_time in index]
    shown = result.out_of_sample or result.chosen
    title = f"{result.symbol}: backtest {str(backtest_id)[:8]}"
    if shown is not None:
        title += f", degree {shown.degree}, kstd {shown.kstd:g}, window {shown.window}"
    where = (
        "out of sample: the held-out bars after the ones the parameters were chosen on"
        if result.out_of_sample is not None
        else "walk-forward: the test parts chained"
        if result.folds
        else "in sample: chosen and traded on the same bars"
    )
    png = await asyncio.to_thread(
        partial(equity_chart_png, notes=[where]),
        title,
        times,
        row["equity"],
        row["hold_equity"],
        entries,
        exits,
    )
    return Response(png, media_type="image/png")
