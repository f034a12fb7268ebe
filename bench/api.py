"""Benchmark of the alerts API on the real PostgreSQL, over real HTTP (uvicorn). Prints figures.

    make services-up && uv run python bench/api.py

Two stored states: 10,000 alerts (10,000 keys, one signal each) and 100,000
alerts among 1,000,000 signals (100,000 keys, nine HOLD candles then a BUY or
SELL); the cost of a page must be the page, not the table.

1. wrk (Debian's package, an external load tool: installed here when missing)
   against the API with one and with two worker processes, 2 threads x 50
   connections x 10 s, three runs each (median and range): /healthz,
   /v1/alerts?limit=50, /v1/alerts/summary, /v1/alerts/top-buy, /v1/alerts/top-sell,
   and the alerts page answered 304 (If-None-Match). wrk shares the machine's two
   cores with the server.
2. Live stream: 1,000 concurrent SSE subscribers on the API (one process per
   core); 20 alerts committed one by one; the time from each commit to its receipt
   by every subscriber (median and p99 over 20,000 deliveries), and how many never
   arrived; three runs, with one and with two worker processes. No external load tool
   speaks SSE: the subscribers run in a process of their own on uvloop and raw sockets
   (a receipt costs a read and a split, not an HTTP library's line iterator), still on the
   same two cores as the server. ``--sse``: only this case.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
# the local cluster's passwords (deploy/local/postgres.sh makes them), unless set
os.environ.setdefault("PGPASSFILE", str(REPO / ".local" / "postgres" / "pgpass"))
sys.path.insert(0, str(REPO))

from tests.support.api import start_api  # noqa: E402
from tests.support.factories import make_signal  # noqa: E402

from autonama_shared.db import migrate  # noqa: E402
from autonama_shared.db.pool import open_pool  # noqa: E402
from autonama_shared.db.store import store_signals  # noqa: E402
from autonama_shared.settings import KafkaSettings, PostgresSettings  # noqa: E402

SUBSCRIBERS = 1_000
LIVE_ALERTS = 20
BATCH = 2_000
WRK_RUNS = 3


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)  # noqa: S607
        found = shutil.which("wrk")
    assert found is not None, "wrk could not be installed (Debian package wrk)"
    return found


#: Every request a page never asked before (a distinct minimum potential return), so each
#: one is read from the database: what the page costs when it is not in memory.
UNCACHED_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local path = string.format("/v1/alerts?limit=50&min_potential_return=%d.%06d",
                             counter % 50, math.random(0, 999999))
  return wrk.format("GET", path)
end
"""


def wrk(
    exe: str, url: str, *headers: str, script: str | None = None, seconds: int = 10
) -> tuple[float, float]:
    """Requests/s and p99 latency (ms) of one wrk run (``script``: a wrk Lua script)."""
    rps, latency = wrk_latency(exe, url, *headers, script=script, seconds=seconds)
    return rps, latency[99]


def wrk_latency(
    exe: str, url: str, *headers: str, script: str | None = None, seconds: int = 10
) -> tuple[float, dict[int, float]]:
    """Requests/s and the latency percentiles (50, 75, 90, 99; ms) of one wrk run."""
    extra: list[str] = []
    if script is not None:
        path = Path(tempfile.gettempdir()) / f"autonama-wrk-{uuid.uuid4().hex[:8]}.lua"
        path.write_text(script)
        extra = ["-s", str(path)]
    args = [
        exe,
        "-t2",
        "-c50",
        f"-d{seconds}s",
        "--latency",
        *extra,
        *(x for h in headers for x in ("-H", h)),
        url,
    ]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {}
    for q in (50, 75, 90, 99):
        value, unit = re.search(rf"{q}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        latency[q] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rps, latency


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def subscriber(host: str, port: int, got: dict[int, float], ready: list[int]) -> None:
    """One SSE client on a raw socket: the time each ``id:`` line arrives (perf_counter is
    CLOCK_MONOTONIC, one clock for every process of the machine)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /v1/alerts/stream HTTP/1.1\r\nHost: {host}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    rest = b""
    try:
        while chunk := await reader.read(65536):
            at = time.perf_counter()
            if not ready[0] and b"200 OK" in chunk:
                ready[0] = 1
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line.startswith(b"id: "):
                    got[int(line[4:])] = at
    finally:
        writer.close()


def subscribers(url: str, seconds: float, out: Any) -> None:
    """SUBSCRIBERS clients in this process (its own event loop, on uvloop), for ``seconds``;
    sends "ready" once all are connected, then their receipts."""
    import uvloop

    host, port = url.removeprefix("http://").split(":")
    got: list[dict[int, float]] = [{} for _ in range(SUBSCRIBERS)]
    ready = [[0] for _ in range(SUBSCRIBERS)]

    async def run() -> None:
        tasks = [
            asyncio.create_task(subscriber(host, int(port), got[i], ready[i]))
            for i in range(SUBSCRIBERS)
        ]
        for _ in range(2400):  # connected within 120 s, or the parent gives up
            if sum(r[0] for r in ready) == SUBSCRIBERS:
                break
            await asyncio.sleep(0.05)
        out.send("ready")
        await asyncio.sleep(seconds)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    uvloop.run(run())
    out.send(got)


async def load(pool: asyncpg.Pool, keys: int, candles: int) -> None:
    """``keys`` keys with ``candles`` daily signals each: HOLD, then BUY or SELL last."""
    for day in range(1, candles + 1):
        for start in range(0, keys, BATCH):
            signals = [
                make_signal(
                    f"K{i:06d}USDT",
                    "HOLD" if day < candles else ("BUY" if i % 2 else "SELL"),
                    day,
                    potential=float(i % 97),
                    target=float(i % 13),
                    candles=1,
                )
                for i in range(start, min(keys, start + BATCH))
            ]
            async with pool.acquire() as conn, conn.transaction():
                await store_signals(conn, signals, origin="bench")


async def sse(url: str, pool: asyncpg.Pool, offset: int = 0) -> str:
    """SUBSCRIBERS clients in a process of their own (raw sockets: a client costs the
    receipt, not an HTTP library's line iterator) while this one commits alerts."""
    parent, child = multiprocessing.Pipe()
    clients = multiprocessing.get_context("spawn").Process(
        target=subscribers, args=(url, LIVE_ALERTS * 0.2 + 8.0, child)
    )
    clients.start()
    if not await asyncio.to_thread(parent.poll, 120):
        clients.kill()
        raise TimeoutError(f"{SUBSCRIBERS} SSE clients not connected in 120 s")
    assert parent.recv() == "ready"
    await asyncio.sleep(1.0)
    committed: dict[int, float] = {}
    for n in range(LIVE_ALERTS):
        async with pool.acquire() as conn:
            async with conn.transaction():
                await store_signals(
                    conn, [make_signal("LIVEUSDT", "BUY", 100 + offset + n)], origin="bench"
                )
            committed_at = time.perf_counter()
            alert_id = await conn.fetchval("SELECT max(id) FROM alerts")
        committed[alert_id] = committed_at
        await asyncio.sleep(0.2)
    received: list[dict[int, float]] = await asyncio.to_thread(parent.recv)
    await asyncio.to_thread(clients.join, 30)
    delays = [got[i] - at for got in received for i, at in committed.items() if i in got]
    missing = SUBSCRIBERS * LIVE_ALERTS - len(delays)
    return (
        f"SSE: {SUBSCRIBERS:,} subscribers x {LIVE_ALERTS} alerts, commit to receipt: "
        f"median {statistics.median(delays) * 1000:.0f} ms, "
        f"p99 {pct(delays, 0.99) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms, "
        f"missing {missing} (goal p99 <= 100 ms, 0 missing)"
    )


async def wrk_table(exe: str, url: str, label: str) -> None:
    async with httpx.AsyncClient() as c:
        etag = (await c.get(f"{url}/v1/alerts?limit=50")).headers["etag"]
    cases: list[tuple[str, str, tuple[str, ...], str | None]] = [
        ("/healthz", "/healthz", (), None),
        ("/v1/alerts?limit=50", "/v1/alerts?limit=50", (), None),
        ("/v1/alerts/summary", "/v1/alerts/summary", (), None),
        ("/v1/alerts/top-buy", "/v1/alerts/top-buy", (), None),
        ("/v1/alerts/top-sell", "/v1/alerts/top-sell", (), None),
        ("/v1/alerts?limit=50 (304)", "/v1/alerts?limit=50", (f"If-None-Match: {etag}",), None),
        ("/v1/alerts, every page a new query", "", (), UNCACHED_LUA),
    ]
    for name, path, headers, script in cases:
        runs = [
            await asyncio.to_thread(wrk, exe, url + path, *headers, script=script)
            for _ in range(WRK_RUNS)
        ]
        rates = sorted(r for r, _ in runs)
        p99s = sorted(p for _, p in runs)
        print(
            f"wrk {name}, {label}: "
            f"{statistics.median(rates):,.0f} requests/s ({rates[0]:,.0f}-{rates[-1]:,.0f}), "
            f"p99 {statistics.median(p99s):.0f} ms ({p99s[0]:.0f}-{p99s[-1]:.0f})",
            flush=True,
        )


async def main() -> None:
    only_sse = "--sse" in sys.argv[1:]  # only the stream's figures (10,000 alerts)
    exe = ensure_wrk()
    for keys, candles in ((10_000, 1), (100_000, 10)):
        if only_sse and keys != 10_000:
            continue
        tag = uuid.uuid4().hex[:8]
        pg = PostgresSettings(db_schema=f"bench_{tag}")
        kafka = KafkaSettings(topic_prefix=f"bench.{tag}.")
        async with open_pool(pg) as pool:
            async with pool.acquire() as conn:
                await migrate(conn, pg.db_schema)
            started = time.perf_counter()
            await load(pool, keys, candles)
            print(
                f"stored {keys * candles:,} signals, {keys:,} alerts "
                f"in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            try:
                for workers in (1, 2):
                    log = Path(tempfile.gettempdir()) / f"autonama-bench-api-{tag}.log"
                    proc, url = await asyncio.to_thread(
                        start_api,
                        pg,
                        kafka,
                        log,
                        AUTONAMA_ALERTS_API_WORKERS=str(workers),
                        # the 1,000 stream subscribers all come from 127.0.0.1
                        AUTONAMA_ALERTS_API_SSE_MAX_PER_ADDRESS="2000",
                    )
                    try:
                        label = (
                            f"{keys:,} alerts / {keys * candles:,} signals, "
                            f"{workers} worker{'s' if workers > 1 else ''}"
                        )
                        if not only_sse:
                            await wrk_table(exe, url, label)
                        if keys == 10_000:
                            for run in range(WRK_RUNS):
                                offset = (workers * WRK_RUNS + run) * LIVE_ALERTS  # new candles
                                line = await sse(url, pool, offset=offset)
                                print(f"{line}, {label}", flush=True)
                    finally:
                        proc.terminate()
                        await asyncio.to_thread(proc.wait, 20)
            finally:
                async with pool.acquire() as conn:
                    await conn.execute(f'DROP SCHEMA "{pg.db_schema}" CASCADE')


if __name__ == "__main__":
    asyncio.run(main())
