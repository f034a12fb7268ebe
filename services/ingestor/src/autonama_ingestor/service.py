"""The ingestor's loop: signals and scan plans into PostgreSQL, in batches, exactly once in effect.

Each poll becomes one transaction (plans, signals, per-symbol progress,
finished scans); Kafka offsets are committed only after it commits, so a crash
replays the batch and the idempotent writes make the replay a no-op. Scans
that finish are announced on the ``scans`` topic. The drop folder of offline
results files is watched beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack

import asyncpg
from aiokafka.errors import KafkaError

from autonama_ingestor.files import DropFolder
from autonama_ingestor.settings import Settings
from autonama_shared.db.backtests import (
    record_backtest_plan,
    record_backtest_request,
    store_backtest_results,
    update_backtest_progress,
)
from autonama_shared.db.pool import open_pool
from autonama_shared.db.store import (
    record_plan,
    record_request,
    store_signals,
    update_progress,
)
from autonama_shared.events import (
    BacktestComputed,
    BacktestPlanned,
    BacktestRequested,
    ScanFinished,
    ScanPlanned,
    ScanRequested,
    SignalComputed,
    encode,
)
from autonama_shared.service import decode_poll, migrate_when_ready, open_kafka, wait_or_stop
from autonama_shared.topics import Topics

__all__ = ["run"]

log = logging.getLogger("autonama.ingestor")


async def run(settings: Settings, stop: asyncio.Event) -> None:
    topics = Topics.of(settings.kafka)
    who = f"ingestor-{settings.replica}"
    if not await migrate_when_ready(settings.postgres, stop, who):
        return
    async with AsyncExitStack() as stack:
        pool = await stack.enter_async_context(open_pool(settings.postgres, application_name=who))
        kafka = await open_kafka(
            stack, settings.kafka, stop, who, topics.signals, topics.scans, topics.scan_requests,
            group_id=settings.group_id, max_records=settings.max_batch,
        )  # fmt: skip
        if kafka is None:
            return
        producer, consumer = kafka
        watcher = None
        if settings.watch_files:
            folder = DropFolder(
                settings.drop_folder, pool, settle_seconds=settings.settle_seconds,
                max_bytes=settings.max_file_bytes,
            )  # fmt: skip
            watcher = asyncio.create_task(folder.run(stop, settings.poll_seconds), name="files")
        try:
            while not stop.is_set():
                polled = await consumer.getmany(
                    timeout_ms=settings.poll_ms, max_records=settings.max_batch
                )
                if not polled:
                    continue
                got = await decode_poll(
                    polled,
                    (SignalComputed, ScanPlanned, ScanFinished, ScanRequested,
                     BacktestRequested, BacktestPlanned, BacktestComputed),
                    producer, topics.dead_letters, "ingestor",
                )  # fmt: skip
                requests, plans = got.of(ScanRequested), got.of(ScanPlanned)
                signals = got.of(SignalComputed)  # ScanFinished: our own announcements
                bt_requests, bt_plans = got.of(BacktestRequested), got.of(BacktestPlanned)
                bt_results = got.of(BacktestComputed)
                try:
                    async with pool.acquire() as conn, conn.transaction():
                        for request in requests:  # so a scan is visible as "requested"
                            await record_request(conn, request)
                        for plan in plans:
                            await record_plan(conn, plan)
                        new = await store_signals(conn, signals, origin="pipeline")
                        finished = await update_progress(
                            conn, [p.scan_id for p in plans] + [s.scan_id for s in signals]
                        )
                        for bt_request in bt_requests:
                            await record_backtest_request(conn, bt_request)
                        for bt_plan in bt_plans:
                            await record_backtest_plan(conn, bt_plan)
                        await store_backtest_results(conn, bt_results)
                        backtests_done = await update_backtest_progress(
                            conn,
                            [p.backtest_id for p in bt_plans] + [r.backtest_id for r in bt_results],
                        )
                    await consumer.commit()  # only now: the transaction has committed
                except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                        KafkaError) as e:  # fmt: skip
                    # Rolled back (or committed but not acknowledged: the replay is a no-op).
                    log.warning("batch not stored (%s: %s); reading it again", type(e).__name__, e)
                    with contextlib.suppress(KafkaError):
                        await consumer.seek_to_committed()
                    await wait_or_stop(stop, 2.0)
                    continue
                log.info("stored %d signals (%d new), %d plans", len(signals), new, len(plans))
                for backtest_id in backtests_done:
                    log.info("backtest %s finished", backtest_id)
                for f in finished:
                    done = ScanFinished(
                        scan_id=f.scan_id, finished_at=f.finished_at,
                        symbols_done=f.symbols_done, symbols_failed=f.symbols_failed,
                    )  # fmt: skip
                    await producer.send_and_wait(topics.scans, encode(done), key=f.scan_id.encode())
                    log.info("scan %s finished: %d done, %d failed", f.scan_id,
                             f.symbols_done, f.symbols_failed)  # fmt: skip
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
