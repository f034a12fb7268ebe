"""The outcomes' keeper reads what is new, not the history (#26: reads that do not grow with
history). Alerts are never pruned, so a read of every alert each round grows for as long as
the stack runs: these tests count the rows each of the keeper's statements reads from
``alerts`` (``EXPLAIN ANALYZE``, the real database), in the plan PostgreSQL runs them with."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from autonama_shared.db import outcomes
from autonama_shared.db.pool import CUSTOM_PLANS
from tests.support.factories import live_close, make_signal, store

#: Keys, each a BUY and an ended alert (HOLD) every other day for a month: 600 alerts, 300
#: of them ended, before the ones a round has to read.
KEYS, DAYS = 10, 60


def rows_read(plan: dict[str, Any], table: str) -> float:
    """Rows the plan's scans of ``table`` read: returned plus removed by their filters, over
    every loop (EXPLAIN gives both per loop)."""
    read = 0.0
    if plan.get("Relation Name") == table:
        loops = plan.get("Actual Loops", 1)
        read += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * loops
    for child in plan.get("Plans", []):
        read += rows_read(child, table)
    return read


async def history(pool: asyncpg.Pool) -> None:
    """KEYS keys, each BUY then HOLD (an ended alert) by turns for DAYS days, all admitted
    and scored by the keeper."""
    for key in range(KEYS):
        await store(
            pool,
            *(
                live_close(make_signal(f"K{key}USDT", "BUY" if day % 2 else "HOLD", day))
                for day in range(1, DAYS + 1)
            ),
        )
    assert await pool.fetchval("SELECT count(*) FROM alerts") == KEYS * DAYS
    await outcomes.update(pool)
    # planned with the statistics autovacuum keeps (a table this new has none yet, and a
    # plan without them reads a small table whole, whatever the statement)
    await pool.execute("ANALYZE alerts")


async def test_the_keepers_admission_reads_only_the_alerts_past_its_position(
    pool: asyncpg.Pool,
) -> None:
    """Two new alerts past a history of 600: the admission reads those two (a third at
    most, where a scan reads one past its range), in a plan made for the values and in the
    generic plan PostgreSQL keeps for a statement after five runs, which is how the keeper
    runs it every 10 s. Joined to its position's row, that plan read every alert ever raised
    in id order, every round."""
    await history(pool)
    await store(pool, live_close(make_signal("NEWUSDT", "BUY", DAYS + 1)))
    await store(pool, live_close(make_signal("NEWUSDT", "HOLD", DAYS + 2)))
    async with pool.acquire() as conn:
        for mode in ("force_generic_plan", "force_custom_plan"):
            tx = conn.transaction()
            await tx.start()
            try:  # EXPLAIN ANALYZE runs it: undone below
                await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
                position = await conn.fetchval(outcomes._POSITION)
                await conn.execute(f"PREPARE admit_probe (int, bigint) AS {outcomes._ADMIT}")
                plan = json.loads(
                    await conn.fetchval(
                        f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE admit_probe (5000, {position})"
                    )
                )[0]["Plan"]
                admitted = await conn.fetchval(
                    "SELECT count(*) FROM alert_outcomes o JOIN alerts a ON a.id = o.alert_id"
                    " WHERE a.symbol = 'NEWUSDT'"
                )
            finally:
                await tx.rollback()
                await conn.execute("DEALLOCATE admit_probe")  # it outlives the transaction
            assert admitted == 1, mode  # the BUY (an ended alert is not scored)
            assert rows_read(plan, "alerts") <= 3, (mode, rows_read(plan, "alerts"))


async def test_scoring_an_alert_reads_its_keys_alerts_in_its_bars_not_every_ended_one(
    pool: asyncpg.Pool,
) -> None:
    """Scoring the newest BUY alert reads, of ``alerts``, the alert itself and its key's
    alerts within its 20 bars, whatever the 300 ended alerts of the history; and still finds
    the bar at which its key's signal ended it."""
    await history(pool)
    newest = await pool.fetchval(
        "SELECT max(id) FROM alerts WHERE symbol = 'K0USDT' AND signal = 'BUY'"
    )
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(CUSTOM_PLANS)  # as score_alerts runs it
        plan = json.loads(
            await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {outcomes._BARS}", [newest])
        )[0]["Plan"]
    assert rows_read(plan, "alerts") <= 1 + 20, rows_read(plan, "alerts")
    # day 59's BUY, ended by day 60's HOLD: one bar on, the key's last close
    scored = (await outcomes.score_alerts(pool, [newest]))[newest]
    assert scored is not None
    assert (scored.ended_after, scored.bars_seen) == (1, 1)
