"""Benchmark of the alerts API on the real PostgreSQL, over real HTTP (uvicorn). Prints figures.

    make services-up && uv run python bench/api.py

1. Live stream: 500 concurrent SSE subscribers; 20 alerts committed one by
   one; the time from each commit to its receipt by every subscriber (median
   and p99 over all 10,000 deliveries). Target: p99 under 1 s.
2. Reads: GET /v1/alerts (current alerts, page of 50) from 50 concurrent
   clients for 10 s with 10,000 alerts stored: requests/s and p99 latency.

Clients and server share this 2-core machine, so the figures include the
clients' own CPU use.
3. wrk (Debian's package, an external load tool: installed here when missing)
   against one API process, 2 threads x 50 connections x 10 s, three runs each
   (median and spread): /healthz, /v1/alerts?limit=50, /v1/alerts/summary,
   /v1/alerts/top-buy, and the alerts page answered 304 (If-None-Match).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.test_alerts_api import start_api  # noqa: E402
from tests.support.factories import make_signal  # noqa: E402

from autonama_shared.db import migrate  # noqa: E402
from autonama_shared.db.pool import open_pool  # noqa: E402
from autonama_shared.db.store import store_signals  # noqa: E402
from autonama_shared.settings import KafkaSettings, PostgresSettings  # noqa: E402

SUBSCRIBERS = 500
LIVE_ALERTS = 20
STORED = 10_000
READERS = 50
READ_SECONDS = 10.0


WRK_RUNS = 3


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)  # noqa: S607
        found = shutil.which("wrk")
    assert found is not None, "wrk could not be installed (Debian package wrk)"
    return found


def wrk(exe: str, url: str, *headers: str) -> tuple[float, float]:
    """Requests/s and p99 latency (ms) of one wrk run."""
    args = [exe, "-t2", "-c50", "-d10s", "--latency", *(x for h in headers for x in ("-H", h)), url]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return rps, float(p99) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def subscriber(
    client: httpx.AsyncClient, got: dict[int, float], ready: asyncio.Event, counter: list[int]
) -> None:
    async with client.stream("GET", "/v1/alerts/stream") as response:
        counter[0] += 1
        if counter[0] == SUBSCRIBERS:
            ready.set()
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                got[int(line[4:])] = time.perf_counter()


async def main() -> None:
    tag = uuid.uuid4().hex[:8]
    pg = PostgresSettings(db_schema=f"bench_{tag}")
    kafka = KafkaSettings(topic_prefix=f"bench.{tag}.")
    async with open_pool(pg) as pool:
        async with pool.acquire() as conn:
            await migrate(conn, pg.db_schema)
        for start in range(0, STORED, 2000):
            async with pool.acquire() as conn, conn.transaction():
                await store_signals(
                    conn,
                    [
                        make_signal(
                            f"K{i:05d}USDT",
                            "BUY" if i % 2 else "SELL",
                            1,
                            potential=float(i % 97),
                            target=float(i % 13),
                        )
                        for i in range(start, start + 2000)
                    ],
                    origin="bench",
                )
        log = Path(tempfile.gettempdir()) / f"autonama-bench-api-{tag}.log"
        proc, url = await asyncio.to_thread(start_api, pg, kafka, log)
        try:
            limits = httpx.Limits(max_connections=SUBSCRIBERS + 10)
            # Streams never end by themselves: no read timeout on them.
            async with httpx.AsyncClient(base_url=url, timeout=None, limits=limits) as client:  # noqa: S113
                received: list[dict[int, float]] = [{} for _ in range(SUBSCRIBERS)]
                ready, counter = asyncio.Event(), [0]
                tasks = [
                    asyncio.create_task(subscriber(client, received[i], ready, counter))
                    for i in range(SUBSCRIBERS)
                ]
                await asyncio.wait_for(ready.wait(), 120)
                await asyncio.sleep(1.0)
                committed: dict[int, float] = {}
                for n in range(LIVE_ALERTS):
                    async with pool.acquire() as conn:
                        async with conn.transaction():
                            await store_signals(
                                conn, [make_signal("LIVEUSDT", "BUY", 10 + n)], origin="bench"
                            )
                        committed_at = time.perf_counter()
                        alert_id = await conn.fetchval("SELECT max(id) FROM alerts")
                    committed[alert_id] = committed_at
                    await asyncio.sleep(0.2)
                await asyncio.sleep(3.0)
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                        await t
            delays = [got[i] - at for got in received for i, at in committed.items() if i in got]
            missing = SUBSCRIBERS * LIVE_ALERTS - len(delays)
            print(
                f"SSE: {SUBSCRIBERS} subscribers x {LIVE_ALERTS} alerts, commit to receipt: "
                f"median {statistics.median(delays) * 1000:.0f} ms, "
                f"p99 {pct(delays, 0.99) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms, "
                f"missing {missing} (target p99 < 1000 ms)"
            )

            latencies: list[float] = []
            stop_at = time.perf_counter() + READ_SECONDS

            async def reader(c: httpx.AsyncClient) -> None:
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    r = await c.get("/v1/alerts", params={"limit": 50})
                    r.raise_for_status()
                    latencies.append(time.perf_counter() - t0)

            limits = httpx.Limits(max_connections=READERS)
            async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as c:
                started = time.perf_counter()
                await asyncio.gather(*(reader(c) for _ in range(READERS)))
                elapsed = time.perf_counter() - started
            print(
                f"GET /v1/alerts (page of 50, {STORED:,} alerts stored), {READERS} concurrent "
                f"clients for {READ_SECONDS:.0f} s: {len(latencies) / elapsed:.0f} requests/s, "
                f"median {statistics.median(latencies) * 1000:.0f} ms, "
                f"p99 {pct(latencies, 0.99) * 1000:.0f} ms"
            )
            exe = ensure_wrk()
            async with httpx.AsyncClient() as c:
                etag = (await c.get(f"{url}/v1/alerts?limit=50")).headers["etag"]
            cases = [
                ("/healthz", "/healthz", ()),
                ("/v1/alerts?limit=50", "/v1/alerts?limit=50", ()),
                ("/v1/alerts/summary", "/v1/alerts/summary", ()),
                ("/v1/alerts/top-buy", "/v1/alerts/top-buy", ()),
                ("/v1/alerts?limit=50 (304)", "/v1/alerts?limit=50", (f"If-None-Match: {etag}",)),
            ]
            for name, path, headers in cases:
                runs = [
                    await asyncio.to_thread(wrk, exe, url + path, *headers) for _ in range(WRK_RUNS)
                ]
                rates = sorted(r for r, _ in runs)
                p99s = sorted(p for _, p in runs)
                print(
                    f"wrk {name}, {STORED:,} alerts stored: "
                    f"{statistics.median(rates):,.0f} requests/s "
                    f"({rates[0]:,.0f}-{rates[-1]:,.0f}), "
                    f"p99 {statistics.median(p99s):.0f} ms ({p99s[0]:.0f}-{p99s[-1]:.0f})"
                )
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 20)
            async with pool.acquire() as conn:
                await conn.execute(f'DROP SCHEMA "{pg.db_schema}" CASCADE')


if __name__ == "__main__":
    asyncio.run(main())
