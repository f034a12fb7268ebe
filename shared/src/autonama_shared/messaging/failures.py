"""How the runner tells a record's failure from the world's (``messaging.runner``).

``kafka_error`` sorts a Kafka error met while publishing a record's events by the fault
model (``autonama_shared.faults``); ``Circuit`` counts records failing alone for one cause,
so an outage the fault model does not know stops the dead-lettering instead of draining a
topic into the dead letters; the ``DEAD_LETTER_*`` bounds keep a dead letter within its
topic's message size.
"""

from __future__ import annotations

import re

from aiokafka.errors import KafkaError

from autonama_shared.errors import DataError, FatalError, TemporaryError
from autonama_shared.faults import Fault, kafka_fault

__all__ = [
    "DEAD_LETTER_ERROR_CHARS",
    "DEAD_LETTER_MARGIN",
    "Circuit",
    "describe",
    "kafka_error",
]


def describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


#: Room left in a dead letter's message for the batch's own framing.
DEAD_LETTER_MARGIN = 4096
#: The most of an error's text a dead letter carries.
DEAD_LETTER_ERROR_CHARS = 2000


def kafka_error(e: KafkaError) -> Exception:
    """A Kafka error met while publishing a record's events, sorted by the fault model."""
    kind = kafka_fault(e)
    if kind is Fault.RECORD:
        return DataError(f"Kafka refused what this record made: {describe(e)}")
    if kind is Fault.FATAL:
        return FatalError(f"Kafka: {describe(e)}")
    return TemporaryError(f"Kafka: {e}")


_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\d+(\.\d+)?")


class Circuit:
    """Records failing alone one after another for the same cause.

    ``failed`` says whether the cause has now failed ``limit`` records in a row, with
    no record handled in between: then it is the world's fault (an outage the fault
    model does not know), not the records', and ``open`` names it until a record gets
    through (``succeeded``). The cause is the error's type and its text without its
    values (numbers, quoted strings), so records refused for the same reason count
    together. Failures that can only be the record's (``faults.record_certain``: a value
    out of range, a constraint) are never counted.

    >>> c = Circuit(3)
    >>> [c.failed(ValueError(f"disk {i} full")) for i in range(3)]
    [False, False, True]
    >>> c.open
    'ValueError: disk # full'
    >>> c.succeeded(); c.open is None
    True
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.cause: str | None = None
        self.count = 0
        self.open: str | None = None

    def failed(self, e: BaseException) -> bool:
        cause = f"{type(e).__name__}: {_VALUES.sub('#', str(e))[:200]}"
        if cause == self.cause:
            self.count += 1
        else:
            self.cause, self.count = cause, 1
        if self.count >= self.limit:
            self.open = cause
        return self.open is not None and self.open == cause

    def succeeded(self) -> None:
        self.cause, self.count, self.open = None, 0, None
