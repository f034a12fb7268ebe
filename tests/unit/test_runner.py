"""The service runner and the handlers of the fetcher and analyzer, on an in-memory broker.

The same handlers run against the real broker in tests/integration; here each
path of the loop is driven on purpose: a good record, a poison record (dead-
lettered with its topic, partition, offset and bytes), a temporary failure
(rewound and retried, never dead-lettered), a permanent failure of one record
among several (that record alone dead-lettered), and a stop in the middle of a
request (nothing committed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiokafka import TopicPartition

from autonama_analyzer.service import make_handler as analyzer_handler
from autonama_fetcher.service import make_handler as fetcher_handler
from autonama_shared.errors import FatalError, TemporaryError
from autonama_shared.lifecycle import Stopped
from autonama_shared.messaging.events import (
    DeadLetter,
    KlineBatch,
    ScanParams,
    ScanPlanned,
    ScanRequested,
    SignalComputed,
    decode,
    encode,
)
from autonama_shared.messaging.runner import Runner
from autonama_shared.messaging.topics import Topics
from autonama_shared.settings import KafkaSettings
from autonama_shared.sources.files import FileSource
from tests.support.fake_broker import FakeBroker, FakeConsumer

TOPICS = Topics.of(KafkaSettings(topic_prefix="t."))
PARAMS = ScanParams(interval="1d", days=90, degree=3, kstd=2.0)


def make_runner(
    broker: FakeBroker, consumer: FakeConsumer, accepted: tuple[type[Any], ...]
) -> Runner:
    runner = Runner(
        service="test",
        consumer=consumer,
        producer=broker.producer(),
        topics=TOPICS,
        accepted=accepted,
        stop=asyncio.Event(),
        stack=AsyncExitStack(),
        max_records=50,
        poll_ms=10,
    )
    runner.backoff.first = 0.01  # the backoff's steps, not its logic, are shortened
    return runner


async def drain(runner: Runner, consumer: FakeConsumer, loop: Awaitable[None]) -> None:
    """Run the runner's loop until the group has committed everything (at most 10 s)."""
    task = asyncio.ensure_future(loop)
    try:
        for _ in range(1000):
            if consumer.lag() == 0 or task.done():
                break
            await asyncio.sleep(0.01)
    finally:
        runner.stop.set()
        await asyncio.wait_for(task, 10)


def closes_batch(
    data: Path, symbol: str, scan_id: str = "5d0c4a34-7b39-4c39-9d47-2a1a4e0f7c11"
) -> KlineBatch:
    candles = asyncio.run(_fetch(data, symbol))
    return KlineBatch(
        scan_id=scan_id,
        symbol=symbol,
        params=PARAMS,
        window=PARAMS.window,
        **{
            c: getattr(candles, c).tolist()
            for c in ("open_time", "open", "high", "low", "close", "volume")
        },
    )


async def _fetch(data: Path, symbol: str) -> Any:
    source = FileSource(data / "klines/until-2022-10/1d")
    return await source.fetch(symbol, "1d", PARAMS.window)


@pytest.fixture(scope="module")
def batches(shared_data: Path) -> dict[str, KlineBatch]:
    return {s: closes_batch(shared_data, s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}


def signals(broker: FakeBroker) -> list[SignalComputed]:
    return [decode(v, SignalComputed) for v in broker.values(TOPICS.signals)]


def dead_letters(broker: FakeBroker) -> list[DeadLetter]:
    return [decode(v, DeadLetter) for v in broker.values(TOPICS.dead_letters)]


async def test_a_good_record_is_analysed_and_committed(batches: dict[str, KlineBatch]) -> None:
    broker = FakeBroker(partitions=2)
    for b in batches.values():
        broker.append(TOPICS.klines, encode(b), b.symbol.encode())
    consumer = broker.consumer(TOPICS.klines)
    runner = make_runner(broker, consumer, (KlineBatch,))
    await drain(runner, consumer, runner.map(analyzer_handler(TOPICS.signals)))

    got = {s.symbol: s for s in signals(broker)}
    assert set(got) == set(batches)
    for symbol, b in batches.items():
        # the price is the window's last close, the window the parameters' 90 daily candles
        assert got[symbol].price == b.close[-1]
        assert got[symbol].candles == 90
        assert got[symbol].scan_id == b.scan_id
    assert dead_letters(broker) == []
    assert consumer.lag() == 0


async def test_a_poison_record_is_dead_lettered_and_the_rest_go_on(
    batches: dict[str, KlineBatch],
) -> None:
    broker = FakeBroker()
    good = batches["BTCUSDT"]
    # schema-valid, but open times beyond any date: the analysis itself fails on it
    huge = good.model_dump(mode="json")
    huge["open_time"] = [10**19 + i for i in range(len(good.open_time))]
    huge["symbol"] = "ETHUSDT"
    poison = [b"not json at all", json.dumps(huge).encode()]
    broker.append(TOPICS.klines, poison[0], b"X")
    broker.append(TOPICS.klines, encode(good), b"BTCUSDT")
    broker.append(TOPICS.klines, poison[1], b"ETHUSDT")
    consumer = broker.consumer(TOPICS.klines)
    runner = make_runner(broker, consumer, (KlineBatch,))
    await drain(runner, consumer, runner.map(analyzer_handler(TOPICS.signals)))

    assert [s.symbol for s in signals(broker)] == ["BTCUSDT"]
    letters = dead_letters(broker)
    assert [(d.topic, d.partition, d.offset) for d in letters] == [
        (TOPICS.klines, 0, 0),
        (TOPICS.klines, 0, 2),
    ]
    assert [d.original_value() for d in letters] == poison
    assert "not JSON" in letters[0].error
    assert consumer.lag() == 0  # the consumer moved past both


async def test_a_temporary_failure_is_retried_never_dead_lettered(
    batches: dict[str, KlineBatch],
) -> None:
    broker = FakeBroker()
    b = batches["SOLUSDT"]
    broker.append(TOPICS.klines, encode(b), b"SOLUSDT")
    broker.fail_sends = 3  # the broker refuses the signal three times, then takes it
    consumer = broker.consumer(TOPICS.klines)
    runner = make_runner(broker, consumer, (KlineBatch,))
    await drain(runner, consumer, runner.map(analyzer_handler(TOPICS.signals)))

    assert [s.symbol for s in signals(broker)] == ["SOLUSDT"]
    assert dead_letters(broker) == []
    assert broker.fail_sends == 0
    assert consumer.lag() == 0


async def test_a_record_that_fails_alone_is_dead_lettered_in_a_sink() -> None:
    broker = FakeBroker()
    requests = [
        ScanRequested(params=PARAMS, symbols=[s]) for s in ("BTCUSDT", "BADUSDT", "ETHUSDT")
    ]
    for r in requests:
        broker.append(TOPICS.scan_requests, encode(r), r.scan_id.encode())
    stored: list[str] = []
    calls: list[int] = []

    async def sink(events: Sequence[Any]) -> None:
        calls.append(len(events))
        if any(e.symbols == ["BADUSDT"] for e in events):
            raise ValueError("the database refused BADUSDT")  # permanent, for this record
        stored.extend(e.symbols[0] for e in events)

    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))
    await drain(runner, consumer, runner.sink(sink))

    assert stored == ["BTCUSDT", "ETHUSDT"]
    assert calls == [3, 1, 1, 1]  # the poll, then one record at a time
    [letter] = dead_letters(broker)
    assert (letter.offset, letter.error) == (1, "ValueError: the database refused BADUSDT")
    assert consumer.lag() == 0


async def test_a_temporary_failure_of_a_sink_rewinds_the_whole_poll() -> None:
    broker = FakeBroker()
    for s in ("BTCUSDT", "ETHUSDT"):
        r = ScanRequested(params=PARAMS, symbols=[s])
        broker.append(TOPICS.scan_requests, encode(r), r.scan_id.encode())
    attempts: list[list[str]] = []

    async def sink(events: Sequence[Any]) -> None:
        attempts.append([e.symbols[0] for e in events])
        if len(attempts) < 3:
            raise TemporaryError("PostgreSQL: connection refused")

    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))
    await drain(runner, consumer, runner.sink(sink))

    assert attempts == [["BTCUSDT", "ETHUSDT"]] * 3
    assert dead_letters(broker) == []
    assert consumer.lag() == 0


async def test_a_failure_on_the_first_poll_ever_rewinds_partitions_with_nothing_committed() -> None:
    """A new group: nothing committed on any partition, so aiokafka's seek_to_committed
    would leave the position after the failed records; the rewind must not."""
    broker = FakeBroker(partitions=3)
    symbols = [f"S{i}USDT" for i in range(12)]
    for s in symbols:
        r = ScanRequested(params=PARAMS, symbols=[s])
        broker.append(TOPICS.scan_requests, encode(r), s.encode())
    assert len({tp.partition for tp in broker.logs}) > 1  # several partitions in the poll
    stored: list[str] = []
    failures = 2

    async def sink(events: Sequence[Any]) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise TemporaryError("PostgreSQL: the database system is starting up")
        stored.extend(e.symbols[0] for e in events)

    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))
    await drain(runner, consumer, runner.sink(sink))

    assert sorted(stored) == sorted(symbols)  # every record handled, each once
    assert dead_letters(broker) == []
    assert consumer.lag() == 0


async def test_a_rewind_goes_back_to_the_poll_on_each_partition_committed_or_not() -> None:
    broker = FakeBroker(partitions=2)
    consumer = broker.consumer(TOPICS.scan_requests)
    first = ScanRequested(params=PARAMS, symbols=["A0USDT"])
    broker.append(TOPICS.scan_requests, encode(first), b"A0USDT")
    stored: list[str] = []
    failing = False

    async def sink(events: Sequence[Any]) -> None:
        nonlocal failing
        if failing:
            failing = False
            raise TemporaryError("PostgreSQL: cannot execute INSERT in a read-only transaction")
        stored.extend(e.symbols[0] for e in events)

    runner = make_runner(broker, consumer, (ScanRequested,))
    await drain(runner, consumer, runner.sink(sink))  # one partition committed, one not
    later = [f"B{i}USDT" for i in range(10)]
    for s in later:
        broker.append(
            TOPICS.scan_requests, encode(ScanRequested(params=PARAMS, symbols=[s])), s.encode()
        )
    committed = {tp.partition for (_, tp) in broker.committed}
    polled = {tp.partition for tp, log in broker.logs.items() if log}
    assert committed != polled  # a partition with a commit, another never committed
    failing = True
    runner = make_runner(broker, consumer, (ScanRequested,))
    await drain(runner, consumer, runner.sink(sink))

    assert sorted(stored) == sorted(["A0USDT", *later])
    assert consumer.lag() == 0


async def test_a_partition_revoked_before_its_rewind_is_left_to_its_next_owner() -> None:
    broker = FakeBroker(partitions=2)
    symbols = [f"S{i}USDT" for i in range(8)]
    for s in symbols:
        broker.append(
            TOPICS.scan_requests, encode(ScanRequested(params=PARAMS, symbols=[s])), s.encode()
        )
    consumer = broker.consumer(TOPICS.scan_requests)
    gone = TopicPartition(TOPICS.scan_requests, 1)
    stored: list[str] = []
    failed = False

    async def sink(events: Sequence[Any]) -> None:
        nonlocal failed
        if not failed:
            failed = True
            consumer.revoke(gone)  # a rebalance while the poll was being handled
            raise TemporaryError("PostgreSQL: connection refused")
        stored.extend(e.symbols[0] for e in events)

    runner = make_runner(broker, consumer, (ScanRequested,))
    await drain(runner, consumer, runner.sink(sink))

    def on(partition: int) -> list[str]:
        log = broker.logs[TopicPartition(TOPICS.scan_requests, partition)]
        return sorted(decode(r.value, ScanRequested).symbols[0] for r in log)

    assert on(0)  # the failed poll held records of both partitions
    assert on(1)
    assert sorted(stored) == on(0)  # the partition kept: rewound and handled
    assert (consumer.group, gone) not in broker.committed  # nothing committed past
    assert broker.consumer(TOPICS.scan_requests).lag() == len(on(1))  # its next owner's work


async def test_the_fetcher_plans_and_publishes_a_batch_per_symbol(shared_data: Path) -> None:
    broker = FakeBroker(partitions=3)
    request = ScanRequested(params=PARAMS, symbols=["BTCUSDT", "ETHUSDT", "NOPEUSDT"])
    broker.append(TOPICS.scan_requests, encode(request), request.scan_id.encode())
    source = FileSource(shared_data / "klines/until-2022-10/1d")
    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))
    handler = fetcher_handler(source, TOPICS, runner.stop, concurrency=2)
    await drain(runner, consumer, runner.map(handler))

    [plan] = [decode(v, ScanPlanned) for v in broker.values(TOPICS.scans)]
    assert plan.symbols == ["BTCUSDT", "ETHUSDT", "NOPEUSDT"]
    assert plan.window == 90
    got = {b.symbol: b for b in (decode(v, KlineBatch) for v in broker.values(TOPICS.klines))}
    assert got["NOPEUSDT"].error is not None
    assert got["NOPEUSDT"].close == []
    btc = await source.fetch("BTCUSDT", "1d", 90)
    np.testing.assert_array_equal(got["BTCUSDT"].close, btc.close)
    assert consumer.lag() == 0


async def test_an_invalid_request_is_dead_lettered_by_the_fetcher(shared_data: Path) -> None:
    broker = FakeBroker()
    too_long = ScanRequested(params=PARAMS).model_dump(mode="json")
    too_long["params"]["days"] = 721
    both = ScanRequested(params=PARAMS).model_dump(mode="json") | {"symbols": ["A"], "top": 5}
    for bad in (too_long, both):
        broker.append(TOPICS.scan_requests, json.dumps(bad).encode(), b"k")
    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))
    handler = fetcher_handler(
        FileSource(shared_data / "klines/until-2022-10/1d"), TOPICS, runner.stop, 2
    )
    await drain(runner, consumer, runner.map(handler))

    first, second = dead_letters(broker)
    assert "params.days: Input should be less than or equal to 720" in first.error
    assert "720" in first.error
    assert "give either symbols or top N, not both" in second.error
    assert broker.values(TOPICS.klines) == []
    assert consumer.lag() == 0


async def test_a_stop_in_the_middle_of_a_request_commits_nothing() -> None:
    broker = FakeBroker()
    r = ScanRequested(params=PARAMS, symbols=["BTCUSDT"])
    broker.append(TOPICS.scan_requests, encode(r), b"k")
    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))

    async def handler(events: Sequence[Any], emit: Callable[..., Awaitable[None]]) -> None:
        runner.stop.set()
        raise Stopped("abandoned")

    await asyncio.wait_for(runner.map(handler), 10)
    assert consumer.lag() == 1
    assert dead_letters(broker) == []


async def test_a_fatal_error_stops_the_runner_and_blames_no_record() -> None:
    broker = FakeBroker()
    for s in ("BTCUSDT", "ETHUSDT"):
        r = ScanRequested(params=PARAMS, symbols=[s])
        broker.append(TOPICS.scan_requests, encode(r), r.scan_id.encode())

    async def sink(events: Sequence[Any]) -> None:
        raise FatalError('PostgreSQL: UndefinedTableError: relation "signals" does not exist')

    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))
    with pytest.raises(FatalError, match="does not exist"):
        await asyncio.wait_for(runner.sink(sink), 10)
    assert dead_letters(broker) == []
    assert consumer.lag() == 2


async def test_a_background_task_that_dies_is_logged_and_closed_with_the_runner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = FakeBroker()
    runner = make_runner(broker, broker.consumer(TOPICS.klines), (KlineBatch,))

    async def watcher() -> None:
        raise OSError("drop folder vanished")

    async def forever() -> None:
        await asyncio.Event().wait()

    async with runner.stack:
        dead = runner.add_task(watcher(), name="files")
        alive = runner.add_task(forever(), name="scheduler")
        await asyncio.wait([dead], timeout=5)
    assert alive.cancelled()
    assert "background task files stopped: OSError: drop folder vanished" in caplog.text
