"""Dead letters that come back: set aside for a cause, the cause fixed, replayed once.

The real ingestor, broker and database: a constraint an operator added refuses
three signals (one of them too large for its dead letter to carry it: the
letter holds its size and digest, the record stays in its topic); the
operator drops the constraint and replays with ``autonama dlq replay``. Every
signal is then stored once; a second replay sends nothing, a forced one
changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import asyncpg
import pytest

from autonama_shared.messaging.events import encode
from tests.support.cli import cli
from tests.support.factories import make_signal
from tests.support.stack import Stack, wait_for_log

ONE_MB = 1024 * 1024


async def signal_count(pool: asyncpg.Pool, scan_id: str) -> int:
    n: int = await pool.fetchval(
        "SELECT count(*) FROM signals WHERE scan_id = $1", uuid.UUID(scan_id)
    )
    return n


@pytest.mark.slow
async def test_letters_set_aside_for_a_fixed_cause_come_back_once(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    stack.extra_env["AUTONAMA_KAFKA__MAX_MESSAGE_BYTES"] = str(ONE_MB)
    stack.kafka = stack.kafka.model_copy(update={"max_message_bytes": ONE_MB})
    await pool.execute("ALTER TABLE closes ADD CONSTRAINT ops_cap CHECK (price < 1)")
    ingestor = stack.start("ingestor")
    await wait_for_log(ingestor, "assigned")
    scan_id = str(uuid.uuid4())
    events = [
        make_signal("AAAUSDT", "BUY", 10, scan_id=scan_id),
        make_signal("BBBUSDT", "SELL", 10, scan_id=scan_id),
        make_signal("CCCUSDT", "BUY", 12_100, scan_id=scan_id, candles=12_000),  # ~0.8 MB
    ]
    big = encode(events[2])
    assert 0.5 * ONE_MB < len(big) < ONE_MB  # fits its topic, not base64'd in a letter
    for e in events:
        await stack.send(stack.topics.signals, encode(e), e.symbol.encode())
    letters = await stack.dead_letters(3, within=60)
    assert all("ops_cap" in d.error for d in letters)
    [referenced] = [d for d in letters if d.value_b64 is None]
    assert referenced.value_bytes == len(big)

    await pool.execute("ALTER TABLE closes DROP CONSTRAINT ops_cap")  # the cause, fixed
    env = {k: v for k, v in stack.env().items() if k.startswith("AUTONAMA_KAFKA__")}
    listed = await asyncio.to_thread(cli, stack.postgres, "dlq", "list", extra_env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("ops_cap") == 3
    for offset in range(3):  # the referenced one read back from its topic, digest checked
        shown = await asyncio.to_thread(
            cli, stack.postgres, "dlq", "show", f"0:{offset}", extra_env=env
        )
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["record"]["type"] == "signal.computed"

    refused = await asyncio.to_thread(cli, stack.postgres, "dlq", "replay", extra_env=env)
    assert refused.returncode == 2  # nothing named: nothing replayed by accident
    assert "name the letters" in refused.stderr
    first = await asyncio.to_thread(
        cli, stack.postgres, "dlq", "replay", "--reason", "ops_cap", extra_env=env
    )
    assert first.returncode == 0, first.stderr
    assert "3 replayed, 0 skipped" in first.stdout
    deadline = time.monotonic() + 60
    while await signal_count(pool, scan_id) < 3:
        assert time.monotonic() < deadline, ingestor.log()[-3000:]
        await asyncio.sleep(0.3)

    again = await asyncio.to_thread(
        cli, stack.postgres, "dlq", "replay", "--reason", "ops_cap", extra_env=env
    )
    assert "0 replayed, 3 skipped" in again.stdout
    forced = await asyncio.to_thread(
        cli, stack.postgres, "dlq", "replay", "--all", "--again", extra_env=env
    )
    assert "3 replayed, 0 skipped" in forced.stdout
    await wait_for_log(ingestor, "(0 new)", count=1)
    await asyncio.sleep(1.0)
    assert await signal_count(pool, scan_id) == 3  # each stored once
    alerts = await pool.fetchval("SELECT count(*) FROM alerts")
    assert alerts == 3  # and alerted once
    assert len(await stack.all_dead_letters()) == 3  # nothing failed on the way back
