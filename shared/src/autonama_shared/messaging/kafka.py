"""Kafka adapter helpers (aiokafka): topic creation and error translation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from autonama_shared.errors import ConfigError, TemporaryError
from autonama_shared.settings import KafkaSettings

__all__ = [
    "TopicSpec",
    "ensure_topics",
    "make_consumer",
    "make_producer",
    "start_client",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic the app needs: its full name, partition count and configuration."""

    name: str
    partitions: int = 1
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)


async def ensure_topics(
    bootstrap_servers: str,
    specs: Iterable[TopicSpec],
    *,
    client_id: str = "autonama-admin",
    options: dict[str, Any] | None = None,
) -> list[str]:
    """Create every topic of ``specs`` that is missing; return the names created now.

    Idempotent, and safe when several processes start at once (a topic created
    by another process in between counts as present). Returns once every topic
    is described with its partitions: a broker answers a creation before its own
    metadata holds the topic, and a describe in that window shows no partitions
    (seen in CI). An existing topic with fewer partitions than asked is a
    ``ConfigError``: the partition count bounds how many consumers can share the
    work, so it must not be silently less; so is one with fewer replicas, or a lower
    ``min.insync.replicas`` than asked (its acknowledged writes would rest on fewer
    brokers than the settings say).
    """
    wanted = {spec.name: spec for spec in specs}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id=client_id, **(options or {})
    )
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [spec for name, spec in wanted.items() if name not in existing]
        created: list[str] = []
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=spec.replication_factor,
                        topic_configs=dict(spec.config),
                    )
                    for spec in missing
                ]
            )
            for topic, code, *rest in response.topic_errors:
                error_type = for_code(code)
                if code == 0:
                    created.append(topic)
                elif error_type is not TopicAlreadyExistsError:
                    message = rest[0] if rest and rest[0] else error_type.__name__
                    raise ConfigError(f"cannot create topic {topic}: {message}")
        if wanted:
            await _await_partitions(admin, list(wanted.values()))
            await _check_insync(admin, list(wanted.values()))
        return created
    except KafkaError as e:
        raise TemporaryError(f"Kafka at {bootstrap_servers} did not answer: {e}") from e
    finally:
        await admin.close()


#: How long a topic just created may stay invisible in the broker's metadata.
TOPIC_VISIBLE_SECONDS = 15.0
#: What a broker answers for a topic its metadata does not hold yet: unknown topic (3),
#: leader not available (5).
_NOT_YET_VISIBLE = frozenset({3, 5})


async def _await_partitions(
    admin: AIOKafkaAdminClient, specs: list[TopicSpec], *, within: float = TOPIC_VISIBLE_SECONDS
) -> None:
    """Wait until every topic of ``specs`` is described with all its partitions.

    A topic the broker does not know yet (unknown topic, leader not available) is asked
    again every 0.1 s, and still unknown after ``within`` seconds is a ``TemporaryError``.
    A topic it knows with fewer partitions or fewer replicas than asked (made before on
    fewer brokers, or by a process with other settings), or will not describe (an ACL), is
    a ``ConfigError`` at once.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        described: list[dict[str, Any]] = await admin.describe_topics([s.name for s in specs])
        by_name = {d["topic"]: d for d in described}
        pending: list[str] = []
        for spec in specs:
            found = by_name.get(spec.name)
            code = found.get("error_code", 0) if found is not None else 3
            if code in _NOT_YET_VISIBLE:
                pending.append(spec.name)
                continue
            if code != 0:  # an ACL refusing to describe it, say: no wait will change that
                raise ConfigError(f"cannot describe topic {spec.name}: {for_code(code).__name__}")
            parts = found["partitions"] if found is not None else []
            if len(parts) < spec.partitions:
                raise ConfigError(
                    f"topic {spec.name} has {len(parts)} partitions but {spec.partitions} are "
                    "needed; add partitions with kafka-topics --alter or choose another topic "
                    "prefix"
                )
            replicas = min((len(p["replicas"]) for p in parts), default=0)
            if replicas < spec.replication_factor:
                raise ConfigError(
                    f"topic {spec.name} has {replicas} replica(s) of a partition but "
                    f"{spec.replication_factor} are asked (kafka.replication_factor): made "
                    "before on fewer brokers? Reassign its partitions "
                    "(kafka-reassign-partitions) or choose another topic prefix"
                )
        if not pending:
            return
        if loop.time() >= deadline:
            raise TemporaryError(
                f"topics {', '.join(pending)} still not in the broker's metadata "
                f"after {within:.0f} s"
            )
        await asyncio.sleep(0.1)


_INSYNC = "min.insync.replicas"


async def _check_insync(
    admin: AIOKafkaAdminClient, specs: list[TopicSpec], *, within: float = TOPIC_VISIBLE_SECONDS
) -> None:
    """``ConfigError`` when a topic that asks for ``min.insync.replicas`` has a lower one
    (made before by a process with other settings): a write acknowledged by fewer replicas
    than asked is lost with them. A higher one is kept (stricter than asked)."""
    asked = {s.name: int(s.config[_INSYNC]) for s in specs if _INSYNC in s.config}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while asked:
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, {_INSYNC: None}) for name in asked]
        )
        for answer in answers:
            for resource in answer.to_object()["resources"]:
                name, code = resource["resource_name"], resource["error_code"]
                if code in _NOT_YET_VISIBLE:
                    continue  # its configuration not in this broker's metadata yet
                if code != 0:
                    raise ConfigError(
                        f"cannot describe the configuration of topic {name}: "
                        f"{for_code(code).__name__}"
                    )
                values = {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
                have = int(values.get(_INSYNC) or 1)
                if have < asked[name]:
                    raise ConfigError(
                        f"topic {name} has {_INSYNC}={have} but {asked[name]} are asked "
                        "(kafka.min_insync_replicas): its writes would be acknowledged by "
                        "fewer replicas; raise it with kafka-configs --alter --add-config "
                        f"{_INSYNC}={asked[name]}, or choose another topic prefix"
                    )
                del asked[name]
        if asked:
            if loop.time() >= deadline:
                raise TemporaryError(
                    f"the configuration of topics {', '.join(asked)} still not described "
                    f"after {within:.0f} s"
                )
            await asyncio.sleep(0.1)


def make_producer(settings: KafkaSettings, *, client_id: str) -> AIOKafkaProducer:
    """A producer that waits for every in-sync replica and never duplicates on retry."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        # zstd (cramjam, in Rust): gzip spent 6-15 ms of the event loop per 150 KB batch,
        # which made a minute's 400 live closes wait seconds in the fetcher.
        compression_type="zstd",
        linger_ms=5,
        max_request_size=settings.max_message_bytes,
        request_timeout_ms=30_000,
        **settings.client_options(),
    )


def make_consumer(
    settings: KafkaSettings, *topics: str, group_id: str, client_id: str, max_records: int = 500
) -> AIOKafkaConsumer:
    """A group member that commits only when told (after its output is safe).

    Partition assignments are logged (``assigned [...]``), so an operator sees
    how replicas share the work.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_records,
        max_partition_fetch_bytes=settings.max_message_bytes,
        fetch_max_bytes=max(settings.max_message_bytes, 52_428_800),
        session_timeout_ms=10_000,
        heartbeat_interval_ms=3_000,
        rebalance_timeout_ms=30_000,
        **settings.client_options(),
    )
    consumer.subscribe(list(topics), listener=_LogAssignments(client_id))
    return consumer


class _LogAssignments(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, who: str) -> None:
        self.who = who

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        parts = sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)
        log.info("%s assigned %d partitions: %s", self.who, len(parts), ", ".join(parts))


async def start_client(client: AIOKafkaProducer | AIOKafkaConsumer) -> None:
    """``client.start()``; ``TemporaryError`` while the broker is unreachable (retry it)."""
    try:
        await client.start()
    except KafkaError as e:
        raise TemporaryError(f"Kafka not reachable: {e}") from e
