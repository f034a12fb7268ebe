"""current_signals: the latest signal of every key, kept in the ingestor's transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from autonama_shared.db import migrate
from autonama_shared.db.pool import open_pool
from autonama_shared.settings import PostgresSettings
from tests.support.factories import make_signal, store


@pytest.fixture
async def pool(pg_settings: PostgresSettings) -> AsyncIterator[asyncpg.Pool]:
    async with open_pool(pg_settings) as p:
        async with p.acquire() as conn:
            await migrate(conn, pg_settings.db_schema)
        yield p


async def current(pool: asyncpg.Pool) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch(
        """SELECT c.*, s.last_candle_time AS signal_time, a.signal AS alert_signal
           FROM current_signals c JOIN signals s ON s.id = c.signal_id
           LEFT JOIN alerts a ON a.id = c.alert_id"""
    )
    return {r["symbol"]: r for r in rows}


async def test_a_hold_after_a_buy_replaces_it_and_ends_the_current_alert(
    pool: asyncpg.Pool,
) -> None:
    await store(pool, make_signal("BTCUSDT", "BUY", 3, potential=12.0))
    now = await current(pool)
    assert (now["BTCUSDT"]["signal"], now["BTCUSDT"]["alert_signal"]) == ("BUY", "BUY")
    assert now["BTCUSDT"]["potential_return"] == 12.0
    await store(pool, make_signal("BTCUSDT", "HOLD", 4))
    now = await current(pool)
    assert now["BTCUSDT"]["signal"] == "HOLD"
    assert now["BTCUSDT"]["alert_id"] is None
    assert now["BTCUSDT"]["last_candle_time"] == now["BTCUSDT"]["signal_time"]
    assert await pool.fetchval("SELECT count(*) FROM current_signals") == 1


async def test_a_replay_changes_nothing(pool: asyncpg.Pool) -> None:
    buy = make_signal("ETHUSDT", "SELL", 5)
    await store(pool, buy)
    before = await current(pool)
    await store(pool, buy)
    after = await current(pool)
    assert dict(after["ETHUSDT"]) == dict(before["ETHUSDT"])  # updated_at included


async def test_an_older_candle_arriving_late_never_moves_it_backwards(
    pool: asyncpg.Pool,
) -> None:
    await store(pool, make_signal("SOLUSDT", "BUY", 9))
    await store(pool, make_signal("SOLUSDT", "SELL", 7))  # late, older candle
    await store(pool, make_signal("SOLUSDT", "HOLD", 8))  # late too
    now = await current(pool)
    assert now["SOLUSDT"]["signal"] == "BUY"
    day9 = await pool.fetchval("SELECT max(last_candle_time) FROM signals WHERE symbol = 'SOLUSDT'")
    assert now["SOLUSDT"]["last_candle_time"] == day9
    # parameters are part of the key: another degree is another row
    await store(pool, make_signal("SOLUSDT", "SELL", 2, degree=6))
    rows = await pool.fetch("SELECT degree, signal FROM current_signals ORDER BY degree")
    assert [(r["degree"], r["signal"]) for r in rows] == [(4, "BUY"), (6, "SELL")]


async def test_the_migration_backfills_from_stored_signals(
    pool: asyncpg.Pool, pg_settings: PostgresSettings
) -> None:
    await store(
        pool,
        make_signal("ADAUSDT", "BUY", 2),
        make_signal("XRPUSDT", "SELL", 3),
    )
    await store(pool, make_signal("ADAUSDT", "HOLD", 3), make_signal("XRPUSDT", "SELL", 4))
    expected = {k: (r["signal_id"], r["alert_id"]) for k, r in (await current(pool)).items()}
    async with pool.acquire() as conn:
        await conn.execute("DROP TABLE current_signals")
        await conn.execute("DELETE FROM schema_migrations WHERE version = 7")
        assert await migrate(conn, pg_settings.db_schema) == [7]
    got = {k: (r["signal_id"], r["alert_id"]) for k, r in (await current(pool)).items()}
    assert got == expected
    assert got["ADAUSDT"][1] is None  # HOLD now: no current alert
    assert got["XRPUSDT"][1] is not None
