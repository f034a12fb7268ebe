"""Least privilege in PostgreSQL: the API's login can only read, the writer only write rows.

The roles come from deploy/postgres/roles.sql, the file the local scripts and
docker-compose run; the grants from the migrations. Each login is tried for
real against the test's own schema.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from autonama_shared.db import migrate
from autonama_shared.db.pool import open_pool
from autonama_shared.db.store import store_signals
from autonama_shared.settings import KafkaSettings, PostgresSettings
from tests.support.api import start_api
from tests.support.factories import make_signal

ROLES = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "roles.sql"


def psql() -> str:
    found = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
    if not Path(found).exists():
        pytest.skip("psql is not installed")
    return found


@pytest.fixture
async def owner(pg_settings: PostgresSettings) -> PostgresSettings:
    """The roles created as the scripts create them, and the test's schema migrated."""
    env = {**os.environ, "PGPASSWORD": pg_settings.password.get_secret_value()}
    await asyncio.to_thread(
        subprocess.run,
        [
            psql(),
            "-q",
            "-h",
            pg_settings.host,
            "-p",
            str(pg_settings.port),
            "-U",
            pg_settings.user,
            "-d",
            pg_settings.database,
            # the cluster's own passwords (with-services.sh exports them): roles.sql sets
            # them again, and the other tests of the run log in with them meanwhile
            "-v",
            f"writer_password={os.environ.get('AUTONAMA_WRITER_PASSWORD', '')}",
            "-v",
            f"api_password={os.environ.get('AUTONAMA_API_PASSWORD', '')}",
            "-v",
            f"notifier_password={os.environ.get('AUTONAMA_NOTIFIER_PASSWORD', '')}",
            "-f",
            str(ROLES),
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=60,
    )
    async with open_pool(pg_settings) as pool, pool.acquire() as conn:
        await migrate(conn, pg_settings.db_schema)
    return pg_settings


async def login(pg: PostgresSettings, user: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=pg.host,
        port=pg.port,
        user=user,
        database=pg.database,
        server_settings={"search_path": pg.db_schema},
    )


async def test_the_api_login_can_read_and_nothing_else(owner: PostgresSettings) -> None:
    conn = await login(owner, "autonama_api")
    try:
        assert await conn.fetchval("SELECT count(*) FROM signals") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO worker_status (name, running) VALUES ('intruder', true)"
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM api_tokens")
        for role in ("autonama", "autonama_writers", "autonama_writer"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(f"SET ROLE {role}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE mine (id int)")
    finally:
        await conn.close()


async def refused(conn: asyncpg.Connection, *statements: str) -> None:
    """Each statement fails for want of a privilege (each in a savepoint of its own)."""
    for statement in statements:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await conn.execute(statement)


async def a_subscription(owner: PostgresSettings) -> int:
    conn = await login(owner, owner.user)
    try:
        sub: int = await conn.fetchval(
            """INSERT INTO subscriptions (name, kind, url, secret, filter)
               VALUES ('victim', 'webhook', 'https://example.com/h', 'whsec_c2VjcmV0', '{}')
               RETURNING id"""
        )
        return sub
    finally:
        await conn.close()


async def test_the_api_reader_reads_the_market_and_no_secret(owner: PostgresSettings) -> None:
    await a_subscription(owner)
    conn = await login(owner, "autonama_api")
    try:
        await conn.execute("SET ROLE autonama_reader")
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 0
        assert await conn.fetchval("SELECT count(*) FROM api_tokens WHERE scope = 'read'") == 0
        await refused(
            conn,
            "SELECT secret FROM subscriptions",
            "SELECT url FROM subscriptions",
            "SELECT count(*) FROM subscriptions",
            "SELECT body FROM deliveries",
            "SELECT count(*) FROM delivery_attempts",
            "SELECT name, prefix FROM api_tokens",
            "SELECT count(*) FROM stream_tickets",
            "SELECT count(*) FROM api_write_budget",
            "INSERT INTO api_tokens (name, scope, prefix, sha256) VALUES ('x', 'write', 'x', 'x')",
            "UPDATE subscriptions SET url = 'http://10.0.0.1/'",
            "DELETE FROM closes",
        )
    finally:
        await conn.close()


async def test_the_api_writer_manages_subscriptions_and_cannot_forge_a_delivery(
    owner: PostgresSettings,
) -> None:
    victim = await a_subscription(owner)
    conn = await login(owner, "autonama_api")
    try:
        await conn.execute("SET ROLE autonama_subscriptions")
        sub = await conn.fetchval(
            """INSERT INTO subscriptions (name, kind, url, secret, filter)
               VALUES ('mine', 'webhook', 'https://example.com/x', 'whsec_bWluZQ==', '{}')
               RETURNING id"""
        )
        assert await conn.fetchval("SELECT name FROM subscriptions WHERE id = $1", sub) == "mine"
        await conn.execute(  # a test event: no body, a msg_test_ id
            """INSERT INTO deliveries (subscription_id, message_id, key, event_type)
               VALUES ($1, 'msg_test_1', 'test/1', 'subscription.test')""",
            victim,
        )
        await conn.execute("UPDATE subscriptions SET enabled = false, disabled_reason = 'x'")
        await refused(
            conn,
            "SELECT secret FROM subscriptions",
            "SELECT body FROM deliveries",
            f"""INSERT INTO deliveries (subscription_id, message_id, key, event_type, body)
                VALUES ({victim}, 'msg_test_2', 'test/2', 'subscription.test', '{{}}')""",
            f"UPDATE subscriptions SET url = 'http://169.254.169.254/' WHERE id = {victim}",
            "UPDATE deliveries SET status = 'delivered'",
            "DELETE FROM deliveries",
            "INSERT INTO delivery_attempts (delivery_id, attempt, outcome, latency_ms) "
            "VALUES (1, 1, 'delivered', 1)",
            "INSERT INTO api_tokens (name, scope, prefix, sha256) VALUES ('x', 'write', 'x', 'x')",
            "INSERT INTO worker_status (name, running) VALUES ('intruder', true)",
            "DELETE FROM alerts",
            "SELECT count(*) FROM signals",
            "SET ROLE autonama_writers",
            "SET ROLE autonama_notifiers",
        )
        # what the columns it may write could still say is refused by the table's checks
        for forged in (
            "'msg_9_1', 'k', 'alert.raised'",  # an alert without its body
            "'msg_9_1', 'k', 'subscription.test'",  # a test under an alert's message id
        ):
            with pytest.raises(asyncpg.CheckViolationError):
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO deliveries (subscription_id, message_id, key, event_type) "
                        f"VALUES ({victim}, {forged})"
                    )
    finally:
        await conn.close()


async def test_the_notifier_reads_targets_and_moves_deliveries_and_nothing_else(
    owner: PostgresSettings,
) -> None:
    victim = await a_subscription(owner)
    conn = await login(owner, "autonama_notifier")
    try:
        secret = await conn.fetchval("SELECT secret FROM subscriptions WHERE id = $1", victim)
        assert secret == "whsec_c2VjcmV0"  # only the notifier signs
        await conn.execute(
            "UPDATE subscriptions SET consecutive_failures = 1 WHERE id = $1", victim
        )
        # it says how its parts are, for /readyz (0017)
        await conn.execute(
            "INSERT INTO worker_status (name, running, detail) VALUES ('notifier-t', true, 'ok')"
        )
        await conn.execute("DELETE FROM worker_status WHERE name = 'notifier-t'")
        # a key's track record for its messages (0025): which alerts are a key's, and
        # whether their final outcomes reached the target; none of their numbers
        await conn.fetch(
            "SELECT a.symbol, o.target_hit_after, o.return_5 FROM alerts a"
            " JOIN alert_outcomes o ON o.alert_id = a.id AND o.final"
        )
        await refused(
            conn,
            f"UPDATE subscriptions SET url = 'http://10.0.0.1/' WHERE id = {victim}",
            "INSERT INTO subscriptions (name, kind, url, filter) "
            "VALUES ('x', 'apprise', 'json://x', '{}')",
            "DELETE FROM subscriptions",
            "SELECT count(*) FROM signals",
            "SELECT price, fit FROM alerts",
            "SELECT entry_price FROM alert_outcomes",
            "SELECT sha256 FROM api_tokens",
            "CREATE TABLE mine (id int)",
            "SET ROLE autonama_writers",
        )
    finally:
        await conn.close()


async def test_the_writer_stores_signals_but_changes_no_schema(owner: PostgresSettings) -> None:
    conn = await login(owner, "autonama_writer")
    try:
        async with conn.transaction():  # the ingestor's whole storage path, alerts included
            new = await store_signals(conn, [make_signal("BTCUSDT", "BUY", 3)], origin="test")
        assert new == 1
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 1
        # the fetcher's catch-up of the outcomes' bars, through the same login (0027)
        from autonama_shared.db import outcome_bars

        bar = (datetime(2026, 1, 5, tzinfo=UTC), 100.0, 101.0, 99.0, 100.5)
        assert await outcome_bars.keep(conn, "BTCUSDT", "1d", [bar]) == 1
        assert await outcome_bars.wanted(conn, 5) == []  # no open outcome: nothing wanted
        assert await outcome_bars.prune(conn) == 1  # and the bar is not needed
        await refused(
            conn,
            "CREATE TABLE mine (id int)",
            "DROP TABLE closes",
            "TRUNCATE closes",
            "ALTER TABLE closes DROP CONSTRAINT closes_finite",
            "SET ROLE autonama",
            # the writer of signals: no tokens, no subscriptions, no deliveries
            "SELECT sha256 FROM api_tokens",
            "INSERT INTO api_tokens (name, scope, prefix, sha256) VALUES ('x', 'write', 'x', 'x')",
            "SELECT secret FROM subscriptions",
            "UPDATE subscriptions SET url = 'http://10.0.0.1/'",
            "SELECT body FROM deliveries",
            "INSERT INTO deliveries (subscription_id, message_id, key, event_type, body) "
            "VALUES (1, 'msg_1_1', 'k', 'alert.raised', '{}')",
            "SELECT count(*) FROM stream_tickets",
            "SET ROLE autonama_notifiers",
        )
    finally:
        await conn.close()


async def test_the_api_serves_through_its_own_login(
    owner: PostgresSettings, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    writer = await login(owner, "autonama_writer")
    try:
        async with writer.transaction():
            await store_signals(writer, [make_signal("ETHUSDT", "SELL", 4)], origin="test")
    finally:
        await writer.close()
    proc, url = await asyncio.to_thread(
        start_api,
        owner.model_copy(update={"user": "autonama_api"}),
        kafka_settings,
        tmp_path / "api.log",
        AUTONAMA_POSTGRES__MIGRATE="false",
    )
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            r = await client.get("/v1/alerts")
            assert r.status_code == 200, r.text
            assert [a["symbol"] for a in r.json()["items"]] == ["ETHUSDT"]
    finally:
        proc.terminate()
        proc.wait(20)
