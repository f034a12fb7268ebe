"""The chaos hour: the whole stack under supervisord, random faults, and proof nothing was lost.

    make chaos MINUTES=60        (= make services-up, then uv run python bench/chaos.py)

The services run as ``make up`` runs them (``deploy/local/stack.sh apps-up``: supervisord,
the least-privilege logins), on the broker and database of ``make services-up``, with a
topic prefix and a schema of their own. Driven meanwhile: the live market (``--symbols``
pairs x 1m from the websocket and REST stand-ins, real candles shifted onto the present,
as bench/live.py), a scan of 20 symbols every minute, 10 webhook subscriptions (all
alerts) and 5 stream subscribers that reconnect with Last-Event-ID, as a browser does.

A fault every 30-70 s (start to start), drawn at random: kill -9 of a service (fetcher,
analyzer, ingestor, notifier, API), the broker stopped and started, the database stopped and
started, the database read-only for 20 s (as a standby after a failover), every database
connection terminated, the exchange's websocket stalled for 90 s.

At the end (the feed stopped, the pipeline drained) it proves from the database, the
receivers and the subscribers: every close stored once; every alert the rule gives over
the stored closes in candle order raised once; every stream subscriber received every
alert once; every alert delivered to every subscription (a repeat only with the same
message id); the dead-letter topic empty. One line of figures:

    chaos: 60 min, 64 faults (...); closes 24,000 stored of 24,000, alerts 3,100, ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("PGPASSFILE", str(REPO / ".local" / "postgres" / "pgpass"))
sys.path.insert(0, str(REPO))

from bench.live import PARAMS, RealTimeStreams, shifted  # noqa: E402
from tests.support.binance_standin import StandIn, serve  # noqa: E402
from tests.support.factories import make_token  # noqa: E402
from tests.support.receivers import WebhookReceiver  # noqa: E402
from tests.support.stack import pid_of  # noqa: E402

from autonama_shared.db import migrate  # noqa: E402
from autonama_shared.db.pool import open_pool  # noqa: E402
from autonama_shared.db.subscriptions import new_secret  # noqa: E402
from autonama_shared.messaging.dead_letters import count_letters  # noqa: E402
from autonama_shared.messaging.events import ScanParams, ScanRequested, encode  # noqa: E402
from autonama_shared.messaging.kafka import make_producer  # noqa: E402
from autonama_shared.settings import KafkaSettings, PostgresSettings  # noqa: E402

LOCAL = REPO / "deploy" / "local"
SERVICES = ("fetcher", "analyzer-1", "ingestor", "notifier", "alerts-api")
FAULTS = (
    *(f"kill -9 {s}" for s in SERVICES),
    "broker restart",
    "database restart",
    "database read-only",
    "connections terminated",
    "websocket stalled",
)
SUBSCRIPTIONS = 10
SUBSCRIBERS = 5


def script(name: str, *args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(  # noqa: S603 - our own scripts
        [str(LOCAL / name), *args],
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(args)}: {done.stdout}{done.stderr}")


class Chaos:
    def __init__(self, pg: PostgresSettings, env: dict[str, str], ws: RealTimeStreams) -> None:
        self.pg = pg
        self.env = env
        self.ws = ws
        self.done: list[tuple[str, float, float]] = []  # kind, fault time, recovery seconds

    async def admin(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(
            host=self.pg.host, port=self.pg.port, user=self.pg.user, database=self.pg.database
        )
        await conn.execute("SET default_transaction_read_only = off")
        return conn

    async def inject(self, kind: str) -> None:
        if kind.startswith("kill -9 "):
            pid = await asyncio.to_thread(pid_of, self.env, kind.removeprefix("kill -9 "))
            if pid:
                os.kill(pid, signal.SIGKILL)
        elif kind == "broker restart":
            await asyncio.to_thread(script, "kafka.sh", "stop")
            await asyncio.sleep(5)
            await asyncio.to_thread(script, "kafka.sh", "start")
        elif kind == "database restart":
            await asyncio.to_thread(script, "postgres.sh", "stop")
            await asyncio.sleep(5)
            await asyncio.to_thread(script, "postgres.sh", "start")
        elif kind == "database read-only":
            try:
                conn = await self.admin()
                try:
                    await conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
                    await conn.execute("SELECT pg_reload_conf()")
                finally:
                    await conn.close()
                await asyncio.sleep(20)
            finally:
                await self.writable()
        elif kind == "connections terminated":
            conn = await self.admin()
            try:
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            finally:
                await conn.close()
        elif kind == "websocket stalled":
            self.ws.paused_until = time.time() + 90
            await self.ws.drop()  # the connections go quiet, then are cut
            await asyncio.sleep(90)

    async def writable(self) -> None:
        """The database writable again, whatever stopped the read-only fault half-way."""
        for _ in range(60):
            try:
                conn = await self.admin()
                try:
                    await conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
                    await conn.execute("SELECT pg_reload_conf()")
                    return
                finally:
                    await conn.close()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.sleep(2)

    async def recovered(self, api: str, within: float = 600.0) -> float:
        """Seconds until /readyz says every part is ok (the worst case is what is printed)."""
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=3) as http:
            while time.monotonic() - started < within:
                try:
                    if (await http.get(f"{api}/readyz")).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(1.0)
        return float("inf")

    async def run(self, api: str, until: float, rng: random.Random) -> None:
        """A fault 30-70 s after the previous one began (at once if that one and its
        recovery took longer: a stall lasts 90 s), until ``until``: some 65 an hour."""
        next_at = time.time() + rng.uniform(30, 70)
        while True:
            await asyncio.sleep(max(0.0, next_at - time.time()))
            if time.time() >= until:
                return
            kind = rng.choice(FAULTS)
            at = time.time()
            next_at = at + rng.uniform(30, 70)
            print(f"  {time.strftime('%H:%M:%S')} {kind}", flush=True)
            await self.inject(kind)
            self.done.append((kind, at, await self.recovered(api)))


async def scans(kafka: KafkaSettings, names: list[str], until: float) -> list[str]:
    """A scan of 20 symbols at every minute until ``until``; their ids."""
    ids: list[str] = []
    producer = make_producer(kafka, client_id="chaos-scans")
    await producer.start()
    try:
        while time.time() < until:
            await asyncio.sleep(60 - time.time() % 60 + 5)
            request = ScanRequested(
                origin="test",
                params=ScanParams(interval="1m", days=1, degree=3, kstd=2.0),
                symbols=names[:20],
            )
            try:
                await asyncio.wait_for(
                    producer.send_and_wait(
                        kafka.topic("scan-requests"),
                        encode(request),
                        key=request.scan_id.encode(),
                    ),
                    60,
                )
                ids.append(request.scan_id)
            except Exception as e:  # noqa: BLE001 - the broker may be down: the next minute
                print(f"  scan request not sent ({type(e).__name__})", flush=True)
    finally:
        await producer.stop()
    return ids


async def subscriber(api: str, token: str, since: int, out: list[dict[str, Any]]) -> None:
    """The alerts stream as a browser's EventSource reads it, from alert ``since`` on: opened
    again from the last id received whenever it ends (the API killed, a client dropped)."""
    last = str(since)
    async with httpx.AsyncClient(
        base_url=api,
        timeout=httpx.Timeout(10, read=None),
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        while True:
            try:
                async with http.stream(
                    "GET", "/v1/alerts/stream", headers={"Last-Event-ID": last}
                ) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("id: "):
                            last = line[4:]
                        elif line.startswith("data: "):
                            out.append(json.loads(line[6:]))
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)


def expected_alerts(rows: list[asyncpg.Record]) -> Counter[tuple[Any, ...]]:
    """The alert rule over every stored close of every key, in candle order."""
    out: Counter[tuple[Any, ...]] = Counter()
    previous: dict[tuple[Any, ...], str] = {}
    for r in sorted(rows, key=lambda r: (r["key"], r["last_candle_time"])):
        before = previous.get(r["key"])
        signal_ = r["signal"]
        previous[r["key"]] = signal_
        if signal_ == "HOLD":
            if before in ("BUY", "SELL"):
                out[(r["key"], r["last_candle_time"], "ended")] += 1
            continue
        reason = "new" if before is None else "confirmed" if before == signal_ else "changed"
        out[(r["key"], r["last_candle_time"], reason)] += 1
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--symbols", type=int, default=400)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--logs", type=Path, default=None, help="keep the services' logs here")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(topic_prefix=f"chaos.{tag}.")
    pg = PostgresSettings(db_schema=f"chaos_{tag}")
    now = int(time.time() * 1000)
    warmup_minutes = 10
    klines = shifted(args.symbols, ["1m"], now, int(args.minutes) + warmup_minutes + 10)
    names = sorted({s for s, _ in klines})
    rest = StandIn(klines, now)
    workdir = args.logs or Path(tempfile.mkdtemp(prefix="chaos-"))
    async with open_pool(pg) as pool, pool.acquire() as conn:
        await migrate(conn, pg.db_schema)

    async def follow_clock() -> None:
        while True:
            rest.now_ms = int(time.time() * 1000)
            await asyncio.sleep(0.05)

    clock = asyncio.create_task(follow_clock())
    receiver = await WebhookReceiver().start()
    with serve(rest):
        ws = await RealTimeStreams(rest, "1m").start()
        api_port = 18000 + rng.randrange(1000)
        env = {
            **os.environ,
            "AUTONAMA_LOCAL_DIR": str(workdir / "local"),
            "API_PORT": str(api_port),
            "DASHBOARD_PORT": str(api_port + 1000),
            "AUTONAMA_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
            "AUTONAMA_POSTGRES__DB_SCHEMA": pg.db_schema,
            "AUTONAMA_FETCHER_BINANCE__BASE_URL": rest.url,
            "AUTONAMA_ANALYZER_BINANCE__BASE_URL": rest.url,
            "AUTONAMA_FETCHER_BINANCE__MAX_CONCURRENCY": "16",
            "AUTONAMA_WATCH__ENABLED": "true",
            "AUTONAMA_WATCH__SYMBOLS": json.dumps(names),
            "AUTONAMA_WATCH__INTERVALS": json.dumps(["1m"]),
            "AUTONAMA_WATCH__PARAMS": json.dumps([PARAMS.model_dump()]),
            "AUTONAMA_WATCH__WS_URL": ws.url,
            "AUTONAMA_NOTIFIER_ALLOWED_NETWORKS": "127.0.0.1",
        }
        for k in ("fetcher", "analyzer", "ingestor", "notifier"):
            env[f"AUTONAMA_{k.upper()}_GROUP_ID"] = f"{kafka.topic_prefix}{k}"
        sending = asyncio.create_task(ws.run(["1m"], None))
        streams: list[list[dict[str, Any]]] = [[] for _ in range(SUBSCRIBERS)]
        listeners: list[asyncio.Task[None]] = []
        chaos = Chaos(pg, env, ws)
        api = f"http://127.0.0.1:{api_port}"
        try:
            await asyncio.to_thread(script, "stack.sh", "apps-up", env=env)
            async with open_pool(pg) as pool:
                for i in range(SUBSCRIPTIONS):
                    secret = new_secret()
                    receiver.secrets[f"w{i}"] = secret
                    await pool.execute(
                        """INSERT INTO subscriptions (name, kind, url, secret, filter)
                           VALUES ($1, 'webhook', $2, $3, '{"confirmed": true}')""",
                        f"chaos-{i}",
                        f"{receiver.url}/hook/w{i}",
                        secret,
                    )
                print(f"seed {seed}; warming up {len(names)} keys ...", flush=True)
                await warmed(pool, len(names), within=900)
            token = await make_token(pg, "read")
            async with open_pool(pg) as pool:
                since = int(await pool.fetchval("SELECT coalesce(max(id), 0) FROM alerts"))
            listeners = [asyncio.create_task(subscriber(api, token, since, out)) for out in streams]
            started = ws.measured_from = time.time()
            until = started + args.minutes * 60
            print(f"chaos from {time.strftime('%H:%M:%S')} for {args.minutes:g} min", flush=True)
            scanning = asyncio.create_task(scans(kafka, names, until))
            await chaos.run(api, until, rng)
            scan_ids = await scanning
            ws.until = time.time()  # the last close sent; then the pipeline drains
            await sending
            await chaos.recovered(api)
            async with open_pool(pg) as pool:
                await drained(pool, ws, names, within=600)
                await asyncio.sleep(15)  # the last alerts reach the streams and receivers
                for t in listeners:
                    t.cancel()
                line = await verdict(
                    pool, kafka, chaos, ws, names, (since, streams), receiver, scan_ids
                )
            print(line, flush=True)
        finally:
            sending.cancel()
            for t in listeners:
                t.cancel()
            await asyncio.shield(chaos.writable())
            await asyncio.to_thread(script, "stack.sh", "apps-down", env=env)
            await ws.stop()
            await receiver.stop()
            clock.cancel()
            print(f"logs: {workdir / 'local' / 'logs'}", flush=True)


async def warmed(pool: asyncpg.Pool, keys: int, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await pool.fetchval("SELECT count(*) FROM current_signals") >= keys:
            return
        await asyncio.sleep(2.0)
    raise TimeoutError(f"the warm-up of {keys} keys took more than {within:.0f} s")


async def drained(pool: asyncpg.Pool, ws: RealTimeStreams, names: list[str], within: float) -> None:
    """Until every key's newest close is stored and no delivery is pending."""
    last = max(ws.boundaries) - 60_000
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        behind = await pool.fetchval(
            """SELECT count(*) FROM current_signals
               WHERE interval = '1m' AND kstd = $2 AND last_candle_time < to_timestamp($1)""",
            last / 1000,
            PARAMS.kstd,
        )
        pending = await pool.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'")
        if behind == 0 and pending == 0:
            return
        await asyncio.sleep(2.0)
    print(f"  not drained after {within:.0f} s", flush=True)


async def verdict(
    pool: asyncpg.Pool,
    kafka: KafkaSettings,
    chaos: Chaos,
    ws: RealTimeStreams,
    names: list[str],
    streams: tuple[int, list[list[dict[str, Any]]]],
    receiver: WebhookReceiver,
    scan_ids: list[str],
) -> str:
    # closes: every minute closed during the run, for every key of the live watch
    closes = {(n, b - 60_000) for b in ws.boundaries if b / 1000 > ws.measured_from for n in names}
    rows = await pool.fetch(
        """SELECT symbol, (extract(epoch FROM last_candle_time) * 1000)::bigint AS at
           FROM signals WHERE interval = '1m' AND kstd = $1 AND degree = $2""",
        PARAMS.kstd,
        PARAMS.degree,
    )
    stored = Counter((r["symbol"], r["at"]) for r in rows)
    closes_lost = sum(1 for c in closes if stored[c] == 0)
    closes_doubled = sum(n - 1 for n in stored.values() if n > 1)
    # alerts: the rule over every stored close in candle order, against what was raised
    signals = await pool.fetch(
        """SELECT (symbol, interval, degree, kstd, price_scale, days)::text AS key,
                  last_candle_time, signal FROM signals"""
    )
    want = expected_alerts(signals)
    raised = Counter(
        (r["key"], r["last_candle_time"], r["reason"])
        for r in await pool.fetch(
            """SELECT (symbol, interval, degree, kstd, price_scale, days)::text AS key,
                      last_candle_time, reason FROM alerts"""
        )
    )
    alerts_lost = sum(max(0, n - raised[k]) for k, n in want.items())
    alerts_doubled = sum(max(0, n - want[k]) for k, n in raised.items())
    # streams: each subscriber, every alert raised after it started, once
    since, outs = streams
    ids = {r["id"] for r in await pool.fetch("SELECT id FROM alerts WHERE id > $1", since)}
    stream_lost = stream_doubled = 0
    for out in outs:
        got = Counter(a["id"] for a in out)
        stream_lost += len(ids - set(got))
        stream_doubled += sum(n - 1 for n in got.values())
    # webhooks: every alert to every subscription delivered, and received; repeats of a
    # message only with its id (at least once, never two ids for one alert)
    subs = {
        r["id"]: r["url"].rsplit("/", 1)[1]
        for r in await pool.fetch("SELECT id, url FROM subscriptions WHERE name LIKE 'chaos-%'")
    }
    alert_ids = [r["id"] for r in await pool.fetch("SELECT id FROM alerts")]
    want_pairs = {(a, s) for a in alert_ids for s in subs}
    delivered = {
        (r["alert_id"], r["subscription_id"])
        for r in await pool.fetch(
            "SELECT alert_id, subscription_id FROM deliveries "
            "WHERE status = 'delivered' AND alert_id IS NOT NULL"
        )
    }
    received = {(r.path, r.headers["webhook-id"]) for r in receiver.received}
    got_pairs = {(a, s) for a, s in want_pairs if (subs[s], f"msg_{a}_{s}") in received}
    deliveries_lost = len(want_pairs - (delivered & got_pairs))
    expected_deliveries = len(want_pairs)
    repeats = len(receiver.received) - len(received)
    letters = await count_letters(kafka)
    scans_done = await pool.fetchval(
        "SELECT count(*) FROM scans WHERE status = 'finished' AND scan_id = ANY($1::uuid[])",
        [uuid.UUID(s) for s in scan_ids],
    )
    kinds = Counter(k for k, _, _ in chaos.done)
    worst = max((r for _, _, r in chaos.done), default=0.0)
    minutes = (max(ws.boundaries) / 1000 - ws.measured_from) / 60
    return (
        f"chaos: {minutes:.0f} min, {len(chaos.done)} faults "
        f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); "
        f"closes {len(closes) - closes_lost:,} stored of {len(closes):,} (lost {closes_lost}, "
        f"doubled {closes_doubled}); alerts {sum(raised.values()):,} (lost {alerts_lost}, "
        f"doubled {alerts_doubled}); streams x{len(outs)}: lost {stream_lost}, doubled "
        f"{stream_doubled}; deliveries {len(got_pairs):,} of {expected_deliveries:,} (lost "
        f"{deliveries_lost}, repeats with the same id {repeats}); scans {scans_done} of "
        f"{len(scan_ids)} finished; dead letters {letters}; worst recovery {worst:.0f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())
