"""The fault model: every error the services can meet from PostgreSQL or Kafka, classified once.

Three kinds, named for what a worker must do with the record at hand:

    TEMPORARY  the dependency is away or busy (connection lost, disk full, read-only after
               a failover, a deadlock): keep the record, back off, try it again; never
               dead-letter it. The service reports itself unhealthy meanwhile.
    RECORD     this record cannot be stored or sent as it is (a value out of range, a
               constraint, an event too large for its topic): dead-letter it, go on.
    FATAL      nothing can be handled until an operator acts (a table or privilege
               missing, a schema that does not exist): stop without blaming any record.

PostgreSQL errors are classified by SQLSTATE: first the exact code, then its class
(the first two characters), then RECORD for a class not listed. Errors raised by the
client library rather than the server (a lost socket, a value it cannot encode) are
classified by type. ``FAULT_TABLE`` is the same model as rows, printed in the
documentation (docs/reference/pipeline.md; a test holds the two together).
"""

from __future__ import annotations

import enum
import sys

from aiokafka import errors as kafka_errors

__all__ = [
    "FAULT_TABLE",
    "Fault",
    "kafka_fault",
    "postgres_fault",
    "record_certain",
    "sqlstate_fault",
]


class Fault(enum.Enum):
    TEMPORARY = "temporary"
    RECORD = "record"
    FATAL = "fatal"


T, R, F = Fault.TEMPORARY, Fault.RECORD, Fault.FATAL

#: SQLSTATE classes (PostgreSQL's appendix A) and what they mean for the record at hand.
SQLSTATE_CLASSES: dict[str, tuple[Fault, str]] = {
    "03": (F, "SQL statement not yet complete (a bug)"),
    "08": (T, "connection exception"),
    "09": (R, "triggered action exception"),
    "0A": (F, "feature not supported"),
    "0B": (F, "invalid transaction initiation"),
    "0F": (R, "locator exception"),
    "0L": (F, "invalid grantor"),
    "0P": (F, "invalid role specification"),
    "0Z": (F, "diagnostics exception"),
    "20": (R, "case not found"),
    "21": (R, "cardinality violation"),
    "22": (R, "data exception (a value out of range, malformed)"),
    "23": (R, "integrity constraint violation"),
    "24": (F, "invalid cursor state"),
    "25": (F, "invalid transaction state"),
    "26": (F, "invalid SQL statement name"),
    "27": (R, "triggered data change violation"),
    "28": (T, "invalid authorization (login refused: a rotated password, a role disabled)"),
    "2B": (F, "dependent privilege descriptors still exist"),
    "2D": (F, "invalid transaction termination"),
    "2F": (R, "SQL routine exception"),
    "34": (F, "invalid cursor name"),
    "38": (R, "external routine exception"),
    "39": (R, "external routine invocation exception"),
    "3B": (F, "savepoint exception"),
    "3D": (F, "invalid catalog name (no such database)"),
    "3F": (F, "invalid schema name"),
    "40": (T, "transaction rollback (serialization failure, deadlock)"),
    "42": (F, "syntax error or access rule violation (a table, column or privilege missing)"),
    "44": (R, "WITH CHECK OPTION violation"),
    "53": (T, "insufficient resources (disk full, out of memory, too many connections)"),
    "54": (R, "program limit exceeded (a statement too large for this record)"),
    "55": (T, "object not in prerequisite state (a lock not available, an object in use)"),
    "57": (T, "operator intervention (shutdown, cancelled, cannot connect now)"),
    "58": (T, "system error (I/O error)"),
    "72": (T, "snapshot too old"),
    "F0": (F, "configuration file error"),
    "HV": (F, "foreign data wrapper error"),
    "P0": (R, "PL/pgSQL error raised for this record"),
    "XX": (F, "internal error (data or index corrupted)"),
}

#: Codes whose meaning differs from their class's.
SQLSTATE_CODES: dict[str, tuple[Fault, str]] = {
    "25006": (T, "read-only transaction: a standby after a failover, or set read-only"),
    "25P03": (T, "idle-in-transaction timeout"),
    "40002": (R, "a deferred constraint failed at commit"),
    "57P04": (F, "the database was dropped"),
}


def sqlstate_fault(sqlstate: str) -> Fault:
    """The kind of a server error by its SQLSTATE (RECORD for a class not listed)."""
    if sqlstate in SQLSTATE_CODES:
        return SQLSTATE_CODES[sqlstate][0]
    return SQLSTATE_CLASSES.get(sqlstate[:2], (R, ""))[0]


def postgres_fault(e: BaseException) -> Fault:
    """The kind of an error met while talking to PostgreSQL through asyncpg."""
    import asyncpg
    from asyncpg.exceptions import _base as asyncpg_base

    if isinstance(e, asyncpg_base.DataError):
        return R  # the client cannot encode a value of this record
    if isinstance(e, asyncpg.PostgresError):
        return sqlstate_fault(e.sqlstate or "")
    if isinstance(
        e, asyncpg_base.ClientConfigurationError | asyncpg_base.UnsupportedClientFeatureError
    ):
        return F
    if isinstance(
        e,
        OSError
        | TimeoutError
        | asyncpg.InterfaceError
        | asyncpg_base.ProtocolError
        | asyncpg_base.InternalClientError,
    ):
        # the socket, the pool, the protocol, or the client's state (a connection ended by
        # the server mid-operation: "cannot switch to state 15"): the connection, not the record
        return T
    return R


#: Kafka errors caused by the record at hand (what it made is too large for its topic).
_KAFKA_RECORD = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.RecordListTooLargeError,
)
#: Kafka errors no retry can cure: a topic name the broker refuses, a protocol it lacks.
_KAFKA_FATAL = (
    kafka_errors.InvalidTopicError,
    kafka_errors.UnsupportedVersionError,
    kafka_errors.UnsupportedForMessageFormatError,
)


def kafka_fault(e: BaseException) -> Fault:
    """The kind of an error met while talking to Kafka through aiokafka.

    A refused authorization is TEMPORARY: an operator grants the ACL and the work goes
    on where it was, with nothing dead-lettered meanwhile."""
    if isinstance(e, _KAFKA_RECORD):
        return R
    if isinstance(e, _KAFKA_FATAL):
        return F
    return T


#: SQLSTATE classes no outage produces: the values of the record at hand were refused.
_RECORD_CERTAIN_CLASSES = ("22", "23")


def record_certain(e: BaseException) -> bool:
    """True when ``e`` (or what caused it) can only come from the record itself: a value
    PostgreSQL refused (classes 22, 23), one asyncpg cannot encode, one that does not
    validate, our own ``DataError``. Such failures never open a worker's circuit."""
    from pydantic import ValidationError

    from autonama_shared.errors import DataError

    asyncpg = sys.modules.get("asyncpg")  # not loaded: no error of it can be at hand
    seen: set[int] = set()
    at: BaseException | None = e
    while at is not None and id(at) not in seen:
        seen.add(id(at))
        if isinstance(at, ValidationError | DataError):
            return True
        if asyncpg is not None:
            if isinstance(at, asyncpg.exceptions._base.DataError):
                return True
            if (
                isinstance(at, asyncpg.PostgresError)
                and (getattr(at, "sqlstate", None) or "")[:2] in _RECORD_CERTAIN_CLASSES
            ):
                return True
        at = at.__cause__ or at.__context__
    return False


def _rows() -> list[tuple[str, str, str]]:
    rows = [(f"`{c}`", kind.value, what) for c, (kind, what) in SQLSTATE_CLASSES.items()]
    rows += [(f"`{c}`", kind.value, what) for c, (kind, what) in SQLSTATE_CODES.items()]
    rows += [
        (
            "lost socket, pool closed, timeout, client state",
            T.value,
            "the connection, not the record",
        ),
        ("a value asyncpg cannot encode", R.value, "the record's"),
        ("Kafka: too large for the topic", R.value, "what the record made cannot be sent"),
        ("Kafka: invalid topic, unsupported version", F.value, "a configuration to fix"),
        ("Kafka: any other error", T.value, "broker away, leader moving, ACL refused"),
    ]
    order = [T.value, R.value, F.value]
    return sorted(rows, key=lambda r: (order.index(r[1]), not r[0].startswith("`"), r[0]))


#: The model as rows (what, kind, why): the table of docs/reference/pipeline.md.
FAULT_TABLE: list[tuple[str, str, str]] = _rows()
