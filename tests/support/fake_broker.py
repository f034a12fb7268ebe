"""An in-memory broker for the handlers' unit tests (cosmicpython's fakes), never for integration.

It keeps what the runner relies on: partitioned, append-only topics with
offsets; a consumer group's committed offsets; a consumer whose position moves
on ``getmany`` and goes back on ``seek`` (and on ``seek_to_committed`` only where
something was committed, as aiokafka's does: ``if offset and offset > 0``); a
partition can be revoked (``revoke``), after which seeking it raises
``IllegalStateError`` as aiokafka's does; a producer whose
``send`` returns a future that the broker resolves. Faults are injected by
count: ``fail_sends`` makes the next sends raise a connection error, as
aiokafka's do while the broker is away; ``max_message_bytes`` refuses larger
values as the broker does.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaConnectionError, MessageSizeTooLargeError

Record = ConsumerRecord[bytes, bytes]


@dataclass
class FakeBroker:
    partitions: int = 1
    logs: dict[TopicPartition, list[Record]] = field(default_factory=lambda: defaultdict(list))
    committed: dict[tuple[str, TopicPartition], int] = field(default_factory=dict)
    fail_sends: int = 0
    #: the broker's max.message.bytes: a larger value is refused, as Kafka refuses it
    max_message_bytes: int | None = None

    def append(self, topic: str, value: bytes | None, key: bytes | None = None) -> Record:
        partition = hash(key) % self.partitions if key is not None else 0
        tp = TopicPartition(topic, partition)
        log = self.logs[tp]
        record: Record = ConsumerRecord(
            topic=topic,
            partition=partition,
            offset=len(log),
            timestamp=0,
            timestamp_type=0,
            key=key,
            value=value,
            checksum=None,
            serialized_key_size=len(key or b""),
            serialized_value_size=len(value or b""),
            headers=(),
        )
        log.append(record)
        return record

    def values(self, topic: str) -> list[bytes]:
        return [
            r.value
            for tp, log in sorted(self.logs.items(), key=lambda kv: kv[0].partition)
            if tp.topic == topic
            for r in log
            if r.value is not None
        ]

    def producer(self) -> FakeProducer:
        return FakeProducer(self)

    def consumer(self, *topics: str, group: str = "test") -> FakeConsumer:
        return FakeConsumer(self, topics, group)


@dataclass
class FakeProducer:
    broker: FakeBroker
    sent: int = 0

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> asyncio.Future[Any]:
        if self.broker.fail_sends > 0:
            self.broker.fail_sends -= 1
            raise KafkaConnectionError("fake broker: connection refused")
        limit = self.broker.max_message_bytes
        if limit is not None and len(value or b"") > limit:
            raise MessageSizeTooLargeError(f"fake broker: {len(value or b'')} > {limit} bytes")
        record = self.broker.append(topic, value, key)
        self.sent += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(record)
        return future

    async def stop(self) -> None:
        return None


@dataclass
class FakeConsumer:
    broker: FakeBroker
    topics: tuple[str, ...]
    group: str
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    revoked: set[TopicPartition] = field(default_factory=set)

    def _assigned(self) -> list[TopicPartition]:
        return [
            tp
            for t in self.topics
            for p in range(self.broker.partitions)
            if (tp := TopicPartition(t, p)) not in self.revoked
        ]

    def revoke(self, tp: TopicPartition) -> None:
        """A rebalance took ``tp`` away: its position is forgotten, as aiokafka's is."""
        self.revoked.add(tp)
        self.positions.pop(tp, None)

    def _position(self, tp: TopicPartition) -> int:
        if tp not in self.positions:
            self.positions[tp] = self.broker.committed.get((self.group, tp), 0)
        return self.positions[tp]

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Record]]:
        left = max_records if max_records is not None else 10**9
        out: dict[TopicPartition, list[Record]] = {}
        for tp in self._assigned():
            start = self._position(tp)
            taken = self.broker.logs[tp][start : start + left]
            if taken:
                out[tp] = taken
                self.positions[tp] = start + len(taken)
                left -= len(taken)
        if not out:
            await asyncio.sleep(0)  # an empty poll still yields to the loop
        return out

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        if offsets is None:
            offsets = {tp: self._position(tp) for tp in self._assigned()}
        for tp, offset in offsets.items():
            self.broker.committed[(self.group, tp)] = offset

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if partition not in self._assigned():
            raise IllegalStateError(f"No current assignment for partition {partition}")
        self.positions[partition] = offset

    async def seek_to_committed(self, *partitions: TopicPartition) -> None:
        for tp in partitions or tuple(self._assigned()):
            offset = self.broker.committed.get((self.group, tp))
            if offset and offset > 0:  # aiokafka's condition: nothing committed, no seek
                self.positions[tp] = offset

    def lag(self) -> int:
        """Records not yet committed by the group."""
        return sum(
            len(self.broker.logs[tp]) - self.broker.committed.get((self.group, tp), 0)
            for tp in self._assigned()
        )

    async def stop(self) -> None:
        return None
