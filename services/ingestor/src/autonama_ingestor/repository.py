"""What the ingestor's handler stores, behind a small protocol: a poll's records sorted into
a ``Batch``, stored in one go by a ``Repository``, which says what changed (``Stored``).

``PostgresRepository`` is the real one: one transaction per batch (requests, plans,
signals with their alerts and current state, per-symbol progress, backtests), idempotent,
so a replayed poll changes nothing. The unit tests run the handler on an in-memory one
(``tests/support/ingest_memory.py``), and a contract test holds both to the same
scenarios against the real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from autonama_shared.db.backtests import (
    record_backtest_plan,
    record_backtest_request,
    store_backtest_results,
    update_backtest_progress,
)
from autonama_shared.db.pool import transaction
from autonama_shared.db.scans import FinishedScan, record_plan, record_request, update_progress
from autonama_shared.db.store import stage_signals, store_staged
from autonama_shared.messaging.events import (
    BacktestComputed,
    BacktestPlanned,
    BacktestRequested,
    ScanPlanned,
    ScanRequested,
    SignalComputed,
)
from autonama_shared.messaging.ports import of_type

__all__ = ["Batch", "PostgresRepository", "Repository", "Stored"]


@dataclass(frozen=True)
class Batch:
    """A poll's records by kind, in the order they came (other kinds are ignored)."""

    requests: list[ScanRequested] = field(default_factory=list)
    plans: list[ScanPlanned] = field(default_factory=list)
    signals: list[SignalComputed] = field(default_factory=list)
    backtest_requests: list[BacktestRequested] = field(default_factory=list)
    backtest_plans: list[BacktestPlanned] = field(default_factory=list)
    backtest_results: list[BacktestComputed] = field(default_factory=list)

    @classmethod
    def of(cls, events: Sequence[Any]) -> Batch:
        return cls(
            of_type(events, ScanRequested),
            of_type(events, ScanPlanned),
            of_type(events, SignalComputed),
            of_type(events, BacktestRequested),
            of_type(events, BacktestPlanned),
            of_type(events, BacktestComputed),
        )

    def scan_ids(self) -> list[str]:
        """The scans whose progress this batch may move."""
        return [p.scan_id for p in self.plans] + [s.scan_id for s in self.signals]

    def backtest_ids(self) -> list[str]:
        return [p.backtest_id for p in self.backtest_plans] + [
            r.backtest_id for r in self.backtest_results
        ]


@dataclass(frozen=True)
class Stored:
    """What a batch changed: signal rows new to the store, scans and backtests that
    finished with it (each once: a replay finishes nothing again)."""

    new_signals: int
    finished: list[FinishedScan]
    backtests_finished: list[str]


class Repository(Protocol):
    async def store(self, batch: Batch) -> Stored:
        """Store ``batch`` whole or not at all; storing it again changes nothing."""
        ...


class PostgresRepository:
    """The batch in one PostgreSQL transaction (the runner commits the poll's offsets after).
    Its signals are staged and stored under their keys' locks, beside other writers; then,
    holding the writers' lock (``WRITERS_LOCK``, which ``store_staged`` takes) to the end,
    its alerts, requests, plans and the scans' recount: with several ingestors, a scan's
    request, plan and signals come through different ones, and a batch of plans alone must
    not recount beside the uncommitted signals of another. (A plan written before that
    lock would hold its scan's row while waiting for it, and the lock's holder may be
    recounting that scan.)"""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def store(self, batch: Batch) -> Stored:
        async with transaction(self.pool) as conn:
            staged = await stage_signals(conn, batch.signals, origin="pipeline")  # no lock yet
            new = await store_staged(conn, staged)  # holds the writers' lock from here on
            for request in batch.requests:  # visible as "requested"
                await record_request(conn, request)
            for plan in batch.plans:
                await record_plan(conn, plan)
            finished = await update_progress(conn, batch.scan_ids())
            for bt_request in batch.backtest_requests:
                await record_backtest_request(conn, bt_request)
            for bt_plan in batch.backtest_plans:
                await record_backtest_plan(conn, bt_plan)
            await store_backtest_results(conn, batch.backtest_results)
            done = await update_backtest_progress(conn, batch.backtest_ids())
        return Stored(new, finished, done)
