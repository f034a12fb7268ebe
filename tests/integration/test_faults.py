"""Faults the database can have that are not "connection refused", on the real services.

Two reproductions of holes where a fault lost signals silently:

- the ingestor's database goes away right when the first records of a new
  consumer group arrive (nothing committed yet, so a rewind to the committed
  offset does nothing): every signal must still be stored, once;
- the database turns read-only mid-scan for a few seconds (as a standby does
  after a failover): SQLSTATE 25006 is the database's state, not the record's,
  so nothing is dead-lettered and every signal is stored once it is writable.

The database and the broker are the real ones; the first fault is a real TCP
link cut between the ingestor and PostgreSQL, the second the server's own
read-only mode for the ingestor's login.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from tests.integration.test_pipeline import all_symbols, exactly_once
from tests.support.binance_standin import StandIn
from tests.support.stack import Stack, wait_for_log
from tests.support.tcp_cut import tcp_cut


@pytest.mark.slow
async def test_database_away_when_the_first_records_of_a_new_group_arrive(
    stack: Stack, standin_2022: StandIn
) -> None:
    symbols = all_symbols(standin_2022)[:12]
    pg = stack.postgres
    with tcp_cut(pg.host, pg.port) as link:
        ingestor = stack.start(
            "ingestor", AUTONAMA_POSTGRES__HOST="127.0.0.1", AUTONAMA_POSTGRES__PORT=str(link.port)
        )
        await wait_for_log(ingestor, "assigned")  # a new group, nothing committed yet
        link.cut()
        stack.start("analyzer")
        stack.start("fetcher")
        scan_id = await stack.request(symbols)
        # the ingestor polled the first records and failed on them at least twice
        await wait_for_log(ingestor, "retrying in", count=2)
        link.restore()
        scan = await stack.wait_for_scan(scan_id)
        assert scan["status"] == "finished"
        await exactly_once(stack, scan_id, symbols)
    assert await stack.all_dead_letters() == []


@pytest.mark.slow
async def test_database_read_only_mid_scan_dead_letters_nothing(
    stack: Stack, standin_2022: StandIn, pool: asyncpg.Pool
) -> None:
    symbols = all_symbols(standin_2022)[:12]
    standin_2022.latency_seconds = 0.2  # a scan long enough to turn read-only inside it
    role = f"t_ro_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    admin = await stack.connect()
    try:
        await admin.execute(
            f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE \"{stack.postgres.user}\""
        )
        ingestor = stack.start(
            "ingestor",
            AUTONAMA_POSTGRES__USER=role,
            AUTONAMA_POSTGRES__PASSWORD=password,
            AUTONAMA_POSTGRES__MIGRATE="false",  # migrated by the owner (``pool``)
        )
        stack.start("analyzer")
        stack.start("fetcher", AUTONAMA_FETCHER_CONCURRENCY="1")
        scan_id = await stack.request(symbols)
        await wait_for_log(ingestor, "stored 1 signals", count=2)
        # a failover: the ingestor's sessions end, the server it reaches is read-only
        await admin.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
        await terminate(admin, role)
        await wait_for_log(ingestor, "read-only", count=2)
        await asyncio.sleep(2.0)
        await admin.execute(f"ALTER ROLE {role} RESET default_transaction_read_only")
        await terminate(admin, role)
        scan = await stack.wait_for_scan(scan_id)
        assert scan["status"] == "finished"
        await exactly_once(stack, scan_id, symbols)
        assert await stack.all_dead_letters() == []
    finally:
        stack.stop_all()
        await terminate(admin, role)
        await admin.execute(f"DROP OWNED BY {role}")
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def terminate(conn: asyncpg.Connection, role: str) -> None:
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
    )
