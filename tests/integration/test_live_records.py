"""What the live feed has published, recorded per stream in PostgreSQL in batches: a
boundary's closes of 1,000 streams in a statement or two, never a candle going back."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from autonama_fetcher.live import PublishedRecords
from autonama_shared.db import migrate
from autonama_shared.db.pool import open_pool
from autonama_shared.db.watches import published_streams
from autonama_shared.settings import PostgresSettings

T0 = 1_700_000_040_000


class Counting:
    """The pool, counting the connections taken from it (one per statement here)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool, self.acquired = pool, 0

    def acquire(self) -> Any:
        self.acquired += 1
        return self.pool.acquire()


async def test_a_boundary_of_closes_is_one_batch_and_a_candle_never_goes_back(
    pg_settings: PostgresSettings,
) -> None:
    async with open_pool(pg_settings) as pool:
        async with pool.acquire() as conn:
            await migrate(conn, pg_settings.db_schema)
        counting = Counting(pool)
        records = PublishedRecords(counting)  # type: ignore[arg-type]
        names = [f"s{i:04d}usdt@kline_1m" for i in range(1_000)]
        await asyncio.gather(*(records.record(n, T0) for n in names))
        assert counting.acquired == 1  # 1,000 closes of one burst: one statement
        # the next minute; a late record of the older candle (another batch) changes nothing
        await records.record(names[0], T0 + 60_000)
        await records.record(names[0], T0)
        await asyncio.gather(*(records.record(n, T0 + 60_000) for n in names[1:10]))
        async with pool.acquire() as conn:
            stored = await published_streams(conn)
    assert len(stored) == 1_000
    assert {stored[n] for n in names[:10]} == {T0 + 60_000}
    assert {stored[n] for n in names[10:]} == {T0}
    assert counting.acquired == 4
