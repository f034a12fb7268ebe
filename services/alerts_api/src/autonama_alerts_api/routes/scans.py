"""Scans (request one, follow it, list them) and the ingestion of offline results files."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from autonama_alerts_api.auth import READ_ERRORS, WRITE_ERRORS, ReadAccess, WriteAccess
from autonama_alerts_api.deps import StateDep, invalid, publish, universe_size
from autonama_alerts_api.models.common import Problem
from autonama_alerts_api.models.runs import Ingestion, Scan, ScanAccepted, ScanRequestBody
from autonama_alerts_api.queries.runs import recent_ingestions, recent_scans, scan_by_id

router = APIRouter(tags=["scans"], responses=READ_ERRORS, dependencies=[ReadAccess])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
RecentQ = Annotated[int, Query(ge=1, le=500)]


@router.post(
    "/v1/scans",
    status_code=202,
    response_model=ScanAccepted,
    summary="Request a scan",
    responses={
        400: {"model": Problem, "description": "The body is not JSON"},
        503: {"model": Problem},
        **WRITE_ERRORS,
    },
    dependencies=[WriteAccess],
)
async def request_scan(state: StateDep, body: ScanRequestBody, response: Response) -> ScanAccepted:
    """Publish a scan request for the fetcher: a list of symbols or the top N by volume, an
    interval, a window in days and the band parameters, validated like `autonama scan`. The
    scan runs in the pipeline; follow it at the `Location` (`GET /v1/scans/{scan_id}`).
    Needs the write scope when tokens are configured; a scan larger than the candle budget
    is refused with 422."""
    scan = body.event()
    candles = universe_size(scan.symbols, scan.top) * scan.params.window
    if candles > state.settings.max_scan_candles:
        raise invalid(
            "budget",
            f"this scan would fit {candles:,} candles (symbols x window), over the budget of "
            f"{state.settings.max_scan_candles:,} (AUTONAMA_ALERTS_API_MAX_SCAN_CANDLES)",
            where="body",
        )
    await publish(state, scan, scan.scan_id, "scan")
    url = f"/v1/scans/{scan.scan_id}"
    response.headers["Location"] = url
    return ScanAccepted(scan_id=scan.scan_id, status_url=url)


@router.get("/v1/scans", response_model=list[Scan], summary="Recent scans")
async def scans(state: StateDep, limit: RecentQ = 20) -> list[Scan]:
    """The most recent scans, newest first: where each came from (api, cli, schedule,
    file), its parameters, progress and outcome. Example: `GET /v1/scans?limit=5`."""
    return await recent_scans(state.pool, limit)


@router.get("/v1/scans/{scan_id}", response_model=Scan, summary="One scan", responses=NOT_FOUND)
async def scan(state: StateDep, scan_id: uuid.UUID) -> Scan:
    """One scan's progress: symbols expected, done and failed, and each failed symbol with
    its reason. 404 until the scan request has been recorded by the ingestor."""
    found = await scan_by_id(state.pool, scan_id)
    if found is None:
        raise HTTPException(404, f"scan {scan_id} is not known (yet)")
    return found


@router.get(
    "/v1/ingestion/status",
    tags=["ingestion"],
    response_model=list[Ingestion],
    summary="Recent results-file ingestions",
)
async def ingestion_status(state: StateDep, limit: RecentQ = 20) -> list[Ingestion]:
    """The results files (`autonama scan` output dropped in the ingestor's folder) most
    recently seen, newest first: ingested, duplicate (the same bytes again) or rejected with
    the reason (the file is moved to `rejected/`)."""
    return await recent_ingestions(state.pool, limit)
