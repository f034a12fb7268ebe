"""Kafka with SASL/SCRAM and ACLs, for real: a broker of the test's own started by
deploy/local/kafka.sh with KAFKA_SASL_USERS (SCRAM-SHA-256, the StandardAuthorizer, nothing
allowed without an ACL), the services authenticating through their settings.

- A client without the password, or with a wrong one, gets nothing from the broker.
- The pipeline (fetcher, analyzer, ingestor) runs a scan through it, every client of every
  service authenticated as the one user the ACL lets use its topic and group prefixes.
- That user can create no topic outside its prefix.

One test, one broker: the module's tests were spread over the suite's processes, and each
started a broker of its own for its module (three JVM starts where one does).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from autonama_shared.errors import ConfigError, TemporaryError
from autonama_shared.messaging.kafka import TopicSpec, ensure_topics
from autonama_shared.settings import KafkaSettings, PostgresSettings
from tests.fixtures.backends import OwnBroker, own_broker
from tests.integration.test_pipeline import all_symbols, exactly_once
from tests.support.binance_standin import StandIn
from tests.support.stack import Stack, wait_for_log

pytestmark = pytest.mark.slow


@pytest.fixture
def sasl() -> Iterator[tuple[OwnBroker, KafkaSettings]]:
    """A broker with SASL/SCRAM and ACLs, and the settings of its one user."""
    unique_id = secrets.token_hex(6)
    user_password = secrets.token_urlsafe(18)
    users = f"admin:{secrets.token_urlsafe(18)},autonama:{user_password}"
    with own_broker(f"sasl-{unique_id}", KAFKA_SASL_USERS=users) as broker:
        prefix = f"sasl.{unique_id}."
        granted = broker.run(f"acl autonama {prefix} {prefix}")  # groups follow the prefix
        assert granted.returncode == 0, granted.stderr
        settings = KafkaSettings(
            bootstrap_servers=broker.bootstrap,
            topic_prefix=prefix,
            security_protocol="SASL_PLAINTEXT",
            sasl_username="autonama",
            sasl_password=user_password,
        )
        yield broker, settings


async def can_list_topics(settings: KafkaSettings) -> bool:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        request_timeout_ms=5_000,
        **settings.client_options(),
    )
    try:
        async with asyncio.timeout(20):
            await admin.start()
            await admin.list_topics()
        return True
    except (KafkaError, TimeoutError, OSError):
        return False
    finally:
        await admin.close()


async def test_sasl_and_acls_keep_out_and_let_the_pipeline_through(
    sasl: tuple[OwnBroker, KafkaSettings],
    pg_settings: PostgresSettings,
    standin_2022: StandIn,
    tmp_path: Path,
) -> None:
    _, settings = sasl
    await a_client_without_the_password_gets_nothing(settings)
    await an_acl_keeps_a_user_to_its_own_prefixes(settings)
    await a_scan_runs_through_a_broker_with_sasl_and_acls(
        settings, pg_settings, standin_2022, tmp_path
    )


async def a_client_without_the_password_gets_nothing(settings: KafkaSettings) -> None:
    assert await can_list_topics(settings)  # the one with the password does
    wrong = settings.model_copy(update={"sasl_password": SecretStr("not-the-password")})
    assert not await can_list_topics(wrong)
    plain = settings.model_copy(update={"security_protocol": "PLAINTEXT"})
    assert not await can_list_topics(plain)


async def an_acl_keeps_a_user_to_its_own_prefixes(settings: KafkaSettings) -> None:
    mine = TopicSpec(f"{settings.topic_prefix}mine", partitions=1)
    created = await ensure_topics(
        settings.bootstrap_servers, [mine], options=settings.client_options()
    )
    assert created == [mine.name]
    other = TopicSpec("another-stack.signals", partitions=1)
    with pytest.raises((ConfigError, TemporaryError), match=r"another-stack\.signals|uthoriz"):
        await ensure_topics(settings.bootstrap_servers, [other], options=settings.client_options())


async def a_scan_runs_through_a_broker_with_sasl_and_acls(
    settings: KafkaSettings, pg_settings: PostgresSettings, standin_2022: StandIn, tmp_path: Path
) -> None:
    stack = Stack(settings, pg_settings, tmp_path, standin_2022.url)
    try:
        symbols = all_symbols(standin_2022)[:5]
        stack.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
        analyzer = stack.start("analyzer")
        fetcher = stack.start("fetcher")
        await wait_for_log(analyzer, "assigned")
        await wait_for_log(fetcher, "assigned")
        scan_id = await stack.request(symbols)
        scan = await stack.wait_for_scan(scan_id, within=120)
        assert scan["status"] == "finished"
        await exactly_once(stack, scan_id, symbols)
        for service in stack.services:
            assert settings.sasl_password.get_secret_value() not in service.log()
    finally:
        stack.stop_all()
