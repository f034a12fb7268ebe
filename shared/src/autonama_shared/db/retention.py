"""Retention: what is past its keep goes, by whole partitions (migration 0019).

Signals and their windows are partitioned by interval, then by candle time (a day of
1m to 30m candles, a month of 1h to 12h, a year from 1d on). ``prune`` drops every
partition that ends before its interval's keep (``RetentionSettings.signals_days``):
an O(1) ``DROP TABLE`` per partition, no long ``DELETE``, nothing left for vacuum. A
partition is dropped only once all of it is past the keep, so up to one partition's span
more is kept. Alerts and the current state are never pruned: they refer to their signal
by id and carry every number they show.

Finished deliveries (and their attempts) older than ``deliveries_days`` are deleted in
batches (``prune_deliveries``): a delivery is updated until it is finished, so that table
is not partitioned.

``ensure_ahead`` makes the next partition of every interval in use before its first
candle arrives (the writer makes a missing one itself, in its transaction, but a
partition made ahead costs the writer nothing).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from autonama_shared.db.pool import Conn
from autonama_shared.lifecycle import wait_or_stop
from autonama_shared.settings import RetentionSettings

__all__ = [
    "GROWING",
    "IntervalKeep",
    "Partition",
    "TableSize",
    "ensure_ahead",
    "expired",
    "expired_deliveries",
    "keep",
    "keeps",
    "partitions",
    "prune",
    "prune_deliveries",
    "table_sizes",
]

log = logging.getLogger("autonama.retention")


@dataclass(frozen=True, slots=True)
class Partition:
    """The signals (and windows) of one interval whose candles are in [starts, ends)."""

    interval: str
    starts: datetime
    ends: datetime


async def partitions(conn: Conn) -> list[Partition]:
    """Every partition of candle times, oldest first per interval."""
    rows = await conn.fetch(
        "SELECT interval, starts, ends FROM signal_partitions ORDER BY interval, starts"
    )
    return [Partition(r["interval"], r["starts"], r["ends"]) for r in rows]


def expired(parts: list[Partition], policy: RetentionSettings, now: datetime) -> list[Partition]:
    """The partitions wholly past their interval's keep at ``now``.

    >>> day = lambda d: datetime(2026, 3, d, tzinfo=UTC)
    >>> parts = [Partition("1m", day(1), day(2)), Partition("1m", day(2), day(3)),
    ...          Partition("1d", datetime(2020, 1, 1, tzinfo=UTC), day(1))]
    >>> policy = RetentionSettings(signals_days={"1m": 30})
    >>> now = datetime(2026, 4, 1, 12, tzinfo=UTC)  # the keep: from March 2, 12:00
    >>> [(p.interval, p.starts.day) for p in expired(parts, policy, now)]
    [('1m', 1)]
    """
    out = []
    for p in parts:
        days = policy.days_of(p.interval)
        if days is not None and p.ends <= now - timedelta(days=days):
            out.append(p)
    return out


#: How long a drop waits for its table locks. ``DROP TABLE`` of a partition locks the
#: whole table; while it waits, every read and write queued behind it waits too. So it
#: gives up after this and the partition goes at the next run instead.
LOCK_TIMEOUT = "2s"


#: After the partitions of an interval before $2 are dropped, no run of a key's closes
#: (``current_signals.run_start``) reaches before $2: a window is stored again where its
#: closes went.
_RUNS_KEPT = """UPDATE current_signals SET run_start = $2
                WHERE interval = $1 AND run_start < $2"""


async def prune(conn: Conn, policy: RetentionSettings, now: datetime) -> list[Partition]:
    """Drop every partition past its keep at ``now``; return those dropped. A partition
    whose locks are not free within ``LOCK_TIMEOUT`` (a long read of the table) is left
    for the next run."""
    dropped = []
    for p in expired(await partitions(conn), policy, now):
        try:
            async with conn.transaction():  # one partition at a time: short locks
                await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                gone = await conn.fetch(
                    "SELECT autonama_drop_partitions($1, $2)", p.interval, p.ends
                )
                # the keys' runs of closes start no earlier than what is kept (migration 0030)
                await conn.execute(_RUNS_KEPT, p.interval, p.ends)
        except asyncpg.LockNotAvailableError:
            log.info(
                "retention: %s partition of %s busy; it goes at the next run", p.interval, p.starts
            )
            continue
        if gone:
            dropped.append(p)
    return dropped


#: Deliveries deleted per transaction: short locks, the notifier never waits long.
DELIVERY_BATCH = 5_000


async def prune_deliveries(conn: Conn, policy: RetentionSettings, now: datetime) -> int:
    """Delete the finished deliveries (and their attempts) older than the keep, a batch per
    transaction; return how many. Pending deliveries are never pruned."""
    before = now - timedelta(days=policy.deliveries_days)
    total = 0
    while True:
        n: int = await conn.fetchval(
            "SELECT autonama_prune_deliveries($1, $2)", before, DELIVERY_BATCH
        )
        total += n
        if n < DELIVERY_BATCH:
            return total


async def ensure_ahead(conn: Conn, now: datetime) -> int:
    """Make the partition after the current one of every interval in use; return how many
    were made."""
    made = await conn.fetchval(
        """SELECT count(*) FILTER (WHERE made) FROM (
               SELECT autonama_ensure_partition(
                          interval, autonama_partition_start(interval, $1)
                                    + autonama_partition_span(interval)) AS made
               FROM (SELECT DISTINCT interval FROM signal_partitions) used) ahead""",
        now,
    )
    return int(made or 0)


async def keep(pool: asyncpg.Pool, policy: RetentionSettings, stop: asyncio.Event) -> None:
    """The retention job: every ``policy.every_minutes``, the next partitions made and
    what is past its keep dropped, until ``stop``."""
    while not stop.is_set():
        now = datetime.now(UTC)
        async with pool.acquire() as conn:
            made = await ensure_ahead(conn, now)
            dropped = await prune(conn, policy, now)
            deliveries = await prune_deliveries(conn, policy, now)
        if deliveries:
            log.info(
                "retention: %d finished deliveries older than %d days deleted",
                deliveries,
                policy.deliveries_days,
            )
        for p in dropped:
            log.info("retention: dropped %s signals of %s to %s", p.interval, p.starts, p.ends)
        if made:
            log.info("retention: %d partition(s) made ahead", made)
        await wait_or_stop(stop, policy.every_minutes * 60)


#: The tables that grow with what is stored, for ``stats``.
GROWING = (
    "closes",
    "signal_keys",
    "band_windows",
    "band_series",
    "alerts",
    "alert_outcomes",
    "outcome_bars",
    "current_signals",
    "scans",
    "scan_symbols",
    "ingestions",
    "deliveries",
    "delivery_attempts",
)


@dataclass(frozen=True, slots=True)
class TableSize:
    name: str
    bytes: int  # heap, indexes and TOAST, of every partition
    rows: int  # PostgreSQL's estimate (as of the last ANALYZE or vacuum)


@dataclass(frozen=True, slots=True)
class IntervalKeep:
    """One interval's stored signals: its partitions, the oldest kept, when the next goes."""

    interval: str
    partitions: int
    oldest: datetime
    newest_ends: datetime
    days: int | None  # None: kept forever
    next_drop: datetime | None


async def table_sizes(conn: Conn) -> list[TableSize]:
    """The growing tables' sizes on disk and rows, partitions included."""
    rows = await conn.fetch(
        """SELECT t.name,
                  coalesce(sum(pg_total_relation_size(p.relid)), 0)::bigint AS bytes,
                  coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint AS rows
           FROM unnest($1::text[]) t(name)
           LEFT JOIN LATERAL (  -- a partitioned table's tree; a plain table alone
               SELECT relid FROM pg_partition_tree(to_regclass(t.name))
               UNION SELECT to_regclass(t.name)) p ON true
           LEFT JOIN pg_class c ON c.oid = p.relid AND c.relkind = 'r'
           GROUP BY t.name""",
        list(GROWING),
    )
    order = {name: i for i, name in enumerate(GROWING)}
    sizes = [TableSize(r["name"], r["bytes"], r["rows"]) for r in rows]
    return sorted(sizes, key=lambda s: order[s.name])


def keeps(parts: list[Partition], policy: RetentionSettings) -> list[IntervalKeep]:
    """Per interval: its partitions, and when the oldest goes under ``policy``."""
    by: dict[str, list[Partition]] = {}
    for p in parts:
        by.setdefault(p.interval, []).append(p)
    out = []
    for interval, held in sorted(by.items()):
        days = policy.days_of(interval)
        oldest = min(held, key=lambda p: p.starts)
        out.append(
            IntervalKeep(
                interval,
                len(held),
                oldest.starts,
                max(p.ends for p in held),
                days,
                None if days is None else oldest.ends + timedelta(days=days),
            )
        )
    return out


async def expired_deliveries(conn: Conn, policy: RetentionSettings, now: datetime) -> int:
    """How many finished deliveries are past their keep (what ``prune_deliveries`` deletes)."""
    n: int = await conn.fetchval(
        "SELECT count(*) FROM deliveries WHERE status <> 'pending' AND finished_at < $1",
        now - timedelta(days=policy.deliveries_days),
    )
    return n
