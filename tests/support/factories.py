"""Factories for the tests and benchmarks: signals as the analyzer would emit them."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from autonama_shared import __version__
from autonama_shared.db import migrate
from autonama_shared.db.pool import open_pool
from autonama_shared.db.store import store_signals
from autonama_shared.db.tokens import Scope, create_token
from autonama_shared.formats.records import LastCandle
from autonama_shared.messaging.events import ScanParams, SignalComputed
from autonama_shared.settings import PostgresSettings

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_signal(
    symbol: str,
    signal: str,
    day: int,
    *,
    potential: float = 10.0,
    target: float = 5.0,
    interval: str = "1d",
    degree: int = 4,
    scan_id: str | None = None,
    candles: int = 3,
) -> SignalComputed:
    """A signal on candle ``day`` (days after 2026-01-01) with a small window of ``candles``."""
    price = 100.0 + day
    days = range(day - candles + 1, day + 1)
    closes = [price * (1 + 0.01 * ((d * 7) % 5 - 2)) for d in days]
    return SignalComputed(
        scan_id=scan_id or str(uuid.uuid4()),
        symbol=symbol,
        params=ScanParams(interval=interval, days=720, degree=degree, kstd=2.0),
        window=720,
        engine_version=__version__,
        signal=signal,
        potential_return=potential,  # type: ignore[arg-type]
        candles=candles,
        partial_window=False,
        last_candle_time=DAY0 + timedelta(days=day),
        price=price,
        lower=price * 0.9,
        upper=price * 1.1,
        fit=price * 1.05,
        sigma=2.0,
        target_return=target,
        error=None,
        series={
            "open_time": [(DAY0 + timedelta(days=d)).timestamp() * 1000 for d in days],
            "open": [c * 0.99 for c in closes],
            "high": [c * 1.02 for c in closes],
            "low": [c * 0.97 for c in closes],
            "close": closes,
            "fit": [price * 1.05 + 0.1 * i for i in range(candles)],
            "lower": [price * 0.9 + 0.1 * i for i in range(candles)],
            "upper": [price * 1.1 + 0.1 * i for i in range(candles)],
        },
    )


def live_close(signal: SignalComputed) -> SignalComputed:
    """``signal`` as the live market stores most closes: without its window, with its last
    candle's open, high and low only."""
    series = signal.series
    assert series is not None
    assert series.open
    assert series.high
    assert series.low
    candle = LastCandle(open=series.open[-1], high=series.high[-1], low=series.low[-1])
    return signal.model_copy(update={"series": None, "last_candle": candle})


async def store(pool: asyncpg.Pool, *events: SignalComputed) -> None:
    """Through the ingestor's storage path: signals, progress, alerts and their NOTIFY."""
    async with pool.acquire() as conn, conn.transaction():
        await store_signals(conn, list(events), origin="test")


async def make_token(pg: PostgresSettings, scope: Scope, name: str | None = None) -> str:
    """A new API token in ``pg``'s schema (migrated first), as ``autonama token create`` makes."""
    async with open_pool(pg) as pool, pool.acquire() as conn:
        await migrate(conn, pg.db_schema)
        token, _ = await create_token(conn, name or f"test-{uuid.uuid4().hex[:8]}", scope)
    return token


def sine_close(symbol: str, day: int) -> SignalComputed:
    """A live BUY close (40-candle key) of a sine-shaped market: close 100 + 10 sin(day / 3)
    + 0.2 day, opened at the day before's, its candle 1.5 beyond both: alerts that reach
    their target and alerts that miss it."""
    c = 100 + 10 * math.sin(day / 3) + 0.2 * day
    o = 100 + 10 * math.sin((day - 1) / 3) + 0.2 * (day - 1)
    return live_close(make_signal(symbol, "BUY", day, candles=40)).model_copy(
        update={
            "price": c,
            "last_candle": LastCandle(open=o, high=max(o, c) + 1.5, low=min(o, c) - 1.5),
        }
    )


async def store_scored_market(pool: asyncpg.Pool) -> None:
    """45 days of SCOREUSDT's sine closes and 25 of FEWUSDT's, the outcomes' keeper run
    after every 10 days (as it runs meanwhile): 25 and 5 final outcomes."""
    from autonama_shared.db import outcomes

    for start in range(1, 46, 10):
        days = range(start, min(start + 10, 46))
        await store(pool, *(sine_close("SCOREUSDT", d) for d in days))
        await store(pool, *(sine_close("FEWUSDT", d) for d in days if d <= 25))
        await outcomes.update(pool)
