"""The fault model, and what the runner does with each kind, on the in-memory broker.

Expected kinds come from PostgreSQL's SQLSTATE appendix and the issue's list
(connection classes, 53, 57P0x, 25006 and 40 are the database's state; 22 and 23
the record's; 42 an operator's to fix), not from the module's tables.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)
from asyncpg.exceptions import _base as asyncpg_base

from autonama_shared.errors import DataError, FatalError, TemporaryError
from autonama_shared.faults import FAULT_TABLE, Fault, kafka_fault, postgres_fault, sqlstate_fault
from autonama_shared.lifecycle import supervise
from autonama_shared.messaging.events import ScanRequested, decode, encode
from autonama_shared.messaging.runner import Runner
from tests.support.fake_broker import FakeBroker
from tests.unit.test_runner import PARAMS, TOPICS, dead_letters, drain, make_runner

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("sqlstate", "kind"),
    [
        ("08006", Fault.TEMPORARY),  # connection failure
        ("08001", Fault.TEMPORARY),
        ("53100", Fault.TEMPORARY),  # disk full
        ("53200", Fault.TEMPORARY),  # out of memory
        ("53300", Fault.TEMPORARY),  # too many connections
        ("57P01", Fault.TEMPORARY),  # admin shutdown
        ("57P02", Fault.TEMPORARY),  # crash shutdown
        ("57P03", Fault.TEMPORARY),  # cannot connect now
        ("57014", Fault.TEMPORARY),  # query cancelled
        ("25006", Fault.TEMPORARY),  # read-only transaction
        ("40001", Fault.TEMPORARY),  # serialization failure
        ("40P01", Fault.TEMPORARY),  # deadlock
        ("55P03", Fault.TEMPORARY),  # lock not available
        ("58030", Fault.TEMPORARY),  # I/O error
        ("28P01", Fault.TEMPORARY),  # password refused: an operator's, not the record's
        ("22003", Fault.RECORD),  # numeric value out of range
        ("22P02", Fault.RECORD),  # invalid text representation
        ("23505", Fault.RECORD),  # unique violation
        ("23514", Fault.RECORD),  # check violation
        ("54000", Fault.RECORD),  # program limit exceeded
        ("40002", Fault.RECORD),  # a deferred constraint
        ("42P01", Fault.FATAL),  # undefined table
        ("42501", Fault.FATAL),  # insufficient privilege
        ("3F000", Fault.FATAL),  # no such schema
        ("3D000", Fault.FATAL),  # no such database
        ("ZZ999", Fault.RECORD),  # a class nobody knows: the record's, and the circuit's
    ],
)
def test_every_sqlstate_class_has_a_kind(sqlstate: str, kind: Fault) -> None:
    assert sqlstate_fault(sqlstate) is kind


def test_errors_raised_by_the_client_are_sorted_by_type() -> None:
    assert postgres_fault(ConnectionResetError("reset by peer")) is Fault.TEMPORARY
    assert postgres_fault(TimeoutError()) is Fault.TEMPORARY
    assert postgres_fault(asyncpg.ConnectionDoesNotExistError("closed")) is Fault.TEMPORARY
    assert postgres_fault(asyncpg.InterfaceError("pool is closing")) is Fault.TEMPORARY
    # a connection the server ended mid-operation leaves the client's state broken: it was
    # sorted as the record's and dead-lettered a signal (seen in CI, the read-only fault test)
    confused = asyncpg.exceptions.InternalClientError(
        "cannot switch to state 15; another operation (2) is in progress"
    )
    assert postgres_fault(confused) is Fault.TEMPORARY
    assert postgres_fault(asyncpg.ReadOnlySQLTransactionError("read-only")) is Fault.TEMPORARY
    assert postgres_fault(asyncpg.DiskFullError("no space")) is Fault.TEMPORARY
    assert postgres_fault(asyncpg.DeadlockDetectedError("deadlock")) is Fault.TEMPORARY
    # a value the client cannot encode is the record's, though it is an InterfaceError
    assert postgres_fault(asyncpg_base.DataError("invalid input for $1")) is Fault.RECORD
    assert postgres_fault(asyncpg.UndefinedTableError("no signals")) is Fault.FATAL


def test_kafka_errors_are_temporary_but_what_a_record_made_too_large() -> None:
    assert kafka_fault(KafkaConnectionError()) is Fault.TEMPORARY
    assert kafka_fault(NotLeaderForPartitionError()) is Fault.TEMPORARY
    assert kafka_fault(TopicAuthorizationFailedError()) is Fault.TEMPORARY
    assert kafka_fault(MessageSizeTooLargeError()) is Fault.RECORD


def test_the_documentation_prints_the_model() -> None:
    page = (REPO / "docs/reference/pipeline.md").read_text()
    for what, kind, _ in FAULT_TABLE:
        assert f"| {what} | {kind} |" in page, what


def requests(broker: FakeBroker, n: int) -> list[str]:
    symbols = [f"S{i:02d}USDT" for i in range(n)]
    for s in symbols:
        r = ScanRequested(params=PARAMS, symbols=[s])
        broker.append(TOPICS.scan_requests, encode(r), s.encode())
    return symbols


async def test_an_outage_the_model_does_not_know_opens_the_circuit_not_the_dead_letters() -> None:
    broker = FakeBroker()
    symbols = requests(broker, 30)
    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))
    runner.circuit.limit = 4
    stored: list[str] = []
    states: list[str] = []
    outage = True

    async def sink(events: Sequence[Any]) -> None:
        nonlocal outage
        states.append(runner.health.parts.get(runner.part, ""))
        if outage:
            if sum(s.startswith("circuit open") for s in states) >= 3:
                outage = False  # the operator freed the disk
            raise RuntimeError(f"could not extend file 'base/{len(states)}': No space left")
        stored.extend(e.symbols[0] for e in events)

    await drain(runner, consumer, runner.sink(sink))

    letters = dead_letters(broker)
    assert len(letters) == 3  # the circuit opened on the 4th record of the same cause
    assert sorted(stored) == symbols  # every record handled once the outage ended
    assert any(s.startswith("circuit open: RuntimeError") for s in states)
    assert runner.health.parts[runner.part] == "ok"
    assert consumer.lag() == 0


async def test_values_the_database_refused_never_open_the_circuit() -> None:
    broker = FakeBroker()
    symbols = requests(broker, 12)
    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))
    runner.circuit.limit = 3

    async def sink(events: Sequence[Any]) -> None:
        raise asyncpg.CheckViolationError('violates check constraint "signals_price_check"')

    await drain(runner, consumer, runner.sink(sink))

    assert len(dead_letters(broker)) == len(symbols)  # each one the record's own fault
    assert runner.circuit.open is None


async def test_a_record_too_large_for_its_dead_letter_is_referenced_never_stalled() -> None:
    broker = FakeBroker(max_message_bytes=3_000)
    huge = b'{"type": "scan.requested", "x": "' + b"A" * 2_500 + b'"}'
    broker.append(TOPICS.scan_requests, huge, b"k")  # fits its topic, not in base64 + letter
    symbols = requests(broker, 3)
    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))
    stored: list[str] = []

    async def sink(events: Sequence[Any]) -> None:
        stored.extend(e.symbols[0] for e in events)

    await drain(runner, consumer, runner.sink(sink))

    [letter] = dead_letters(broker)
    assert letter.value_b64 is None
    assert (letter.topic, letter.partition, letter.offset) == (TOPICS.scan_requests, 0, 0)
    assert letter.value_bytes == len(huge)
    assert letter.value_sha256 == hashlib.sha256(huge).hexdigest()
    assert stored == symbols  # the partition went on
    assert consumer.lag() == 0


async def test_an_event_too_large_for_its_topic_is_the_records_fault() -> None:
    broker = FakeBroker(max_message_bytes=600)
    requests(broker, 3)
    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))

    async def handler(events: Sequence[Any], emit: Any) -> None:
        for e in events:
            big = e.symbols[0] == "S01USDT"
            out = ScanRequested(params=PARAMS, symbols=[e.symbols[0]] * (60 if big else 1))
            await emit(TOPICS.scans, out, b"k")

    await drain(runner, consumer, runner.map(handler))

    [letter] = dead_letters(broker)
    assert letter.offset == 1
    assert "MessageSizeTooLargeError" in letter.error
    published = {decode(v, ScanRequested).symbols[0] for v in broker.values(TOPICS.scans)}
    assert published == {"S00USDT", "S02USDT"}  # the others went on
    assert consumer.lag() == 0


def test_kafka_errors_become_the_runners_kinds() -> None:
    from autonama_shared.messaging.failures import kafka_error

    assert isinstance(kafka_error(MessageSizeTooLargeError()), DataError)
    assert isinstance(kafka_error(KafkaConnectionError()), TemporaryError)


async def test_a_supervised_task_that_dies_or_returns_is_started_again() -> None:
    stop = asyncio.Event()
    runs: list[int] = []
    failures: list[str] = []

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise KeyError("boom")
        if len(runs) == 2:
            return  # returned before the stop: as bad as dying
        stop.set()

    async def failed(why: str) -> None:
        failures.append(why)

    await asyncio.wait_for(supervise("t", work, stop, on_failure=failed), 10)
    assert runs == [0, 1, 2]
    assert failures[0] == "KeyError: 'boom'"
    assert "returned before the service stopped" in failures[1]


async def test_the_runners_tasks_say_how_they_are() -> None:
    broker = FakeBroker()
    runner: Runner = make_runner(broker, broker.consumer(TOPICS.scan_requests), (ScanRequested,))
    died = asyncio.Event()

    async def work() -> None:
        died.set()
        raise FatalError("relay: the alerts table is gone")

    runner.supervise("relay", work)
    await asyncio.wait_for(died.wait(), 5)
    await asyncio.sleep(0.05)
    assert runner.health.parts["test.relay"].startswith("restarting: FatalError")
    runner.stop.set()
    await runner.stack.aclose()


async def test_a_dead_letter_fits_whatever_the_error_says() -> None:
    """An error's text can be as long as what raised it wants: the letter still fits its
    topic, with the start of the error kept."""
    broker = FakeBroker(max_message_bytes=8_000)
    requests(broker, 1)
    consumer = broker.consumer(TOPICS.scan_requests)
    runner = make_runner(broker, consumer, (ScanRequested,))
    runner.topics = dataclasses.replace(TOPICS, max_message_bytes=8_000)

    async def sink(events: Sequence[Any]) -> None:
        raise ValueError("refused: " + "x" * 50_000)

    await drain(runner, consumer, runner.sink(sink))

    [letter] = dead_letters(broker)
    assert letter.error.startswith("ValueError: refused: xxx")
    assert len(letter.error) < 8_000
    assert consumer.lag() == 0
