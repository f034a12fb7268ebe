"""The alerts API: ``create_app`` wires the lifespan, the middleware and the routers."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import math
import multiprocessing
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from asyncpg.exceptions import _base as asyncpg_base
from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from autonama_alerts_api.deps import Metrics, State
from autonama_alerts_api.guards import BODY_LIMIT, SecurityHeaders
from autonama_alerts_api.middleware import MetricsMiddleware
from autonama_alerts_api.pages import CachedPagesMiddleware
from autonama_alerts_api.routes import ROUTERS
from autonama_alerts_api.routes.alerts import fast_alerts_page
from autonama_alerts_api.settings import Settings
from autonama_alerts_api.stream import Broadcaster, Seats
from autonama_shared import __version__
from autonama_shared.db.channels import alerts_channel, state_channel
from autonama_shared.db.pool import migrate_when_ready, open_pool
from autonama_shared.errors import AutonamaError, ConfigError
from autonama_shared.lifecycle import Stopped, retry_until_ready
from autonama_shared.messaging.kafka import make_producer, start_client
from autonama_shared.messaging.topics import Topics, ensure_pipeline_topics
from autonama_shared.settings import load_settings

__all__ = ["create_app"]

log = logging.getLogger("autonama.alerts_api")
RETRY_AFTER_SECONDS = 2


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float as its text (JSON has no NaN or Infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


STATIC = Path(__file__).parent / "static"


async def _start_producer(state: State, stop: asyncio.Event) -> None:
    """Kafka is needed only to request scans: connect in the background, retrying."""
    who = "alerts-api"
    try:
        await retry_until_ready(
            stop, who, lambda: ensure_pipeline_topics(state.settings.kafka, who)
        )
        await retry_until_ready(stop, who, lambda: start_client(state.producer))
    except Stopped:
        return
    except AutonamaError as e:
        log.error("scan requests are unavailable: %s", e)
        return
    state.producer_ready.set()


def _lifespan(
    settings: Settings,
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        # each process's connections named after it (pg_stat_activity: who holds what)
        name = f"autonama-alerts-api@{os.getpid()}"
        async with AsyncExitStack() as stack:
            # The schema must be current before reading it (the only writes the API makes,
            # on a connection of its own, before the read-only pool opens).
            with contextlib.suppress(Stopped):
                await migrate_when_ready(settings.postgres, stop, "alerts-api")
            pool, manage = await _open_pools(stack, settings, name, stop)
            state = State(
                settings,
                pool,
                await _start_broadcaster(stack, settings, pool, name),
                make_producer(settings.kafka, client_id="alerts-api"),
                asyncio.Event(),
                Topics.of(settings.kafka),
                Metrics.new(),
                manage,
                seats=Seats(settings.sse_max_clients, settings.sse_max_per_address),
            )
            _connect_producer_in_background(stack, state, stop)
            app.state.autonama = state
            _freeze_what_was_built()
            yield

    return lifespan


async def _open_pools(
    stack: AsyncExitStack, settings: Settings, name: str, stop: asyncio.Event
) -> tuple[asyncpg.Pool, asyncpg.Pool]:
    """The read-only pool of the pages, and the small one that manages subscriptions."""
    pg = settings.postgres
    pool = await stack.enter_async_context(
        open_pool(
            pg.model_copy(update={"max_pool_size": max(pg.max_pool_size, 20)}),
            application_name=name,
            read_only_role=settings.read_role,
            stop=stop,
        )
    )
    manage = await stack.enter_async_context(
        open_pool(
            pg,
            application_name=f"{name}-subscriptions",
            role=settings.subscriptions_role,
            max_size=2,
            stop=stop,
        )
    )
    return pool, manage


async def _start_broadcaster(
    stack: AsyncExitStack, settings: Settings, pool: asyncpg.Pool, name: str
) -> Broadcaster:
    """The LISTEN connection that feeds the stream and versions the cached pages."""
    pg = settings.postgres

    async def listen_connection() -> asyncpg.Connection:
        return await asyncpg.connect(
            host=pg.host,
            port=pg.port,
            user=pg.user,
            database=pg.database,
            password=pg.password.get_secret_value() or None,
            server_settings={"application_name": f"{name}-listen"},
        )

    broadcaster = Broadcaster(
        pool,
        listen_connection,
        alerts_channel(pg.db_schema),
        state_channel=state_channel(pg.db_schema),
        queue_size=settings.sse_queue_size,
        poll_seconds=settings.sse_poll_seconds,
    )
    await broadcaster.start()
    stack.push_async_callback(broadcaster.stop)
    return broadcaster


def _connect_producer_in_background(
    stack: AsyncExitStack, state: State, stop: asyncio.Event
) -> None:
    """Scan requests need Kafka; pages do not: the producer connects beside them."""

    async def stop_producer() -> None:
        if state.producer_ready.is_set():
            await state.producer.stop()

    stack.push_async_callback(stop_producer)
    starter = asyncio.create_task(_start_producer(state, stop))

    async def stop_starter() -> None:
        stop.set()
        starter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starter

    stack.push_async_callback(stop_starter)


def _freeze_what_was_built() -> None:
    """What was built to start (FastAPI's and pydantic's schemas, the modules: some 10^5
    objects) is never garbage: frozen, no full collection walks it again; and collections
    are rarer, as a thousand stream clients are some 150,000 live objects (full collections
    that walked them freed nothing and were the stream's worst pauses)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7_000, 20, 100)


def app_from_environment() -> FastAPI:
    """The app as the environment configures it (uvicorn's factory in each worker process)."""
    _die_with_parent()
    return create_app(load_settings(Settings))


def _die_with_parent() -> None:
    """A worker process is stopped (SIGTERM) when the process that started it dies, even by
    SIGKILL: an orphaned worker would keep the port, and the restarted API could not listen.
    Linux only (prctl PR_SET_PDEATHSIG); elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    started_by = multiprocessing.parent_process()  # uvicorn's supervisor (spawned workers)
    parent = started_by.pid if started_by is not None else os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before this worker asked: stop now
        os.kill(os.getpid(), signal.SIGTERM)


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Autonama alerts API",
        version=__version__,
        description="BUY and SELL alerts from polynomial-regression bands on Binance spot "
        "markets: current and past alerts, a live stream, scans and charts.",
        lifespan=_lifespan(settings),
        docs_url=None,  # served by routes/dashboard.py from vendored assets (no CDN)
        redoc_url=None,
        max_body_size=BODY_LIMIT,  # 413 before a body is parsed or a token checked
    )
    # inside the metrics: cached pages count too
    app.add_middleware(CachedPagesMiddleware, fast={"/v1/alerts": fast_alerts_page})
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.hosts())
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )

    @app.exception_handler(ConfigError)
    async def config_error(_: Request, e: ConfigError) -> JSONResponse:
        detail = [{"loc": ["body"], "msg": str(e), "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, e: RequestValidationError) -> JSONResponse:
        # FastAPI's shape, with every value JSON can carry (NaN, Infinity and 1e400 as text).
        return JSONResponse({"detail": _json_safe(jsonable_encoder(e.errors()))}, status_code=422)

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.InterfaceError)
    # a connection the server ended mid-operation leaves asyncpg's client in a broken state
    # ("cannot switch to state 11"): the connection's fault, as in the fault model
    @app.exception_handler(asyncpg_base.InternalClientError)
    @app.exception_handler(asyncpg.OperatorInterventionError)
    @app.exception_handler(asyncpg.TooManyConnectionsError)
    @app.exception_handler(ConnectionError)
    async def database_away(_: Request, e: Exception) -> JSONResponse:
        log.warning("database unavailable: %s: %s", type(e).__name__, e)
        return JSONResponse(
            {"detail": "the database is unavailable (restarting?); try again shortly"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        response = await http_exception_handler(request, e)
        if e.status_code == 405:  # say which methods the path takes
            methods = {
                m
                for r in app.routes
                if isinstance(r, APIRoute) and r.path_regex.match(request.url.path)
                for m in (r.methods or ())
            }
            response.headers["Allow"] = ", ".join(sorted(methods))
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app
