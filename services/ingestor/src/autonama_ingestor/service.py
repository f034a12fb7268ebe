"""The ingestor: signals, plans and requests into PostgreSQL (a sink handler on the shared runner).

Each poll becomes one transaction (requests, plans, signals, per-symbol
progress, backtests); the runner commits the Kafka offsets only after it
commits, so a crash replays the poll and the idempotent writes make the replay
a no-op. The drop folder of offline results files is watched beside it, the alerts
committed (by either) are relayed to the ``alerts`` topic in id order (``db.outbox``), the
alerts' outcomes are kept up to date (``db.outcomes``), and the retention job drops what is
past its keep (``db.retention``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka.errors import KafkaError

from autonama_ingestor.files import DropFolder
from autonama_ingestor.repository import Batch, PostgresRepository, Repository
from autonama_ingestor.settings import Settings
from autonama_shared.db import outcomes, retention
from autonama_shared.db.channels import alerts_channel
from autonama_shared.db.outbox import AlertRelay
from autonama_shared.db.pool import migrate_when_ready, open_pool
from autonama_shared.db.status import report_health
from autonama_shared.errors import TemporaryError
from autonama_shared.lifecycle import supervise
from autonama_shared.messaging.events import (
    BacktestComputed,
    BacktestPlanned,
    BacktestRequested,
    ScanFinished,
    ScanPlanned,
    ScanRequested,
    SignalComputed,
)
from autonama_shared.messaging.ports import SinkHandler
from autonama_shared.messaging.startup import open_worker_runner

__all__ = ["ACCEPTED", "make_handler", "run"]

log = logging.getLogger("autonama.ingestor")

#: ScanFinished is no longer published; old ones still in the topic are read and ignored.
ACCEPTED = (
    SignalComputed,
    ScanPlanned,
    ScanRequested,
    ScanFinished,
    BacktestRequested,
    BacktestPlanned,
    BacktestComputed,
)


def make_handler(repository: Repository) -> SinkHandler:
    async def handle(events: Sequence[Any]) -> None:
        batch = Batch.of(events)
        stored = await repository.store(batch)
        log.info(
            "stored %d signals (%d new), %d plans",
            len(batch.signals),
            stored.new_signals,
            len(batch.plans),
        )
        for f in stored.finished:
            log.info(
                "scan %s finished: %d done, %d failed",
                f.scan_id,
                f.symbols_done,
                f.symbols_failed,
            )
        for backtest_id in stored.backtests_finished:
            log.info("backtest %s finished", backtest_id)

    return handle


async def run(settings: Settings, stop: asyncio.Event) -> None:
    who = f"ingestor-{settings.replica}"
    await migrate_when_ready(settings.postgres, stop, who)
    async with open_worker_runner(
        settings,
        stop,
        service="ingestor",
        inputs=["signals", "scans", "scan-requests", "backtest-requests"],
        accepted=ACCEPTED,
    ) as runner:
        pool = await runner.stack.enter_async_context(
            open_pool(settings.postgres, application_name=who, stop=stop)
        )
        if settings.watch_files:
            folder = DropFolder(
                settings.drop_folder,
                pool,
                settle_seconds=settings.settle_seconds,
                max_bytes=settings.max_file_bytes,
            )

            async def failed(why: str) -> None:
                await folder.report(False, why)

            watcher = supervise(
                "drop folder",
                lambda: folder.run(stop, settings.poll_seconds),
                stop,
                on_failure=failed,
                logger=log,
            )
            runner.add_task(watcher, name="files")
        if settings.relay_alerts:

            async def send(topic: str, value: bytes, key: bytes) -> None:
                try:
                    await (await runner.producer.send(topic, value, key=key))
                except KafkaError as e:
                    raise TemporaryError(f"Kafka: alert not published: {e}") from e

            relay = AlertRelay(
                pool,
                send,
                runner.topics.alerts,
                alerts_channel(settings.postgres.db_schema),
                poll_seconds=settings.relay_poll_seconds,
            )
            runner.supervise("alert-relay", lambda: relay.run(stop))
        runner.supervise("retention", lambda: retention.keep(pool, settings.retention, stop))
        runner.supervise("outcomes", lambda: outcomes.keep(pool, stop, settings.outcomes_seconds))
        runner.add_task(report_health(pool, runner.health, stop, service="ingestor"), name="health")
        await runner.sink(make_handler(PostgresRepository(pool)))
