"""Opening a runner (``messaging.runner``): the topics, a producer and a group consumer, each
waited for while the broker is away, and everything closed on the way out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

from autonama_shared.health import Health
from autonama_shared.lifecycle import retry_until_ready
from autonama_shared.messaging.kafka import make_consumer, make_producer, start_client
from autonama_shared.messaging.runner import Runner
from autonama_shared.messaging.topics import Topics, ensure_pipeline_topics
from autonama_shared.settings import KafkaSettings

__all__ = ["Worker", "open_runner", "open_worker_runner"]


@asynccontextmanager
async def open_runner(
    kafka: KafkaSettings,
    stop: asyncio.Event,
    *,
    service: str,
    who: str,
    inputs: Sequence[str],  # topic names without the prefix: "klines", "signals", ...
    accepted: tuple[type[Any], ...],
    group_id: str,
    max_records: int,
    poll_ms: int = 1000,
    health: Health | None = None,
) -> AsyncIterator[Runner]:
    """Create the topics, start a producer and a group consumer of ``inputs`` (each waiting
    for the broker), yield the runner, and close everything it opened on the way out.
    ``Stopped`` if ``stop`` came before the broker answered."""
    topics = Topics.of(kafka)

    await retry_until_ready(stop, f"{who}: topics", lambda: ensure_pipeline_topics(kafka, who))
    async with AsyncExitStack() as stack:
        producer = make_producer(kafka, client_id=who)
        await retry_until_ready(stop, f"{who}: producer", lambda: start_client(producer))
        stack.push_async_callback(producer.stop)
        consumer = make_consumer(
            kafka,
            *(kafka.topic(name) for name in inputs),
            group_id=group_id,
            client_id=who,
            max_records=max_records,
        )
        await retry_until_ready(stop, f"{who}: consumer", lambda: start_client(consumer))
        stack.push_async_callback(consumer.stop)
        yield Runner(
            service=service,
            consumer=consumer,
            producer=producer,
            topics=topics,
            accepted=accepted,
            stop=stop,
            stack=stack,
            max_records=max_records,
            poll_ms=poll_ms,
            health=health,
            who=who,
        )


class Worker(Protocol):
    """The settings of a service that runs one main loop (``AppSettings`` subclasses)."""

    @property
    def kafka(self) -> KafkaSettings: ...
    @property
    def replica(self) -> str: ...
    @property
    def group_id(self) -> str: ...
    @property
    def max_batch(self) -> int: ...
    @property
    def poll_ms(self) -> int: ...


def open_worker_runner(
    settings: Worker,
    stop: asyncio.Event,
    *,
    service: str,
    inputs: Sequence[str],
    accepted: tuple[type[Any], ...],
) -> AbstractAsyncContextManager[Runner]:
    """The runner of ``service``'s main loop, as its settings say: its group, its batch, its
    poll, named ``<service>-<replica>``."""
    return open_runner(
        settings.kafka,
        stop,
        service=service,
        who=f"{service}-{settings.replica}",
        inputs=inputs,
        accepted=accepted,
        group_id=settings.group_id,
        max_records=settings.max_batch,
        poll_ms=settings.poll_ms,
    )
