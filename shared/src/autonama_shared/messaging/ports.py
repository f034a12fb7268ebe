"""What the runner (``messaging.runner``) takes: the clients it needs of Kafka (aiokafka's,
or the fake broker of the unit tests) and the shapes of the handlers it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeAlias, TypeVar

from aiokafka import ConsumerRecord, TopicPartition

__all__ = ["Consumer", "Emit", "MapHandler", "Producer", "Record", "SinkHandler", "of_type"]

Record: TypeAlias = ConsumerRecord[bytes, bytes]
T = TypeVar("T")


class Producer(Protocol):
    """What the runner needs of a producer (aiokafka's, or a fake in unit tests)."""

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None
    ) -> asyncio.Future[Any]: ...

    async def stop(self) -> None: ...


class Consumer(Protocol):
    """What the runner needs of a group consumer (aiokafka's, or a fake in unit tests)."""

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Record]]: ...

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    async def stop(self) -> None: ...


#: Publishes one event (``topic``, ``event``, ``key``); the runner waits for its ack.
Emit = Callable[[str, Any, bytes], Awaitable[None]]
MapHandler = Callable[[Sequence[Any], Emit], Awaitable[None]]
SinkHandler = Callable[[Sequence[Any]], Awaitable[None]]


def of_type(events: Sequence[Any], cls: type[T]) -> list[T]:
    """The events of one type, in order."""
    return [e for e in events if isinstance(e, cls)]
