"""The one consume -> handle -> produce -> commit loop of every worker (quix-streams' Application).

Two modes, one loop:

    map   records in, events out (fetcher, analyzer): ``handler(events, emit)``;
          the poll's offsets are committed once the broker acknowledged every
          event the handler emitted.
    sink  a poll in, one database transaction (ingestor): ``handler(events)``;
          the offsets are committed once the handler returned (its transaction
          committed).

For every poll the runner decodes each record as one of the accepted events;
a record that cannot be decoded goes to the dead-letter topic. Then:

- ``TemporaryError`` (broker or database away): every partition of the poll
  is rewound to the first offset this poll read from it (``seek``, a local
  position change: it holds whether or not the group ever committed, where
  aiokafka's ``seek_to_committed`` does nothing for a partition without a
  committed offset), and read again after a backoff (0.5 s doubling to 30 s),
  never dead-lettered; one log line per backoff step, one when it is back.
  A partition taken away by a rebalance meanwhile is not rewound: its new
  owner starts from the committed offset, which is before the poll.
- any other exception: a poll of several events is handled again one event
  at a time; the event that fails alone is dead-lettered with the error, its
  topic / partition / offset and the original bytes, and the loop goes on.
  One record can never stop the consumer. A dead letter too large for its
  topic carries the record's size and SHA-256 instead of its bytes (the record
  stays at its topic / partition / offset, where ``autonama dlq replay`` reads
  it): a record is never both unhandled and unreported.
- the circuit (``messaging.failures.Circuit``): when ``circuit_limit`` records in a
  row fail alone for the same cause, the cause is the world's, not the records': the
  runner stops dead-lettering, rewinds, backs off and reports itself unhealthy until
  a record gets through.
- ``Stopped`` (the handler saw the stop event): nothing is committed; the
  records are handled again after a restart.
- ``FatalError`` (no record can be handled, e.g. a table is missing): the
  runner stops without committing or dead-lettering; the process exits 1.

A record handled again (after a rewind, or one by one after its poll failed)
may emit its events twice: every consumer downstream is idempotent.

Kafka errors are sorted by the fault model (``messaging.failures.kafka_error``); a
sink sorts its database's errors (``db.pool.transaction``). The loop's state ("ok",
"retrying: ...", "circuit open: ...") is the part ``<who>.consumer`` of ``health``.
The producer, consumer and every background task (``add_task``) are closed by one
``AsyncExitStack`` when the runner exits. The clients and handlers it takes are the
protocols of ``messaging.ports``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.errors import IllegalStateError, KafkaError

from autonama_shared.errors import FatalError, TemporaryError
from autonama_shared.faults import record_certain
from autonama_shared.health import Health
from autonama_shared.lifecycle import Backoff, Stopped, supervise
from autonama_shared.messaging.events import DeadLetter, EventDecodeError, decode, encode
from autonama_shared.messaging.failures import (
    DEAD_LETTER_ERROR_CHARS,
    DEAD_LETTER_MARGIN,
    Circuit,
    describe,
    kafka_error,
)
from autonama_shared.messaging.ports import (
    Consumer,
    MapHandler,
    Producer,
    Record,
    SinkHandler,
)
from autonama_shared.messaging.topics import Topics
from autonama_shared.untrusted import printable

__all__ = ["Runner"]

log = logging.getLogger(__name__)


@dataclass
class _Poll:
    records: list[Record]
    pairs: list[tuple[Record, Any]] = field(default_factory=list)  # decoded (record, event)

    def offsets(self) -> dict[TopicPartition, int]:
        last: dict[TopicPartition, int] = {}
        for r in self.records:
            tp = TopicPartition(r.topic, r.partition)
            last[tp] = max(last.get(tp, -1), r.offset)
        return {tp: offset + 1 for tp, offset in last.items()}

    def firsts(self) -> dict[TopicPartition, int]:
        """The first offset this poll read from each partition: where a rewind goes back to."""
        first: dict[TopicPartition, int] = {}
        for r in self.records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        return first


class Runner:
    """The loop of one worker: see the module docstring."""

    def __init__(
        self,
        *,
        service: str,
        consumer: Consumer,
        producer: Producer,
        topics: Topics,
        accepted: tuple[type[Any], ...],
        stop: asyncio.Event,
        stack: AsyncExitStack,
        max_records: int = 500,
        poll_ms: int = 1000,
        health: Health | None = None,
        who: str | None = None,
        circuit_limit: int = 20,
    ) -> None:
        self.service = service
        self.who = who or service
        self.health = health or Health()
        self.part = f"{self.who}.consumer"
        self.circuit = Circuit(circuit_limit)
        self.consumer = consumer
        self.producer = producer
        self.topics = topics
        self.accepted = accepted
        self.stop = stop
        self.stack = stack
        self.max_records = max_records
        self.poll_ms = poll_ms
        self.backoff = Backoff(f"{service}: poll", logger=logging.getLogger(f"autonama.{service}"))

    def add_task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``coro`` beside the loop; it is cancelled and awaited when the runner exits."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._report)

        async def cancel() -> None:
            task.cancel()
            # a task that died was logged when it did (``_report``): nothing to raise here
            await asyncio.gather(task, return_exceptions=True)

        self.stack.push_async_callback(cancel)
        return task

    def supervise(self, name: str, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``work()`` beside the loop, started again with backoff whenever it fails or
        returns before the stop (``lifecycle.supervise``); its state is the part
        ``<who>.<name>`` of ``health``: "ok", or "restarting: <why>"."""
        part = f"{self.who}.{name}"
        logger = logging.getLogger(f"autonama.{self.service}")

        async def attempt() -> None:
            self.health.ok(part)
            await work()

        async def failed(why: str) -> None:
            self.health.set(part, f"restarting: {why}")

        return self.add_task(
            supervise(name, attempt, self.stop, on_failure=failed, logger=logger), name=name
        )

    def _report(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "%s: background task %s stopped: %s",
                self.service,
                task.get_name(),
                describe(task.exception()),  # type: ignore[arg-type]
            )

    async def map(self, handler: MapHandler) -> None:
        """Records in, events out: until ``stop``."""

        async def call(events: Sequence[Any]) -> None:
            pending: list[asyncio.Future[Any]] = []

            async def emit(topic: str, event: Any, key: bytes) -> None:
                pending.append(await self.producer.send(topic, encode(event), key=key))

            try:
                await handler(events, emit)
                await asyncio.gather(*pending)  # acknowledged before the input is marked done
            except KafkaError as e:
                raise kafka_error(e) from e

        await self._loop(call)

    async def sink(self, handler: SinkHandler) -> None:
        """A poll in, one transaction (the handler's): until ``stop``."""
        await self._loop(handler)

    async def _loop(self, call: Callable[[Sequence[Any]], Awaitable[None]]) -> None:
        while not self.stop.is_set():
            try:
                polled = await self.consumer.getmany(
                    timeout_ms=self.poll_ms, max_records=self.max_records
                )
            except KafkaError as e:
                await self._failed(TemporaryError(f"Kafka: {e}"))
                continue
            records = [r for rs in polled.values() for r in rs]
            if not records:
                if self.circuit.open is None:
                    self.health.ok(self.part)
                continue
            poll = _Poll(records)
            try:
                await self.process(poll, call)
            except Stopped:
                return  # not committed: handled again after a restart
            except TemporaryError as e:
                self._rewind(poll)
                await self._failed(e)
                continue
            self.backoff.succeeded()
            self.health.ok(self.part)

    async def _failed(self, e: TemporaryError) -> None:
        opened = self.circuit.open
        self.health.set(self.part, f"circuit open: {opened}" if opened else f"retrying: {e}")
        await self.backoff.failed(self.stop, e)

    async def process(self, poll: _Poll, call: Callable[[Sequence[Any]], Awaitable[None]]) -> None:
        """Decode, handle (isolating a failing record), commit. Raises TemporaryError, Stopped."""
        for record in poll.records:
            try:
                poll.pairs.append((record, decode(record.value, *self.accepted)))
            except EventDecodeError as e:
                await self.dead_letter(record, str(e))
            except Exception as e:  # noqa: BLE001 - whatever a record does to a decoder: poison
                await self.dead_letter(record, f"cannot decode: {describe(e)}")
        if poll.pairs:
            try:
                await call([event for _, event in poll.pairs])
                self.circuit.succeeded()
            except (TemporaryError, Stopped, FatalError):
                raise
            except Exception as e:  # noqa: BLE001 - isolated below, one record at a time
                if len(poll.pairs) == 1:
                    await self._failed_alone(poll.pairs[0][0], e)
                else:
                    log.warning(
                        "%s: a poll of %d records failed (%s); handling them one by one",
                        self.service,
                        len(poll.pairs),
                        describe(e),
                    )
                    await self._one_by_one(poll.pairs, call)
        try:
            await self.consumer.commit(poll.offsets())
        except KafkaError as e:
            raise TemporaryError(f"Kafka: commit failed: {e}") from e

    async def _one_by_one(
        self,
        pairs: list[tuple[Record, Any]],
        call: Callable[[Sequence[Any]], Awaitable[None]],
    ) -> None:
        for record, event in pairs:
            try:
                await call([event])
                self.circuit.succeeded()
            except (TemporaryError, Stopped, FatalError):
                raise
            except Exception as e:  # noqa: BLE001 - this record alone fails: dead-letter it
                await self._failed_alone(record, e)

    async def _failed_alone(self, record: Record, e: Exception) -> None:
        """Dead-letter ``record`` for ``e``, unless the circuit says the cause is not its."""
        if not record_certain(e) and self.circuit.failed(e):
            log.error(
                "%s: %d records in a row failed for the same cause (%s): not dead-lettering "
                "more; backing off until a record gets through",
                self.service,
                self.circuit.limit,
                self.circuit.open,
            )
            raise TemporaryError(f"circuit open: {self.circuit.open}")
        await self.dead_letter(record, describe(e))

    async def dead_letter(self, record: Record, error: str) -> None:
        """Publish ``record`` with ``error`` to the dead-letter topic and wait for the ack.
        The error is bounded (``DEAD_LETTER_ERROR_CHARS``) and escaped: whatever raised it, the
        letter fits its topic."""
        error = printable(error, DEAD_LETTER_ERROR_CHARS)
        letter = DeadLetter.of(
            self.service,
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.value,
            error,
        )
        raw = encode(letter)
        if len(raw) > self.topics.max_message_bytes - DEAD_LETTER_MARGIN:
            raw = encode(letter.without_value())  # the record stays at its offset
        try:
            try:
                future = await self.producer.send(self.topics.dead_letters, raw, key=record.key)
                await future
            except kafka_errors.MessageSizeTooLargeError:
                # the topic's own limit is lower than the settings say: the reference goes
                raw = encode(letter.without_value())
                future = await self.producer.send(self.topics.dead_letters, raw, key=None)
                await future
        except KafkaError as e:
            raise TemporaryError(f"Kafka: dead letter not sent: {e}") from e
        log.warning(
            "%s: sent %s[%d]@%d to %s: %s",
            self.service,
            record.topic,
            record.partition,
            record.offset,
            self.topics.dead_letters,
            error,
        )

    def _rewind(self, poll: _Poll) -> None:
        """Back to the first record of ``poll`` in each of its partitions still assigned."""
        for tp, offset in poll.firsts().items():
            try:
                self.consumer.seek(tp, offset)
            except IllegalStateError:
                # revoked by a rebalance since the poll: its next owner reads it from the
                # committed offset, which is at or before ``offset`` (nothing past it was
                # committed), so nothing is skipped
                log.info(
                    "%s: %s[%d] was reassigned before its rewind",
                    self.service,
                    tp.topic,
                    tp.partition,
                )
