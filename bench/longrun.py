"""A simulated month through the real storage path, as fast as it will go. Prints figures only.

    make services-up && uv run python bench/longrun.py [--pairs 400] [--days 31]

What a stack left running for a month stores, day by day, in PostgreSQL (the
machine's, started by ``deploy/local``), through the ingestor's own repository
(``PostgresRepository.store``: signals, alerts, current state, windows, progress,
in batches of the ingestor's default size, 2,000):

- the live market: ``--pairs`` USDT pairs x 1m x 2 parameter sets (degree 4 / kstd
  2.0 and degree 3 / kstd 2.5, 1-day windows of 1,440 candles), a close of every key
  every minute; each key's signal moves as a Markov chain (HOLD turns BUY or SELL
  with p = 0.01 a close, BUY or SELL turn HOLD with p = 0.2), and every change of
  signal carries the key's whole window, as the live analyzer sends it;
- an hourly scan of ``--pairs / 4`` symbols (100 at 400 pairs) at 1d over 720 days,
  each signal with its 720-candle window, as a scan sends it;
- the ingestor's outcomes keeper (``db.outcomes.update``) after each store, as it runs
  every 10 s: its rounds' times and the outcomes it moved, and ``alert_outcomes`` in the
  bytes per close;
- 10 webhook subscriptions with the default filter: every alert but the repeats of a
  key's signal (reason confirmed, migration 0028) is a delivery to each, with one attempt.

Prices are random walks from the real BTCUSDT hourly closes' level (``AUTONAMA_TEST_DATA``):
storage does not depend on them beyond their bytes. For day 1, 10 and the last day it
prints the bytes on disk per kept close all-in (``pg_total_relation_size`` of every
table that grows: heap, indexes, TOAST), the schema's total size, and the storage
path's rows/s that day; with ``--api``, the API's p50 and p99 (wrk, one worker) for
``/v1/alerts?limit=50``, ``/v1/market``, the summary, the chart of the newest 1m window
(1,440 candles) and of the newest live close (charted from its closes), and how long a
stream catch-up of the last 1,000 alerts takes. The retention job runs at the end of
every simulated day with the default keep (1m closes 30 days, finished deliveries 30
days), so from day 31 on the database stops growing.

At ``--pairs 400 --days 30`` this is about 35 million closes (hours here); the
figures per close do not depend on the scale, the totals grow with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
# the local cluster's passwords (deploy/local/postgres.sh makes them), unless set
os.environ.setdefault("PGPASSFILE", str(REPO / ".local" / "postgres" / "pgpass"))

from autonama_ingestor.repository import Batch, PostgresRepository  # noqa: E402

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from tests.support.api import start_api  # noqa: E402
from tests.support.stack import delete_topics  # noqa: E402

from api import ensure_wrk, wrk_latency  # noqa: E402
from autonama_shared import __version__  # noqa: E402
from autonama_shared.db import migrate, outcomes  # noqa: E402
from autonama_shared.db.deliveries import Outcome, claim_due, record_outcomes  # noqa: E402
from autonama_shared.db.pool import open_pool  # noqa: E402
from autonama_shared.db.retention import (  # noqa: E402
    ensure_ahead,
    prune,
    prune_deliveries,
    table_sizes,
)
from autonama_shared.messaging.events import (  # noqa: E402
    ScanParams,
    ScanPlanned,
    ScanRequested,
    SignalComputed,
)
from autonama_shared.settings import (  # noqa: E402
    KafkaSettings,
    PostgresSettings,
    RetentionSettings,
)
from autonama_shared.sources.watches import scan_id_of  # noqa: E402

DATA = Path(os.environ.get("AUTONAMA_TEST_DATA", str(REPO.parent / "shared" / "data")))
BATCH = 2_000
MINUTES = 1_440
LIVE_SETS = (
    ScanParams(interval="1m", days=1, degree=4, kstd=2.0),
    ScanParams(interval="1m", days=1, degree=3, kstd=2.5),
)
SCAN_PARAMS = ScanParams(interval="1d", days=720, degree=4, kstd=2.0)
SUBSCRIPTIONS = 10
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHECKPOINTS = {1, 2, 10, 30}


def start_price() -> float:
    path = DATA / "klines" / "2021-04-to-2023-12" / "1h" / "BTCUSDT.csv"
    if not path.exists():
        return 30_000.0
    last = path.read_text().strip().rsplit("\n", 1)[-1]
    return float(last.split(",")[4])


def window(rng: np.random.Generator, price: float, candles: int, t: int, step: int) -> dict:
    """A window of ``candles`` ending at ``t`` (ms), random-walk prices, as the analyzer
    sends it (candles' open, high, low, close; fit and bands)."""
    close = price * np.exp(np.cumsum(rng.normal(0, 0.001, candles)))
    close = np.round(close * price / close[-1], 2)
    fit = close * (1 + rng.normal(0, 0.002, candles))
    sigma = float(np.std(close - fit))
    return {
        "open_time": [t - (candles - 1 - i) * step for i in range(candles)],
        "open": np.round(close * 0.9995, 2).tolist(),
        "high": np.round(close * 1.001, 2).tolist(),
        "low": np.round(close * 0.999, 2).tolist(),
        "close": close.tolist(),
        "fit": fit.tolist(),
        "lower": (fit - 2 * sigma).tolist(),
        "upper": (fit + 2 * sigma).tolist(),
    }


@dataclass
class Market:
    """The simulated live keys: each one's price and signal."""

    pairs: int
    rng: np.random.Generator
    price: np.ndarray
    signal: np.ndarray  # 0 HOLD, 1 BUY, 2 SELL

    @classmethod
    def of(cls, pairs: int, seed: int = 7) -> Market:
        keys = pairs * len(LIVE_SETS)
        rng = np.random.default_rng(seed)
        return cls(pairs, rng, start_price() * rng.uniform(0.5, 1.5, keys), np.zeros(keys, int))

    def minute(self, t: datetime) -> list[SignalComputed]:
        """Every key's close at ``t``."""
        rng = self.rng
        self.price *= np.exp(rng.normal(0, 0.001, len(self.price)))
        u = rng.random(len(self.price))
        before = self.signal.copy()
        hold = self.signal == 0
        self.signal = np.where(hold & (u < 0.01), 1 + (u < 0.005), self.signal)
        self.signal = np.where(~hold & (u < 0.2), 0, self.signal)
        t_ms = int(t.timestamp() * 1000)
        out = []
        for i, p in enumerate(self.price):
            params = LIVE_SETS[i % len(LIVE_SETS)]
            price = round(float(p), 2)
            changed = before[i] != self.signal[i]
            out.append(
                signal_event(
                    f"P{i // len(LIVE_SETS):04d}USDT",
                    params,
                    ("HOLD", "BUY", "SELL")[self.signal[i]],
                    price,
                    t,
                    MINUTES,
                    window(rng, price, MINUTES, t_ms, 60_000) if changed else None,
                )
            )
        return out


def signal_event(
    symbol: str,
    params: ScanParams,
    signal: str,
    price: float,
    t: datetime,
    candles: int,
    series: dict | None,
    scan_id: str | None = None,
) -> SignalComputed:
    lower, upper = price * 0.99, price * 1.01
    if signal == "BUY":
        lower = price * 1.001
    elif signal == "SELL":
        upper = price * 0.999
    return SignalComputed(
        scan_id=scan_id or scan_id_of(params),
        symbol=symbol,
        params=params,
        window=candles,
        engine_version=__version__,
        signal=signal,
        price=price,
        lower=lower,
        upper=upper,
        fit=(lower + upper) / 2,
        sigma=(upper - lower) / 4,
        potential_return=(upper - lower) / lower * 100 if signal != "HOLD" else 0.0,
        target_return=((lower + upper) / 2 - price) / price * 100,
        candles=candles,
        partial_window=False,
        error=None,
        last_candle_time=t,
        series=series,
        last_candle={"open": price, "high": price * 1.001, "low": price * 0.999},
    )


def hourly_scan(market: Market, t: datetime) -> tuple[ScanPlanned, list[SignalComputed]]:
    """A scan of ``pairs / 4`` symbols at 1d, each with its 720-candle window."""
    symbols = [f"P{i:04d}USDT" for i in range(max(1, market.pairs // 4))]
    scan_id = str(uuid.uuid4())
    request = ScanRequested(
        scan_id=scan_id, origin="schedule", params=SCAN_PARAMS, symbols=symbols, requested_at=t
    )
    plan = ScanPlanned(scan_id=scan_id, request=request, symbols=symbols, window=720, error=None)
    day = t.replace(hour=0, minute=0) - timedelta(days=1)
    t_ms = int(day.timestamp() * 1000)
    events = [
        signal_event(
            s,
            SCAN_PARAMS,
            "HOLD",
            float(market.price[2 * i]),
            day,
            720,
            window(market.rng, float(market.price[2 * i]), 720, t_ms, 86_400_000),
            scan_id,
        )
        for i, s in enumerate(symbols)
    ]
    return plan, events


async def deliver(pool: asyncpg.Pool, since: int) -> int:
    """Every alert after id ``since``, queued for each subscription with its body (the alert
    as JSON, as the notifier signs it), then claimed and recorded delivered by the
    notifier's own functions (``claim_due``, ``record_outcomes``: a delivered delivery's
    body is dropped). They finish at the real time (see ``main`` for their retention)."""
    async with pool.acquire() as conn:
        queued = await conn.fetchval(
            """WITH d AS (
                 INSERT INTO deliveries (subscription_id, alert_id, message_id, key, event_type,
                                         body, alert_created_at)
                 SELECT s.id, a.id, 'msg_' || a.id, a.symbol || '/' || a.interval,
                        'alert.raised', row_to_json(a)::text, a.created_at
                 FROM alerts a CROSS JOIN subscriptions s
                 WHERE a.id > $1
                   -- as notify.subscriptions.matches decides for the bench's filters (every
                   -- field its default): a repeat (confirmed) only where asked for
                   AND (a.reason <> 'confirmed' OR (s.filter->>'confirmed')::boolean)
                 RETURNING 1)
               SELECT count(*) FROM d""",
            since,
        )
        while claimed := await claim_due(conn, 5_000, 60):
            outcomes = [
                Outcome(
                    c.id,
                    c.subscription_id,
                    1,
                    "delivered",
                    "delivered",
                    200,
                    None,
                    12.5,
                    0.0,
                    c.lease_id,
                )
                for c in claimed
            ]
            async with conn.transaction():
                await record_outcomes(conn, outcomes, disable_after=1_000)
    return int(queued)


#: Tables that are updated, whose dead row versions autovacuum must keep up with.
UPDATED = ("deliveries", "current_signals", "alert_outcomes")


async def vacuum_at_pace(pool: asyncpg.Pool) -> list[str]:
    """What autovacuum does at the market's pace, where a simulated hour is 60 of its
    one-minute naps (here it is a fraction of one): each updated table whose dead rows
    pass its trigger (``autovacuum_vacuum_threshold`` + ``autovacuum_vacuum_scale_factor``
    x live rows, its own settings or the server's) is vacuumed now. Returns those
    vacuumed."""
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        rows = await conn.fetch(
            """SELECT c.relname, s.n_dead_tup AS dead, s.n_live_tup AS live,
                      coalesce((SELECT split_part(o, '=', 2)::float8 FROM unnest(c.reloptions) o
                                WHERE o LIKE 'autovacuum_vacuum_threshold=%'),
                               current_setting('autovacuum_vacuum_threshold')::float8)
                          AS threshold,
                      coalesce((SELECT split_part(o, '=', 2)::float8 FROM unnest(c.reloptions) o
                                WHERE o LIKE 'autovacuum_vacuum_scale_factor=%'),
                               current_setting('autovacuum_vacuum_scale_factor')::float8)
                          AS scale
               FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
               WHERE c.oid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) t)""",
            list(UPDATED),
        )
        due = [r["relname"] for r in rows if r["dead"] > r["threshold"] + r["scale"] * r["live"]]
        for table in due:
            await conn.execute(f'VACUUM "{table}"')
    return due


async def alert_top(pool: asyncpg.Pool) -> int:
    top: int = await pool.fetchval("SELECT coalesce(max(id), 0) FROM alerts")
    return top


async def dead_tuples(conn: object) -> str:
    """What autovacuum has left behind: each growing table's dead rows (all its partitions),
    as a share of its live ones, and how often autovacuum has run on it."""
    rows = await conn.fetch(  # type: ignore[attr-defined]
        """SELECT t.name, sum(s.n_dead_tup)::bigint AS dead, sum(s.n_live_tup)::bigint AS live,
                  sum(s.autovacuum_count)::bigint AS runs
           FROM unnest($1::text[]) t(name)
           JOIN LATERAL (SELECT relid FROM pg_partition_tree(to_regclass(t.name))
                         UNION SELECT to_regclass(t.name)) p ON true
           JOIN pg_stat_user_tables s ON s.relid = p.relid
           GROUP BY t.name ORDER BY t.name""",
        [
            "closes",
            "band_windows",
            "alerts",
            "alert_outcomes",
            "current_signals",
            "scan_symbols",
            "deliveries",
        ],
    )
    return ", ".join(
        f"{r['name']} {r['dead']:,} dead / {r['live']:,} live ({r['runs']} runs)" for r in rows
    )


async def sizes(conn: object) -> dict[str, int]:
    """Every table of the schema (each partition apart), with its indexes and TOAST."""
    rows = await conn.fetch(  # type: ignore[attr-defined]
        "SELECT c.relname, pg_total_relation_size(c.oid) AS bytes FROM pg_class c "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
    )
    return {r["relname"]: r["bytes"] for r in rows}


async def api_latency(pg: PostgresSettings, conn: object, day: int, workdir: Path) -> None:
    """wrk against the API (one worker) on this schema: p50 and p99 of each route, the
    median of 3 runs of 5 s (with their range)."""
    exe = ensure_wrk()
    signal_id = await conn.fetchval(  # type: ignore[attr-defined]
        "SELECT w.signal_id FROM band_windows w WHERE w.interval = '1m' "
        "ORDER BY w.last_candle_time DESC LIMIT 1"
    )
    live_id = await conn.fetchval(  # type: ignore[attr-defined]
        "SELECT signal_id FROM current_signals WHERE interval = '1m' "
        "ORDER BY last_candle_time DESC, signal_id DESC LIMIT 1"
    )
    routes = {
        "/v1/alerts?limit=50": "/v1/alerts?limit=50",
        "/v1/market": "/v1/market?limit=50",
        "summary": "/v1/alerts/summary",
        "a chart": f"/v1/signals/{signal_id}/bands",
        "a live close's chart": f"/v1/signals/{live_id}/bands",
    }
    kafka = KafkaSettings(topic_prefix=f"{pg.db_schema}.")
    proc, url = await asyncio.to_thread(start_api, pg, kafka, workdir / "api.log")
    try:
        for name, path in routes.items():
            runs = [
                (await asyncio.to_thread(wrk_latency, exe, url + path, seconds=5))[1]
                for _ in range(3)
            ]
            p50 = sorted(r[50] for r in runs)
            p99 = sorted(r[99] for r in runs)
            print(
                f"  day {day:>2} API {name}: p50 {p50[1]:.1f} ms ({p50[0]:.1f}-{p50[2]:.1f}), "
                f"p99 {p99[1]:.1f} ms ({p99[0]:.1f}-{p99[2]:.1f})",
                flush=True,
            )
        top = await conn.fetchval("SELECT max(id) FROM alerts")  # type: ignore[attr-defined]
        took = sorted([await catch_up(url, max(0, top - CATCH_UP), top) for _ in range(3)])
        print(
            f"  day {day:>2} API a stream catch-up of the last {CATCH_UP:,} alerts: "
            f"{took[1] * 1000:.0f} ms ({took[0] * 1000:.0f}-{took[2] * 1000:.0f})",
            flush=True,
        )
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)
        await delete_topics(kafka, kafka.topic_prefix)  # the API made the day's topics


#: Alerts a stream catch-up reads (a client back after some minutes away).
CATCH_UP = 1_000


async def catch_up(url: str, after: int, top: int) -> float:
    """Seconds from opening the stream after alert ``after`` until alert ``top`` has come:
    one client reading (a latency, not a load)."""
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(timeout=60) as client,
        client.stream("GET", f"{url}/v1/alerts/stream", params={"after": after}) as r,
    ):
        async for line in r.aiter_lines():
            if line == f"id: {top}":
                return time.perf_counter() - started
    raise RuntimeError(f"the stream ended before alert {top}")


async def main(pairs: int, days: int, keep: bool, api: bool) -> None:
    pg = PostgresSettings(db_schema=f"longrun_{uuid.uuid4().hex[:8]}")
    policy = RetentionSettings()  # the defaults: 1m closes 30 days, deliveries 30 days
    market = Market.of(pairs)
    closes = 0
    print(
        f"simulated month: {pairs} pairs x 1m x {len(LIVE_SETS)} parameter sets, "
        f"{days} days, an hourly scan of {max(1, pairs // 4)} symbols, "
        f"{SUBSCRIPTIONS} subscriptions (schema {pg.db_schema})"
    )
    async with open_pool(pg) as pool:
        async with pool.acquire() as conn:
            await migrate(conn, pg.db_schema)
            await conn.execute(
                "INSERT INTO subscriptions (name, kind, url, secret, filter) "
                "SELECT 'bench ' || n, 'webhook', 'https://example.com/' || n, 'whsec_bench', "
                "'{}' FROM generate_series(1, $1::int) n",
                SUBSCRIPTIONS,
            )
        repo = PostgresRepository(pool)
        last_alert = 0
        finished: dict[int, datetime] = {}  # the real time each simulated day's deliveries end
        for day in range(1, days + 1):
            stored = delivered = moved = 0
            spent = 0.0
            rounds: list[float] = []  # the outcomes' keeper, after each store (seconds)
            pending: list[SignalComputed] = []
            for minute in range(MINUTES):
                t = T0 + timedelta(days=day - 1, minutes=minute)
                plans: list[ScanPlanned] = []
                if minute % 60 == 0:
                    plan, scanned = hourly_scan(market, t)
                    plans.append(plan)
                    pending += scanned
                pending += market.minute(t)
                if len(pending) >= BATCH or plans:
                    started = time.perf_counter()
                    for start in range(0, len(pending), BATCH):
                        chunk = pending[start : start + BATCH]
                        await repo.store(Batch(plans=plans, signals=chunk))
                        plans = []
                    spent += time.perf_counter() - started
                    stored += len(pending)
                    pending = []
                    started = time.perf_counter()  # the ingestor's keeper on what came
                    moved += await outcomes.update(pool)
                    rounds.append(time.perf_counter() - started)
                if minute % 60 == 59:  # the notifier's hour: every alert so far delivered
                    delivered += await deliver(pool, last_alert)
                    last_alert = await alert_top(pool)
                    await vacuum_at_pace(pool)
            if pending:
                started = time.perf_counter()
                await repo.store(Batch(signals=pending))
                spent += time.perf_counter() - started
                stored += len(pending)
            closes += stored
            delivered += await deliver(pool, last_alert)
            finished[day] = datetime.now(UTC)
            last_alert = await alert_top(pool)
            async with pool.acquire() as conn:
                # the ingestor's retention job, at the end of the simulated day
                day_end = T0 + timedelta(days=day)
                await ensure_ahead(conn, day_end)
                dropped = await prune(conn, policy, day_end)
                # deliveries finish at the real time: those of the day ``deliveries_days``
                # simulated days ago are past their keep
                gone = finished.get(day - policy.deliveries_days)
                pruned = 0
                if gone is not None:
                    keep_from = gone + timedelta(days=policy.deliveries_days)
                    pruned = await prune_deliveries(conn, policy, keep_from)
                if day in CHECKPOINTS or day == days:
                    dead = await dead_tuples(conn)
                    await conn.execute("VACUUM ANALYZE")
                    size = {t.name: t.bytes for t in await table_sizes(conn)}
                    grown = sum(size.values())
                    total = sum((await sizes(conn)).values())
                    alerts = await conn.fetchval("SELECT count(*) FROM alerts")
                    kept = await conn.fetchval("SELECT count(*) FROM signals")
                    delivery_bytes = size["deliveries"] + size["delivery_attempts"]
                    print(
                        f"day {day:>2}: {closes:,} closes stored, {kept:,} kept, "
                        f"{alerts:,} alerts, {delivered:,} deliveries that day; "
                        f"{grown / kept:,.0f} bytes per kept close all-in "
                        f"(signals {(size['closes'] + size['signal_keys']) / kept:,.0f}, "
                        f"windows {size['band_windows'] / kept:,.0f}, "
                        f"deliveries {delivery_bytes / kept:,.0f}); "
                        f"schema {total / 2**20:,.0f} MiB; "
                        f"storage path {stored / spent:,.0f} rows/s that day; "
                        f"retention dropped {len(dropped)} partition(s), {pruned:,} deliveries",
                        flush=True,
                    )
                    print(f"  day {day:>2} autovacuum: {dead}", flush=True)
                    still = await conn.fetchval("SELECT count(*) FROM alert_outcomes WHERE open")
                    print(
                        f"  day {day:>2} outcomes' keeper: {len(rounds)} rounds (one after each "
                        f"store), median {statistics.median(rounds) * 1000:,.0f} ms, max "
                        f"{max(rounds) * 1000:,.0f} ms; {moved:,} outcomes moved that day, "
                        f"{still:,} open; outcomes {size['alert_outcomes'] / kept:,.0f} bytes "
                        "a kept close",
                        flush=True,
                    )
                    if api:
                        await api_latency(pg, conn, day, Path(tempfile.gettempdir()))
        if not keep:
            async with pool.acquire() as conn:
                await conn.execute(f'DROP SCHEMA "{pg.db_schema}" CASCADE')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument(
        "--api", action="store_true", help="measure the API (wrk) at each day reported"
    )
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.pairs, args.days, args.keep, args.api)))
