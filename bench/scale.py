"""Throughput against replicas, on a three-broker Kafka cluster. Prints figures only.

    make services-up && uv run python bench/scale.py [runs]   (3 runs a step by default)

A cluster of three brokers of its own (deploy/local/kafka.sh, KAFKA_BROKERS=3, topics
replicated three times) and the local PostgreSQL. Each step runs the real services as
processes: A analyzers and I ingestors in their consumer groups. One scan's plan, then
SYMBOLS kline batches (real daily candles, 180 a symbol, renamed so that every batch is
its own key) are sent to the klines topic, pre-encoded, as fast as the producer goes;
the step ends when every signal of the scan is stored. It prints closes analysed per
second (median of the runs, with their range), signals stored per second, the CPU each
process used (cores: 1.00 is one core busy the whole step; of the last run), the ratio to
one analyzer, and what bounds the step: the machine's cores when they are busy (/proc/stat:
the services, the brokers, PostgreSQL and this producer together), a kind of process when
one of its replicas keeps a core busy, else waits.

Steps: 1, 2 and 4 analyzers with one ingestor; 4 analyzers with two ingestors.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("PGPASSFILE", str(REPO / ".local" / "postgres" / "pgpass"))
sys.path.insert(0, str(REPO))

from tests.fixtures.backends import own_broker  # noqa: E402
from tests.support.binance_standin import load_klines  # noqa: E402
from tests.support.stack import Stack, wait_for_log  # noqa: E402

from autonama_shared.messaging.events import (  # noqa: E402
    KlineBatch,
    ScanParams,
    ScanPlanned,
    ScanRequested,
    encode,
)
from autonama_shared.messaging.topics import ensure_pipeline_topics  # noqa: E402
from autonama_shared.settings import KafkaSettings, PostgresSettings  # noqa: E402

DATA = Path(os.environ.get("AUTONAMA_TEST_DATA", str(REPO.parent / "shared" / "data")))
SYMBOLS = 3_000
DAYS = 180
STEPS = ((1, 1), (2, 1), (4, 1), (4, 2))  # (analyzers, ingestors)
CORES = os.cpu_count() or 1


def batches(scan_id: str, params: ScanParams) -> list[tuple[str, bytes]]:
    """SYMBOLS kline batches of real candles (the 33 pairs of the 2022 files, renamed)."""
    real = load_klines(DATA / "klines" / "until-2022-10", intervals=("1d",))
    series = [k[-params.window :] for _, k in sorted(real.items()) if len(k) >= params.window]
    out = []
    for i in range(SYMBOLS):
        k = series[i % len(series)]
        symbol = f"S{i:05d}USDT"
        event = KlineBatch(
            scan_id=scan_id,
            symbol=symbol,
            params=params,
            window=params.window,
            open_time=[int(t) for t in k[:, 0]],
            open=k[:, 1].tolist(),
            high=k[:, 2].tolist(),
            low=k[:, 3].tolist(),
            close=k[:, 4].tolist(),
            volume=k[:, 5].tolist(),
        )
        out.append((symbol, encode(event)))
    return out


def machine_seconds() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far, every core (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def cpu_seconds(pid: int) -> float:
    """User and system time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def step(
    kafka: KafkaSettings, workdir: Path, analyzers: int, ingestors: int
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    stack = Stack(
        kafka.model_copy(update={"topic_prefix": f"scale.{tag}."}),
        PostgresSettings(db_schema=f"bench_{tag}"),
        workdir / tag,
        "http://127.0.0.1:9",
    )
    stack.workdir.mkdir(parents=True)
    params = ScanParams(interval="1d", days=DAYS, degree=4, kstd=2.0)
    request = ScanRequested(origin="test", params=params, symbols=None)
    events = batches(request.scan_id, params)
    plan = ScanPlanned(
        scan_id=request.scan_id,
        request=request,
        symbols=[s for s, _ in events],
        window=params.window,
    )
    await ensure_pipeline_topics(stack.kafka, "bench")
    try:
        workers = [
            stack.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false") for _ in range(ingestors)
        ]
        workers += [stack.start("analyzer") for _ in range(analyzers)]
        for w in workers:
            await wait_for_log(w, "assigned", within=120)
        await asyncio.sleep(8)  # the group settles (a member joining moves partitions)
        producer = AIOKafkaProducer(
            bootstrap_servers=stack.kafka.bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            # batches of many events (16 KB each): one event a request would make this
            # producer, not the services, the bound (measured: 555 events/s on one broker)
            max_batch_size=4 * 1024 * 1024,
            compression_type="zstd",
            max_request_size=stack.kafka.max_message_bytes,
        )
        await producer.start()
        before = {w.process.pid: cpu_seconds(w.process.pid) for w in workers}
        machine = machine_seconds()
        started = time.perf_counter()
        try:
            await producer.send(stack.topics.scans, encode(plan), key=plan.scan_id.encode())
            for symbol, value in events:
                await producer.send(stack.topics.klines, value, key=symbol.encode())
            await producer.flush()
            sent = time.perf_counter() - started
        finally:
            await producer.stop()
        conn = await stack.connect()
        try:
            while True:
                stored = await conn.fetchval("SELECT count(*) FROM signals")
                if stored >= SYMBOLS:
                    break
                if time.perf_counter() - started > 900:
                    raise TimeoutError(f"{stored} of {SYMBOLS} signals stored in 900 s")
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        elapsed = time.perf_counter() - started
        busy = (machine_seconds()[0] - machine[0]) / elapsed  # cores busy, whatever ran
        used: dict[str, list[float]] = {w.name: [] for w in workers}
        for w in workers:
            used[w.name].append((cpu_seconds(w.process.pid) - before[w.process.pid]) / elapsed)
    finally:
        await stack.dispose()  # its services, schema and topics
    return {"elapsed": elapsed, "cpu": used, "sent": sent, "busy": busy}


async def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with own_broker("scale", brokers=3) as cluster, tempfile.TemporaryDirectory() as tmp:
        kafka = KafkaSettings(bootstrap_servers=cluster.bootstrap, replication_factor=3)
        first = None
        for analyzers, ingestors in STEPS:
            got = [await step(kafka, Path(tmp), analyzers, ingestors) for _ in range(runs)]
            rates = sorted(SYMBOLS / g["elapsed"] for g in got)
            rate = statistics.median(rates)
            first = first or rate
            cpu, busy = got[-1]["cpu"], got[-1]["busy"]
            busiest = max(cpu, key=lambda name: max(cpu[name]))
            total = sum(sum(v) for v in cpu.values())
            if busy > 0.85 * CORES:
                bound = (
                    f"the machine's {CORES} cores ({busy:.2f} busy: the services {total:.2f}, "
                    "the rest the brokers, PostgreSQL and this producer)"
                )
            elif max(cpu[busiest]) > 0.8:
                bound = f"the {busiest}s ({max(cpu[busiest]):.2f} of a core)"
            else:
                bound = f"waits ({busy:.2f} of {CORES} cores busy, the services {total:.2f})"
            per = ", ".join(f"{name}s {' '.join(f'{c:.2f}' for c in v)}" for name, v in cpu.items())
            print(
                f"{analyzers} analyzer(s), {ingestors} ingestor(s), 3 brokers: "
                f"{rate * params_window():,.0f} closes analysed/s, {rate:,.0f} signals "
                f"stored/s (runs {rates[0]:,.0f}-{rates[-1]:,.0f}; {rate / first:.2f}x one "
                f"analyzer; {CORES} cores); CPU per process (cores): {per}; bound by {bound}; "
                f"the scan sent in {got[-1]['sent']:.1f} s"
            )


def params_window() -> int:
    return ScanParams(interval="1d", days=DAYS, degree=4, kstd=2.0).window


if __name__ == "__main__":
    asyncio.run(main())
