"""``autonama request-scan`` and ``autonama ingest``: commands that talk to the running stack."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from autonama_cli._console import progress_bar, stdout_console
from autonama_cli.scan import config_from_args, spec_from_config
from autonama_shared.db import migrate
from autonama_shared.db.ingest import ingest_file
from autonama_shared.db.pool import open_pool
from autonama_shared.errors import ConfigError, TemporaryError
from autonama_shared.lifecycle import retry_until_ready
from autonama_shared.messaging.events import ScanParams, ScanRequested, encode
from autonama_shared.messaging.kafka import make_producer
from autonama_shared.messaging.topics import Topics, ensure_pipeline_topics
from autonama_shared.settings import AppSettings, load_settings

__all__ = ["ingest", "ingestions", "request_scan"]


def request_scan(args: argparse.Namespace) -> int:
    if args.data is not None or args.source == "files":
        raise ConfigError(
            "request-scan asks the running pipeline, whose fetcher reads Binance: --data and "
            "--source files do not apply; scan local files with `autonama scan --data`"
        )
    config = config_from_args(args)
    spec = spec_from_config(config)
    app = load_settings(AppSettings)
    request = ScanRequested(
        origin="cli",
        params=ScanParams(
            interval=spec.interval,
            days=spec.days,
            degree=spec.params.degree,
            kstd=spec.params.kstd,
            price_scale=spec.params.price_scale,
        ),
        symbols=list(spec.symbols) if spec.symbols is not None else None,
        top=spec.top,
    )
    asyncio.run(_publish(app, request))
    print(request.scan_id)
    if not args.wait:
        return 0
    return asyncio.run(_follow(app, request.scan_id, args.timeout))


async def _publish(app: AppSettings, request: ScanRequested) -> None:
    topics = Topics.of(app.kafka)
    stop = asyncio.Event()
    try:
        async with asyncio.timeout(30):
            await retry_until_ready(
                stop, "autonama-cli", lambda: ensure_pipeline_topics(app.kafka, "autonama-cli")
            )
            producer = make_producer(app.kafka, client_id="autonama-cli")
            await producer.start()
            try:
                await producer.send_and_wait(
                    topics.scan_requests, encode(request), key=request.scan_id.encode()
                )
            finally:
                await producer.stop()
    except TimeoutError as e:
        raise TemporaryError(f"Kafka at {app.kafka.bootstrap_servers} did not answer") from e


async def _follow(app: AppSettings, scan_id: str, wait_seconds: float) -> int:
    err = Console(stderr=True)
    deadline = time.monotonic() + wait_seconds
    async with open_pool(app.postgres, application_name="autonama-cli") as pool:
        with progress_bar(err) as progress:
            task = progress.add_task("waiting for the fetcher", total=None)
            while time.monotonic() < deadline:
                try:
                    row = await pool.fetchrow(
                        """SELECT status, symbols_expected, symbols_done, symbols_failed, error
                           FROM scans WHERE scan_id = $1""",
                        uuid.UUID(scan_id),
                    )
                except asyncpg.UndefinedTableError:
                    row = None  # a fresh stack: the ingestor has not migrated the schema yet
                if row is not None and row["symbols_expected"] is not None:
                    done = row["symbols_done"] + row["symbols_failed"]
                    progress.update(
                        task,
                        description="scanning",
                        total=row["symbols_expected"],
                        completed=done,
                    )
                    if row["status"] in ("finished", "failed"):
                        progress.stop()
                        print(
                            f"scan {scan_id} {row['status']}: {row['symbols_done']} done, "
                            f"{row['symbols_failed']} failed"
                            + (f" ({row['error']})" if row["error"] else "")
                        )
                        return 0 if row["status"] == "finished" else 1
                await asyncio.sleep(0.5)
    print(f"scan {scan_id} did not finish within {wait_seconds:.0f} s", file=sys.stderr)
    return 1


def ingest(args: argparse.Namespace) -> int:
    app = load_settings(AppSettings)
    missing = [str(f) for f in args.files if not f.exists() and not f.is_symlink()]
    if missing:
        raise ConfigError(f"no such file: {', '.join(missing)}")

    async def run() -> int:
        rejected = 0
        async with open_pool(app.postgres, application_name="autonama-ingest") as pool:
            async with pool.acquire() as conn:
                await migrate(conn, app.postgres.db_schema)
            for path in args.files:
                o = await ingest_file(pool, path)
                detail = f": {o.error}" if o.error else ""
                print(f"{path}: {o.status}, {o.rows} signals{detail}")
                rejected += o.status == "rejected"
        return 1 if rejected else 0

    return asyncio.run(run())


def ingestions(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 10_000:
        raise ConfigError(f"--limit must be from 1 to 10000, got {args.limit}")
    app = load_settings(AppSettings)

    async def fetch() -> list[Any]:
        async with open_pool(app.postgres, application_name="autonama-cli") as pool:
            rows: list[Any] = await pool.fetch(
                """SELECT ingested_at, file_name, status, rows, error FROM ingestions
                   ORDER BY ingested_at DESC, id DESC LIMIT $1""",
                args.limit,
            )
            return rows

    table = Table(title="offline-file ingestions, newest first")
    for name in ("time (UTC)", "file", "status", "signals", "error"):
        table.add_column(name)
    for r in asyncio.run(fetch()):
        table.add_row(
            r["ingested_at"].strftime("%Y-%m-%d %H:%M:%S"),
            r["file_name"],
            r["status"],
            str(r["rows"]),
            r["error"] or "",
        )
    stdout_console().print(table)
    return 0
