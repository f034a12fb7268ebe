"""Health, readiness and metrics."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from autonama_alerts_api.auth import READ_ERRORS, ReadAccess
from autonama_alerts_api.deps import State, StateDep
from autonama_alerts_api.queries.status import worker_states
from autonama_shared.errors import TemporaryError
from autonama_shared.messaging.dead_letters import count_letters

router = APIRouter(tags=["operations"])
READY_EXAMPLE = {
    "status": "ready",
    "stream.broadcaster": "ok",
    "stream.market": "ok",
    "stream.listen": "ok",
    "database": "ok",
    "ingestor-1.consumer": "ok",
    "ingestor.drop-folder": "ok",
    "kafka": "ok",
    "dead_letters": "none",
}
NOT_READY_EXAMPLE = {**READY_EXAMPLE, "status": "not ready", "kafka": "not connected yet"}
METRICS_EXAMPLE = (
    "# HELP autonama_http_requests_total HTTP requests\n"
    "# TYPE autonama_http_requests_total counter\n"
    'autonama_http_requests_total{method="GET",route="/v1/alerts",status="200"} 1234.0\n'
)


@router.get(
    "/healthz",
    summary="Liveness",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def healthz() -> dict[str, str]:
    """The process is up and answers; it checks nothing else (see `/readyz`). For a
    supervisor's liveness probe."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness",
    responses={
        200: {"content": {"application/json": {"example": READY_EXAMPLE}}},
        503: {
            "description": "Something is not ready: each check says what",
            "content": {"application/json": {"example": NOT_READY_EXAMPLE}},
        },
    },
)
async def readyz(state: StateDep) -> JSONResponse:
    """The database and the broker are reachable, the stream's tasks and LISTEN connection
    are up, and every part the workers report (each consumer loop, its background tasks,
    the ingestor's drop-folder watcher) is running: a loop retrying an outage says
    `retrying: ...`, one whose circuit opened `circuit open: ...`. Each check is `ok` or says
    what is wrong; 503 until every one is `ok`."""
    checks: dict[str, str] = dict(state.broadcaster.health())
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
    # what was set aside is for an operator to see; the API serves whatever the count
    waiting = await count_dead_letters(state)
    checks["dead_letters"] = (
        "unknown"
        if waiting is None
        else "none"
        if waiting == 0
        else f"{waiting} set aside: autonama dlq list"
    )
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **checks},
        status_code=200 if ready else 503,
    )


#: How long a count of the dead letters stands (it asks the broker and the database).
DEAD_LETTERS_SECONDS = 10.0


async def count_dead_letters(state: State) -> int | None:
    """The dead letters not replayed yet (the topic's letters less those replayed), counted
    at most every ``DEAD_LETTERS_SECONDS``; None while the broker or database cannot say."""
    count, at = state.dead_letters
    if time.monotonic() - at < DEAD_LETTERS_SECONDS:
        return count
    try:
        letters = await asyncio.wait_for(count_letters(state.settings.kafka), 3.0)
        replayed = await state.pool.fetchval("SELECT count(*) FROM dead_letter_replays")
        count = max(0, letters - int(replayed))
    except (TemporaryError, TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        count = None
    state.dead_letters = (count, time.monotonic())
    if count is not None:
        state.metrics.dead_letters.set(count)
    return count


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={
        200: {"content": {"text/plain": {"example": METRICS_EXAMPLE}}},
        **READ_ERRORS,
    },
    dependencies=[ReadAccess],
)
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics in the text exposition format: request counts and latencies per
    route, stream clients, alerts sent. Scrape it with Prometheus; under `auth all` the
    scraper needs a read token."""
    await count_dead_letters(state)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
