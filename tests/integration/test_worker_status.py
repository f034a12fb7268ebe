"""What the workers say of their parts in worker_status, as /readyz reads it."""

from __future__ import annotations

import asyncio

import asyncpg

from autonama_shared.db.status import report_health
from autonama_shared.health import Health


async def rows(pool: asyncpg.Pool) -> dict[str, tuple[bool, str]]:
    return {
        r["name"]: (r["running"], r["detail"])
        for r in await pool.fetch("SELECT name, running, detail FROM worker_status")
    }


async def test_parts_are_written_and_a_replaced_replicas_rows_go(pool: asyncpg.Pool) -> None:
    # a replica killed with kill -9 earlier: its rows stayed, silent for two minutes
    await pool.execute(
        """INSERT INTO worker_status (name, running, detail, updated_at) VALUES
           ('ingestor-old.consumer', true, 'ok', now() - interval '2 minutes'),
           ('ingestor-quiet.consumer', true, 'ok', now() - interval '30 seconds'),
           ('notifier-old.senders', true, 'ok', now() - interval '2 minutes'),
           ('ingestor.drop-folder', true, 'watching', now() - interval '2 minutes')"""
    )
    health = Health()
    health.ok("ingestor-new.consumer")
    health.set("ingestor-new.alert-relay", "restarting: OSError: reset")
    stop = asyncio.Event()
    task = asyncio.create_task(report_health(pool, health, stop, service="ingestor"))
    for _ in range(100):
        if "ingestor-new.consumer" in await rows(pool):
            break
        await asyncio.sleep(0.05)
    now = await rows(pool)
    assert now["ingestor-new.consumer"] == (True, "ok")
    assert now["ingestor-new.alert-relay"] == (False, "restarting: OSError: reset")
    assert "ingestor-old.consumer" not in now  # replaced: gone
    assert "ingestor-quiet.consumer" in now  # silent, not yet long enough to be gone
    assert "notifier-old.senders" in now  # another service's: not ours to remove
    assert "ingestor.drop-folder" in now  # not a replica's part
    health.ok("ingestor-new.alert-relay")  # a change is written at once
    for _ in range(100):
        if (await rows(pool))["ingestor-new.alert-relay"] == (True, "ok"):
            break
        await asyncio.sleep(0.05)
    assert (await rows(pool))["ingestor-new.alert-relay"] == (True, "ok")
    stop.set()
    await asyncio.wait_for(task, 10)
    assert "ingestor-new.consumer" not in await rows(pool)  # a clean stop: its rows go
