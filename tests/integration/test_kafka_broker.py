"""aiokafka against the real Kafka 4.x broker: keyed messages shared by a consumer group."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from autonama_shared.errors import ConfigError
from autonama_shared.messaging.kafka import TopicSpec, ensure_topics
from autonama_shared.settings import KafkaSettings

MESSAGES = 10_000
PARTITIONS = 6


async def test_ensure_topics_is_idempotent(kafka_settings: KafkaSettings) -> None:
    spec = TopicSpec(kafka_settings.topic("klines"), partitions=PARTITIONS)
    assert await ensure_topics(kafka_settings.bootstrap_servers, [spec]) == [spec.name]
    assert await ensure_topics(kafka_settings.bootstrap_servers, [spec]) == []
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([spec.name])
    finally:
        await admin.close()
    assert len(described["partitions"]) == PARTITIONS


async def test_a_topic_with_fewer_partitions_than_needed_is_refused(
    kafka_settings: KafkaSettings,
) -> None:
    name = kafka_settings.topic("narrow")
    assert await ensure_topics(kafka_settings.bootstrap_servers, [TopicSpec(name, 2)]) == [name]
    with pytest.raises(ConfigError, match=rf"topic {re.escape(name)} has 2 partitions but 6"):
        await ensure_topics(kafka_settings.bootstrap_servers, [TopicSpec(name, PARTITIONS)])


async def test_a_topic_with_fewer_replicas_than_asked_is_refused(
    kafka_settings: KafkaSettings,
) -> None:
    """One made with one replica (on one broker, or by a process set so) is not taken for
    a cluster's topic of three: the writes it takes would rest on one broker."""
    name = kafka_settings.topic("single")
    assert await ensure_topics(kafka_settings.bootstrap_servers, [TopicSpec(name, 2)]) == [name]
    with pytest.raises(ConfigError, match=rf"topic {re.escape(name)} has 1 replica\(s\).* 3 are"):
        await ensure_topics(kafka_settings.bootstrap_servers, [TopicSpec(name, 2, 3)])


async def test_a_topic_with_a_lower_min_insync_replicas_than_asked_is_refused(
    kafka_settings: KafkaSettings,
) -> None:
    """A topic made by a process that asked for fewer in-sync replicas is not taken for
    one whose writes must be on more; one stricter than asked is taken as it is."""
    lax, strict = kafka_settings.topic("lax"), kafka_settings.topic("strict")
    servers = kafka_settings.bootstrap_servers
    one, two = {"min.insync.replicas": "1"}, {"min.insync.replicas": "2"}
    assert await ensure_topics(servers, [TopicSpec(lax, 2, 1, one), TopicSpec(strict, 2, 1, two)])
    with pytest.raises(
        ConfigError, match=rf"topic {re.escape(lax)} has min.insync.replicas=1 but 2"
    ):
        await ensure_topics(servers, [TopicSpec(lax, 2, 1, two)])
    assert await ensure_topics(servers, [TopicSpec(strict, 2, 1, one)]) == []


async def test_two_consumers_in_one_group_share_keyed_messages_exactly_once(
    kafka_settings: KafkaSettings,
) -> None:
    topic = kafka_settings.topic("shared-work")
    await ensure_topics(kafka_settings.bootstrap_servers, [TopicSpec(topic, PARTITIONS)])
    group = f"{kafka_settings.client_id}-group"

    consumers = [
        AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_settings.bootstrap_servers,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        for _ in range(2)
    ]
    for consumer in consumers:
        await consumer.start()
    try:
        # Both members must own partitions before anything is sent, so that each gets a share.
        async with asyncio.timeout(60):
            while not all(len(c.assignment()) > 0 for c in consumers) or (
                sum(len(c.assignment()) for c in consumers) != PARTITIONS
            ):
                await asyncio.gather(*(c.getmany(timeout_ms=200) for c in consumers))

        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_settings.bootstrap_servers, acks="all", linger_ms=5
        )
        await producer.start()
        try:
            sends = [
                await producer.send(topic, key=f"SYM{i % 97}".encode(), value=str(i).encode())
                for i in range(MESSAGES)
            ]
            await asyncio.gather(*sends)
        finally:
            await producer.stop()

        received: list[tuple[int, str, int, int]] = []  # (consumer, key, partition, value)

        async def drain(index: int, consumer: AIOKafkaConsumer) -> None:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in batch.items():
                for record in records:
                    assert record.key is not None
                    assert record.value is not None
                    received.append(
                        (index, record.key.decode(), tp.partition, int(record.value.decode()))
                    )
            if batch:
                await consumer.commit()

        async with asyncio.timeout(120):
            while len(received) < MESSAGES:
                await asyncio.gather(*(drain(i, c) for i, c in enumerate(consumers)))
        # Nothing more arrives: no duplicates delivered after the last expected message.
        await asyncio.gather(*(drain(i, c) for i, c in enumerate(consumers)))
    finally:
        for consumer in consumers:
            await consumer.stop()

    values = Counter(value for _, _, _, value in received)
    assert len(received) == MESSAGES
    assert set(values) == set(range(MESSAGES))
    assert max(values.values()) == 1
    per_consumer = Counter(index for index, _, _, _ in received)
    assert per_consumer[0] > 0
    assert per_consumer[1] > 0
    partitions_of_key: dict[str, set[int]] = defaultdict(set)
    for _, key, partition, _ in received:
        partitions_of_key[key].add(partition)
    assert all(len(parts) == 1 for parts in partitions_of_key.values())
    assert len({p for parts in partitions_of_key.values() for p in parts}) > 1


async def test_committed_offsets_survive_a_new_consumer(kafka_settings: KafkaSettings) -> None:
    """A consumer that joins the group later resumes after what was committed."""
    topic = kafka_settings.topic("resume")
    await ensure_topics(kafka_settings.bootstrap_servers, [TopicSpec(topic, 1)])
    group = f"{kafka_settings.client_id}-resume"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, value=str(i).encode())
    finally:
        await producer.stop()

    async def read(n: int, commit: bool) -> list[int]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_settings.bootstrap_servers,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            got: list[int] = []
            async with asyncio.timeout(60):
                while len(got) < n:
                    record = await consumer.getone()
                    assert record.value is not None
                    got.append(int(record.value))
                    if commit:
                        await consumer.commit(
                            {TopicPartition(topic, record.partition): record.offset + 1}
                        )
            return got
        finally:
            await consumer.stop()

    assert await read(4, commit=True) == [0, 1, 2, 3]
    assert await read(6, commit=False) == [4, 5, 6, 7, 8, 9]
