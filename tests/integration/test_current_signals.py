"""current_signals: the latest signal of every key, kept in the ingestor's transaction."""

from __future__ import annotations

import random
from datetime import timedelta

import asyncpg

from autonama_shared.db import load_migrations, migrate
from autonama_shared.db.pool import open_pool
from autonama_shared.settings import PostgresSettings
from tests.support.factories import DAY0, make_signal, store


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
    assert now["BTCUSDT"]["alert_id"] is None  # the ended alert is no current alert
    last = await pool.fetchrow(
        "SELECT signal, previous_signal, reason FROM alerts ORDER BY id DESC"
    )
    assert last is not None
    assert tuple(last) == ("HOLD", "BUY", "ended")
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
    pg_settings: PostgresSettings,
) -> None:
    """0007 on a database of its time (migrations 0001-0006): signals and alerts as the
    writer of then stored them; the current signal of each key is its newest, with the
    alert of that signal (none for a HOLD)."""
    signals = [  # symbol, day, signal; alerts for BUY and SELL, as the rule of 0002 gave
        ("ADAUSDT", 2, "BUY"),
        ("XRPUSDT", 3, "SELL"),
        ("ADAUSDT", 3, "HOLD"),
        ("XRPUSDT", 4, "SELL"),
    ]
    async with open_pool(pg_settings) as pool, pool.acquire() as conn:
        old = [m for m in load_migrations() if m.version <= 6]
        await migrate(conn, pg_settings.db_schema, old)
        ids = {}
        for symbol, day, signal in signals:
            ids[symbol, day] = await conn.fetchval(
                """INSERT INTO signals (symbol, interval, degree, kstd, price_scale, days,
                       last_candle_time, signal, price, lower_band, upper_band, fit, sigma,
                       potential_return, target_return, candles, window_candles,
                       partial_window, origin, engine_version, computed_at)
                   VALUES ($1, '1d', 4, 2.0, 'linear', 720, $2, $3, 100, 90, 110, 100, 5,
                           10, 1, 720, 720, false, 'test', '0', now())
                   RETURNING id""",
                symbol,
                DAY0 + timedelta(days=day),
                signal,
            )
        alert_ids = {}
        for (symbol, day), signal_id in ids.items():
            alert_ids[symbol, day] = await conn.fetchval(
                """INSERT INTO alerts (signal_id, symbol, interval, degree, kstd, price_scale,
                       days, signal, reason, price, lower_band, upper_band, fit,
                       potential_return, target_return, last_candle_time)
                   SELECT id, symbol, interval, degree, kstd, price_scale, days, signal,
                          'new', price, lower_band, upper_band, fit, potential_return,
                          target_return, last_candle_time
                   FROM signals WHERE id = $1 AND signal <> 'HOLD' RETURNING id""",
                signal_id,
            )
        upto7 = [m for m in load_migrations() if m.version <= 7]
        assert await migrate(conn, pg_settings.db_schema, upto7) == [7]
        got = {
            r["symbol"]: (r["signal_id"], r["alert_id"])
            for r in await conn.fetch("SELECT symbol, signal_id, alert_id FROM current_signals")
        }
    assert got == {
        "ADAUSDT": (ids["ADAUSDT", 3], None),  # HOLD now: no current alert
        "XRPUSDT": (ids["XRPUSDT", 4], alert_ids["XRPUSDT", 4]),
    }


class Model:
    """The alert rules stated plainly, one signal at a time (the spec the SQL must equal):
    a newly stored BUY or SELL raises an alert when no stored signal of its key has a
    newer candle; its previous signal is the stored one with the newest older candle;
    reason new / confirmed / changed; a newly stored HOLD that is the newest of its key
    after a BUY or SELL raises an "ended" alert. A signal already stored (same key and candle) is
    a replay: nothing. The current signal of a key is the one with the newest candle."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, int], dict[int, str]] = {}  # (symbol, degree) -> day
        self.alerts: list[tuple[str, int, int, str, str | None, str]] = []

    def store_batch(self, batch: list[tuple[str, int, int, str]]) -> None:
        fresh: list[tuple[str, int, int, str]] = []
        for symbol, degree, day, signal in batch:
            days = self.stored.setdefault((symbol, degree), {})
            if day not in days:
                days[day] = signal
                fresh.append((symbol, degree, day, signal))
        # every close newer than its key's newest before this batch is decided, in candle
        # order, as if the closes had come one at a time; a late, older one decides nothing
        for symbol, degree, day, signal in sorted(fresh, key=lambda r: r[2]):
            days = self.stored[(symbol, degree)]
            before = [d for d in days if d < day]
            if any(d > day for d in days if (symbol, degree, d, days[d]) not in fresh):
                continue  # older than a close stored before this batch
            previous = days[max(before)] if before else None
            if signal == "HOLD":
                if previous in ("BUY", "SELL"):  # the side that was on has ended
                    self.alerts.append((symbol, degree, day, signal, previous, "ended"))
                continue
            reason = "new" if previous is None else "confirmed" if previous == signal else "changed"
            self.alerts.append((symbol, degree, day, signal, previous, reason))

    def current(self) -> dict[tuple[str, int], tuple[int, str]]:
        return {k: (max(v), v[max(v)]) for k, v in self.stored.items()}


async def test_closes_stored_together_raise_the_alerts_of_each_close_in_candle_order(
    pool: asyncpg.Pool,
) -> None:
    """The live feed fills a held-back frame at the next close: two closes of one key reach
    the ingestor in one batch (reproduced from outside with 50 symbols x 1m). Stored in one
    transaction, newest first as a batch may carry them."""
    await store(pool, make_signal("SHORTUSDT", "SELL", 1), make_signal("FLIPUSDT", "BUY", 1))
    await store(
        pool,
        make_signal("SHORTUSDT", "HOLD", 3),
        make_signal("SHORTUSDT", "HOLD", 2),
        make_signal("FLIPUSDT", "BUY", 3),
        make_signal("FLIPUSDT", "HOLD", 2),
    )
    alerts = await pool.fetch(
        """SELECT symbol, last_candle_time, signal, previous_signal, reason
           FROM alerts WHERE last_candle_time > $1 ORDER BY id""",
        DAY0 + timedelta(days=1),
    )
    got = {
        (a["symbol"], (a["last_candle_time"] - DAY0).days, a["previous_signal"], a["reason"])
        for a in alerts
    }
    # the short was told it ended, once; the long ended at day 2, came back at day 3
    assert got == {
        ("SHORTUSDT", 2, "SELL", "ended"),
        ("FLIPUSDT", 2, "BUY", "ended"),
        ("FLIPUSDT", 3, "HOLD", "changed"),
    }
    flip = [a["reason"] for a in alerts if a["symbol"] == "FLIPUSDT"]
    assert flip == ["ended", "changed"]  # in candle order
    now = await current(pool)
    assert (now["SHORTUSDT"]["signal"], now["SHORTUSDT"]["alert_signal"]) == ("HOLD", None)
    assert (now["FLIPUSDT"]["signal"], now["FLIPUSDT"]["alert_signal"]) == ("BUY", "BUY")


async def test_random_batches_equal_the_alert_rules_stated_plainly(pool: asyncpg.Pool) -> None:
    """Replays, late and out-of-order candles, several candles of one key in one batch,
    batches mixing keys: alerts (in id order) and the current state equal the model's."""
    rng = random.Random(20261129)
    model = Model()
    symbols, degrees = ("AAAUSDT", "BBBUSDT", "CCCUSDT"), (3, 5)
    replays = 0
    for step in range(80):
        batch: dict[tuple[str, int, int], str] = {}
        for _ in range(rng.randint(1, 6)):  # candles drift forward, some arrive late
            day = rng.randint(max(1, step // 2 - 6), step // 2 + 2)
            key = (rng.choice(symbols), rng.choice(degrees), day)
            batch[key] = rng.choice(("BUY", "SELL", "HOLD", "HOLD"))
        rows = [(s, g, d, sig) for (s, g, d), sig in batch.items()]
        # a replay carries the signal first stored (same candle, same maths)
        rows = [(s, g, d, model.stored.get((s, g), {}).get(d, sig)) for s, g, d, sig in rows]
        replays += sum(d in model.stored.get((s, g), {}) for s, g, d, _ in rows)
        model.store_batch(rows)
        await store(pool, *(make_signal(s, sig, d, degree=g) for s, g, d, sig in rows))
    alerts = await pool.fetch(
        """SELECT symbol, degree, last_candle_time, signal, previous_signal, reason
           FROM alerts ORDER BY id"""
    )
    day = {(DAY0 + timedelta(days=d)): d for d in range(50)}
    got = [
        (
            a["symbol"],
            a["degree"],
            day[a["last_candle_time"]],
            a["signal"],
            a["previous_signal"],
            a["reason"],
        )
        for a in alerts
    ]
    assert sorted(got) == sorted(model.alerts)
    # the random walk did exercise every rule
    assert {a[5] for a in got} == {"new", "confirmed", "changed", "ended"}
    assert len(got) > 30
    assert replays > 10
    now = await pool.fetch("SELECT symbol, degree, last_candle_time, signal FROM current_signals")
    assert {(r["symbol"], r["degree"]): (day[r["last_candle_time"]], r["signal"]) for r in now} == (
        model.current()
    )


async def test_a_key_is_stored_once_and_batches_of_known_keys_use_up_no_id(
    pool: asyncpg.Pool,
) -> None:
    """Each key is one row of signal_keys, named by every close of it (migration 0024);
    batches of keys already there draw no id (an insert that conflicts would)."""
    for day in (3, 4, 5):
        await store(pool, make_signal("BTCUSDT", "HOLD", day), make_signal("ETHUSDT", "HOLD", day))
    await store(pool, make_signal("BTCUSDT", "HOLD", 6), make_signal("SOLUSDT", "BUY", 6))
    keys = await pool.fetch("SELECT id, symbol FROM signal_keys ORDER BY id")
    assert [(k["id"], k["symbol"]) for k in keys] == [
        (1, "BTCUSDT"),
        (2, "ETHUSDT"),
        (3, "SOLUSDT"),
    ]
    named = await pool.fetch(
        "SELECT key_id, count(*) AS n FROM closes GROUP BY key_id ORDER BY key_id"
    )
    assert [(r["key_id"], r["n"]) for r in named] == [(1, 4), (2, 3), (3, 1)]
    # the view reads as the table did: every close with its key's columns
    view = await pool.fetch(
        "SELECT symbol, degree, kstd, days FROM signals WHERE symbol = 'SOLUSDT'"
    )
    assert [tuple(r) for r in view] == [("SOLUSDT", 4, 2.0, 720)]
