"""Benchmark of the event pipeline on the real Kafka broker and PostgreSQL. Prints figures only.

    make services-up && uv run python bench/pipeline.py

1. Scan latency: from a scan request of 100 symbols (candles already cached by
   the fetcher, Binance stand-in on loopback) to the scan finished with all
   100 symbols committed in PostgreSQL; median of 5 runs, with 1 and with 2
   analyzer replicas.
2. The storage path: 100,000 signals (1,000 symbols, an hourly scan of each) through
   ``store_signals`` and the scans' progress in batches of the ingestor's default size
   (2,000), in this process, by one writer and by two at once (as two ingestors), each as a
   ratio of PostgreSQL's own insert of the same rows into the same table in the same run
   (COPY and ``INSERT ... ON CONFLICT DO NOTHING``, nothing else). Goal (#27): 0.5x with
   one ingestor, 0.8x with two.
3. The ingestor service: the same 100,000 signals read from Kafka by the real
   ``autonama-ingestor`` process (decoding, storage, offsets): rows/s and the
   process's peak RSS (VmHWM).
4. The drop folder: files of 5,000 symbols each (a real scan's results, without and
   with each symbol's 180-candle window) written into the running ingestor's folder:
   signals/s from the first file written to the last ingested, and the peak RSS.
   Goal 20,000/s; with windows, half the rate without (#26). The files are version 3
   (windows packed), as ``autonama scan`` writes them.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer

REPO = Path(__file__).resolve().parents[1]
# the local cluster's passwords (deploy/local/postgres.sh makes them), unless set
os.environ.setdefault("PGPASSFILE", str(REPO / ".local" / "postgres" / "pgpass"))
sys.path.insert(0, str(REPO))

from tests.support.binance_standin import StandIn, default_now, load_klines, serve  # noqa: E402
from tests.support.stack import Stack, wait_for_log  # noqa: E402

from autonama_shared import __version__  # noqa: E402
from autonama_shared.db import migrate  # noqa: E402
from autonama_shared.db.keys import KEY, key_columns  # noqa: E402
from autonama_shared.db.pool import open_pool  # noqa: E402
from autonama_shared.db.scans import record_plan, update_progress  # noqa: E402
from autonama_shared.db.store import (  # noqa: E402
    _CLOSE_COLUMNS,  # the yardstick inserts the very columns the path does
    _signal_row,
    store_signals,
)
from autonama_shared.engine.specs import ScanSpec  # noqa: E402
from autonama_shared.formats._files import write_new  # noqa: E402
from autonama_shared.formats.keys import KEY_FIELDS  # noqa: E402
from autonama_shared.messaging.events import (  # noqa: E402
    ScanParams,
    ScanPlanned,
    ScanRequested,
    SignalComputed,
    encode,
)
from autonama_shared.messaging.topics import ensure_pipeline_topics  # noqa: E402
from autonama_shared.runs.scan import results_file, run_scan  # noqa: E402
from autonama_shared.settings import KafkaSettings, PostgresSettings  # noqa: E402
from autonama_shared.sources.files import FileSource  # noqa: E402

DATA = Path(os.environ.get("AUTONAMA_TEST_DATA", str(REPO.parent / "shared" / "data")))
RUNS = 5
SIGNALS = 100_000
BATCH = 2_000
FILES = 10
FILE_SYMBOLS = 5_000
SYMBOLS = 1_000


def hundred_symbols() -> dict[tuple[str, str], object]:
    real = load_klines(DATA / "klines" / "until-2022-10", intervals=("1d",))
    bases = sorted(real)
    out: dict[tuple[str, str], object] = {}
    for i in range(100):
        symbol, interval = bases[i % len(bases)]
        out[(f"{symbol.removesuffix('USDT')}{i:02d}USDT", interval)] = real[(symbol, interval)]
    return out


async def scan_latency(analyzers: int, standin: StandIn, workdir: Path) -> list[float]:
    stack = bench_stack(workdir, standin.url)
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
        await stack.dispose()  # its services, schema and topics


def hourly_signals() -> list[SignalComputed]:
    """SIGNALS HOLD signals: SYMBOLS symbols, an hourly scan of each."""
    params = ScanParams(interval="1h", days=30, degree=4, kstd=2.0)
    hours = SIGNALS // SYMBOLS
    scan_ids = [str(uuid.uuid4()) for _ in range(hours)]  # an hourly scan of every symbol
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    return [
        SignalComputed(
            scan_id=scan_ids[i // SYMBOLS],
            symbol=f"S{i % SYMBOLS:04d}USDT",
            params=params,
            window=720,
            engine_version=__version__,
            signal="HOLD",
            potential_return=0.0,
            candles=720,
            partial_window=False,
            last_candle_time=t0 + timedelta(hours=i // SYMBOLS),
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


def plans_of(events: list[SignalComputed]) -> list[ScanPlanned]:
    by_scan: dict[str, list[SignalComputed]] = {}
    for e in events:
        by_scan.setdefault(e.scan_id, []).append(e)
    return [
        ScanPlanned(
            scan_id=scan_id,
            request=ScanRequested(
                scan_id=scan_id, origin="test", params=signals[0].params, symbols=None
            ),
            symbols=[e.symbol for e in signals],
            window=signals[0].window,
        )
        for scan_id, signals in by_scan.items()
    ]


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


async def count_until(stack: Stack, sql: str, expected: int, within: float) -> None:
    conn = await stack.connect()
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            ready = await conn.fetchval("SELECT to_regclass('signals') IS NOT NULL")
            if ready and await conn.fetchval(sql) >= expected:
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise RuntimeError(f"{sql} did not reach {expected} in {within} s")


def bench_stack(workdir: Path, binance_url: str = "http://127.0.0.1:9") -> Stack:
    """The services of one measurement, on topics and a schema of their own (no Binance
    unless ``binance_url`` is a stand-in's)."""
    tag = uuid.uuid4().hex[:8]
    return Stack(
        KafkaSettings(topic_prefix=f"bench.{tag}."),
        PostgresSettings(db_schema=f"bench_{tag}"),
        workdir / tag,
        binance_url,
    )


async def service_rate(workdir: Path) -> tuple[float, float]:
    """The real ingestor process reading SIGNALS signals (and their plans) from Kafka."""
    stack = bench_stack(workdir)
    stack.workdir.mkdir(parents=True)
    events = hourly_signals()
    await ensure_pipeline_topics(stack.kafka, "bench")
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka.bootstrap_servers, acks="all", linger_ms=20
    )
    await producer.start()
    try:
        for plan in plans_of(events):
            await producer.send(stack.topics.scans, encode(plan), key=plan.scan_id.encode())
        for e in events:
            await producer.send(stack.topics.signals, encode(e), key=e.symbol.encode())
        await producer.flush()
    finally:
        await producer.stop()
    try:
        ingestor = stack.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
        await wait_for_log(ingestor, "assigned")
        started = time.perf_counter()
        await count_until(stack, "SELECT count(*) FROM signals", SIGNALS, 600)
        elapsed = time.perf_counter() - started
        rss = peak_rss_mb(ingestor.process.pid)
    finally:
        await stack.dispose()  # its services, schema and topics
    return SIGNALS / elapsed, rss


async def drop_rate(workdir: Path, *, series: bool) -> tuple[int, float, float]:
    """Results files of FILE_SYMBOLS symbols each through the running ingestor's folder,
    with each symbol's window (180 candles) or without (``series=False``)."""
    source = FileSource(DATA / "klines" / "until-2022-10" / "1d")
    report = await run_scan(source, ScanSpec(symbols=tuple(source.symbols("1d")), days=180))
    real = results_file(report)
    good = [r for r in real.results if r.error is None]
    stack = bench_stack(workdir)
    drop, staged = stack.workdir / "drop", stack.workdir / "staged"
    drop.mkdir(parents=True)
    files = []  # written beside the folder first, then renamed into it at once
    for f in range(FILES):
        rows = [
            good[i % len(good)].model_copy(
                update={"symbol": f"F{f}S{i:04d}USDT"} | ({} if series else {"series": None})
            )
            for i in range(FILE_SYMBOLS)
        ]
        text = real.model_copy(update={"results": rows}).model_dump_json()
        files.append(write_new(staged, f"backtest_results_20260101_0000{f:02d}", text))
    try:
        ingestor = stack.start(
            "ingestor",
            AUTONAMA_INGESTOR_SETTLE_SECONDS="0.2",
            AUTONAMA_INGESTOR_POLL_SECONDS="0.1",
        )
        await wait_for_log(ingestor, "assigned")
        size = sum(path.stat().st_size for path in files)
        started = time.perf_counter()
        for path in files:
            path.rename(drop / path.name)
        await count_until(
            stack, "SELECT count(*) FROM ingestions WHERE status = 'ingested'", FILES, 900
        )
        elapsed = time.perf_counter() - started
        rss = peak_rss_mb(ingestor.process.pid)
        rejected = list((drop / "rejected").glob("*.reason.json"))
        assert not rejected, rejected[0].read_text()
    finally:
        await stack.dispose()  # its services, schema and topics
    return size, FILES * FILE_SYMBOLS / elapsed, rss


async def write_rate(writers: int = 1) -> tuple[float, float]:
    """The storage path: ``store_signals`` and the scans' progress per batch of BATCH, each
    batch its own transaction, by ``writers`` connections at once, as that many ingestors
    write: the analyzers key each signal by its symbol, so each ingestor of the consumer
    group reads the symbols of its partitions (here split by a hash of the symbol), in
    batches of BATCH, the next when its last one committed."""
    pg = PostgresSettings(db_schema=f"bench_{uuid.uuid4().hex[:8]}")
    events = hourly_signals()
    async with open_pool(pg, max_size=max(writers, 2)) as pool:
        async with pool.acquire() as conn:
            await migrate(conn, pg.db_schema)
            for plan in plans_of(events):  # so that progress is counted against real plans
                await record_plan(conn, plan)
        shares = [
            [e for e in events if zlib.crc32(e.symbol.encode()) % writers == w]
            for w in range(writers)
        ]

        async def writer(share: list[SignalComputed]) -> None:
            for start in range(0, len(share), BATCH):
                batch = share[start : start + BATCH]
                async with pool.acquire() as conn, conn.transaction():
                    await store_signals(conn, batch, origin="bench")
                    await update_progress(conn, [e.scan_id for e in batch])

        started = time.perf_counter()
        await asyncio.gather(*(writer(share) for share in shares))
        elapsed = time.perf_counter() - started
        async with pool.acquire() as conn:
            stored = await conn.fetchval("SELECT count(*) FROM signals")
            await conn.execute(f'DROP SCHEMA "{pg.db_schema}" CASCADE')
    assert stored == SIGNALS, stored
    return elapsed, SIGNALS / elapsed


#: The yardstick's staging table: the columns of ``closes``.
_OWN_STAGING = """CREATE TEMP TABLE own_staging ON COMMIT DELETE ROWS AS
                  SELECT * FROM closes WITH NO DATA"""


async def own_insert_rate() -> float:
    """PostgreSQL's own insert of the same rows into the same table, the yardstick: each
    batch of BATCH COPied into a staging table and ``INSERT INTO closes SELECT ... ON
    CONFLICT DO NOTHING`` (the unique key of a signal), one transaction per batch, durable
    commits; the key ids known beforehand (the storage path looks them up). No alerts, no
    current state, no progress: only the rows."""
    pg = PostgresSettings(db_schema=f"bench_{uuid.uuid4().hex[:8]}")
    events = hourly_signals()
    async with open_pool(pg) as pool, pool.acquire() as conn:
        await migrate(conn, pg.db_schema)
        # the keys and the partitions made first (the path makes them once too)
        await conn.executemany(
            f"INSERT INTO signal_keys ({KEY}) VALUES ($1, $2, $3, $4, $5, $6)",  # noqa: S608
            sorted({_signal_row(e, uuid.UUID(e.scan_id), "")[: len(KEY_FIELDS)] for e in events}),
        )
        key_ids = {
            tuple(r)[1:]: r["id"]
            for r in await conn.fetch(f"SELECT id, {key_columns('k')} FROM signal_keys k")  # noqa: S608
        }
        await conn.execute(
            "SELECT autonama_ensure_partition('1h', autonama_partition_start('1h', t)) "
            "FROM generate_series($1::timestamptz, $2, interval '1 hour') t",
            events[0].last_candle_time,
            events[-1].last_candle_time,
        )
        columns = ["id", "key_id", *_CLOSE_COLUMNS]  # the path's own columns of a close
        rows = [
            (i + 1, key_ids[row[: len(KEY_FIELDS)]], e.params.interval, *row[len(KEY_FIELDS) :])
            for i, e in enumerate(events)
            if (row := _signal_row(e, uuid.UUID(e.scan_id), "bench"))
        ]
        await conn.execute(_OWN_STAGING)
        started = time.perf_counter()
        for start in range(0, SIGNALS, BATCH):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "own_staging", records=rows[start : start + BATCH], columns=columns
                )
                await conn.execute(
                    f"INSERT INTO closes ({', '.join(columns)}) "  # noqa: S608 - constants
                    f"SELECT {', '.join(columns)} FROM own_staging ON CONFLICT DO NOTHING"
                )
        elapsed = time.perf_counter() - started
        stored = await conn.fetchval("SELECT count(*) FROM closes")
        await conn.execute(f'DROP SCHEMA "{pg.db_schema}" CASCADE')
    assert stored == SIGNALS, stored
    return SIGNALS / elapsed


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
    await storage_path()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [await service_rate(Path(tmp)) for _ in range(3)]
        print(
            f"ingestor service, {SIGNALS:,} signals from Kafka: "
            f"{spread([r for r, _ in runs])} rows/s, peak RSS "
            f"{max(m for _, m in runs):.0f} MiB"
        )
        medians = {}
        for series in (False, True):
            drops = [await drop_rate(Path(tmp), series=series) for _ in range(3)]
            medians[series] = statistics.median(r for _, r, _ in drops)
            print(
                f"drop folder, {FILES} files of {FILE_SYMBOLS:,} symbols "
                f"({drops[0][0] / FILES / 1e6:.1f} MB each, "
                f"{'180-candle windows' if series else 'no windows'}): "
                f"{spread([r for _, r, _ in drops])} signals/s (goal 20,000: "
                f"{min(r for _, r, _ in drops) / 20_000:.2f}x), peak RSS "
                f"{max(m for _, _, m in drops):.0f} MiB"
            )
        print(
            f"drop folder with windows: {medians[True] / medians[False]:.2f}x its rate without "
            "(goal 0.5x, #26)"
        )


async def storage_path() -> None:
    """The storage path as a ratio of PostgreSQL's own insert, each run measured in turn
    (yardstick, one writer, two writers), three runs."""
    own, one, two = [], [], []
    for _ in range(3):
        own.append(await own_insert_rate())
        one.append((await write_rate(1))[1])
        two.append((await write_rate(2))[1])
    print(
        f"PostgreSQL's own insert, {SIGNALS:,} rows in batches of {BATCH:,} "
        f"(COPY, INSERT ... ON CONFLICT DO NOTHING): {spread(own)} rows/s over 3 runs"
    )
    for name, rates in (("one ingestor", one), ("two ingestors", two)):
        ratios = [r / o for r, o in zip(rates, own, strict=True)]
        print(
            f"storage path, {name}: {statistics.median(rates):,.0f} rows/s = "
            f"{statistics.median(ratios):.2f}x PostgreSQL's own insert "
            f"(runs {min(rates):,.0f}-{max(rates):,.0f} rows/s, "
            f"{min(ratios):.2f}-{max(ratios):.2f}x)"
        )


def spread(values: list[float]) -> str:
    """Median with the range of the runs."""
    return f"{statistics.median(values):,.0f} (min {min(values):,.0f}, max {max(values):,.0f})"


if __name__ == "__main__":
    asyncio.run(main())
