"""The alerts API: FastAPI routes over the stored signals, alerts and scans."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path as PathLib
from typing import Annotated, Any, Literal

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from autonama_alerts_api.models import (
    Alert,
    AlertPage,
    Backtest,
    BacktestAccepted,
    BacktestRequestBody,
    BandSeries,
    Ingestion,
    Problem,
    Scan,
    ScanAccepted,
    ScanRequestBody,
    Summary,
)
from autonama_alerts_api.queries import (
    ALERT_COLUMNS,
    AlertFilter,
    Cursor,
    Sort,
    alert_of,
    list_alerts,
    summary_rows,
)
from autonama_alerts_api.settings import Settings
from autonama_alerts_api.stream import Broadcaster
from autonama_shared import __version__
from autonama_shared.db.pool import open_pool
from autonama_shared.db.store import alerts_channel
from autonama_shared.errors import AutonamaError, ConfigError
from autonama_shared.events import (
    BacktestParams,
    BacktestRequested,
    ScanParams,
    ScanRequested,
    encode,
)
from autonama_shared.intervals import IntervalName
from autonama_shared.kafka import make_producer, start_when_ready
from autonama_shared.report import SymbolBacktest
from autonama_shared.scan import ScanSpec, normalise_symbols
from autonama_shared.service import ensure_topics_when_ready, migrate_when_ready
from autonama_shared.topics import Topics

__all__ = ["create_app"]

log = logging.getLogger("autonama.alerts_api")
SYMBOL = r"^[A-Za-z0-9]{1,20}$"
STATIC = PathLib(__file__).parent / "static"


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    sse_clients: Gauge
    alerts_sent: Counter

    @classmethod
    def new(cls) -> Metrics:
        r = CollectorRegistry()
        return cls(
            r,
            Counter(
                "autonama_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
            ),
            Histogram(
                "autonama_http_request_seconds", "HTTP request latency", ["route"], registry=r
            ),
            Gauge("autonama_sse_clients", "Open alert streams", registry=r),
            Counter("autonama_sse_alerts_sent", "Alerts sent on streams", registry=r),
        )


@dataclass
class State:
    settings: Settings
    pool: asyncpg.Pool
    broadcaster: Broadcaster
    producer: AIOKafkaProducer
    producer_ready: asyncio.Event
    topics: Topics
    metrics: Metrics


def _state(request: Request) -> State:
    state: State = request.app.state.autonama
    return state


async def _start_producer(state: State, stop: asyncio.Event) -> None:
    """Kafka is needed only to request scans: connect in the background, retrying."""
    who = "alerts-api"
    try:
        if await ensure_topics_when_ready(state.settings.kafka, stop, who) and (
            await start_when_ready(state.producer, stop, who)
        ):
            state.producer_ready.set()
    except AutonamaError as e:
        log.error("scan requests are unavailable: %s", e)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pg = settings.postgres
        # The schema must be current before reading it (the only writes the API makes,
        # on a connection of its own, before the read-only pool opens).
        stop = asyncio.Event()
        await migrate_when_ready(pg, stop, "alerts-api")
        async with open_pool(
            pg.model_copy(update={"max_pool_size": max(pg.max_pool_size, 20)}),
            application_name="autonama-alerts-api",
            read_only_role=settings.read_role,
        ) as pool:
            listener = await asyncpg.connect(
                host=pg.host, port=pg.port, user=pg.user, database=pg.database,
                password=pg.password.get_secret_value() or None,
                server_settings={"application_name": "autonama-alerts-api-listen"},
            )  # fmt: skip
            broadcaster = Broadcaster(
                pool, listener, alerts_channel(pg.db_schema),
                queue_size=settings.sse_queue_size, poll_seconds=settings.sse_poll_seconds,
            )  # fmt: skip
            producer = make_producer(settings.kafka, client_id="alerts-api")
            state = State(settings, pool, broadcaster, producer, asyncio.Event(),
                          Topics.of(settings.kafka), Metrics.new())  # fmt: skip
            app.state.autonama = state
            await broadcaster.start()
            stopping = asyncio.Event()
            starter = asyncio.create_task(_start_producer(state, stopping))
            try:
                yield
            finally:
                stopping.set()
                starter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starter
                await broadcaster.stop()
                await listener.close()
                if state.producer_ready.is_set():
                    await producer.stop()

    app = FastAPI(
        title="Autonama alerts API",
        version=__version__,
        description="BUY and SELL alerts from polynomial-regression bands on Binance spot "
        "markets: current and past alerts, a live stream, scans and charts.",
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        if hasattr(request.app.state, "autonama"):
            m = _state(request).metrics
            m.requests.labels(request.method, name, str(response.status_code)).inc()
            m.latency.labels(name).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(ConfigError)
    async def config_error(_: Request, e: ConfigError) -> JSONResponse:
        detail = [{"loc": ["body"], "msg": str(e), "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        response = await http_exception_handler(request, e)
        if e.status_code == 405:  # say which methods the path takes
            allowed = sorted(
                {m for r in app.routes if isinstance(r, APIRoute)
                 and r.path_regex.match(request.url.path) for m in (r.methods or ())}
            )  # fmt: skip
            response.headers["Allow"] = ", ".join(allowed)
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/alerts", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "alerts.html", headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/alerts")

    _routes(app)
    _backtest_routes(app)
    return app


def invalid(name: str, message: str, where: str = "query") -> HTTPException:
    """A 422 in FastAPI's own shape (the documented one), naming the parameter."""
    return HTTPException(
        422, detail=[{"loc": [where, name], "msg": f"{name}: {message}", "type": "value_error"}]
    )


def _symbol(symbol: str) -> str:
    return symbol.upper()


def _aware(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        moment = datetime.fromisoformat(since)
    except ValueError as e:
        raise invalid("since", f"{since!r} is not an ISO 8601 time") from e
    if moment.tzinfo is None:
        raise invalid("since", "give a timezone (e.g. 2026-03-15T00:00:00Z)")
    return moment


SignalQ = Annotated[Literal["BUY", "SELL"] | None, Query(description="BUY or SELL")]
SymbolQ = Annotated[str | None, Query(pattern=SYMBOL, description="e.g. BTCUSDT")]
IntervalQ = Annotated[IntervalName | None, Query(description="a Binance interval, e.g. 1d")]
LimitQ = Annotated[int, Query(ge=1, le=500, description="Page size, at most 500")]
MinPotentialQ = Annotated[
    float | None, Query(ge=0, le=1e6, description="Minimum potential return, percent")
]
SymbolPath = Annotated[str, Path(pattern=SYMBOL, description="e.g. BTCUSDT")]
SinceQ = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Alerts created at or after this time (ISO 8601 with a timezone)",
        json_schema_extra={"format": "date-time"},
    ),
]


def _filter(
    signal: str | None, symbol: str | None, interval: str | None, min_potential: float | None,
    since: str | None,
) -> AlertFilter:  # fmt: skip
    return AlertFilter(
        signal=signal,  # type: ignore[arg-type]
        symbol=_symbol(symbol) if symbol else None,
        interval=interval,
        min_potential_return=min_potential,
        since=_aware(since),
    )


def _routes(app: FastAPI) -> None:
    not_found: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"model": Problem}})
    async def readyz(request: Request) -> JSONResponse:
        """The database and the broker are reachable."""
        state = _state(request)
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(state.pool.fetchval("SELECT 1"), 2.0)
            checks["database"] = "ok"
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
        return JSONResponse({"status": "ready" if ready else "not ready", **checks},
                            status_code=200 if ready else 503)  # fmt: skip

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics: request counts and latencies, stream clients, alerts sent."""
        m = _state(request).metrics
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/alerts", tags=["alerts"], response_model=AlertPage)
    async def alerts(
        request: Request,
        signal: SignalQ = None,
        symbol: SymbolQ = None,
        interval: IntervalQ = None,
        min_potential_return: MinPotentialQ = None,
        since: SinceQ = None,
        latest: Annotated[bool, Query(description="Only the current alert per key")] = True,
        sort: Annotated[Sort, Query()] = "potential_return",
        order: Annotated[Literal["desc", "asc"], Query()] = "desc",
        cursor: Annotated[
            str | None, Query(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")
        ] = None,
        limit: LimitQ = 50,
    ) -> AlertPage:
        """Alerts, filtered and sorted, one page at a time (stable order, cursor pagination)."""
        state = _state(request)
        after = None
        if cursor is not None:
            try:
                after = Cursor.decode(cursor)
            except ValueError as e:
                raise invalid("cursor", str(e)) from e
            if after.sort != sort:
                raise invalid("cursor", "it belongs to another sort order")
        items, nxt = await list_alerts(
            state.pool, _filter(signal, symbol, interval, min_potential_return, since),
            latest=latest, sort=sort, descending=order == "desc", limit=limit, cursor=after,
        )  # fmt: skip
        return AlertPage(items=items, next_cursor=nxt.encode() if nxt else None)

    @app.get("/v1/alerts/summary", tags=["alerts"], response_model=Summary)
    async def summary(request: Request) -> Summary:
        """Counts of current alerts, the strongest BUY and SELL, and the last finished scan."""
        return Summary(**await summary_rows(_state(request).pool))

    async def top(request: Request, signal: str, limit: int) -> list[Alert]:
        items, _ = await list_alerts(
            _state(request).pool, AlertFilter(signal=signal),  # type: ignore[arg-type]
            latest=True, sort="potential_return", descending=True, limit=limit, cursor=None,
        )  # fmt: skip
        return items

    @app.get("/v1/alerts/top-buy", tags=["alerts"], response_model=list[Alert])
    async def top_buy(request: Request, limit: LimitQ = 10) -> list[Alert]:
        """The strongest current BUY alerts by potential return."""
        return await top(request, "BUY", limit)

    @app.get("/v1/alerts/top-sell", tags=["alerts"], response_model=list[Alert])
    async def top_sell(request: Request, limit: LimitQ = 10) -> list[Alert]:
        """The strongest current SELL alerts by potential return."""
        return await top(request, "SELL", limit)

    @app.get(
        "/v1/alerts/stream", tags=["alerts"], response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}},
                         "description": "Server-sent events: `id` is the alert id, "
                                        "`data` the alert"}},
    )  # fmt: skip
    async def stream(
        request: Request,
        signal: SignalQ = None,
        symbol: SymbolQ = None,
        interval: IntervalQ = None,
        min_potential_return: MinPotentialQ = None,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        after: Annotated[int | None, Query(ge=0, description="Resume after this alert id")] = None,
    ) -> StreamingResponse:
        """New alerts as they are committed. Reconnect with `Last-Event-ID` (or `after`) to
        receive every alert missed, in order, then live ones."""
        state = _state(request)
        filters = _filter(signal, symbol, interval, min_potential_return, None)
        resume = after
        if last_event_id is not None:
            if not last_event_id.isdigit():
                raise invalid("Last-Event-ID", "must be an alert id", where="header")
            resume = int(last_event_id)
        client, seen = state.broadcaster.subscribe(filters)
        return StreamingResponse(
            _events(state, client, seen if resume is None else resume),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.post("/v1/scans", tags=["scans"], status_code=202, response_model=ScanAccepted,
              responses={400: {"model": Problem, "description": "The body is not JSON"},
                         503: {"model": Problem}})  # fmt: skip
    async def request_scan(
        request: Request, body: ScanRequestBody, response: Response
    ) -> ScanAccepted:
        """Publish a scan request (validated like `autonama scan`); follow it at the Location."""
        state = _state(request)
        symbols = normalise_symbols(body.symbols) if body.symbols is not None else None
        params = ScanParams(interval=body.interval, days=body.days, degree=body.degree,
                            kstd=body.kstd, price_scale=body.price_scale)  # fmt: skip
        ScanSpec(params.interval, params.days, params.band_params(), symbols=symbols, top=body.top)
        scan = ScanRequested(origin="api", params=params,
                             symbols=list(symbols) if symbols else None, top=body.top)  # fmt: skip
        await _publish(state, scan, scan.scan_id, "scan")
        url = f"/v1/scans/{scan.scan_id}"
        response.headers["Location"] = url
        return ScanAccepted(scan_id=scan.scan_id, status_url=url)

    @app.get("/v1/scans", tags=["scans"], response_model=list[Scan])
    async def scans(
        request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 20
    ) -> list[Scan]:
        """The most recent scans, newest first."""
        rows = await _state(request).pool.fetch(
            "SELECT * FROM scans ORDER BY requested_at DESC LIMIT $1", limit
        )
        return [_scan(r) for r in rows]

    @app.get("/v1/scans/{scan_id}", tags=["scans"], response_model=Scan, responses=not_found)
    async def scan(request: Request, scan_id: uuid.UUID) -> Scan:
        """One scan's progress, with its failed symbols."""
        pool = _state(request).pool
        row = await pool.fetchrow("SELECT * FROM scans WHERE scan_id = $1", scan_id)
        if row is None:
            raise HTTPException(404, f"scan {scan_id} is not known (yet)")
        failed = await pool.fetch(
            "SELECT symbol, error FROM scan_symbols WHERE scan_id = $1 AND status = 'failed' "
            "ORDER BY symbol",
            scan_id,
        )
        return _scan(row, [{"symbol": f["symbol"], "error": f["error"] or ""} for f in failed])

    @app.get("/v1/ingestion/status", tags=["ingestion"], response_model=list[Ingestion])
    async def ingestion_status(
        request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 20
    ) -> list[Ingestion]:
        """The most recent offline-file ingestions and their outcome."""
        rows = await _state(request).pool.fetch(
            "SELECT * FROM ingestions ORDER BY ingested_at DESC, id DESC LIMIT $1", limit
        )
        return [
            Ingestion(
                file_name=r["file_name"],
                sha256=r["sha256"],
                size_bytes=r["size_bytes"],
                rows=r["rows"],
                status=r["status"],
                error=r["error"],
                scan_id=str(r["scan_id"]) if r["scan_id"] else None,
                ingested_at=r["ingested_at"],
            )
            for r in rows
        ]

    @app.get("/v1/symbols/{symbol}/bands", tags=["symbols"], response_model=BandSeries,
             responses=not_found)  # fmt: skip
    async def bands(
        request: Request, symbol: SymbolPath, interval: Annotated[IntervalName, Query()] = "1d"
    ) -> BandSeries:
        """The stored band series of the symbol's latest signal at `interval`."""
        return await _band_series(_state(request).pool, _symbol(symbol), interval)

    @app.get("/v1/symbols/{symbol}/chart.png", tags=["symbols"], response_class=Response,
             responses={200: {"content": {"image/png": {}}}, **not_found})  # fmt: skip
    async def chart(
        request: Request, symbol: SymbolPath, interval: Annotated[IntervalName, Query()] = "1d"
    ) -> Response:
        """The same band series drawn: closes, fit, bands, and the alerts that fired."""
        from autonama_shared.plotting import band_chart_png

        b = await _band_series(_state(request).pool, _symbol(symbol), interval)
        title = (f"{b.symbol} {b.interval} (degree {b.degree}, kstd {b.kstd}): {b.signal}, "
                 f"potential {b.potential_return:.2f}%")  # fmt: skip
        markers = [
            (int(a.last_candle_time.timestamp() * 1000), a.price, a.signal) for a in b.alerts
        ]
        png = await asyncio.to_thread(
            band_chart_png, title, b.open_time, b.close, b.fit_series, b.lower_series,
            b.upper_series, b.signal, markers,
        )  # fmt: skip
        return Response(png, media_type="image/png")


async def _publish(state: State, event: ScanRequested | BacktestRequested, key: str,
                   what: str) -> None:  # fmt: skip
    """The API's only write: a request onto the scan-requests topic, acknowledged, or a 503."""
    if not state.producer_ready.is_set():
        raise HTTPException(503, f"Kafka is not reachable; the {what} was not requested")
    try:
        await state.producer.send_and_wait(
            state.topics.scan_requests, encode(event), key=key.encode()
        )
    except KafkaError as e:
        raise HTTPException(503, f"Kafka did not take the request: {e}") from e


def _backtest(row: asyncpg.Record, results: list[SymbolBacktest] | None = None) -> Backtest:
    return Backtest(
        backtest_id=str(row["backtest_id"]), origin=row["origin"], status=row["status"],
        parameters=json.loads(row["parameters"]), universe=json.loads(row["universe"]),
        requested_at=row["requested_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], symbols_expected=row["symbols_expected"],
        symbols_done=row["symbols_done"], symbols_failed=row["symbols_failed"],
        error=row["error"], results=results or [],
    )  # fmt: skip


def _backtest_routes(app: FastAPI) -> None:
    not_found: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}

    @app.post("/v1/backtests", tags=["backtests"], status_code=202,
              response_model=BacktestAccepted,
              responses={400: {"model": Problem, "description": "The body is not JSON"},
                         503: {"model": Problem}})  # fmt: skip
    async def request_backtest(
        request: Request, body: BacktestRequestBody, response: Response
    ) -> BacktestAccepted:
        """Publish a backtest request (validated like `autonama backtest`): the fetcher loads
        the history, the analyzer pool trades it, the ingestor stores the results."""
        state = _state(request)
        symbols = normalise_symbols(body.symbols) if body.symbols is not None else None
        params = BacktestParams(**body.model_dump(exclude={"symbols", "top"}))
        params.spec()  # ConfigError: 422
        ScanSpec(params.interval, symbols=symbols, top=body.top)
        event = BacktestRequested(
            origin="api", params=params, symbols=list(symbols) if symbols else None, top=body.top
        )
        await _publish(state, event, event.backtest_id, "backtest")
        url = f"/v1/backtests/{event.backtest_id}"
        response.headers["Location"] = url
        return BacktestAccepted(backtest_id=event.backtest_id, status_url=url)

    @app.get("/v1/backtests", tags=["backtests"], response_model=list[Backtest])
    async def backtests(
        request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 20
    ) -> list[Backtest]:
        """The most recent backtests, newest first (without their per-symbol results)."""
        rows = await _state(request).pool.fetch(
            "SELECT * FROM backtests ORDER BY requested_at DESC LIMIT $1", limit
        )
        return [_backtest(r) for r in rows]

    @app.get("/v1/backtests/{backtest_id}", tags=["backtests"], response_model=Backtest,
             responses=not_found)  # fmt: skip
    async def backtest(request: Request, backtest_id: uuid.UUID) -> Backtest:
        """One backtest: parameters, progress, and every symbol's metrics and trades."""
        pool = _state(request).pool
        row = await pool.fetchrow("SELECT * FROM backtests WHERE backtest_id = $1", backtest_id)
        if row is None:
            raise HTTPException(404, f"backtest {backtest_id} is not known (yet)")
        results = await pool.fetch(
            "SELECT result FROM backtest_results WHERE backtest_id = $1 ORDER BY symbol",
            backtest_id,
        )
        return _backtest(row, [SymbolBacktest.model_validate_json(r["result"]) for r in results])

    @app.get("/v1/backtests/{backtest_id}/equity.png", tags=["backtests"], response_class=Response,
             responses={200: {"content": {"image/png": {}}}, **not_found})  # fmt: skip
    async def equity_chart(
        request: Request, backtest_id: uuid.UUID, symbol: Annotated[str, Query(pattern=SYMBOL)]
    ) -> Response:
        """The reported run's equity against buy and hold, trades marked."""
        from autonama_shared.plotting import equity_chart_png

        row = await _state(request).pool.fetchrow(
            """SELECT result, equity_time, equity, hold_equity FROM backtest_results
               WHERE backtest_id = $1 AND symbol = $2""",
            backtest_id, symbol.upper(),
        )  # fmt: skip
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
        png = await asyncio.to_thread(
            equity_chart_png, title, times, row["equity"], row["hold_equity"], entries, exits
        )
        return Response(png, media_type="image/png")


async def _events(state: State, client: Any, after: int) -> AsyncIterator[str]:
    """The stream of one client: missed alerts from the database, then live ones."""
    metrics, broadcaster = state.metrics, state.broadcaster
    metrics.sse_clients.inc()
    sent = after
    try:
        yield "retry: 2000\n\n"
        while True:  # what was committed before (or while) this client subscribed
            args: list[Any] = [sent]
            conditions = ["a.id > $1", *client.filters.where(args)]
            rows = await state.pool.fetch(
                f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE {' AND '.join(conditions)} "  # noqa: S608
                "ORDER BY a.id LIMIT 500",
                *args,
            )
            for row in rows:
                alert = alert_of(row)
                yield _event(alert)
                metrics.alerts_sent.inc()
                sent = alert.id
            if len(rows) < 500:
                break
        heartbeat = state.settings.sse_heartbeat_seconds
        while not client.dropped.is_set():
            try:
                alert = await asyncio.wait_for(client.queue.get(), heartbeat)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if alert.id <= sent:
                continue  # already sent from the database
            yield _event(alert)
            metrics.alerts_sent.inc()
            sent = alert.id
    finally:
        broadcaster.unsubscribe(client)
        metrics.sse_clients.dec()


def _event(alert: Alert) -> str:
    return f"id: {alert.id}\nevent: alert\ndata: {alert.model_dump_json()}\n\n"


def _scan(row: asyncpg.Record, failed: list[dict[str, str]] | None = None) -> Scan:
    return Scan(
        scan_id=str(row["scan_id"]), origin=row["origin"], status=row["status"],
        interval=row["interval"], days=row["days"], degree=row["degree"], kstd=row["kstd"],
        price_scale=row["price_scale"], universe=json.loads(row["universe"]),
        requested_at=row["requested_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], symbols_expected=row["symbols_expected"],
        symbols_done=row["symbols_done"], symbols_failed=row["symbols_failed"],
        error=row["error"], failed=failed or [],
    )  # fmt: skip


async def _band_series(pool: asyncpg.Pool, symbol: str, interval: str) -> BandSeries:
    row = await pool.fetchrow(
        """SELECT s.*, b.open_time AS b_open_time, b.open AS b_open, b.high AS b_high,
                  b.low AS b_low, b.close AS b_close, b.fit AS b_fit,
                  b.lower_band AS b_lower, b.upper_band AS b_upper
           FROM signals s JOIN band_series b ON b.signal_id = s.id
           WHERE s.symbol = $1 AND s.interval = $2
           ORDER BY s.last_candle_time DESC, s.id DESC LIMIT 1""",
        symbol, interval,
    )  # fmt: skip
    if row is None:
        raise HTTPException(404, f"no stored {interval} bands for symbol {symbol}")
    first = row["b_open_time"][0]
    alerts = await pool.fetch(
        f"""SELECT {ALERT_COLUMNS} FROM alerts a
            WHERE (a.symbol, a.interval, a.degree, a.kstd, a.price_scale, a.days)
                = ($1, $2, $3, $4, $5, $6)
              AND a.last_candle_time >= to_timestamp($7 / 1000.0) ORDER BY a.id""",  # noqa: S608
        symbol, interval, row["degree"], row["kstd"], row["price_scale"], row["days"], first,
    )  # fmt: skip
    return BandSeries(
        symbol=symbol, interval=interval, degree=row["degree"], kstd=row["kstd"],
        price_scale=row["price_scale"], days=row["days"], signal=row["signal"],
        price=row["price"], fit=row["fit"], lower=row["lower_band"], upper=row["upper_band"],
        sigma=row["sigma"], potential_return=row["potential_return"],
        target_return=row["target_return"], last_candle_time=row["last_candle_time"],
        open_time=list(row["b_open_time"]), open=row["b_open"], high=row["b_high"],
        low=row["b_low"], close=row["b_close"], fit_series=row["b_fit"],
        lower_series=row["b_lower"], upper_series=row["b_upper"],
        alerts=[alert_of(a) for a in alerts],
    )  # fmt: skip
