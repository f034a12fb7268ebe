"""Ingesting an offline results file (``autonama scan``'s output) into PostgreSQL.

A file is validated against the published JSON Schema, then stored in one
transaction: a ``scans`` row (origin ``file``), its signals (idempotent, like
the pipeline's) and an ``ingestions`` row. A file whose content (sha256) was
ingested before is a duplicate and changes nothing. Every outcome, rejections
included, is recorded in ``ingestions``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import re
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import asyncpg
import fastjsonschema
from pydantic import ValidationError

from autonama_shared.db.scans import record_plan, update_progress
from autonama_shared.db.store import store_signals
from autonama_shared.errors import ConfigError
from autonama_shared.formats.records import RECORD_FIELDS, describe
from autonama_shared.formats.results import ResultsFile, results_schema
from autonama_shared.messaging.events import ScanParams, ScanPlanned, ScanRequested, SignalComputed

__all__ = [
    "ACCEPTED_NAME",
    "IngestOutcome",
    "ReadFile",
    "ingest_file",
    "read_file",
    "record_outcome",
]

#: The names ``autonama scan`` writes; nothing else is taken from a drop folder.
ACCEPTED_NAME = re.compile(r"^backtest_results_\d{8}_\d{6}(_\d{1,3})?\.json$")
_NAMESPACE = uuid.UUID("0b5f2a61-7c1e-4d2b-9a8e-3f6c1d9e4b27")


@dataclass(frozen=True)
class IngestOutcome:
    file_name: str
    status: Literal["ingested", "duplicate", "rejected"]
    rows: int  # signals the file holds (stored now, or already stored by the pipeline)
    sha256: str
    size_bytes: int
    error: str | None = None
    scan_id: str | None = None


#: A valid file: its model, the plan and the signals it stores.
Converted = tuple["ResultsFile", "ScanPlanned", list["SignalComputed"]]


def _signals(results: ResultsFile, scan_id: str) -> tuple[ScanPlanned, list[SignalComputed]]:
    p = results.parameters
    params = ScanParams(
        interval=p.interval, days=p.days, degree=p.degree, kstd=p.kstd, price_scale=p.price_scale
    )
    request = ScanRequested(
        scan_id=scan_id,
        origin="file",
        params=params,
        requested_at=results.generated_at,
        symbols=[r.symbol for r in results.results] or None,
    )
    plan = ScanPlanned(
        scan_id=scan_id,
        request=request,
        symbols=[r.symbol for r in results.results],
        window=p.window,
        planned_at=results.generated_at,
    )
    if not results.results:
        return plan, []
    # Every field of an event was validated with the file (a SymbolResult is a SignalRecord;
    # the symbol's pattern is the event's): one event is validated as a whole, the others
    # are copies of it with their own record, symbol, times and window. Validating each
    # again ran the window's checks twice and the parameters' once a symbol (pydantic runs
    # a model's "after" validators even on an instance it is handed): 40% of a file's time.
    first = results.results[0]
    template = SignalComputed(
        **first.model_dump(include=set(RECORD_FIELDS)),
        scan_id=scan_id,
        symbol=first.symbol,
        params=params,
        window=p.window,
        computed_at=results.generated_at,
        engine_version=results.engine_version,
        last_candle_time=first.last_candle_time,
    )
    events = [
        template.model_copy(
            update={
                **{name: getattr(r, name) for name in RECORD_FIELDS},
                "symbol": r.symbol,
                "last_candle_time": _utc(r.last_candle_time),
                "series": r.window(),
            }
        )
        for r in results.results
    ]
    return plan, events


def _utc(moment: datetime | None) -> datetime | None:
    """As an event's times are kept (``UTCDatetime``)."""
    return moment.astimezone(UTC) if moment is not None else None


@functools.cache
def _validator() -> Callable[[object], object]:
    schema = results_schema()
    schema.pop("$schema", None)  # fastjsonschema reads draft-07; the schema uses nothing newer
    validate: Callable[[object], object] = fastjsonschema.compile(schema)
    return validate


def _check(data: bytes, scan_id: str) -> tuple[Converted | None, str | None]:
    """The parsed file, or why it is refused."""
    try:
        # A valid file in one pass of pydantic's JSON parser, strictly (no coercion the
        # published schema would refuse): 4-5x faster than parsing, then checking the
        # schema, then the model. Anything it refuses is read again below to say why.
        results = ResultsFile.model_validate_json(data, strict=True)
        return (results, *_signals(results, scan_id)), None
    except (ValidationError, ConfigError, ValueError):
        pass
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"not valid JSON (truncated?): {e}"
    try:
        _validator()(document)
    except fastjsonschema.JsonSchemaValueException as e:
        return None, f"does not match the results schema: {e.message}"
    try:
        results = ResultsFile.model_validate(document)
        return (results, *_signals(results, scan_id)), None
    except ValidationError as e:
        return None, f"invalid results: {describe(e)}"
    except ConfigError as e:
        return None, f"invalid results: {e}"


def _read(path: Path, max_bytes: int) -> tuple[bytes | None, str | None]:
    try:
        st = path.lstat()
    except OSError as e:
        return None, f"cannot read: {e.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return None, "not a regular file (a link, a folder or a device is never read)"
    if st.st_size > max_bytes:
        return None, f"{st.st_size} bytes is over the limit of {max_bytes}"
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as f:
            # bounded: the file may have grown (or been replaced) since its lstat
            data = f.read(max_bytes + 1)
    except OSError as e:
        return None, f"cannot read: {e.strerror}"
    if len(data) > max_bytes:
        return None, f"over the limit of {max_bytes} bytes (it grew while it was read)"
    return data, None


async def record_outcome(pool: asyncpg.Pool, outcome: IngestOutcome) -> None:
    """Add an outcome decided without reading the file (a refused name) to the history."""
    async with pool.acquire() as conn:
        await _record(conn, outcome)


async def _record(conn: asyncpg.pool.PoolConnectionProxy, o: IngestOutcome) -> None:
    await conn.execute(
        """INSERT INTO ingestions (file_name, sha256, size_bytes, rows, status, error, scan_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        o.file_name,
        o.sha256,
        o.size_bytes,
        o.rows,
        o.status,
        o.error,
        uuid.UUID(o.scan_id) if o.scan_id else None,
    )


@dataclass(frozen=True)
class ReadFile:
    """A results file read, hashed and checked, not stored yet: CPU work, no database."""

    name: str
    digest: str
    scan_id: str
    size: int
    converted: Converted | None
    problem: str | None


def read_file(path: Path, max_bytes: int = 200 * 1024 * 1024) -> ReadFile:
    """Read and check ``path`` (blocking: run it in a thread). A drop folder reads the next
    file this way while the current one is being stored."""
    data, problem = _read(path, max_bytes)
    digest = hashlib.sha256(data or b"").hexdigest()
    scan_id = str(uuid.uuid5(_NAMESPACE, digest))
    converted: Converted | None = None
    if data is not None:
        converted, problem = _check(data, scan_id)
    size = len(data) if data is not None else 0
    return ReadFile(path.name, digest, scan_id, size, converted, problem)


async def ingest_file(
    pool: asyncpg.Pool,
    path: Path,
    *,
    max_bytes: int = 200 * 1024 * 1024,
    read: ReadFile | None = None,
) -> IngestOutcome:
    """Validate and store one results file (``read``: already read by ``read_file``); the
    outcome is also recorded in ``ingestions``."""
    if read is None:
        # Parsing and validating a large file is CPU work: off the event loop.
        read = await asyncio.to_thread(read_file, path, max_bytes)
    name, digest, scan_id, size = read.name, read.digest, read.scan_id, read.size
    converted, problem = read.converted, read.problem
    async with pool.acquire() as conn:
        if converted is None:
            outcome = IngestOutcome(name, "rejected", 0, digest, size, problem or "empty")
            await _record(conn, outcome)
            return outcome
        _, plan, events = converted
        try:
            async with conn.transaction():
                before = await conn.fetchrow(
                    """SELECT file_name, ingested_at FROM ingestions
                       WHERE sha256 = $1 AND status = 'ingested'""",
                    digest,
                )
                if before is not None:
                    outcome = IngestOutcome(
                        name,
                        "duplicate",
                        0,
                        digest,
                        size,
                        f"same content as {before['file_name']}, ingested "
                        f"{before['ingested_at'].isoformat()}",
                        scan_id,
                    )
                    await _record(conn, outcome)
                    return outcome
                # the plan after the signals: written under the writers' lock, which
                # store_signals takes (see PostgresRepository)
                await store_signals(conn, events, origin="file")
                await record_plan(conn, plan)
                await update_progress(conn, [scan_id])
                rows = sum(e.error is None for e in events)
                outcome = IngestOutcome(name, "ingested", rows, digest, size, None, scan_id)
                await _record(conn, outcome)
        except asyncpg.UniqueViolationError:
            # Another ingestor committed the same content in between.
            outcome = IngestOutcome(name, "duplicate", 0, digest, size, "ingested concurrently")
            await _record(conn, outcome)
        return outcome
