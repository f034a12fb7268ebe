"""A symbol's stored band series, as data and as a PNG chart."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from autonama_alerts_api.auth import READ_ERRORS, ReadAccess
from autonama_alerts_api.deps import StateDep, SymbolPath
from autonama_alerts_api.models.common import PNG, Problem
from autonama_alerts_api.models.market import BandSeries
from autonama_alerts_api.queries.windows import band_series
from autonama_shared.engine.intervals import IntervalName

router = APIRouter(
    prefix="/v1/symbols", tags=["symbols"], responses=READ_ERRORS, dependencies=[ReadAccess]
)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
IntervalOf = Annotated[IntervalName, Query()]


async def _series(state: StateDep, symbol: str, interval: str) -> BandSeries:
    found = await band_series(state.pool, symbol.upper(), interval)
    if found is None:
        raise HTTPException(404, f"no stored {interval} bands for symbol {symbol.upper()}")
    return found


@router.get(
    "/{symbol}/bands",
    response_model=BandSeries,
    summary="A symbol's latest window at an interval",
    responses=NOT_FOUND,
)
async def bands(state: StateDep, symbol: SymbolPath, interval: IntervalOf = "1d") -> BandSeries:
    """The stored window of the symbol's latest signal at `interval`, whatever its
    parameters. When one symbol is scanned with several parameter sets, read a given row's
    window with `/v1/signals/{signal_id}/bands` instead."""
    return await _series(state, symbol, interval)


@router.get(
    "/{symbol}/chart.png",
    response_class=Response,
    summary="A symbol's latest window as a PNG chart",
    responses={200: PNG, **NOT_FOUND},
)
async def chart(state: StateDep, symbol: SymbolPath, interval: IntervalOf = "1d") -> Response:
    """The same window drawn as a PNG: closes, fit, bands, and the alerts that fired, the
    parameters in the title. Example: `GET /v1/symbols/BTCUSDT/chart.png?interval=1d`."""
    from autonama_shared.formats.plotting import (  # matplotlib: on first use
        band_chart_png,
        window_notes,
    )

    b = await _series(state, symbol, interval)
    title = (
        f"{b.symbol} {b.interval} (degree {b.degree}, kstd {b.kstd:g}, {b.days} days, "
        f"{b.price_scale}): {b.signal}, "
        f"potential {b.potential_return:.2f}%"
    )
    markers = [(int(a.last_candle_time.timestamp() * 1000), a.price, a.signal) for a in b.alerts]
    png = await asyncio.to_thread(
        partial(
            band_chart_png,
            log_scale=b.price_scale == "log",
            notes=window_notes(b.lower_series, len(b.close), len(b.close), partial=False),
        ),
        title,
        b.open_time,
        b.close,
        b.fit_series,
        b.lower_series,
        b.upper_series,
        b.signal,
        markers,
    )
    return Response(png, media_type="image/png")
