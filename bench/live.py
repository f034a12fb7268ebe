"""Benchmark of the live market at real time, on the real broker and database. Prints figures.

    make services-up && uv run python bench/live.py [--minutes 5] [--symbols 400] [--runs 3]

The REST and websocket stand-ins serve real candles shifted onto the present: the 10
majors' hourly candles of 2021-2023 (../shared/data), each symbol cloned 40 times at
different points of that history and relabelled as 1-minute candles ending now, so the
prices are real and the clock is this machine's. At every minute boundary the websocket
stand-in sends each stream's closing frame; the fetcher's live feed (a default watch),
2 analyzers, the ingestor and the alerts API (one SSE subscriber, in this process) run as
the stack runs them. Frames flow from the start; what is measured are the closes after the
warm-up (every key loaded over REST and its first signal stored).

Figures, per run: closing frame sent -> the alert on the SSE subscriber, p50 / p99 (goal
p99 <= 1 s); closes analysed per second; the CPU each service used; candles missing and
duplicated in what was stored and published (goal 0 and 0). Runs: 400 symbols x 1m;
400 x 3 intervals (1m, 3m, 5m); 400 x 1m with every connection dropped once a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from aiokafka import AIOKafkaConsumer

REPO = Path(__file__).resolve().parents[1]
# the local cluster's passwords (deploy/local/postgres.sh makes them), unless set
os.environ.setdefault("PGPASSFILE", str(REPO / ".local" / "postgres" / "pgpass"))
sys.path.insert(0, str(REPO))

from tests.support.api import start_api  # noqa: E402
from tests.support.binance_standin import INTERVAL_MS, StandIn, load_klines, serve  # noqa: E402
from tests.support.factories import make_token  # noqa: E402
from tests.support.stack import Stack, wait_for_log  # noqa: E402
from tests.support.ws_standin import KlineStreams  # noqa: E402

from autonama_shared.db import migrate  # noqa: E402
from autonama_shared.db.pool import open_pool  # noqa: E402
from autonama_shared.messaging.events import (  # noqa: E402
    CandleClosed,
    KlineBatch,
    SignalComputed,
    decode,
)
from autonama_shared.settings import KafkaSettings, PostgresSettings  # noqa: E402
from autonama_shared.sources.watches import (  # noqa: E402
    WatchParams,
    WatchSettings,
    scan_id_of,
)

DATA = Path(os.environ.get("AUTONAMA_TEST_DATA", str(REPO.parent / "shared" / "data")))
PARAMS = WatchParams(degree=4, kstd=1.0, days=1)  # kstd 1: many alerts to time
HISTORY = 1_500  # candles before "now" (the 1m window is 1,440)


def shifted(symbols: int, intervals: list[str], now_ms: int, minutes: int) -> dict[Any, Any]:
    """Real hourly candles relabelled: per symbol ``HISTORY`` closed candles up to now and
    enough after it for the run, at each interval."""
    real = load_klines(DATA / "klines" / "2021-04-to-2023-12", intervals=("1h",))
    bases = sorted(real)
    out: dict[tuple[str, str], np.ndarray] = {}
    for i in range(symbols):
        base, _ = bases[i % len(bases)]
        rows = real[bases[i % len(bases)]]
        for interval in intervals:
            step = INTERVAL_MS[interval]
            count = HISTORY + minutes * 60_000 // step + 3
            start = (i // len(bases)) * 500 % (len(rows) - count)
            part = rows[start : start + count].copy()
            first = (now_ms // step - HISTORY) * step
            part[:, 0] = first + np.arange(count) * step
            out[(f"{base.removesuffix('USDT')}{i:03d}USDT", interval)] = part
    return out


class RealTimeStreams(KlineStreams):
    """The websocket stand-in on this machine's clock: at each interval's boundary, the
    closing frame of each of its streams (its send time kept per symbol and candle)."""

    sent: dict[tuple[str, str, int], float]
    #: Frames are sent from the start (a feed warming up gets its closes, as from Binance);
    #: the run sets when measuring starts (drops begin then) and when sending ends.
    measured_from: float = float("inf")
    until: float = float("inf")
    #: a stalled exchange (bench/chaos.py): no frame is sent before this time
    paused_until: float = 0.0
    #: every interval boundary the run reached, frames sent or not
    boundaries: list[int]

    async def run(self, intervals: list[str], drop_every: float | None) -> None:
        self.sent = {}
        self.boundaries = []
        minute = INTERVAL_MS["1m"]
        next_drop: float | None = None
        while time.time() < self.until:
            if drop_every and next_drop is None and self.measured_from < float("inf"):
                next_drop = self.measured_from + drop_every
            boundary = (int(time.time() * 1000) // minute + 1) * minute
            await asyncio.sleep(max(0.0, boundary / 1000 + 0.05 - time.time()))
            due = [i for i in intervals if boundary % INTERVAL_MS[i] == 0]
            self.boundaries.append(boundary)
            if time.time() < self.paused_until:
                continue
            for connection, streams in list(self.connections.items()):
                for stream in streams:
                    interval = stream.rsplit("_", 1)[1]
                    if interval not in due:
                        continue
                    closed = boundary - INTERVAL_MS[interval]
                    row = self._row(stream, closed)
                    if row is None:
                        continue
                    symbol = stream.split("@", 1)[0].upper()
                    self.sent[(symbol, interval, closed)] = time.time()
                    try:
                        await connection.send(self._frame(stream, row, closed=True))
                    except Exception:  # noqa: BLE001, S112 - a dropped client: it catches up
                        continue
            if next_drop is not None and time.time() >= next_drop:
                await asyncio.sleep(7.0)
                await self.drop()
                next_drop += drop_every or 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sse_alerts(api: str, token: str, out: list[tuple[dict[str, Any], float]]) -> None:
    """The alerts stream as a browser's EventSource reads it: when the server ends it (a
    client too far behind is dropped), it is opened again from the last id received."""
    headers = {"Authorization": f"Bearer {token}"}
    last: str | None = None
    async with httpx.AsyncClient(
        base_url=api, timeout=httpx.Timeout(10, read=None), headers=headers
    ) as http:
        while True:
            resume = {"Last-Event-ID": last} if last else {}
            try:
                async with http.stream("GET", "/v1/alerts/stream", headers=resume) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("id: "):
                            last = line[4:]
                        elif line.startswith("data: "):
                            out.append((json.loads(line[6:]), time.time()))
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)


Key = tuple[str, str, int]  # symbol, interval, candle open time (ms)


async def published(kafka: KafkaSettings) -> tuple[dict[Key, int], dict[Key, float]]:
    """How many times each candle was published on ``klines``, and when it first was (the
    record's time: the fetcher's send, in ms)."""
    counts: dict[Key, int] = {}
    first: dict[Key, float] = {}

    def count(r: Any) -> None:
        e = decode(r.value, KlineBatch, CandleClosed)
        if isinstance(e, CandleClosed):
            key = (e.symbol, e.interval, e.open_time[-1])
            counts[key] = counts.get(key, 0) + 1
            first[key] = min(first.get(key, float("inf")), r.timestamp)

    await read_topic(kafka, "klines", count)
    return counts, first


async def computed(kafka: KafkaSettings) -> dict[Key, float]:
    """When each signal was first sent by an analyzer (the record's time, ms)."""
    first: dict[Key, float] = {}

    def note(r: Any) -> None:
        e = decode(r.value, SignalComputed)
        if e.last_candle_time is not None:
            key = (e.symbol, e.params.interval, int(e.last_candle_time.timestamp() * 1000))
            first[key] = min(first.get(key, float("inf")), r.timestamp)

    await read_topic(kafka, "signals", note)
    return first


async def read_topic(kafka: KafkaSettings, name: str, each: Any) -> None:
    consumer = AIOKafkaConsumer(
        f"{kafka.topic_prefix}{name}",
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=64 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=3000, max_records=2000)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    each(r)
    finally:
        await consumer.stop()


async def warmed_up(stack: Stack, keys: int, within: float) -> None:
    """Until every key has its first signal stored (its window loaded and analysed)."""
    deadline = time.monotonic() + within
    conn = await stack.connect()
    try:
        while time.monotonic() < deadline:
            if await conn.fetchval("SELECT count(*) FROM current_signals") >= keys:
                return
            await asyncio.sleep(1.0)
    finally:
        await conn.close()
    raise TimeoutError(f"the warm-up of {keys} keys took more than {within:.0f} s")


async def one_run(
    symbols: int,
    intervals: list[str],
    minutes: int,
    drop_every: float | None,
    workdir: Path,
    detail: bool = False,
) -> tuple[str, dict[str, float]]:
    tag = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(topic_prefix=f"bench.{tag}.")
    pg = PostgresSettings(db_schema=f"bench_{tag}")
    now = int(time.time() * 1000)
    klines = shifted(symbols, intervals, now, minutes)
    rest = StandIn(klines, now)
    clock_stop = asyncio.Event()

    async def follow_clock() -> None:
        while not clock_stop.is_set():
            rest.now_ms = int(time.time() * 1000)
            await asyncio.sleep(0.05)

    clock = asyncio.create_task(follow_clock())
    names = sorted({s for s, _ in klines})
    with serve(rest):
        ws = await RealTimeStreams(rest, intervals[0]).start()
        stack = Stack(
            kafka,
            pg,
            workdir / tag,
            rest.url,
            extra_env={
                "AUTONAMA_WATCH__ENABLED": "true",
                "AUTONAMA_WATCH__SYMBOLS": json.dumps(names),
                "AUTONAMA_WATCH__INTERVALS": json.dumps(intervals),
                "AUTONAMA_WATCH__PARAMS": json.dumps([PARAMS.model_dump()]),
                "AUTONAMA_WATCH__WS_URL": ws.url,
                "AUTONAMA_FETCHER_BINANCE__MAX_CONCURRENCY": "16",
            },
        )
        stack.workdir.mkdir(parents=True)
        async with open_pool(pg) as pool, pool.acquire() as conn:
            await migrate(conn, pg.db_schema)
        proc, api = await asyncio.to_thread(start_api, pg, kafka, stack.workdir / "api.log")
        alerts: list[tuple[dict[str, Any], float]] = []
        sending: asyncio.Task[None] | None = None
        try:
            stack.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
            for _ in range(2):
                stack.start("analyzer")
            fetcher = stack.start("fetcher")
            token = await make_token(pg, "read")
            listener = asyncio.create_task(sse_alerts(api, token, alerts))
            sending = asyncio.create_task(ws.run(intervals, drop_every))
            await wait_for_log(fetcher, "live: connected", within=300)
            # The warm-up: every key loaded over REST, analysed and its first signal stored.
            await warmed_up(stack, len(klines), within=600)
            if detail:
                print(f"  warmed up at {time.strftime('%H:%M:%S')}", flush=True)
            cpu0 = {s.process.pid: cpu_seconds(s.process.pid) for s in stack.services}
            api_cpu0 = cpu_seconds(proc.pid)
            started = ws.measured_from = time.time()
            ws.until = started + minutes * 60 + 1
            await sending
            await asyncio.sleep(15)  # the last closes through the pipeline
            elapsed = time.time() - started
            cpu = {
                s.process.pid: cpu_seconds(s.process.pid) - cpu0[s.process.pid]
                for s in stack.services
            }
            api_cpu = cpu_seconds(proc.pid) - api_cpu0
            listener.cancel()
            # Measured: the closes after the warm-up (their frames sent after it ended).
            sent = {k: at for k, at in ws.sent.items() if at > started}
            scan_ids = {
                scan_id_of(p)
                for i in intervals
                for p in WatchSettings(params=[PARAMS]).scan_params(i)
            }
            counts, published_at = await published(kafka)
            signalled_at = await computed(kafka) if detail else {}
            conn = await stack.connect()
            try:
                rows = await conn.fetch(
                    """SELECT symbol, interval, last_candle_time FROM signals
                       WHERE scan_id = ANY($1::uuid[])""",
                    [uuid.UUID(s) for s in scan_ids],
                )
            finally:
                await conn.close()
        finally:
            if sending is not None:
                sending.cancel()
            stack.stop_all()
            proc.terminate()
            await asyncio.to_thread(proc.wait, 20)
            await ws.stop()
            clock_stop.set()
            await clock
            await stack.dispose()  # its schema and topics (the services are stopped above)
    stored = {
        (r["symbol"], r["interval"], int(r["last_candle_time"].timestamp() * 1000)) for r in rows
    }
    missing = [k for k in sent if k not in stored]
    duplicated = sum(n - 1 for k, n in counts.items() if k in sent and n > 1)
    latencies, to_commit = [], []
    by_close: dict[int, list[float]] = {}
    stages: dict[str, list[float]] = {"fetcher": [], "analyzer": [], "ingestor": [], "API": []}
    for alert, at in alerts:
        key = (alert["symbol"], alert["interval"], int(_ms(alert["last_candle_time"])))
        if key in sent:
            latencies.append((at - sent[key]) * 1000)
            to_commit.append(_ms(alert["created_at"]) - sent[key] * 1000)
            boundary = key[2] + INTERVAL_MS[key[1]]
            by_close.setdefault(boundary, []).append(latencies[-1])
            if key in published_at and key in signalled_at:
                # where the time went: frame -> klines record (the fetcher), -> signals record
                # (an analyzer), -> the alert's transaction (the ingestor), -> received (API)
                stamps = [
                    sent[key] * 1000,
                    published_at[key],
                    signalled_at[key],
                    _ms(alert["created_at"]),
                    at * 1000,
                ]
                for stage, a, b in zip(stages, stamps, stamps[1:], strict=False):
                    stages[stage].append(b - a)
    if detail and stages["fetcher"]:
        print(
            "  stages, p50 / p99 ms: "
            + ", ".join(
                f"{name} {pct(values, 50):.0f} / {pct(values, 99):.0f}"
                for name, values in stages.items()
            ),
            flush=True,
        )
    if detail:
        for boundary, values in sorted(by_close.items()):
            print(
                f"  closes at {time.strftime('%H:%M', time.gmtime(boundary / 1000))}: "
                f"{len(values)} alerts, p50 {pct(values, 50):.0f} ms, "
                f"p99 {pct(values, 99):.0f} ms, max {max(values):.0f} ms",
                flush=True,
            )
    analysed = len([k for k in counts if k in sent])
    by = {"fetcher": 0.0, "analyzers": 0.0, "ingestor": 0.0}
    for s in stack.services:
        by["analyzers" if s.name == "analyzer" else s.name] += cpu[s.process.pid]
    cpu_text = ", ".join(f"{k} {100 * v / elapsed:.0f}%" for k, v in by.items())
    cpu_text += f", API {100 * api_cpu / elapsed:.0f}%"
    lat = (
        f"p50 {pct(latencies, 50):.0f} ms, p99 {pct(latencies, 99):.0f} ms over "
        f"{len(latencies)} alerts (to the alert's transaction: p50 "
        f"{pct(to_commit, 50):.0f} ms, p99 {pct(to_commit, 99):.0f} ms)"
        if latencies
        else "no alert"
    )
    line = (
        f"{symbols} symbols x {','.join(intervals)}"
        f"{', a drop a minute' if drop_every else ''}, {minutes} min: frame -> SSE alert {lat}; "
        f"{analysed / elapsed:.1f} closes analysed/s ({len(sent)} frames sent); "
        f"missing {len(missing)}, duplicated {duplicated}; CPU {cpu_text}"
    )
    figures = {
        "p50": pct(latencies, 50) if latencies else float("nan"),
        "p99": pct(latencies, 99) if latencies else float("nan"),
        "missing": float(len(missing)),
        "duplicated": float(duplicated),
        "sent": float(len(sent)),
    }
    return line, figures


def summary(name: str, runs: list[dict[str, float]]) -> str:
    """Median and range over the runs of one case."""

    def spread(key: str) -> str:
        values = [r[key] for r in runs]
        return f"{statistics.median(values):.0f} ms (min {min(values):.0f}, max {max(values):.0f})"

    p99 = statistics.median(r["p99"] for r in runs)
    return (
        f"{name}: frame -> SSE alert p50 {spread('p50')}, p99 {spread('p99')} over {len(runs)} "
        f"runs (goal p99 1,000 ms: {1000 / p99:.2f}x); frames sent "
        f"{sum(r['sent'] for r in runs):.0f}, missing {sum(r['missing'] for r in runs):.0f}, "
        f"duplicated {sum(r['duplicated'] for r in runs):.0f}"
    )


def _ms(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--symbols", type=int, default=400)
    parser.add_argument("--only", choices=["1m", "3x", "drops"], default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--detail", action="store_true", help="latencies per candle close")
    parser.add_argument("--logs", type=Path, default=None, help="keep the services' logs here")
    args = parser.parse_args()
    runs = [
        ("1m", ["1m"], None),
        ("3x", ["1m", "3m", "5m"], None),
        ("drops", ["1m"], 60.0),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.logs or Path(tmp)
        for name, intervals, drop in runs:
            if args.only not in (None, name):
                continue
            figures = []
            for _ in range(args.runs):
                line, one = await one_run(
                    args.symbols, intervals, args.minutes, drop, workdir, args.detail
                )
                print(line, flush=True)
                figures.append(one)
            label = f"{args.symbols} x {','.join(intervals)}{', a drop a minute' if drop else ''}"
            print(summary(label, figures), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
