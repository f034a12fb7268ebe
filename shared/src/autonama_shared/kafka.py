"""Kafka adapter helpers (aiokafka): topic creation and error translation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from autonama_shared.errors import ConfigError, TemporaryError

__all__ = ["TopicSpec", "ensure_topics"]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic the app needs: its full name, partition count and configuration."""

    name: str
    partitions: int = 1
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)


async def ensure_topics(
    bootstrap_servers: str, specs: Iterable[TopicSpec], *, client_id: str = "autonama-admin"
) -> list[str]:
    """Create every topic of ``specs`` that is missing; return the names created now.

    Idempotent, and safe when several processes start at once (a topic created
    by another process in between counts as present). An existing topic with
    fewer partitions than asked is a ``ConfigError``: the partition count
    bounds how many consumers can share the work, so it must not be silently less.
    """
    wanted = {spec.name: spec for spec in specs}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=client_id)
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
        present = [name for name in wanted if name in existing]
        if present:
            await _check_partitions(admin, [wanted[name] for name in present])
        return created
    except KafkaError as e:
        raise TemporaryError(f"Kafka at {bootstrap_servers} did not answer: {e}") from e
    finally:
        await admin.close()


async def _check_partitions(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
    described: list[dict[str, Any]] = await admin.describe_topics([s.name for s in specs])
    by_name = {d["topic"]: len(d["partitions"]) for d in described}
    for spec in specs:
        have = by_name.get(spec.name, 0)
        if have < spec.partitions:
            raise ConfigError(
                f"topic {spec.name} has {have} partitions but {spec.partitions} are needed; "
                "add partitions with kafka-topics --alter or choose another topic prefix"
            )
