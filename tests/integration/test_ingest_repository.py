"""The contract of the ingestor's repository: the PostgreSQL one comes to what each
scenario must (the same scenarios the in-memory one passes in the unit tests), so the
handler's unit tests on the fake say something about the real thing."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from autonama_ingestor.repository import Batch, PostgresRepository
from autonama_shared.db.pool import open_pool
from autonama_shared.db.store import WRITERS_LOCK, stage_signals, store_staged
from autonama_shared.settings import PostgresSettings
from tests.support.ingest_scenarios import (
    RULE_ALERTS,
    SCENARIOS,
    Scenario,
    alerts_follow_the_rule,
    said,
    scan_of,
    signal_of,
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_postgres_repository_follows_the_rules(
    pool: asyncpg.Pool, scenario: Scenario
) -> None:
    got, expected = await scenario(PostgresRepository(pool))
    assert got == expected


async def test_the_postgres_repository_raises_the_rules_alerts(pool: asyncpg.Pool) -> None:
    await alerts_follow_the_rule(PostgresRepository(pool))
    rows = await pool.fetch("SELECT signal, previous_signal, reason FROM alerts ORDER BY id")
    assert [tuple(r) for r in rows] == RULE_ALERTS


async def test_a_scans_plan_and_its_signals_through_two_ingestors_finish_it(
    pool: asyncpg.Pool, pg_settings: PostgresSettings
) -> None:
    """Several ingestors: the plan comes through one, the signals through another, at once.
    A batch of plans alone waits for the writers' lock as a batch of signals does (else its
    recount would not see the other's uncommitted outcomes, and theirs not its new scan:
    the scan would never finish)."""
    request, plan = scan_of(["BTCUSDT", "ETHUSDT"])
    signals = [signal_of(request, "BTCUSDT", "BUY", 10), signal_of(request, "ETHUSDT", "HOLD", 10)]
    name = f"two-ingestors-{pg_settings.db_schema}"
    async with (
        open_pool(pg_settings, application_name=name) as writers,
        pool.acquire() as holder,
    ):
        first, second = PostgresRepository(writers), PostgresRepository(writers)
        await holder.execute(WRITERS_LOCK.replace("_xact", ""))  # another writer's, held
        planning = asyncio.ensure_future(first.store(Batch(requests=[request], plans=[plan])))
        storing = asyncio.ensure_future(second.store(Batch(signals=signals)))
        for _ in range(200):  # both wait for it
            waiting = await holder.fetchval(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE application_name = $1 AND wait_event_type = 'Lock'""",
                name,
            )
            if waiting == 2:
                break
            assert not planning.done(), "a batch of plans was stored without the writers' lock"
            await asyncio.sleep(0.05)
        assert waiting == 2
        await holder.execute(WRITERS_LOCK.replace("_xact_lock", "_unlock"))
    stored = [said(s) for s in await asyncio.gather(planning, storing)]
    assert sum(s[0] for s in stored) == 2
    assert [f for s in stored for f in s[1]] == [(request.scan_id, 2, 0)]
    status = await pool.fetchval(
        "SELECT status FROM scans WHERE scan_id = $1", uuid.UUID(request.scan_id)
    )
    assert status == "finished"


async def waiting_on_a_lock(holder: asyncpg.Connection, name: str, count: int) -> None:
    """Until ``count`` connections of application ``name`` wait on a lock."""
    for _ in range(200):
        waiting = await holder.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE application_name = $1 AND wait_event_type = 'Lock'""",
            name,
        )
        if waiting == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} writer(s) never waited on a lock")


async def test_a_keys_next_close_waits_for_the_writer_of_its_last_and_is_decided_after_it(
    pool: asyncpg.Pool, pg_settings: PostgresSettings
) -> None:
    """Two ingestors with closes of one key at once (a rebalance hands its partition over
    while the old owner's batch is in flight): the later close waits for the earlier one's
    transaction, and is decided against what it left. Its BUY confirms the first one's BUY;
    decided against the state before it (HOLD), it would be a second "changed" alert."""
    request, _ = scan_of(["BTCUSDT"])
    await PostgresRepository(pool).store(  # the key, its partition and its state exist
        Batch(signals=[signal_of(request, "BTCUSDT", "HOLD", 9)])
    )
    name = f"one-key-{pg_settings.db_schema}"
    async with open_pool(pg_settings, application_name=name) as writers:
        first = PostgresRepository(writers)
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:  # the first writer: stored, not yet committed
                staged = await stage_signals(conn, [signal_of(request, "BTCUSDT", "BUY", 10)], "t")
                await store_staged(conn, staged)
                later = asyncio.ensure_future(
                    first.store(Batch(signals=[signal_of(request, "BTCUSDT", "BUY", 11)]))
                )
                await waiting_on_a_lock(conn, name, 1)
                assert not later.done()
            finally:
                await tx.commit()
        await later
    rows = await pool.fetch("SELECT reason, last_candle_time FROM alerts ORDER BY id")
    assert [r["reason"] for r in rows] == ["changed", "confirmed"]
    current = await pool.fetchrow("SELECT alert_id, last_candle_time FROM current_signals")
    assert current["alert_id"] == await pool.fetchval("SELECT max(id) FROM alerts")
    assert current["last_candle_time"] == rows[-1]["last_candle_time"]


async def test_a_writer_waiting_on_its_keys_holds_up_no_writer_of_other_keys(
    pool: asyncpg.Pool, pg_settings: PostgresSettings
) -> None:
    """Two ingestors store their partitions' keys at once: one whose key is held (here by
    a transaction that locked it, as a writer does while it stores its batch) waits, and
    the other stores and commits its own keys, alerts included, meanwhile. The writers'
    lock is taken after a batch's keys, never while waiting for them."""
    request, _ = scan_of(["BTCUSDT", "ETHUSDT"])
    await PostgresRepository(pool).store(
        Batch(signals=[signal_of(request, "BTCUSDT", "HOLD", 9)])  # the key exists
    )
    name = f"other-keys-{pg_settings.db_schema}"
    async with open_pool(pg_settings, application_name=name) as writers:
        repo = PostgresRepository(writers)
        async with pool.acquire() as holder, holder.transaction():
            await holder.execute(
                "SELECT 1 FROM signal_keys WHERE symbol = 'BTCUSDT' FOR NO KEY UPDATE"
            )
            held = asyncio.ensure_future(
                repo.store(Batch(signals=[signal_of(request, "BTCUSDT", "BUY", 10)]))
            )
            await waiting_on_a_lock(holder, name, 1)
            other = await asyncio.wait_for(
                repo.store(Batch(signals=[signal_of(request, "ETHUSDT", "SELL", 10)])), 30
            )
            assert other.new_signals == 1
            assert not held.done()
            committed = await pool.fetch("SELECT symbol, reason FROM alerts ORDER BY id")
            assert [tuple(r) for r in committed] == [("ETHUSDT", "new")]
        assert (await held).new_signals == 1
    rows = await pool.fetch("SELECT symbol, reason FROM alerts ORDER BY id")
    assert [tuple(r) for r in rows] == [("ETHUSDT", "new"), ("BTCUSDT", "changed")]  # from HOLD


async def test_a_batchs_alert_ids_are_drawn_under_the_writers_lock(
    pool: asyncpg.Pool, pg_settings: PostgresSettings
) -> None:
    """Alert ids commit in id order (the relay and the stream read every id above the last
    they saw): a writer whose signals are stored, waiting for the writers' lock, has drawn
    no alert id yet, so no writer can commit a lower id after a higher one."""
    request, _ = scan_of(["BTCUSDT"])
    drawn = "SELECT last_value + (CASE WHEN is_called THEN 1 ELSE 0 END) FROM alerts_id_seq"
    name = f"alert-ids-{pg_settings.db_schema}"
    async with open_pool(pg_settings, application_name=name) as writers, pool.acquire() as holder:
        before = await holder.fetchval(drawn)
        await holder.execute(WRITERS_LOCK.replace("_xact", ""))  # another writer's, held
        storing = asyncio.ensure_future(
            PostgresRepository(writers).store(
                Batch(signals=[signal_of(request, "BTCUSDT", "BUY", 10)])
            )
        )
        await waiting_on_a_lock(holder, name, 1)
        assert await holder.fetchval(drawn) == before
        await holder.execute(WRITERS_LOCK.replace("_xact_lock", "_unlock"))
        assert (await storing).new_signals == 1
        assert await holder.fetchval(drawn) == before + 1
