"""``autonama db stats|prune|score-alerts``: the database's size and retention
(``db.retention``), and the alerts its outcomes' keeper never scored (``db.outcomes``)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from autonama_cli._console import stdout_console
from autonama_cli._db import with_database
from autonama_shared.db import outcomes, retention
from autonama_shared.settings import AppSettings, load_settings

__all__ = ["prune_now", "score_alerts", "stats"]


def _when(t: datetime | None) -> str:
    return "never" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def stats(args: argparse.Namespace) -> int:
    policy = load_settings(AppSettings).retention

    async def read(conn: Any) -> tuple[list[retention.TableSize], list[retention.IntervalKeep]]:
        return await retention.table_sizes(conn), retention.keeps(
            await retention.partitions(conn), policy
        )

    sizes, keeps = with_database(read)
    console = stdout_console()
    table = Table(title="Growing tables (heap, indexes and TOAST of every partition)")
    for name in ("table", "size (MiB)", "rows (estimate)"):
        table.add_column(name, justify="left" if name == "table" else "right")
    for s in sizes:
        table.add_row(s.name, f"{s.bytes / 2**20:,.1f}", f"{s.rows:,}")
    table.add_row("all", f"{sum(s.bytes for s in sizes) / 2**20:,.1f}", "")
    console.print(table)
    table = Table(title="Signals kept per interval (UTC)")
    for name in ("interval", "partitions", "oldest kept", "kept to", "keep", "next drop"):
        table.add_column(name)
    for k in keeps:
        keep = "forever" if k.days is None else f"{k.days} days"
        table.add_row(
            k.interval,
            str(k.partitions),
            _when(k.oldest),
            _when(k.newest_ends),
            keep,
            _when(k.next_drop),
        )
    console.print(table)
    return 0


def prune_now(args: argparse.Namespace) -> int:
    policy = load_settings(AppSettings).retention
    now = datetime.now(UTC)

    async def run(conn: Any) -> tuple[list[retention.Partition], int]:
        if args.dry_run:
            return (
                retention.expired(await retention.partitions(conn), policy, now),
                await retention.expired_deliveries(conn, policy, now),
            )
        return (
            await retention.prune(conn, policy, now),
            await retention.prune_deliveries(conn, policy, now),
        )

    parts, deliveries = with_database(run)
    verb = "would drop" if args.dry_run else "dropped"
    for p in parts:
        span = f"{_when(p.starts)} to {_when(p.ends)}"
        print(f"{verb} the {p.interval} signals and windows of {span}")
    print(
        f"{verb} {len(parts)} partition(s) and {deliveries:,} finished deliveries older than "
        f"{policy.deliveries_days} days"
    )
    return 0


def score_alerts(args: argparse.Namespace) -> int:
    since: datetime = args.since

    async def run(conn: Any) -> int:
        return await outcomes.admit_since(conn, since)

    count = with_database(run)
    print(
        f"{count:,} alert(s) raised since {since.isoformat()} never scored: the ingestor's "
        "keeper admits and scores them in its next rounds (AUTONAMA_INGESTOR_OUTCOMES_SECONDS)"
    )
    return 0
