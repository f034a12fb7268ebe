"""The live market end to end: the websocket stand-in and the REST stand-in serve the same
real 1h and 4h candles of 20 symbols on one simulated clock; the fetcher's live feed, the
analyzer and the ingestor run as processes on the real broker and database. Dropped connections,
duplicated, reordered and skipped frames leave no gap and no duplicate, and every stored
signal equals the batch engine over the same window (1e-9)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer

from autonama_shared.engine.bands import compute_signal
from autonama_shared.engine.specs import BandParams
from autonama_shared.messaging.events import CandleClosed, KlineBatch, decode
from autonama_shared.settings import KafkaSettings, PostgresSettings
from autonama_shared.sources.watches import WatchParams, WatchSettings, scan_id_of
from tests.support.api import start_api
from tests.support.binance_standin import StandIn, load_klines, serve
from tests.support.cli import cli
from tests.support.factories import make_token
from tests.support.stack import Stack, wait_for_log
from tests.support.ws_standin import KlineStreams

REAL = ["ADAUSDT", "AVAXUSDT", "BNBUSDT", "BTCUSDT", "DOGEUSDT"]
REAL += ["ETHUSDT", "LINKUSDT", "LTCUSDT", "SOLUSDT", "XRPUSDT"]
#: 20 symbols: the 10 real ones, and each again 500 hours earlier in its history.
SYMBOLS = REAL + [s.replace("USDT", "EARLYUSDT") for s in REAL]
INTERVALS = ["1h", "4h"]
HOUR = 3_600_000
STEP = {"1h": HOUR, "4h": 4 * HOUR}
PARAMS = WatchParams(degree=3, kstd=1.0, days=6)  # 144 1h, 36 4h candles; kstd 1: alerts
SCAN = {i: WatchSettings(params=[PARAMS]).scan_params(i)[0] for i in INTERVALS}
Stored = dict[tuple[str, str], list[tuple[int, dict[str, Any]]]]


@pytest.fixture(scope="module")
def hourly(shared_data: Path) -> dict[tuple[str, str], np.ndarray]:
    return live_candles(shared_data)


def live_candles(shared_data: Path) -> dict[tuple[str, str], np.ndarray]:
    """Real 1h and 4h candles of 20 symbols (the earlier clones keep their own times)."""
    klines = load_klines(shared_data / "klines" / "until-2022-10", intervals=tuple(INTERVALS))
    out = {k: v for k, v in klines.items() if k[0] in REAL}
    for (symbol, interval), rows in list(out.items()):
        shift = 500 * HOUR // STEP[interval]
        early = rows[:-shift].copy()
        early[:, 0] = rows[shift:, 0]  # at each time, the candle 500 hours before it
        out[(symbol.replace("USDT", "EARLYUSDT"), interval)] = early
    return out


@pytest.fixture
def rest(hourly: dict[tuple[str, str], np.ndarray]) -> Iterator[StandIn]:
    with rest_standin(hourly) as fake:
        yield fake


@contextlib.contextmanager
def rest_standin(hourly: dict[tuple[str, str], np.ndarray]) -> Iterator[StandIn]:
    """The REST stand-in of the live candles, serving."""
    # "Now": 200 hours before the common end of the series, so candles keep coming.
    end = min(int(rows[-1, 0]) for rows in hourly.values())
    fake = StandIn(dict(hourly), end - 200 * HOUR + 30 * 60_000)
    with serve(fake):
        yield fake


@pytest.fixture
async def streams(rest: StandIn) -> AsyncIterator[KlineStreams]:
    async with KlineStreams(rest, "1h") as ws:
        yield ws


@pytest.fixture
def live_stack(
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    rest: StandIn,
    streams: KlineStreams,
    tmp_path: Path,
) -> Iterator[Stack]:
    s = Stack(kafka_settings, pg_settings, tmp_path, rest.url, extra_env=watch_env(streams.url))
    try:
        yield s
    finally:
        s.stop_all()


def watch_env(ws_url: str) -> dict[str, str]:
    """The fetcher's default watch: the 20 symbols, 1h and 4h, from the stand-in at
    ``ws_url``."""
    watch = WatchSettings(
        enabled=True, symbols=SYMBOLS, intervals=INTERVALS, params=[PARAMS], ws_url=ws_url
    )
    return {
        "AUTONAMA_WATCH__ENABLED": "true",
        "AUTONAMA_WATCH__SYMBOLS": json.dumps(watch.symbols),
        "AUTONAMA_WATCH__INTERVALS": json.dumps(watch.intervals),
        "AUTONAMA_WATCH__PARAMS": json.dumps([PARAMS.model_dump()]),
        "AUTONAMA_WATCH__WS_URL": ws_url,
        "AUTONAMA_INGESTOR_OUTCOMES_SECONDS": "0.5",  # the alerts' outcomes kept at once
    }


async def stored(stack: Stack) -> Stored:
    """The watch's stored signals per key: (candle open time, numbers), oldest first."""
    conn = await stack.connect()
    try:
        if not await conn.fetchval("SELECT to_regclass('signals') IS NOT NULL"):
            return {}
        rows = await conn.fetch(
            """SELECT symbol, interval, last_candle_time, signal, price, lower_band,
                      upper_band, fit, sigma, potential_return
               FROM signals WHERE scan_id = ANY($1::uuid[])
               ORDER BY symbol, interval, last_candle_time""",
            [uuid.UUID(scan_id_of(p)) for p in SCAN.values()],
        )
    finally:
        await conn.close()
    out: Stored = {}
    for r in rows:
        t = int(r["last_candle_time"].timestamp() * 1000)
        out.setdefault((r["symbol"], r["interval"]), []).append((t, dict(r)))
    return out


def last_closed(now: int) -> dict[str, int]:
    """Per interval, the open time of the last candle closed at ``now``."""
    return {i: now // STEP[i] * STEP[i] - STEP[i] for i in INTERVALS}


async def until_stored(stack: Stack, last: dict[str, int], within: float = 90.0) -> Stored:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = await stored(stack)
        if len(got) == len(SYMBOLS) * len(INTERVALS) and all(
            v[-1][0] >= last[interval] for (_, interval), v in got.items()
        ):
            return got
        await asyncio.sleep(0.3)
    logs = "\n".join(f"--- {s.name}\n{s.log()[-2500:]}" for s in stack.services)
    raise AssertionError(f"the candles of {last} were not stored for every key\n{logs}")


@pytest.mark.slow
async def test_every_close_is_analysed_once_in_order_through_drops_duplicates_and_holes(
    live_stack: Stack,
    streams: KlineStreams,
    rest: StandIn,
    hourly: dict[tuple[str, str], np.ndarray],
) -> None:
    live_stack.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
    analyzer = live_stack.start("analyzer")
    fetcher = live_stack.start("fetcher")
    await wait_for_log(fetcher, "live: connected")
    await streams.wait_for_connections()
    first = last_closed(rest.now_ms)  # the last closed candles at the start
    await until_stored(live_stack, first)

    closed: list[int] = []
    closed += await streams.tick()
    closed += await streams.tick(duplicate=True)  # every closing frame twice
    closed += await streams.tick(skip={"BTCUSDT", "SOLUSDT"})  # two frames never come
    closed += await streams.tick()  # ... the hole is filled over REST first
    closed += await streams.tick(2, reverse=True)  # two closes, newest first
    await asyncio.sleep(0.5)
    await streams.drop()  # the connection is cut ...
    closed += await streams.tick(send=False)  # ... candles close while it is away
    closed += await streams.tick(send=False)
    await wait_for_log(fetcher, "live: connected", count=2)
    await streams.wait_for_connections()
    closed += await streams.tick()
    analyzer.kill9()  # an analyzer killed mid-stream, replaced: no close is missed
    closed += await streams.tick()
    live_stack.start("analyzer")
    closed += await streams.tick(skip={"ETHUSDT"})  # the last frame lost: caught up at the end
    closed += await streams.tick(4)  # (a 4h close after it, for the 4h streams' hole)
    assert streams.connects >= 2

    last = last_closed(rest.now_ms)
    got = await until_stored(live_stack, last)
    assert sorted(set(closed)) == list(range(first["1h"] + HOUR, last["1h"] + 1, HOUR))
    assert last["4h"] - first["4h"] >= 3 * STEP["4h"]  # several 4h closes, live and caught up
    params = BandParams(degree=PARAMS.degree, kstd=PARAMS.kstd)
    alerts = 0
    for (symbol, interval), signals in got.items():
        expected_times = list(range(first[interval], last[interval] + 1, STEP[interval]))
        times = [t for t, _ in signals]
        assert times == expected_times, (symbol, interval)  # no gap, no duplicate, in order
        rows = hourly[(symbol, interval)]
        window = SCAN[interval].window
        for t, numbers in signals:
            upto = rows[rows[:, 0] <= t, 4]
            batch = compute_signal(upto, params, window)
            assert numbers["signal"] == batch.signal
            for column, name in (
                ("price", "price"),
                ("lower_band", "lower"),
                ("upper_band", "upper"),
                ("fit", "fit"),
                ("sigma", "sigma"),
                ("potential_return", "potential_return"),
            ):
                np.testing.assert_allclose(
                    numbers[column], getattr(batch, name), rtol=1e-9, atol=1e-12
                )
            alerts += batch.signal != "HOLD"
    assert alerts > 0  # the replay alerts, so the alert path is exercised

    # The feed published each candle of each key once (the analyzers got no duplicate).
    published = await published_batches(live_stack)
    for (symbol, interval), signals in got.items():
        assert published[(symbol, interval)] == [t for t, _ in signals], (symbol, interval)

    # Every BUY or SELL alert's outcome, kept by the ingestor, equals one computed here
    # from the real candles, and has nothing of a bar that had not closed.
    await outcomes_equal_the_candles(live_stack, hourly, got)


async def outcomes_equal_the_candles(
    stack: Stack, hourly: dict[tuple[str, str], np.ndarray], got: Stored
) -> None:
    """The stored outcomes against the rules computed again, with numpy, from the stand-in's
    candles: entry the next open, returns at closes 1/5/20 bars on, the first bar whose
    high (BUY) or low (SELL) reaches the fit and the opposite band, the worst low (high)
    up to the target, the first HOLD of the key."""
    conn = await stack.connect()
    try:
        for _ in range(120):  # until the keeper has seen every bar stored
            rows = await conn.fetch(
                """SELECT a.id, a.symbol, a.interval, a.signal, a.fit, a.lower_band,
                          a.upper_band, a.last_candle_time, o.*
                   FROM alerts a LEFT JOIN alert_outcomes o ON o.alert_id = a.id
                   WHERE a.signal IN ('BUY', 'SELL') AND a.scan_id = ANY($1::uuid[])""",
                [uuid.UUID(scan_id_of(p)) for p in SCAN.values()],
            )
            expected = {}
            for r in rows:
                times = [t for t, _ in got[(r["symbol"], r["interval"])]]
                t = int(r["last_candle_time"].timestamp() * 1000)
                expected[r["id"]] = min(20, len([x for x in times if x > t]))
            if all((r["bars_seen"] or 0) == expected[r["id"]] for r in rows):
                break
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    assert rows, "no alert to score"
    scored = 0
    for r in rows:
        n = expected[r["id"]]
        assert (r["bars_seen"] or 0) == n, dict(r)
        if n == 0:
            continue  # no bar after it yet: nothing of it exists
        candles = hourly[(r["symbol"], r["interval"])]
        t = int(r["last_candle_time"].timestamp() * 1000)
        i = int(np.searchsorted(candles[:, 0], t))
        after = candles[i + 1 : i + 1 + n]
        opens, highs, lows, closes = after[:, 1], after[:, 2], after[:, 3], after[:, 4]
        buy = r["signal"] == "BUY"
        sign = 1.0 if buy else -1.0
        entry = opens[0]
        gains = sign * (closes - entry) / entry * 100
        for h in (1, 5, 20):
            want = gains[h - 1] if n >= h else None
            assert (r[f"return_{h}"] is None) == (want is None), (h, dict(r))
            if want is not None:
                np.testing.assert_allclose(r[f"return_{h}"], want, rtol=1e-9, atol=1e-12)
        reach_target = highs >= r["fit"] if buy else lows <= r["fit"]
        opposite = r["upper_band"] if buy else r["lower_band"]
        reach_opposite = highs >= opposite if buy else lows <= opposite
        hit = int(np.argmax(reach_target)) + 1 if reach_target.any() else None
        assert r["target_hit_after"] == hit
        assert r["opposite_band_hit_after"] == (
            int(np.argmax(reach_opposite)) + 1 if reach_opposite.any() else None
        )
        span = slice(0, hit or n)
        worst = lows[span].min() if buy else highs[span].max()
        adverse = min(0.0, sign * (worst - entry) / entry * 100)
        np.testing.assert_allclose(r["max_adverse"], adverse, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(r["entry_price"], entry, rtol=0, atol=0)
        signals = [v["signal"] for x, v in got[(r["symbol"], r["interval"])] if x > t][:n]
        holds = [k for k, signal in enumerate(signals, start=1) if signal == "HOLD"]
        assert r["ended_after"] == (holds[0] if holds else None)
        assert r["final"] == (n == 20)
        scored += 1
    assert scored > 0


async def published_batches(stack: Stack) -> dict[tuple[str, str], list[int]]:
    """The closed candles on the klines topic: per symbol and interval, in order."""
    consumer = AIOKafkaConsumer(
        stack.topics.klines,
        bootstrap_servers=stack.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: dict[tuple[str, str], list[int]] = {}
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    event = decode(r.value, KlineBatch, CandleClosed)
                    if isinstance(event, CandleClosed):
                        key = (event.symbol, event.interval)
                        out.setdefault(key, []).append(event.open_time[-1])
    finally:
        await consumer.stop()
    return out


async def stored_up_to(stack: Stack, last: int) -> list[Any]:
    """Per symbol, the stored hourly signals' candle times, once both reach ``last``."""
    conn = await stack.connect()
    try:
        for _ in range(300):
            times = await conn.fetch(
                """SELECT symbol, array_agg(last_candle_time ORDER BY last_candle_time) AS t
                   FROM signals WHERE interval = '1h' GROUP BY symbol ORDER BY symbol"""
            )
            if len(times) == 2 and all(int(r["t"][-1].timestamp() * 1000) >= last for r in times):
                return list(times)
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    raise AssertionError(f"the candle of {last} was not stored: {times}")


@pytest.mark.slow
async def test_stored_watches_are_followed_survive_a_restart_and_can_be_removed(
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    rest: StandIn,
    streams: KlineStreams,
    tmp_path: Path,
) -> None:
    env = {"AUTONAMA_WATCH__WS_URL": streams.url, "AUTONAMA_WATCH__POLL_SECONDS": "0.3"}
    stack = Stack(kafka_settings, pg_settings, tmp_path, rest.url, extra_env=env)
    proc, api = await asyncio.to_thread(start_api, pg_settings, kafka_settings, tmp_path / "a.log")
    try:
        stack.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
        stack.start("analyzer")
        fetcher = stack.start("fetcher")
        await wait_for_log(fetcher, "live: no watch to follow")
        bad = await asyncio.to_thread(
            cli, pg_settings, "watch", "add", "--name", "x", "--days", "0"
        )
        assert bad.returncode != 0
        assert "days" in bad.stderr
        made = await asyncio.to_thread(
            cli, pg_settings, "watch", "add", "--name", "two", "--symbols", "ETHUSDT", "SOLUSDT",
            "--intervals", "1h", "--degree", "3", "--kstd", "1", "--days", "3",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        await streams.wait_for_connections()
        assert sorted(next(iter(streams.connections.values()))) == [
            "ethusdt@kline_1h",
            "solusdt@kline_1h",
        ]
        closed = await streams.tick()
        await stored_up_to(stack, closed[-1])
        fetcher.kill9()  # the watch is stored: a new fetcher follows it again
        closed += await streams.tick(2, send=False)  # two candles close while it is down
        fetcher = stack.start("fetcher")
        await wait_for_log(fetcher, "live: following 2 streams")
        await streams.wait_for_connections()
        closed += await streams.tick()
        times = await stored_up_to(stack, closed[-1])
        assert [r["symbol"] for r in times] == ["ETHUSDT", "SOLUSDT"]
        for r in times:
            stamps = [int(t.timestamp() * 1000) for t in r["t"]]
            assert stamps[-4:] == closed  # before, while down and after the restart: no gap
            assert stamps == list(range(stamps[0], stamps[-1] + 1, HOUR))

        listed = await asyncio.to_thread(cli, pg_settings, "watch", "list")
        assert "two" in listed.stdout
        assert "ETHUSDT SOLUSDT" in listed.stdout
        token = await make_token(pg_settings, "write")
        async with httpx.AsyncClient(
            base_url=api, timeout=10, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            watches = (await http.get("/v1/watches")).json()
            assert [w["name"] for w in watches] == ["two"]
            r = await http.post("/v1/watches", json={"name": "y", "symbols": ["A"], "top": 3})
            assert r.status_code == 422
            assert "one universe" in r.text
            # Every stored signal has a chart ending at its own candle: its own window, or
            # its key's newest before it and the closes since.
            conn = await stack.connect()
            try:
                ids = await conn.fetch(
                    """SELECT s.id, s.last_candle_time, s.price, s.candle_open, s.candle_high,
                              s.candle_low, w.signal_id IS NOT NULL AS own
                       FROM signals s LEFT JOIN band_windows w ON w.signal_id = s.id
                       WHERE s.symbol = 'ETHUSDT' ORDER BY s.last_candle_time"""
                )
            finally:
                await conn.close()
            assert ids[0]["own"]  # a key's first signal carries its window
            assert not all(r["own"] for r in ids)  # live HOLDs do not: the fallback is used
            for row in ids:
                r = await http.get(f"/v1/signals/{row['id']}/bands")
                assert r.status_code == 200, r.text
                chart = r.json()
                assert chart["signal_id"] == row["id"]
                assert (chart["trail"] == 0) == row["own"]
                assert chart["open_time"][-1] == row["last_candle_time"].timestamp() * 1000
                last = [chart[k][-1] for k in ("open", "high", "low", "close")]
                stored = [row[k] for k in ("candle_open", "candle_high", "candle_low", "price")]
                assert last == stored
                assert last[2] <= min(last[0], last[3]) <= max(last[0], last[3]) <= last[1]
            r = await http.delete(f"/v1/watches/{watches[0]['id']}")
            assert r.status_code == 204
        await wait_for_log(fetcher, "live: no watch to follow")
        for _ in range(100):
            if not streams.connections:
                break
            await asyncio.sleep(0.1)
        assert streams.connections == {}
    finally:
        stack.stop_all()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)
