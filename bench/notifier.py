"""Benchmark of notifications on the real Kafka broker and PostgreSQL. Prints figures only.

    make services-up && uv run python bench/notifier.py

The real ``autonama-ingestor`` (its outbox relay) and ``autonama-notifier`` processes; a
local webhook receiver in a process of its own (aiohttp) that verifies every signature
with ``standardwebhooks`` and answers 204. Alerts are committed through the ingestor's
storage path (``store_signals``), each on a key of its own.

1. Throughput: 10 webhook subscriptions x 2,000 alerts (20,000 deliveries), from the
   first alert committed to the last delivery received: deliveries/s. Goal >= 2,000/s.
2. Latency at a steady 100 alerts/s for 30 s (10 alerts every 100 ms), one subscription:
   from the alert's commit (its ``created_at``, the transaction's time) to its receipt,
   p50 and p99. Goal p99 <= 500 ms.
3. The same steady load with receivers in trouble beside the healthy ones, as an operator
   meets them: 4 healthy webhooks, one answering 503 for its first 40 s, one 410 (gone),
   one 429 with Retry-After, an Apprise json:// target that never answers (a tarpit) and
   a healthy Apprise json:// target. Commit to receipt at the healthy webhooks, p50 and
   p99. Goal p99 <= 500 ms, whatever the others do.

Each case runs 3 times (a fresh schema and topics each time): median and range.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# the local cluster's passwords (deploy/local/postgres.sh makes them), unless set
os.environ.setdefault("PGPASSFILE", str(REPO / ".local" / "postgres" / "pgpass"))
sys.path.insert(0, str(REPO))

from tests.support.factories import make_signal  # noqa: E402
from tests.support.stack import Stack, wait_for_log  # noqa: E402

from autonama_shared.db import migrate  # noqa: E402
from autonama_shared.db.pool import open_pool  # noqa: E402
from autonama_shared.db.store import store_signals  # noqa: E402
from autonama_shared.db.subscriptions import create_subscription  # noqa: E402
from autonama_shared.notify.subscriptions import SubscriptionSpec  # noqa: E402
from autonama_shared.settings import KafkaSettings, PostgresSettings  # noqa: E402

RUNS = 3
SUBSCRIPTIONS = 10
ALERTS = 2_000
RATE = 100  # alerts/s in the latency case
SECONDS = 30


#: The receivers in trouble of case 3 (by subscription name): their answers.
TROUBLE = {"down503": (503, {}), "gone": (410, {}), "busy429": (429, {"Retry-After": "5"})}
DOWN_SECONDS = 40.0


def _receiver(port: int, secrets: dict[str, str], out: Any, ready: Any) -> None:
    """The receiver's process: verify, answer 204 (or as ``TROUBLE`` says), report the
    healthy receipts (name, webhook-id, alert's created_at, receipt time) in batches; an
    Apprise json:// target: /json/ok answers 200, /json/tarpit never answers."""
    from aiohttp import web
    from standardwebhooks.webhooks import Webhook

    hooks = {name: Webhook(s) for name, s in secrets.items()}
    buffer: list[tuple[str, str, str, float]] = []
    started = time.monotonic()

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        raw = await request.read()
        event = hooks[name].verify(raw, dict(request.headers))
        if name in TROUBLE and (name != "down503" or time.monotonic() - started < DOWN_SECONDS):
            status, headers = TROUBLE[name]
            return web.Response(status=status, headers=headers)
        if name in TROUBLE:
            return web.Response(status=204)  # back after its outage: not a healthy receiver
        buffer.append(
            (name, request.headers["webhook-id"], event["data"]["created_at"], time.time())
        )
        return web.Response(status=204)

    async def apprise(request: web.Request) -> web.Response:
        await request.read()
        if request.match_info["name"] == "tarpit":
            await asyncio.sleep(3600)
        return web.Response(status=200, text="{}")

    async def flush() -> None:
        while True:
            await asyncio.sleep(0.2)
            if buffer:
                out.put(list(buffer))
                buffer.clear()

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook/{name}", handle)
        app.router.add_post("/json/{name}", apprise)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        ready.set()
        await flush()

    asyncio.run(main())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def one_run(
    workdir: Path, *, subscriptions: int, steady: bool, trouble: bool = False
) -> tuple[float, list[float]]:
    """(deliveries/s, latencies in ms at the healthy receivers) of one run."""
    tag = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(topic_prefix=f"bench.{tag}.")
    pg = PostgresSettings(db_schema=f"bench_{tag}")
    # the receivers listen on loopback, which the notifier refuses unless allowed
    allow = {"AUTONAMA_NOTIFIER_ALLOWED_NETWORKS": "127.0.0.1/32"}
    stack = Stack(kafka, pg, workdir / tag, "http://127.0.0.1:9", allow)
    stack.workdir.mkdir(parents=True)
    port = free_port()
    receiver: mp.Process | None = None
    try:
        async with open_pool(pg) as pool:
            async with pool.acquire() as conn:
                await migrate(conn, pg.db_schema)
                secrets = {}
                names = [f"s{i}" for i in range(subscriptions)]
                for name in names + (list(TROUBLE) if trouble else []):
                    spec = SubscriptionSpec.model_validate(
                        {
                            "name": name,
                            "target": {
                                "kind": "webhook",
                                "url": f"http://127.0.0.1:{port}/hook/{name}",
                            },
                        }
                    )
                    created = await create_subscription(conn, spec)
                    assert created.secret is not None
                    secrets[name] = created.secret
                for name in ("tarpit", "ok") if trouble else ():
                    target = {"kind": "apprise", "url": f"json://127.0.0.1:{port}/json/{name}"}
                    spec = SubscriptionSpec.model_validate({"name": name, "target": target})
                    await create_subscription(conn, spec)
            ctx = mp.get_context("spawn")
            out, ready = ctx.Queue(), ctx.Event()
            receiver = ctx.Process(target=_receiver, args=(port, secrets, out, ready))
            receiver.start()
            if not ready.wait(30):
                raise RuntimeError("the receiver did not start")
            ingestor = stack.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
            notifier = stack.start("notifier")
            await wait_for_log(ingestor, "assigned")
            await wait_for_log(notifier, "assigned")
            await asyncio.sleep(2.0)  # the consumer group settles

            total = (RATE * SECONDS if steady else ALERTS) * subscriptions
            started = time.perf_counter()
            if steady:
                await _steady(pool)
            else:
                await _burst(pool)
            received: list[tuple[str, str, str, float]] = []
            seen: set[tuple[str, str]] = set()
            deadline = time.monotonic() + 600
            while len(seen) < total and time.monotonic() < deadline:
                batch = await asyncio.to_thread(out.get)
                received.extend(batch)
                seen.update((name, msg) for name, msg, _, _ in batch)
            elapsed = time.perf_counter() - started
            if len(seen) < total:
                raise RuntimeError(f"{len(seen)} of {total} deliveries arrived")
    finally:
        stack.stop_all()
        if receiver is not None:
            receiver.terminate()
            receiver.join(10)
        await stack.dispose()  # its schema and topics
    latencies = [
        (at - datetime.fromisoformat(created).timestamp()) * 1000 for _, _, created, at in received
    ]
    return total / elapsed, latencies


async def _burst(pool: Any) -> None:
    """ALERTS alerts, each on a key of its own, in batches of the ingestor's size."""
    signals = [make_signal(f"B{i:04d}USDT", "BUY", 10) for i in range(ALERTS)]
    for start in range(0, ALERTS, 500):
        async with pool.acquire() as conn, conn.transaction():
            await store_signals(conn, signals[start : start + 500], origin="bench")


async def _steady(pool: Any) -> None:
    """RATE alerts a second for SECONDS seconds, 10 every 100 ms."""
    per_tick = RATE // 10
    start = time.perf_counter()
    for tick in range(SECONDS * 10):
        batch = [make_signal(f"L{tick:03d}{j}USDT", "BUY", 10) for j in range(per_tick)]
        async with pool.acquire() as conn, conn.transaction():
            await store_signals(conn, batch, origin="bench")
        await asyncio.sleep(max(0.0, start + (tick + 1) * 0.1 - time.perf_counter()))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def spread(values: list[float], unit: str = "") -> str:
    return (
        f"{statistics.median(values):,.0f}{unit} (min {min(values):,.0f}, max {max(values):,.0f})"
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rates = []
        for _ in range(RUNS):
            rate, _ = await one_run(Path(tmp), subscriptions=SUBSCRIPTIONS, steady=False)
            rates.append(rate)
        print(
            f"notifier, {SUBSCRIPTIONS} webhook subscriptions x {ALERTS:,} alerts: "
            f"{spread(rates)} deliveries/s over {RUNS} runs "
            f"(goal 2,000: {min(rates) / 2000:.2f}x)"
        )
        for trouble, what in (
            (False, "one subscription"),
            (
                True,
                "4 healthy webhooks beside "
                "a 503 for 40 s, a 410, a 429, an Apprise tarpit and an Apprise target",
            ),
        ):
            p50s, p99s = [], []
            for _ in range(RUNS):
                _, lat = await one_run(
                    Path(tmp), subscriptions=4 if trouble else 1, steady=True, trouble=trouble
                )
                p50s.append(pct(lat, 50))
                p99s.append(pct(lat, 99))
            print(
                f"notifier, {RATE} alerts/s for {SECONDS} s, {what}, commit to receipt: "
                f"p50 {spread(p50s, ' ms')}, p99 {spread(p99s, ' ms')} over {RUNS} runs "
                f"(goal p99 500 ms: {500 / max(p99s):.2f}x)"
            )


if __name__ == "__main__":
    asyncio.run(main())
