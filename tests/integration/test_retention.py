"""Retention by partitions (migration 0019, ``db.retention``) on the real PostgreSQL: what is
past its keep goes by whole partitions, and nothing current or within the keep is lost; an
old-layout database moves to the partitioned one with every row."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from autonama_shared.db import load_migrations, migrate
from autonama_shared.db.pool import open_pool
from autonama_shared.db.retention import (
    ensure_ahead,
    partitions,
    prune,
    prune_deliveries,
    table_sizes,
)
from autonama_shared.settings import PostgresSettings, RetentionSettings
from tests.support.cli import cli
from tests.support.factories import DAY0, live_close, make_signal, store

pytestmark = pytest.mark.integration

#: The test's "now": day 60 after DAY0, noon.
NOW = DAY0 + timedelta(days=60, hours=12)
POLICY = RetentionSettings(signals_days={"1m": 30})


async def rows(pool: asyncpg.Pool, sql: str, *args: object) -> list[tuple[object, ...]]:
    return [tuple(r) for r in await pool.fetch(sql, *args)]


async def test_a_partition_past_its_keep_is_dropped_and_nothing_current_or_kept_is_lost(
    pool: asyncpg.Pool,
) -> None:
    # BTC at 1m: a close a day on days 20..60, BUY on day 25 (an alert), HOLD again on 26
    # (ended); the first close and each change carry the window, the other closes do not.
    changes = {20: "HOLD", 25: "BUY", 26: "HOLD"}
    btc = [
        make_signal("BTCUSDT", changes.get(d, "HOLD"), d, interval="1m")
        if d in changes
        else live_close(make_signal("BTCUSDT", "HOLD", d, interval="1m"))
        for d in range(20, 61)
    ]
    # ETH at 1m stopped on day 22: its current signal is older than the keep. A new SELL.
    eth = [make_signal("ETHUSDT", "SELL", 22, interval="1m")]
    # Daily BUYs of last year and this (new, then confirmed twice): 1d is kept forever.
    daily = [make_signal("BTCUSDT", "BUY", d) for d in (-95, -60, 10)]
    events = [*btc, *eth, *daily]
    for e in events:
        await store(pool, e)

    alerts = await rows(pool, "SELECT * FROM alerts ORDER BY id")
    current = await rows(pool, "SELECT * FROM current_signals ORDER BY signal_id")
    assert len(alerts) == 2 + 1 + 3
    assert len(current) == 3
    runs = "SELECT symbol, interval, run_start FROM current_signals ORDER BY symbol, interval"
    # BTC's 1m closes are a day apart, not a minute: each starts a run of its own; ETH's
    # one close is a run; the daily BUYs' last run starts on day 10 (day -60 to 10 is a gap)
    assert await rows(pool, runs) == [
        ("BTCUSDT", "1d", DAY0 + timedelta(days=10)),
        ("BTCUSDT", "1m", DAY0 + timedelta(days=60)),
        ("ETHUSDT", "1m", DAY0 + timedelta(days=22)),
    ]
    # NOW is day 60 at noon, the keep 30 days: day 30 at noon. A day's partition goes once
    # all of it is older: days 20 to 29; day 30's is kept whole.
    first_kept = DAY0 + timedelta(days=30)
    kept = await rows(
        pool,
        "SELECT id, symbol, interval, last_candle_time FROM signals "
        "WHERE interval <> '1m' OR last_candle_time >= $1 ORDER BY id",
        first_kept,
    )
    assert len(kept) == 31 + 3

    async with pool.acquire() as conn:
        await conn.execute("ANALYZE")
        sizes = {t.name: t for t in await table_sizes(conn)}
        # partitioned or not, a table that holds rows has its bytes and rows counted
        for name, count in (("closes", 41 + 1 + 3), ("band_windows", 3 + 1 + 3), ("alerts", 6)):
            assert sizes[name].rows == count
            assert sizes[name].bytes >= 8192
        dropped = await prune(conn, POLICY, NOW)
        assert await prune(conn, POLICY, NOW) == []  # nothing more to drop

    assert [(p.interval, (p.starts - DAY0).days) for p in dropped] == [
        ("1m", d) for d in range(20, 30)
    ]
    signals = "SELECT id, symbol, interval, last_candle_time FROM signals ORDER BY id"
    assert await rows(pool, signals) == kept
    # Windows went with their signals: those of kept signals remain, every one of them.
    assert await rows(pool, "SELECT signal_id FROM band_windows ORDER BY signal_id") == [
        (r[0],) for r in kept if r[2] == "1d"
    ]
    # Alerts and the current state are never pruned, whatever their signal's age; a key's
    # run of closes (0030) starts no earlier than the first kept: ETH's had none left.
    assert await rows(pool, "SELECT * FROM alerts ORDER BY id") == alerts
    after = await rows(pool, "SELECT * FROM current_signals ORDER BY signal_id")
    assert [r[:-1] for r in after] == [r[:-1] for r in current]  # run_start is the last
    assert await rows(pool, runs) == [
        ("BTCUSDT", "1d", DAY0 + timedelta(days=10)),
        ("BTCUSDT", "1m", DAY0 + timedelta(days=60)),
        ("ETHUSDT", "1m", first_kept),
    ]


async def test_the_next_partition_is_made_ahead_and_a_store_makes_a_missing_one(
    pool: asyncpg.Pool,
) -> None:
    await store(pool, make_signal("BTCUSDT", "HOLD", 5, interval="1h"))
    async with pool.acquire() as conn:
        # January 2026 (1h partitions are months), made by the store itself.
        assert [(p.interval, p.starts) for p in await partitions(conn)] == [("1h", DAY0)]
        assert await ensure_ahead(conn, DAY0 + timedelta(days=5)) == 1
        assert await ensure_ahead(conn, DAY0 + timedelta(days=5)) == 0
        assert [p.starts.month for p in await partitions(conn)] == [1, 2]


async def test_moving_a_populated_old_layout_database_keeps_every_row(
    pg_settings: PostgresSettings,
) -> None:
    """Migrations up to 0018 (the unpartitioned layout) with signals, windows, alerts and a
    current state stored by the SQL of that layout; then 0019: every row is where it was."""
    old = [m for m in load_migrations() if m.version <= 18]
    async with open_pool(pg_settings) as pool:
        async with pool.acquire() as conn:
            await migrate(conn, pg_settings.db_schema, old)
            await conn.execute(
                """INSERT INTO signals (symbol, interval, degree, kstd, price_scale, days,
                       last_candle_time, signal, price, lower_band, upper_band, fit, sigma,
                       potential_return, target_return, candles, window_candles,
                       partial_window, origin, engine_version, computed_at)
                   SELECT s, iv, 4, 2.0, 'linear', 1, t, 'HOLD', 100 + n, 90, 110, 100, 5,
                          0, 1, 1440, 1440, false, 'test', '0', t
                   FROM unnest(ARRAY['BTCUSDT', 'ETHUSDT']) s,
                        unnest(ARRAY['1m', '1h', '1d', '1M']) iv,
                        generate_series(0, 99) n,
                        LATERAL (SELECT timestamptz '2025-11-20' + n * interval '13 hours') x(t)"""
            )
            await conn.execute(
                """INSERT INTO band_windows (signal_id, candles, open_time, close, fit,
                       lower_band, upper_band)
                   SELECT id, 1, int8send(id), float8send(price), float8send(fit),
                          float8send(lower_band), float8send(upper_band)
                   FROM signals WHERE id % 3 = 0"""
            )
            await conn.execute(
                """INSERT INTO current_signals (symbol, interval, degree, kstd, price_scale,
                       days, signal_id, signal, price, lower_band, upper_band, fit, sigma,
                       potential_return, target_return, last_candle_time, updated_at)
                   SELECT DISTINCT ON (symbol, interval) symbol, interval, degree, kstd,
                          price_scale, days, id, signal, price, lower_band, upper_band, fit,
                          sigma, potential_return, target_return, last_candle_time, now()
                   FROM signals ORDER BY symbol, interval, last_candle_time DESC"""
            )
            signals = await rows(pool, "SELECT * FROM signals ORDER BY id")
            windows = await rows(pool, "SELECT * FROM band_windows ORDER BY signal_id")
            last_id = await conn.fetchval("SELECT max(id) FROM signals")
            current = await rows(pool, "SELECT * FROM current_signals ORDER BY signal_id")
            assert len(signals) == 800
            assert len(windows) == 266

            assert await migrate(conn, pg_settings.db_schema) == [
                m.version for m in load_migrations() if m.version > 18
            ]
        assert await rows(pool, "SELECT * FROM signals ORDER BY id") == signals
        moved = await rows(
            pool,
            "SELECT signal_id, candles, open_time, open, high, low, close, fit, lower_band, "
            "upper_band FROM band_windows ORDER BY signal_id",
        )
        assert moved == windows
        kept = await rows(pool, "SELECT * FROM current_signals ORDER BY signal_id")
        # key_id and run_start are the columns 0029 and 0030 added; a run starts at its
        # key's current close (0030 does not look back into the closes)
        assert [r[:-2] for r in kept] == current
        assert await pool.fetchval(
            "SELECT count(*) FROM current_signals WHERE run_start = last_candle_time"
        ) == len(current)
        # each current row names its key by id (0029), as the store looks it up
        named = await pool.fetchval(
            "SELECT count(*) FROM current_signals c JOIN signal_keys k ON k.id = c.key_id "
            "WHERE (k.symbol, k.interval, k.degree, k.kstd, k.price_scale, k.days) "
            "= (c.symbol, c.interval, c.degree, c.kstd, c.price_scale, c.days)"
        )
        assert named == len(current) == 8
        # Every row sits in the partition of its interval and candle time.
        placed = await pool.fetchval(
            "SELECT count(*) FROM signals s JOIN signal_partitions p "
            "ON p.interval = s.interval AND s.last_candle_time >= p.starts "
            "AND s.last_candle_time < p.ends"
        )
        assert placed == 800
        # The sequence goes on after the moved ids: a new signal gets a new id.
        next_id = await pool.fetchval("SELECT nextval('signals_id_seq')")
        assert next_id > last_id
        # Windows are compressed with lz4 (0026) in every table of band_windows, the
        # partitions the move made included, and in the partitions made afterwards.
        await pool.execute("SELECT autonama_ensure_partition('1h', timestamptz '2027-03-05')")
        codecs = await pool.fetch(
            """SELECT t.relid::regclass::text AS relation, a.attname,
                      a.attcompression::text AS codec
               FROM pg_partition_tree('band_windows') t
               JOIN pg_attribute a ON a.attrelid = t.relid
               WHERE a.attname IN ('open_time', 'open', 'high', 'low', 'close')"""
        )
        assert {r["relation"] for r in codecs} >= {"band_windows_1h_20270301", "band_windows_1m"}
        assert [r for r in codecs if r["codec"] != "l"] == []


async def test_finished_deliveries_past_their_keep_go_with_their_attempts_pending_ones_stay(
    pool: asyncpg.Pool,
) -> None:
    sub = await pool.fetchval(
        "INSERT INTO subscriptions (name, kind, url, secret, filter) "
        "VALUES ('hook', 'webhook', 'https://example.com/h', 'whsec_x', '{}') RETURNING id"
    )
    # (status, days before NOW it finished or, pending, was made)
    made = [("delivered", 40), ("failed", 31), ("delivered", 29), ("pending", 40)]
    ids = []
    for n, (status, age) in enumerate(made):
        at = NOW - timedelta(days=age)
        ids.append(
            await pool.fetchval(
                """INSERT INTO deliveries (subscription_id, message_id, key, event_type, status,
                       attempts, created_at, finished_at)
                   VALUES ($1, $2, 'test', 'subscription.test', $3::text, 1, $4::timestamptz,
                           CASE WHEN $3::text = 'pending' THEN NULL ELSE $4::timestamptz END)
                   RETURNING id""",
                sub,
                f"msg_test_{n}",
                status,
                at,
            )
        )
        await pool.execute(
            "INSERT INTO delivery_attempts (delivery_id, attempt, at, outcome, latency_ms) "
            "VALUES ($1, 1, $2, 'retry', 5)",
            ids[-1],
            at,
        )
    async with pool.acquire() as conn:
        assert await prune_deliveries(conn, POLICY, NOW) == 2
        assert await prune_deliveries(conn, POLICY, NOW) == 0
    kept = [ids[2], ids[3]]
    assert await rows(pool, "SELECT id FROM deliveries ORDER BY id") == [(i,) for i in kept]
    assert await rows(pool, "SELECT delivery_id FROM delivery_attempts ORDER BY 1") == [
        (i,) for i in kept
    ]


async def test_db_stats_and_prune_from_the_command_line(
    pool: asyncpg.Pool, pg_settings: PostgresSettings
) -> None:
    """``autonama db stats`` shows what is kept; ``db prune --dry-run`` says what would go
    and changes nothing; ``db prune`` drops it (the real clock: DAY0 is long past)."""
    await store(pool, make_signal("BTCUSDT", "BUY", 2, interval="1m"))
    await store(pool, make_signal("BTCUSDT", "BUY", 3))
    keep = {"AUTONAMA_RETENTION__SIGNALS_DAYS": '{"1m": 7}'}

    shown = cli(pg_settings, "db", "stats", extra_env=keep)
    assert shown.returncode == 0, shown.stderr
    assert "band_windows" in shown.stdout
    assert "outcome_bars" in shown.stdout  # the fetcher's catch-up of bars (migration 0027)
    lines = {line.split()[1]: line for line in shown.stdout.splitlines() if "│ 1" in line}
    assert "7 days" in lines["1m"]
    assert "forever" in lines["1d"]

    dry = cli(pg_settings, "db", "prune", "--dry-run", extra_env=keep)
    assert dry.returncode == 0, dry.stderr
    assert "would drop the 1m signals and windows of 2026-01-03 00:00" in dry.stdout
    assert await pool.fetchval("SELECT count(*) FROM signals") == 2

    done = cli(pg_settings, "db", "prune", extra_env=keep)
    assert done.returncode == 0, done.stderr
    assert "dropped 1 partition(s)" in done.stdout
    assert await rows(pool, "SELECT interval FROM signals") == [("1d",)]

    unknown = {"AUTONAMA_RETENTION__SIGNALS_DAYS": '{"7x": 1}'}
    bad = cli(pg_settings, "db", "prune", extra_env=unknown)
    assert bad.returncode != 0
    assert "unknown interval(s) 7x" in bad.stderr


async def test_a_drop_that_would_wait_behind_a_long_read_is_left_for_the_next_run(
    pool: asyncpg.Pool,
) -> None:
    """A DROP waiting for its lock would hold every read and write queued behind it: it
    gives up (lock_timeout) and the partition goes at the next run."""
    await store(pool, make_signal("BTCUSDT", "HOLD", 20, interval="1m"))
    async with pool.acquire() as reader, pool.acquire() as conn:
        async with reader.transaction():
            await reader.fetchval("SELECT count(*) FROM signals")  # holds its lock until commit
            assert await prune(conn, POLICY, NOW) == []
        assert [p.starts for p in await prune(conn, POLICY, NOW)] == [DAY0 + timedelta(days=20)]
    assert await pool.fetchval("SELECT count(*) FROM signals") == 0
