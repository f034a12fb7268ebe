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
from autonama_shared.db.store import WRITERS_LOCK
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
