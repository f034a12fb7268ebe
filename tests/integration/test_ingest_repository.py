"""The contract of the ingestor's repository: the PostgreSQL one comes to what each
scenario must (the same scenarios the in-memory one passes in the unit tests), so the
handler's unit tests on the fake say something about the real thing."""

from __future__ import annotations

import asyncpg
import pytest

from autonama_ingestor.repository import PostgresRepository
from tests.support.ingest_scenarios import RULE_ALERTS, SCENARIOS, Scenario, alerts_follow_the_rule


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
