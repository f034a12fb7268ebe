"""The analyzer's loop: kline batches in, signals out, offsets committed after the acks.

Replicas share the ``klines`` topic in one consumer group: add a replica to
add capacity (up to the topic's partition count). Whatever is waiting is taken
in one poll and fitted together (the batched band function).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from autonama_analyzer.analyze import backtest_of, signals_of
from autonama_analyzer.settings import Settings
from autonama_shared.errors import AutonamaError, DataError
from autonama_shared.events import (
    BacktestComputed,
    BacktestKlines,
    KlineBatch,
    SignalComputed,
    encode,
)
from autonama_shared.service import decode_poll, open_kafka, wait_or_stop
from autonama_shared.topics import Topics

__all__ = ["run"]

log = logging.getLogger("autonama.analyzer")


async def run(settings: Settings, stop: asyncio.Event) -> None:
    topics = Topics.of(settings.kafka)
    who = f"analyzer-{settings.replica}"
    async with AsyncExitStack() as stack:
        kafka = await open_kafka(
            stack, settings.kafka, stop, who, topics.klines,
            group_id=settings.group_id, max_records=settings.max_batch,
        )  # fmt: skip
        if kafka is None:
            return
        producer, consumer = kafka
        while not stop.is_set():
            polled = await consumer.getmany(
                timeout_ms=settings.poll_ms, max_records=settings.max_batch
            )
            if not polled:
                continue
            got = await decode_poll(
                polled, (KlineBatch, BacktestKlines), producer, topics.dead_letters, "analyzer"
            )
            batches, backtests = got.of(KlineBatch), got.of(BacktestKlines)
            try:
                events: list[SignalComputed | BacktestComputed] = list(signals_of(batches))
            except DataError as e:  # a batch whose candles are inconsistent
                log.error("a poll of %d batches could not be analysed one by one: %s",
                          len(batches), e)  # fmt: skip
                events = []
                for b in batches:
                    try:
                        events.extend(signals_of([b]))
                    except DataError as one:
                        events.extend(signals_of([b.model_copy(update={"error": str(one)})]))
            for bt in backtests:  # CPU work: a sweep per symbol
                try:
                    events.append(await asyncio.to_thread(backtest_of, bt))
                except (AutonamaError, ValueError) as e:
                    log.error("backtest %s of %s failed: %s", bt.backtest_id, bt.symbol, e)
                    events.append(backtest_of(bt.model_copy(update={"error": str(e)})))
            try:
                futures = [
                    await producer.send(topics.signals, encode(e), key=e.symbol.encode())
                    for e in events
                ]
                await asyncio.gather(*futures)  # acknowledged by the broker...
                await consumer.commit()  # ...before the input is marked done
            except KafkaError as e:
                # Some output may be out (duplicates are harmless downstream); the input
                # is read again from the last committed offsets.
                log.warning("Kafka error (%s); reading the batch again", e)
                await _rewind(consumer)
                await wait_or_stop(stop, 2.0)
                continue
            log.info("analysed %d batches", len(batches))
            if backtests:
                log.info("backtested %d symbols", len(backtests))


async def _rewind(consumer: AIOKafkaConsumer) -> None:
    with contextlib.suppress(KafkaError):
        await consumer.seek_to_committed()
