"""Health, readiness and metrics."""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from autonama_alerts_api.auth import READ_ERRORS, ReadAccess
from autonama_alerts_api.deps import StateDep
from autonama_alerts_api.models import Problem
from autonama_alerts_api.queries import worker_states

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": Problem}})
async def readyz(state: StateDep) -> JSONResponse:
    """The database and the broker are reachable, and the workers' parts that report
    themselves (the ingestor's drop-folder watcher) are running."""
    checks: dict[str, str] = {}
    try:
        checks |= {"database": "ok", **await asyncio.wait_for(worker_states(state.pool), 2.0)}
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        checks["database"] = f"unreachable: {e}"
    if not state.producer_ready.is_set():
        checks["kafka"] = "not connected yet"
    else:
        try:
            ok = await asyncio.wait_for(state.producer.client.force_metadata_update(), 2.0)
            checks["kafka"] = "ok" if ok else "unreachable"
        except (KafkaError, TimeoutError) as e:
            checks["kafka"] = f"unreachable: {e}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", response_class=Response, responses=READ_ERRORS, dependencies=[ReadAccess])
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics: request counts and latencies, stream clients, alerts sent."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
