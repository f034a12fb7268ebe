"""The dead-letter topic read back: list, show and replay what the workers set aside.

A dead letter names the record it carries (topic, partition, offset, key) and
either holds its bytes or, for a record too large to travel in a letter, its
size and SHA-256 (the record is then read from its own topic, where it stays
for that topic's retention, and checked against the digest). A replay
publishes the record's bytes with its key to its original topic: every
handler is idempotent, so replaying a letter twice stores nothing twice. Each
letter is named by its place in the dead-letter topic (``partition:offset``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from autonama_shared.errors import DataError, TemporaryError
from autonama_shared.messaging.events import DeadLetter, EventDecodeError, decode
from autonama_shared.messaging.kafka import make_producer
from autonama_shared.messaging.topics import Topics
from autonama_shared.settings import KafkaSettings

__all__ = ["Letter", "count_letters", "read_letters", "record_bytes", "replay", "select"]


@dataclass(frozen=True)
class Letter:
    """A dead letter and where it sits in the dead-letter topic."""

    partition: int
    offset: int
    letter: DeadLetter | None  # None: the letter itself is unreadable
    raw: bytes

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def digest(self) -> str:
        """The letter's own SHA-256: what marks it replayed."""
        return hashlib.sha256(self.raw).hexdigest()


def _consumer(kafka: KafkaSettings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=kafka.max_message_bytes,
        fetch_max_bytes=max(kafka.max_message_bytes, 52_428_800),
        **kafka.client_options(),
    )


async def _partitions(kafka: KafkaSettings, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` (none if it does not exist yet)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id="autonama-dlq",
        **kafka.client_options(),
    )
    try:
        await admin.start()
        if topic not in await admin.list_topics():
            return []
        [described] = await admin.describe_topics([topic])
        return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])
    finally:
        await admin.close()


async def count_letters(kafka: KafkaSettings) -> int:
    """How many dead letters the topic holds now (end minus start offsets)."""
    consumer = _consumer(kafka)
    try:
        await consumer.start()
        tps = await _partitions(kafka, Topics.of(kafka).dead_letters)
        if not tps:
            return 0
        start = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        return sum(end[tp] - start[tp] for tp in tps)
    except KafkaError as e:
        raise TemporaryError(f"Kafka at {kafka.bootstrap_servers}: {e}") from e
    finally:
        await consumer.stop()


async def read_letters(kafka: KafkaSettings) -> list[Letter]:
    """Every dead letter the topic holds now, oldest first."""
    consumer = _consumer(kafka)
    letters: list[Letter] = []
    try:
        await consumer.start()
        tps = await _partitions(kafka, Topics.of(kafka).dead_letters)
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset >= end[tp] or r.value is None:
                        continue
                    try:
                        letter: DeadLetter | None = decode(r.value, DeadLetter)
                    except EventDecodeError:
                        letter = None
                    letters.append(Letter(tp.partition, r.offset, letter, r.value))
    except KafkaError as e:
        raise TemporaryError(f"Kafka at {kafka.bootstrap_servers}: {e}") from e
    finally:
        await consumer.stop()
    return sorted(letters, key=lambda x: (x.partition, x.offset))


def select(
    letters: Sequence[Letter],
    *,
    ids: Sequence[str] = (),
    topic: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    reason: str | None = None,
) -> list[Letter]:
    """The letters matching every filter given: ``ids`` (``partition:offset``), the record's
    ``topic`` (its full name, or the name without the prefix), the time it was set aside
    (``since`` inclusive, ``until`` exclusive), and a ``reason`` found in its error."""
    out = []
    for x in letters:
        d = x.letter
        if ids and x.id not in ids:
            continue
        if d is None:
            if topic or since or until or reason:
                continue
            out.append(x)
            continue
        if topic is not None and d.topic != topic and not d.topic.endswith(f".{topic}"):
            continue
        if since is not None and d.failed_at < since:
            continue
        if until is not None and d.failed_at >= until:
            continue
        if reason is not None and reason.lower() not in d.error.lower():
            continue
        out.append(x)
    return out


async def record_bytes(kafka: KafkaSettings, letter: DeadLetter) -> bytes:
    """The bytes of the record ``letter`` set aside: its own, or read back from the record's
    topic and checked against its digest. ``DataError`` when that is no longer possible."""
    if letter.value_b64 is not None:
        return base64.b64decode(letter.value_b64)
    if letter.value_sha256 is None:
        raise DataError(f"{letter.topic}[{letter.partition}]@{letter.offset}: an empty record")
    consumer = _consumer(kafka)
    tp = TopicPartition(letter.topic, letter.partition)
    where = f"{letter.topic}[{letter.partition}]@{letter.offset}"
    try:
        await consumer.start()
        consumer.assign([tp])
        start = (await consumer.beginning_offsets([tp]))[tp]
        if letter.offset < start:
            raise DataError(f"{where} is gone from its topic (retention): it cannot be replayed")
        consumer.seek(tp, letter.offset)
        batch = await consumer.getmany(tp, timeout_ms=10_000, max_records=1)
        records = batch.get(tp, [])
        if not records or records[0].offset != letter.offset or records[0].value is None:
            raise DataError(f"{where} could not be read back")
        value: bytes = records[0].value
    except KafkaError as e:
        raise TemporaryError(f"Kafka at {kafka.bootstrap_servers}: {e}") from e
    finally:
        await consumer.stop()
    if hashlib.sha256(value).hexdigest() != letter.value_sha256:
        raise DataError(f"{where} is not the record that was set aside (its digest differs)")
    return value


async def replay(kafka: KafkaSettings, letters: Sequence[Letter]) -> list[Letter]:
    """Publish each letter's record to its original topic with its key; the letters
    replayed, in order. ``DataError`` names a letter whose record cannot be had."""
    producer = make_producer(kafka, client_id="autonama-dlq")
    done: list[Letter] = []
    try:
        await producer.start()
        for x in letters:
            if x.letter is None:
                raise DataError(f"dead letter {x.id} is unreadable: nothing to replay")
            d = x.letter
            value = await record_bytes(kafka, d)
            key = base64.b64decode(d.key_b64) if d.key_b64 is not None else None
            await producer.send_and_wait(d.topic, value, key=key)
            done.append(x)
    except KafkaError as e:
        raise TemporaryError(f"Kafka at {kafka.bootstrap_servers}: {e}") from e
    finally:
        await producer.stop()
    return done
