"""What the routers share: the app's state, its metrics, the common query parameters."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import Depends, HTTPException, Path, Query, Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from autonama_alerts_api.page_cache import PageCache
from autonama_alerts_api.queries.alerts import AlertFilter
from autonama_alerts_api.settings import Settings
from autonama_alerts_api.stream import Broadcaster, Seats
from autonama_shared.engine.intervals import IntervalName
from autonama_shared.messaging.events import BacktestRequested, ScanRequested, encode
from autonama_shared.messaging.topics import Topics
from autonama_shared.sources.base import CORE_MOVERS

__all__ = [
    "MAX_ID",
    "SYMBOL",
    "IntervalQ",
    "LimitQ",
    "Metrics",
    "MinPotentialQ",
    "SignalQ",
    "SinceQ",
    "State",
    "StateDep",
    "SymbolPath",
    "SymbolQ",
    "alert_filter",
    "alert_id",
    "invalid",
    "publish",
    "universe_size",
]

SYMBOL = r"^[A-Za-z0-9]{1,20}$"
#: The largest id the database can hold (bigint).
MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def alert_id(text: str) -> int | None:
    """An alert id written in ASCII digits within the bigint range, else None.

    >>> alert_id("42"), alert_id("²"), alert_id("9" * 30), alert_id(str(2**63))
    (42, None, None, None)
    """
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    sse_clients: Gauge
    alerts_sent: Counter
    dead_letters: Gauge

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
            Gauge(
                "autonama_dead_letters",
                "Records the workers set aside and nobody replayed yet (autonama dlq list)",
                registry=r,
            ),
        )


@dataclass
class State:
    """Everything the lifespan opened, for the routes (``StateDep``)."""

    settings: Settings
    pool: asyncpg.Pool
    broadcaster: Broadcaster
    producer: AIOKafkaProducer
    producer_ready: asyncio.Event
    topics: Topics
    metrics: Metrics
    #: subscriptions are written through a role of their own (every other read: ``pool``)
    manage: asyncpg.Pool | None = None
    #: sha256 of a token -> (its scope or None, when it was looked up)
    token_cache: dict[str, tuple[str | None, float]] = field(default_factory=dict)
    #: serialised alert pages, valid while the broadcaster's version stands
    pages: PageCache = field(default_factory=PageCache)
    #: open streams per client address, and in all
    seats: Seats = field(default_factory=lambda: Seats(2_000, 20))
    #: dead letters not replayed, and when that was counted (``count_dead_letters``)
    dead_letters: tuple[int | None, float] = (None, 0.0)


async def get_state(request: Request) -> State:
    # async: FastAPI runs a plain function dependency in its thread pool, a thread hop for
    # every request (measured: a sixth of an uncached page's time)
    state: State = request.app.state.autonama
    return state


StateDep = Annotated[State, Depends(get_state)]


def invalid(name: str, message: str, where: str = "query") -> HTTPException:
    """A 422 in FastAPI's own shape (the documented one), naming the parameter."""
    return HTTPException(
        422, detail=[{"loc": [where, name], "msg": f"{name}: {message}", "type": "value_error"}]
    )


SignalQ = Annotated[Literal["BUY", "SELL"] | None, Query(description="BUY or SELL")]
SymbolQ = Annotated[str | None, Query(pattern=SYMBOL, description="e.g. BTCUSDT")]
IntervalQ = Annotated[IntervalName | None, Query(description="a Binance interval, e.g. 1d")]
LimitQ = Annotated[int, Query(ge=1, le=500, description="Page size, at most 500")]
MinPotentialQ = Annotated[
    float | None, Query(ge=0, le=1e6, description="Minimum potential return, percent")
]
SymbolPath = Annotated[str, Path(pattern=SYMBOL, description="e.g. BTCUSDT")]
#: A stored row's id in a path: a positive bigint (anything else is a 422, not a 500).
IdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]
SinceQ = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Alerts created at or after this time (ISO 8601 with a timezone)",
        json_schema_extra={"format": "date-time"},
    ),
]


#: The times a ``since`` may name (PostgreSQL's timestamptz and Python's datetime hold
#: these whatever the offset; the year 1 with an offset east of UTC overflowed to a 500).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _aware(since: str | None) -> datetime | None:
    """``since`` as an aware time in range, else a 422 naming the problem.

    >>> _aware("2026-03-15T00:00:00Z").isoformat()
    '2026-03-15T00:00:00+00:00'
    >>> _aware("0001-01-01T00:00:00+14:00")
    Traceback (most recent call last):
    ...
    fastapi.exceptions.HTTPException: 422: ...
    """
    if since is None:
        return None
    try:
        moment = datetime.fromisoformat(since)
    except ValueError as e:
        raise invalid("since", f"{since!r} is not an ISO 8601 time") from e
    if moment.tzinfo is None:
        raise invalid("since", "give a timezone (e.g. 2026-03-15T00:00:00Z)")
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise invalid("since", "must lie between 1970-01-01 and 9999-01-01 (UTC)")
    return utc


def alert_filter(
    signal: Literal["BUY", "SELL"] | None,
    symbol: str | None,
    interval: str | None,
    min_potential: float | None,
    since: str | None,
) -> AlertFilter:
    return AlertFilter(
        signal=signal,
        symbol=symbol.upper() if symbol else None,
        interval=interval,
        min_potential_return=min_potential,
        since=_aware(since),
    )


def universe_size(symbols: list[str] | None, top: int | None) -> int:
    """How many symbols a request names: its list, its top N, or the three core movers."""
    if symbols is not None:
        return len(symbols)
    return top if top is not None else len(CORE_MOVERS)


async def publish(
    state: State, event: ScanRequested | BacktestRequested, key: str, what: str
) -> None:
    """The API's only write: a request onto the scan-requests topic, acknowledged, or a 503."""
    if not state.producer_ready.is_set():
        raise HTTPException(503, f"Kafka is not reachable; the {what} was not requested")
    try:
        topics = state.topics
        topic = topics.backtest_requests if what == "backtest" else topics.scan_requests
        await state.producer.send_and_wait(topic, encode(event), key=key.encode())
    except KafkaError as e:
        raise HTTPException(503, f"Kafka did not take the request: {e}") from e
