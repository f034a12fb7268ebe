"""The contract of the notifier's delivery queue: the PostgreSQL one comes to what each
scenario must (the in-memory one passes the same scenarios in the unit tests)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import pytest

from autonama_notifier.queue import PostgresQueue
from autonama_shared.db.subscriptions import create_subscription, set_enabled
from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.notify.subscriptions import SubscriptionSpec
from tests.support.factories import make_signal, store
from tests.support.notify_scenarios import SCENARIOS, Scenario


class PostgresWorld:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.queue_ = PostgresQueue(pool, "http://127.0.0.1:3001")

    async def subscribe(self, spec: SubscriptionSpec) -> int:
        async with self.pool.acquire() as conn:
            return (await create_subscription(conn, spec)).id

    async def enable(self, sid: int, enabled: bool) -> None:
        async with self.pool.acquire() as conn:
            await set_enabled(conn, sid, enabled)

    async def queue(self, alerts: Sequence[AlertRecord]) -> int:
        for a in alerts:  # committed first, as the ingestor does (deliveries reference them)
            await self._stored(a)
        return await self.queue_.queue(alerts)

    async def _stored(self, a: AlertRecord) -> None:
        if await self.pool.fetchval("SELECT 1 FROM alerts WHERE id = $1", a.id):
            return
        # a signal row for it to reference (HOLD on a key of its own: it raises no alert)
        await store(self.pool, make_signal(f"SIG{a.id}USDT", "HOLD", 10))
        signal_id = await self.pool.fetchval(
            "SELECT id FROM signals WHERE symbol = $1", f"SIG{a.id}USDT"
        )
        await self.pool.execute(
            """INSERT INTO alerts (id, signal_id, symbol, interval, degree, kstd, price_scale,
                                   days, signal, previous_signal, reason, price, lower_band,
                                   upper_band, fit, potential_return, target_return,
                                   last_candle_time, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                       $17, $18, $19)""",
            a.id,
            signal_id,
            a.symbol,
            a.interval,
            a.degree,
            a.kstd,
            a.price_scale,
            a.days,
            a.signal,
            a.previous_signal,
            a.reason,
            a.price,
            a.lower,
            a.upper,
            a.fit,
            a.potential_return,
            a.target_return,
            a.last_candle_time,
            a.created_at,
        )

    async def queued(self) -> list[tuple[int, int]]:
        rows = await self.pool.fetch("SELECT subscription_id, alert_id FROM deliveries ORDER BY id")
        return [(r["subscription_id"], r["alert_id"]) for r in rows]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_postgres_queue_follows_the_rules(pool: asyncpg.Pool, scenario: Scenario) -> None:
    got, expected = await scenario(PostgresWorld(pool))
    assert got == expected
