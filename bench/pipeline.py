"""Benchmark of the event pipeline on the real Kafka broker and PostgreSQL. Prints figures only.

    make services-up && uv run python bench/pipeline.py

1. Scan latency: from a scan request of 100 symbols (candles already cached by
   the fetcher, Binance stand-in on loopback) to the scan finished with all
   100 symbols committed in PostgreSQL; median of 5 runs, with 1 and with 2
   analyzer replicas.
2. Ingestor write rate: 100,000 signals through the ingestor's storage path
   (COPY into staging, one upsert per batch of 2,000, progress rows), in rows/s.
   Target: 50,000 rows/s or better.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.binance_standin import StandIn, default_now, load_klines, serve  # noqa: E402
from tests.support.stack import Stack, wait_for_log  # noqa: E402

from autonama_shared import __version__  # noqa: E402
from autonama_shared.db import migrate  # noqa: E402
from autonama_shared.db.pool import open_pool  # noqa: E402
from autonama_shared.db.store import store_signals  # noqa: E402
from autonama_shared.messaging.events import ScanParams, SignalComputed  # noqa: E402
from autonama_shared.settings import KafkaSettings, PostgresSettings  # noqa: E402

DATA = Path(os.environ.get("AUTONAMA_TEST_DATA", str(REPO.parent / "shared" / "data")))
RUNS = 5
SIGNALS = 100_000
BATCH = 2_000


def hundred_symbols() -> dict[tuple[str, str], object]:
    real = load_klines(DATA / "klines" / "until-2022-10", intervals=("1d",))
    bases = sorted(real)
    out: dict[tuple[str, str], object] = {}
    for i in range(100):
        symbol, interval = bases[i % len(bases)]
        out[(f"{symbol.removesuffix('USDT')}{i:02d}USDT", interval)] = real[(symbol, interval)]
    return out


async def scan_latency(analyzers: int, standin: StandIn, workdir: Path) -> list[float]:
    tag = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(topic_prefix=f"bench.{tag}.")
    pg = PostgresSettings(db_schema=f"bench_{tag}")
    stack = Stack(kafka, pg, workdir / tag, standin.url)
    stack.workdir.mkdir(parents=True)
    symbols = sorted(s for s, _ in standin.klines)
    try:
        stack.start("ingestor")
        for _ in range(analyzers):
            stack.start("analyzer")
        fetcher = stack.start("fetcher")
        for s in stack.services:
            await wait_for_log(s, "assigned")
        await wait_for_log(fetcher, "assigned")
        # Warm-up: fills the fetcher's candle cache (cold fetch is not what is measured).
        await stack.wait_for_scan(await stack.request(symbols), within=300)
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            scan_id = await stack.request(symbols)
            await stack.wait_for_scan(scan_id, within=300)
            times.append(time.perf_counter() - started)
        return times
    finally:
        stack.stop_all()
        conn = await stack.connect()
        await conn.execute(f'DROP SCHEMA IF EXISTS "{pg.db_schema}" CASCADE')
        await conn.close()


async def write_rate() -> tuple[float, float]:
    pg = PostgresSettings(db_schema=f"bench_{uuid.uuid4().hex[:8]}")
    params = ScanParams(interval="1h", days=30, degree=4, kstd=2.0)
    scan_id = str(uuid.uuid4())
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    events = [
        SignalComputed(
            scan_id=scan_id,
            symbol=f"S{i % 1000:04d}USDT",
            params=params,
            window=720,
            engine_version=__version__,
            signal="HOLD",
            potential_return=0.0,
            candles=720,
            partial_window=False,
            last_candle_time=t0 + timedelta(hours=i // 1000),
            price=100.0 + i % 7,
            lower=90.0,
            upper=110.0,
            fit=100.0,
            sigma=5.0,
            target_return=0.5,
            error=None,
        )
        for i in range(SIGNALS)
    ]
    async with open_pool(pg) as pool:
        async with pool.acquire() as conn:
            await migrate(conn, pg.db_schema)
        started = time.perf_counter()
        for start in range(0, SIGNALS, BATCH):
            async with pool.acquire() as conn, conn.transaction():
                await store_signals(conn, events[start : start + BATCH], origin="bench")
        elapsed = time.perf_counter() - started
        async with pool.acquire() as conn:
            stored = await conn.fetchval("SELECT count(*) FROM signals")
            await conn.execute(f'DROP SCHEMA "{pg.db_schema}" CASCADE')
    assert stored == SIGNALS, stored
    return elapsed, SIGNALS / elapsed


async def main() -> None:
    klines = hundred_symbols()
    standin = StandIn(klines, default_now(klines))  # type: ignore[arg-type]
    with serve(standin), tempfile.TemporaryDirectory() as tmp:
        for analyzers in (1, 2):
            times = await scan_latency(analyzers, standin, Path(tmp))
            print(
                f"scan of 100 symbols (cached candles), {analyzers} analyzer replica(s): "
                f"median {statistics.median(times):.2f} s over {RUNS} runs "
                f"(min {min(times):.2f}, max {max(times):.2f})"
            )
    elapsed, rate = await write_rate()
    print(
        f"ingestor storage path, {SIGNALS:,} signals in batches of {BATCH:,}: {elapsed:.2f} s, "
        f"{rate:,.0f} rows/s (target 50,000 rows/s: {rate / 50_000:.2f}x)"
    )


if __name__ == "__main__":
    asyncio.run(main())
