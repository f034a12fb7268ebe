"""What every service's entry point shares: logging, SIGTERM as a stop event, start-up retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, TypeVar, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from autonama_shared.db import migrate
from autonama_shared.db.pool import open_pool
from autonama_shared.errors import AutonamaError, ConfigError, TemporaryError
from autonama_shared.events import E, EventDecodeError, decode
from autonama_shared.kafka import (
    ensure_topics,
    make_consumer,
    make_producer,
    send_dead_letter,
    start_when_ready,
)
from autonama_shared.settings import AppSettings, KafkaSettings, PostgresSettings
from autonama_shared.topics import Topics

__all__ = [
    "Polled",
    "decode_poll",
    "ensure_topics_when_ready",
    "migrate_when_ready",
    "open_kafka",
    "run_service",
    "wait_or_stop",
]

log = logging.getLogger(__name__)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` unless ``stop`` is set first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def ensure_topics_when_ready(kafka: KafkaSettings, stop: asyncio.Event, who: str) -> bool:
    """Create the pipeline's topics, retrying while the broker is unreachable."""
    delay = 0.5
    while not stop.is_set():
        try:
            await ensure_topics(kafka.bootstrap_servers, Topics.of(kafka).specs(), client_id=who)
        except TemporaryError as e:
            log.warning("%s: %s; retrying in %.1f s", who, e, delay)
            await wait_or_stop(stop, delay)
            delay = min(30.0, delay * 2)
            continue
        return True
    return False


async def migrate_when_ready(postgres: PostgresSettings, stop: asyncio.Event, who: str) -> bool:
    """Apply the migrations, retrying while the database is unreachable."""
    delay = 0.5
    while not stop.is_set():
        try:
            async with open_pool(postgres, application_name=who) as pool, pool.acquire() as conn:
                applied = await migrate(conn, postgres.db_schema)
        except TemporaryError as e:
            log.warning("%s: %s; retrying in %.1f s", who, e, delay)
            await wait_or_stop(stop, delay)
            delay = min(30.0, delay * 2)
            continue
        if applied:
            log.info("%s: applied migrations %s", who, applied)
        return True
    return False


S = TypeVar("S", bound=AppSettings)


def run_service(
    name: str,
    load: Callable[[], S],
    main: Callable[[S, asyncio.Event], Awaitable[None]],
) -> int:
    """Load settings, then run ``main(settings, stop)`` until SIGTERM / SIGINT sets ``stop``."""
    try:
        settings = load()
    except ConfigError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("%s starting (kafka %s, environment %s)", name,
                 settings.kafka.bootstrap_servers, settings.environment)  # fmt: skip
        await main(settings, stop)
        log.info("%s stopped", name)

    try:
        asyncio.run(runner())
    except AutonamaError as e:
        logging.getLogger(name).error("%s stopped: %s", name, e)
        return 1
    return 0


async def open_kafka(
    stack: AsyncExitStack,
    kafka: KafkaSettings,
    stop: asyncio.Event,
    who: str,
    *topics: str,
    group_id: str,
    max_records: int,
) -> tuple[AIOKafkaProducer, AIOKafkaConsumer] | None:
    """A started producer and group consumer, closed by ``stack``; None if ``stop`` came first.

    The topics are created first (idempotently); every step waits for the broker.
    """
    if not await ensure_topics_when_ready(kafka, stop, who):
        return None
    producer = make_producer(kafka, client_id=who)
    if not await start_when_ready(producer, stop, who):
        return None
    stack.push_async_callback(producer.stop)
    consumer = make_consumer(
        kafka, *topics, group_id=group_id, client_id=who, max_records=max_records
    )
    if not await start_when_ready(consumer, stop, who):
        return None
    stack.push_async_callback(consumer.stop)
    return producer, consumer


class Polled:
    """The events of one poll, by type; what could not be decoded went to the dead letters."""

    def __init__(self) -> None:
        self._by_type: dict[type[Any], list[Any]] = defaultdict(list)

    def add(self, event: Any) -> None:
        self._by_type[type(event)].append(event)

    def of(self, cls: type[E]) -> list[E]:
        return cast(list[E], self._by_type[cls])


async def decode_poll(
    polled: dict[Any, list[ConsumerRecord[bytes, bytes]]],
    accepted: tuple[type[Any], ...],
    producer: AIOKafkaProducer,
    dead_letters: str,
    service: str,
) -> Polled:
    """Decode every record of a ``getmany`` as one of ``accepted``; a record that is not
    (undecodable, unknown type, newer version) is sent to ``dead_letters`` with why."""
    out = Polled()
    for records in polled.values():
        for record in records:
            try:
                out.add(decode(record.value, *accepted))
            except EventDecodeError as e:
                await send_dead_letter(producer, dead_letters, service, record, str(e))
    return out
