"""Watches: what the live market follows (the fetcher reads them within seconds). Every
operation needs a write token: a watch costs Binance weight and analysis."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import ConfigDict, Field

from autonama_alerts_api.auth import WRITE_ERRORS, ManageAccess
from autonama_alerts_api.deps import IdPath, StateDep
from autonama_alerts_api.models.common import Problem
from autonama_alerts_api.routes.subscriptions import NOT_JSON, manage_connection
from autonama_shared.db import watches as db
from autonama_shared.db.watches import WatchView
from autonama_shared.sources.watches import WatchSpec

router = APIRouter(
    prefix="/v1/watches",
    tags=["watches"],
    responses={
        **{k: v for k, v in WRITE_ERRORS.items() if k != 429},
        503: {"model": Problem, "description": "The database is unreachable"},
    },
    dependencies=[ManageAccess],
)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}


class WatchBody(WatchSpec):
    """A watch to store: a name, a universe, intervals and parameter sets."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "majors every minute", "symbols": ["BTCUSDT", "ETHUSDT"]},
                {"name": "top 100, 15m", "top": 100, "intervals": ["15m"]},
            ]
        }
    )

    name: str = Field(min_length=1, max_length=200)

    def spec(self) -> WatchSpec:
        return WatchSpec.model_validate(self.model_dump(exclude={"name"}))


@router.post(
    "",
    status_code=201,
    response_model=WatchView,
    summary="Follow more of the market live",
    responses=NOT_JSON,
)
async def create(state: StateDep, body: WatchBody, response: Response) -> WatchView:
    """Store a watch: a universe (`symbols`, `top` N by quote volume, or `all` TRADING USDT
    pairs but stablecoins; the core movers when none is given), `intervals` (1m ... 1d) and
    parameter sets (`degree`, `kstd`, `days`, `price_scale`). The fetcher follows it within
    seconds: every closed candle is analysed and, when it changes a signal, alerted."""
    async with manage_connection(state) as conn:
        created = await db.create_watch(conn, body.name, body.spec())
    response.headers["Location"] = f"/v1/watches/{created.id}"
    return created


@router.get("", response_model=list[WatchView], summary="List the watches")
async def list_all(state: StateDep) -> list[WatchView]:
    """The stored watches, oldest first (the default watch of the settings, when enabled,
    is followed besides them and not listed here)."""
    async with manage_connection(state) as conn:
        return await db.list_watches(conn)


@router.delete(
    "/{watch_id}",
    status_code=204,
    response_class=Response,
    summary="Stop following a watch",
    responses={204: {"description": "Deleted"}, **NOT_FOUND},
)
async def delete(state: StateDep, watch_id: IdPath) -> Response:
    """Delete a watch: within seconds the fetcher no longer follows what only it asked for
    (streams other watches share go on). 404 if there is no such watch."""
    async with manage_connection(state) as conn:
        if not await db.delete_watch(conn, watch_id):
            raise HTTPException(404, f"watch {watch_id} does not exist")
    return Response(status_code=204)
