"""The alerts API over real HTTP (uvicorn in its own process) on the real PostgreSQL.

Alerts are produced by the ingestor's storage path (``store_signals``), which is
what raises them and NOTIFYs the API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest

from autonama_alerts_api.queries.alerts import AlertFilter
from autonama_alerts_api.stream import Broadcaster
from autonama_shared.db import outcomes
from autonama_shared.db.channels import alerts_channel, notify_state
from autonama_shared.db.pool import open_pool
from autonama_shared.db.retention import prune
from autonama_shared.engine.candles import Candles
from autonama_shared.messaging.events import BacktestParams
from autonama_shared.runs.backtest import run_symbol
from autonama_shared.settings import KafkaSettings, PostgresSettings, RetentionSettings
from tests.support.api import api_env, free_port, start_api
from tests.support.binance_standin import StandIn
from tests.support.cli import cli
from tests.support.factories import (
    DAY0,
    live_close,
    make_signal,
    make_token,
    store,
    store_scored_market,
)
from tests.support.stack import Stack


@pytest.fixture
def api(
    pg_settings: PostgresSettings, kafka_settings: KafkaSettings, tmp_path: Path
) -> Iterator[str]:
    proc, url = start_api(pg_settings, kafka_settings, tmp_path / "api.log")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture
async def write_token(api: str, pg_settings: PostgresSettings) -> str:
    return await make_token(pg_settings, "write")


@pytest.fixture
async def http(api: str, write_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a write token (the API's default auth: writes need one)."""
    headers = {"Authorization": f"Bearer {write_token}"}
    async with httpx.AsyncClient(base_url=api, timeout=10, headers=headers) as client:
        yield client


async def alerts(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await http.get("/v1/alerts", params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_alert_rules_new_changed_confirmed_and_replays(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    await store(pool, make_signal("BTCUSDT", "HOLD", 1))
    assert await alerts(http, latest="false") == []  # HOLD raises nothing
    buy = make_signal("BTCUSDT", "BUY", 2, potential=12.5)
    await store(pool, buy)
    await store(pool, buy)  # a replay
    await store(pool, make_signal("BTCUSDT", "BUY", 3, potential=11.0))  # confirmed
    await store(pool, make_signal("BTCUSDT", "SELL", 4, potential=9.0))  # changed
    await store(pool, make_signal("BTCUSDT", "BUY", 1, degree=5))  # another key: new
    history = await alerts(http, latest="false", sort="time", order="asc")
    assert [(a["signal"], a["previous_signal"], a["reason"], a["degree"]) for a in history] == [
        ("BUY", "HOLD", "changed", 4),
        ("BUY", "BUY", "confirmed", 4),
        ("SELL", "BUY", "changed", 4),
        ("BUY", None, "new", 5),
    ]
    ids = [a["id"] for a in history]
    assert ids == sorted(ids)
    current = await alerts(http)
    assert sorted((a["signal"], a["degree"]) for a in current) == [("BUY", 5), ("SELL", 4)]
    # An older candle stored late raises nothing: it is not the newest of its key.
    await store(pool, make_signal("BTCUSDT", "BUY", 0))
    assert len(await alerts(http, latest="false")) == 4
    # The key turning HOLD ends its current alert.
    await store(pool, make_signal("BTCUSDT", "HOLD", 5))
    assert [a["degree"] for a in await alerts(http)] == [5]


async def test_filters_sorting_and_stable_cursor_pages(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    events = [
        make_signal(
            f"S{i:02d}USDT",
            "BUY" if i % 3 else "SELL",
            1,
            potential=float(i % 7),
            target=float(i),
            interval="4h" if i % 2 else "1d",
        )
        for i in range(25)
    ]
    await store(pool, *events)
    everything = await alerts(http, limit=100)
    assert len(everything) == 25
    keys = [(a["potential_return"], a["id"]) for a in everything]
    assert keys == sorted(keys, reverse=True)

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        body = (await http.get("/v1/alerts", params=params)).json()
        pages.append([a["id"] for a in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == [a["id"] for a in everything]

    sells = await alerts(http, signal="SELL", limit=100)
    assert {a["symbol"] for a in sells} == {f"S{i:02d}USDT" for i in range(25) if i % 3 == 0}
    assert [a["symbol"] for a in await alerts(http, symbol="s07usdt")] == ["S07USDT"]
    assert all(a["interval"] == "4h" for a in await alerts(http, interval="4h", limit=100))
    assert all(a["potential_return"] >= 5 for a in await alerts(http, min_potential_return=5))
    by_target = await alerts(http, sort="target_return", limit=3)
    assert [a["target_return"] for a in by_target] == [24.0, 23.0, 22.0]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await alerts(http, since=future) == []


#: Bad query parameters of /v1/alerts, each with the name its 422 must give.
BAD_PARAMETERS: list[tuple[dict[str, Any], str]] = [
    ({"limit": 0}, "limit"),
    ({"limit": 100000}, "limit"),
    ({"signal": "MAYBE"}, "signal"),
    ({"interval": "7m"}, "interval"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"since": "2026-01-01T00:00:00"}, "since"),
    ({"since": "yesterday"}, "since"),
    ({"min_potential_return": "-1"}, "min_potential_return"),
    ({"symbol": "BTC/USDT"}, "symbol"),
    ({"sort": "volume"}, "sort"),
]


async def test_bad_parameters_are_422_naming_the_parameter(http: httpx.AsyncClient) -> None:
    """Every case against one API process (a process each cost the suite ~40 s)."""
    for params, name in BAD_PARAMETERS:
        r = await http.get("/v1/alerts", params=params)
        assert r.status_code == 422, (params, r.text)
        assert name in r.text, (params, r.text)


async def test_summary_and_top_lists(pool: asyncpg.Pool, http: httpx.AsyncClient) -> None:
    await store(
        pool,
        make_signal("AAAUSDT", "BUY", 1, potential=5.0),
        make_signal("BBBUSDT", "BUY", 1, potential=25.0),
        make_signal("CCCUSDT", "SELL", 1, potential=7.0),
        make_signal("DDDUSDT", "HOLD", 1),
    )
    s = (await http.get("/v1/alerts/summary")).json()
    assert s["counts"] == {"BUY": 2, "SELL": 1}
    assert s["strongest_buy"]["symbol"] == "BBBUSDT"
    assert s["strongest_sell"]["symbol"] == "CCCUSDT"
    top = (await http.get("/v1/alerts/top-buy", params={"limit": 1})).json()
    assert [a["symbol"] for a in top] == ["BBBUSDT"]
    assert [a["symbol"] for a in (await http.get("/v1/alerts/top-sell")).json()] == ["CCCUSDT"]


class Events:
    """The server-sent events of one open stream, read as they come."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def take(
        self, count: int, within: float, events: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """``count`` events (into ``events``, kept when the time runs out first)."""
        events = [] if events is None else events
        current: dict[str, str] = {}
        async with asyncio.timeout(within):
            async for line in self.lines:
                if line == "":
                    if "data" in current:
                        event = {"event": current.get("event", "message")}
                        if "id" in current:
                            event["id"] = int(current["id"])
                        events.append(event | json.loads(current["data"]))
                        if len(events) == count:
                            return events
                    current = {}
                elif not line.startswith(":") and ":" in line:
                    key, _, value = line.partition(":")
                    current[key] = value.strip()
        return events


async def test_market_events_follow_every_stored_close(pool: asyncpg.Pool, api: str) -> None:
    """A client that asks for them hears of every stored close, HOLD ones included (they
    raise no alert); a burst of closes makes a few market events, not one per transaction;
    a client that did not ask hears only alerts."""
    async with (
        httpx.AsyncClient(base_url=api, timeout=None) as client,
        client.stream("GET", "/v1/alerts/stream", params={"market": "true"}) as watching,
        client.stream("GET", "/v1/alerts/stream") as plain,
    ):
        market, alerts = Events(watching), Events(plain)
        await asyncio.sleep(0.3)
        await store(pool, make_signal("HOLDUSDT", "HOLD", 1))
        (moved,) = await market.take(1, within=5)
        assert moved["event"] == "market"
        assert "id" not in moved  # a resumed stream starts after the last alert, not this
        for i in range(20):  # 20 transactions of 10 closes each
            await store(pool, *(make_signal(f"B{i}X{j}USDT", "HOLD", 1) for j in range(10)))
        burst: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            await market.take(20, within=2, events=burst)
        assert 1 <= len(burst) < 20, burst
        assert all(e["event"] == "market" for e in burst)
        assert [e["version"] for e in burst] == sorted({e["version"] for e in burst})
        await store(pool, make_signal("LASTUSDT", "BUY", 1))
        (first,) = await alerts.take(1, within=5)
        assert (first["event"], first["symbol"]) == ("alert", "LASTUSDT")


async def test_stream_live_then_resume_without_gap_or_duplicate(
    pool: asyncpg.Pool,
    api: str,
    pg_settings: PostgresSettings,
    kafka_settings: KafkaSettings,
    tmp_path: Path,
) -> None:
    async with httpx.AsyncClient(base_url=api, timeout=None) as client:
        async with client.stream("GET", "/v1/alerts/stream") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            await asyncio.sleep(0.3)
            committed = time.monotonic()
            await store(pool, make_signal("LIVEUSDT", "BUY", 1))
            (first,) = await Events(response).take(1, within=5)
            assert time.monotonic() - committed < 1.0
            assert first["symbol"] == "LIVEUSDT"
        # Disconnected: five alerts are committed meanwhile.
        for i in range(5):
            await store(pool, make_signal(f"MISS{i}USDT", "SELL", 1))
        async with client.stream(
            "GET", "/v1/alerts/stream", headers={"Last-Event-ID": str(first["id"])}
        ) as response:
            events = Events(response)
            missed = await events.take(5, within=5)
            assert [e["symbol"] for e in missed] == [f"MISS{i}USDT" for i in range(5)]
            assert [e["id"] for e in missed] == sorted(e["id"] for e in missed)
            await store(pool, make_signal("AFTERUSDT", "BUY", 1))
            (live,) = await events.take(1, within=5)
            assert live["symbol"] == "AFTERUSDT"
            assert live["id"] > missed[-1]["id"]

    # A second API, of two worker processes (each with its own LISTEN), streams the same
    # alerts on every connection, whichever process took it; the page cache of each
    # follows too.
    proc, second = await asyncio.to_thread(
        start_api,
        pg_settings,
        kafka_settings,
        tmp_path / "api2.log",
        AUTONAMA_ALERTS_API_WORKERS="2",
    )
    try:
        async with contextlib.AsyncExitStack() as stack:
            c1 = await stack.enter_async_context(httpx.AsyncClient(base_url=api, timeout=None))
            r1 = await stack.enter_async_context(
                c1.stream("GET", "/v1/alerts/stream", params={"signal": "BUY"})
            )
            streams = []
            for _ in range(6):  # separate connections, spread by the kernel over the workers
                c = await stack.enter_async_context(
                    httpx.AsyncClient(base_url=second, timeout=None)
                )
                streams.append(
                    await stack.enter_async_context(
                        c.stream("GET", "/v1/alerts/stream", params={"signal": "BUY"})
                    )
                )
            pages = [(await c.get("/v1/alerts")).headers["etag"] for _ in range(4)]
            await asyncio.sleep(0.3)
            await store(pool, make_signal("TWOUSDT", "SELL", 1), make_signal("ONEUSDT", "BUY", 1))
            got = await asyncio.gather(*(Events(r).take(1, 5) for r in [r1, *streams]))
            assert all(g == got[0] for g in got)
            assert got[0][0]["symbol"] == "ONEUSDT"  # the SELL was filtered out on all
            await asyncio.sleep(0.3)
            for etag in pages:  # no worker serves the page from before the alert
                page = await c.get("/v1/alerts", headers={"If-None-Match": etag})
                assert page.status_code == 200
                assert "ONEUSDT" in {a["symbol"] for a in page.json()["items"]}
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)


async def test_scans_ingestions_bands_and_chart(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    scan_id = str(uuid.uuid4())
    await store(pool, make_signal("BTCUSDT", "BUY", 3, scan_id=scan_id))
    r = await http.get("/v1/symbols/btcusdt/bands", params={"interval": "1d"})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = make_signal("BTCUSDT", "BUY", 3).series
    assert expected is not None
    assert body["close"] == expected.close
    assert body["upper_series"] == expected.upper
    assert body["open_time"] == expected.open_time  # integer milliseconds end to end
    assert [a["signal"] for a in body["alerts"]] == ["BUY"]
    png = await http.get("/v1/symbols/BTCUSDT/chart.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert (await http.get("/v1/symbols/NOPEUSDT/bands")).status_code == 404
    assert (await http.get("/v1/symbols/NOPEUSDT/chart.png")).status_code == 404
    # A window stored before migration 0009 (arrays in band_series) is still served.
    await store(pool, make_signal("OLDUSDT", "SELL", 5))
    await pool.execute(
        """DELETE FROM band_windows WHERE signal_id IN (SELECT id FROM signals
                                                       WHERE symbol = 'OLDUSDT')"""
    )
    await pool.execute(
        """INSERT INTO band_series (signal_id, open_time, close, fit, lower_band, upper_band)
           SELECT id, '{1767225600000,1767312000000}', '{1.5,2.5}', '{2,2}', '{1,1}', '{3,3}'
           FROM signals WHERE symbol = 'OLDUSDT'"""
    )
    old = (await http.get("/v1/symbols/OLDUSDT/bands")).json()
    assert (old["open_time"], old["close"], old["upper_series"]) == (
        [1767225600000, 1767312000000],
        [1.5, 2.5],
        [3.0, 3.0],
    )
    assert old["open"] is None
    assert (await http.get("/v1/scans/not-a-uuid")).status_code == 422
    assert (await http.get(f"/v1/scans/{uuid.uuid4()}")).status_code == 404
    assert (await http.get("/v1/ingestion/status")).json() == []
    assert (await http.get("/v1/scans")).status_code == 200


async def test_the_api_cannot_write(pg_settings: PostgresSettings, pool: asyncpg.Pool) -> None:
    async with open_pool(pg_settings, read_only_role="autonama_reader") as ro:
        assert await ro.fetchval("SELECT count(*) FROM alerts") == 0
        denied = (asyncpg.InsufficientPrivilegeError, asyncpg.ReadOnlySQLTransactionError)
        with pytest.raises(denied):
            await ro.execute("DELETE FROM alerts")
        async with ro.acquire() as conn:
            with pytest.raises(denied):
                await conn.execute(
                    "RESET ALL; INSERT INTO ingestions (file_name, sha256, size_bytes, status) "
                    "VALUES ('x', 'y', 1, 'rejected')"
                )


async def test_health_readiness_and_metrics(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    deadline = time.monotonic() + 30
    while True:
        ready = await http.get("/readyz")
        if ready.status_code == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "database": "ok",
        "kafka": "ok",
        "stream.broadcaster": "ok",
        "stream.market": "ok",
        "stream.listen": "ok",
        "dead_letters": "none",
    }
    await http.get("/v1/alerts")
    metrics = (await http.get("/metrics")).text
    assert 'autonama_http_requests_total{method="GET",route="/v1/alerts",status="200"}' in metrics
    assert "autonama_sse_clients" in metrics
    assert "autonama_sse_alerts_sent_total" in metrics
    assert "autonama_dead_letters 0.0" in metrics


async def test_a_scan_requested_over_http_runs_through_the_pipeline(
    stack: Stack, http: httpx.AsyncClient, standin_2022: StandIn
) -> None:
    for name in ("ingestor", "analyzer", "fetcher"):
        stack.start(name)
    symbols = sorted(s for s, _ in standin_2022.klines)
    deadline = time.monotonic() + 60
    while (await http.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, "the API never became ready"
        await asyncio.sleep(0.5)

    for body, name in [
        ({"degree": 11}, "degree"),
        ({"symbols": ["BTC/USDT"]}, "BTC/USDT"),
        ({"symbols": ["BTCUSDT"], "top": 5}, "not both"),
        ({"interval": "7m"}, "interval"),
        ({"kstd": 0.5}, "kstd"),
    ]:
        bad = await http.post("/v1/scans", json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert name in bad.text

    r = await http.post("/v1/scans", json={"symbols": symbols, "kstd": 1.0, "days": 365})
    assert r.status_code == 202, r.text
    scan_id = r.json()["scan_id"]
    assert r.headers["location"] == f"/v1/scans/{scan_id}"
    deadline = time.monotonic() + 120
    while True:
        progress = await http.get(r.headers["location"])
        if progress.status_code == 200 and progress.json()["status"] == "finished":
            break
        assert progress.status_code in (200, 404), progress.text
        assert time.monotonic() < deadline, progress.text
        await asyncio.sleep(0.3)
    scan = progress.json()
    assert scan["origin"] == "api"
    assert scan["symbols_done"] + scan["symbols_failed"] == len(symbols)
    assert (await http.get("/v1/scans")).json()[0]["scan_id"] == scan_id

    conn = await stack.connect()
    try:
        alerted = await conn.fetch(
            "SELECT symbol FROM signals WHERE scan_id = $1 AND signal <> 'HOLD'",
            uuid.UUID(scan_id),
        )
    finally:
        await conn.close()
    assert alerted, "kstd 1.0 over 33 real series should give some BUY or SELL"
    history = await alerts(http, latest="false", limit=500)
    assert sorted(a["symbol"] for a in history) == sorted(r["symbol"] for r in alerted)
    assert {a["scan_id"] for a in history} == {scan_id}
    bands = (await http.get(f"/v1/symbols/{history[0]['symbol']}/bands")).json()
    assert len(bands["close"]) == len(bands["open_time"]) == len(bands["upper_series"])
    assert len(bands["close"]) <= 365


@pytest.mark.slow
async def test_schemathesis_finds_no_5xx_and_every_response_matches(
    pool: asyncpg.Pool, api: str, write_token: str, tmp_path: Path
) -> None:
    """Property-based requests generated from the OpenAPI schema (schemathesis).

    The stream is left out (it never ends). On /v1/alerts, /v1/market and /v1/backtests
    one check is relaxed: a cursor is an opaque token (a schema-valid string this API
    did not issue is rightly refused), a backtest's history must exceed its
    longest window, a subscription's Apprise URL must be one Apprise can use, and a
    watch has one universe and windows within the limits, which
    JSON Schema cannot say.
    """
    await store(pool, make_signal("BTCUSDT", "BUY", 3), make_signal("ETHUSDT", "SELL", 3))
    runs = [
        ["--exclude-path-regex", "^/v1/(alerts|backtests|market|subscriptions|watches)"],
        [
            "--include-path-regex",
            "^/v1/(alerts|backtests|market|subscriptions|watches)",
            "--exclude-checks",
            "positive_data_acceptance",
        ],
    ]
    for extra in runs:
        run = await asyncio.to_thread(
            subprocess.run,
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{api}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                "30",
                "--exclude-path",
                "/v1/alerts/stream",
                "--request-timeout",
                "10",
                "--phases",
                "examples,coverage,fuzzing",
                "--seed",
                "20261129",
                "--no-color",
                "--header",
                f"Authorization: Bearer {write_token}",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert " passed" in run.stdout


async def test_a_slow_stream_client_is_dropped_without_slowing_the_others(
    pool: asyncpg.Pool, pg_settings: PostgresSettings
) -> None:
    """The broadcaster never waits for a client: a full queue drops that client alone."""
    broadcaster = Broadcaster(
        pool, _listen_to(pg_settings), "unused", queue_size=2, poll_seconds=60
    )
    await broadcaster.start()
    try:
        slow, _ = broadcaster.subscribe(AlertFilter())
        fast, _ = broadcaster.subscribe(AlertFilter())
        fast.queue = asyncio.Queue(100)  # a client that keeps up
        await store(pool, *(make_signal(f"Q{i}USDT", "BUY", 1) for i in range(5)))
        await broadcaster._fan_out()
        assert slow.dropped.is_set()
        assert slow.queue.qsize() == 2
        assert not fast.dropped.is_set()
        events = [fast.queue.get_nowait() for _ in range(5)]
        data = [json.loads(text.split("data: ", 1)[1]) for _, text in events]
        assert [d["symbol"] for d in data] == [f"Q{i}USDT" for i in range(5)]
        assert [ident for ident, _ in events] == [d["id"] for d in data]
    finally:
        await broadcaster.stop()


def _listen_to(pg: PostgresSettings, name: str = "autonama-test-listen") -> Any:
    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(
            host=pg.host,
            port=pg.port,
            user=pg.user,
            database=pg.database,
            server_settings={"application_name": name, "search_path": pg.db_schema},
        )

    return connect


async def test_the_stream_listens_again_after_its_connection_is_lost(
    pool: asyncpg.Pool, pg_settings: PostgresSettings
) -> None:
    """A database restart ends the LISTEN connection: it is re-opened, and alerts committed
    while it was away and after it came back arrive by notification, not by the slow poll."""
    name = f"autonama-test-listen-{uuid.uuid4().hex[:8]}"
    broadcaster = Broadcaster(
        pool,
        _listen_to(pg_settings, name),
        alerts_channel(pg_settings.db_schema),
        queue_size=100,
        poll_seconds=3600,  # only a notification (or the catch-up) can deliver in time
    )
    await broadcaster.start()
    try:
        client, _ = broadcaster.subscribe(AlertFilter())
        admin = await asyncpg.connect(
            host=pg_settings.host,
            port=pg_settings.port,
            user=pg_settings.user,
            database=pg_settings.database,
        )
        try:
            old = await admin.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1", name
            )
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", old)
            # pg_terminate_backend only signals: until the backend has exited it may still
            # hear a NOTIFY (which then came by the old connection: seen in CI)
            for _ in range(100):
                if not await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", old
                ):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the LISTEN backend did not exit in 5 s")
        finally:
            await admin.close()
        await store(pool, make_signal("AWAYUSDT", "BUY", 1))  # committed while it reconnects
        first = _sent(await asyncio.wait_for(client.queue.get(), 15))
        assert first["symbol"] == "AWAYUSDT"
        assert broadcaster.reconnects == 1
        await store(pool, make_signal("BACKUSDT", "SELL", 1))
        second = _sent(await asyncio.wait_for(client.queue.get(), 5))
        assert second["symbol"] == "BACKUSDT"
    finally:
        await broadcaster.stop()


async def test_idle_streams_get_heartbeats(api: str) -> None:
    async with (
        httpx.AsyncClient(base_url=api, timeout=None) as client,
        client.stream("GET", "/v1/alerts/stream") as response,
    ):
        lines = response.aiter_lines()
        async with asyncio.timeout(5):  # the test API beats every second
            async for line in lines:
                if line.startswith(": keep-alive"):
                    break


async def test_a_backtest_requested_over_http_runs_through_the_pipeline(
    stack: Stack, http: httpx.AsyncClient, standin_2022: StandIn
) -> None:
    for name in ("ingestor", "analyzer", "fetcher"):
        stack.start(name)
    deadline = time.monotonic() + 60
    while (await http.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, "the API never became ready"
        await asyncio.sleep(0.5)
    for body, name in [
        ({"degrees": [11]}, "degrees"),
        ({"windows": [10]}, "windows"),
        ({"split": 0.95}, "split"),
        ({"windows": [365], "history": 100}, "history"),
        ({"symbols": ["BTCUSDT"], "top": 3}, "not both"),
    ]:
        bad = await http.post("/v1/backtests", json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert name in bad.text

    body = {
        "symbols": ["BTCUSDT", "ETHUSDT", "APEUSDT"],
        "degrees": [2, 4],
        "kstds": [1.5, 2.0],
        "windows": [365],
        "history": 1000,
        "split": 0.6,
        "stop_loss": 0.1,
    }
    r = await http.post("/v1/backtests", json=body)
    assert r.status_code == 202, r.text
    location = r.headers["location"]
    deadline = time.monotonic() + 120
    while True:
        got = await http.get(location)
        if got.status_code == 200 and got.json()["status"] == "finished":
            break
        assert time.monotonic() < deadline, got.text
        await asyncio.sleep(0.3)
    detail = got.json()
    assert (detail["symbols_done"], detail["symbols_failed"]) == (2, 1)
    results = {x["symbol"]: x for x in detail["results"]}
    assert "fewer than the window" in results["APEUSDT"]["error"]

    # The pipeline's numbers are those of the same run on the same candles here.
    spec = BacktestParams(**{k: v for k, v in body.items() if k != "symbols"}).spec()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        rows = standin_2022.klines[(symbol, "1d")]
        closed = rows[rows[:, 0] + 86_400_000 <= standin_2022.now_ms][-1000:]
        candles = Candles(
            symbol, "1d", closed[:, 0].astype(np.int64), *(closed[:, i] for i in range(1, 6))
        )
        local = run_symbol(symbol, candles, None, spec).row
        assert results[symbol] == json.loads(local.model_dump_json())
        png = await http.get(f"{location}/equity.png", params={"symbol": symbol})
        assert png.status_code == 200
        assert png.content[:4] == b"\x89PNG"
    assert (
        await http.get(f"{location}/equity.png", params={"symbol": "APEUSDT"})
    ).status_code == 404
    listed = (await http.get("/v1/backtests")).json()
    assert listed[0]["backtest_id"] == detail["backtest_id"]
    assert listed[0]["results"] == []


SCAN_BODY = {"symbols": ["BTCUSDT"], "days": 30}


async def test_writes_need_a_write_token(
    api: str, pg_settings: PostgresSettings, write_token: str
) -> None:
    read_token = await make_token(pg_settings, "read")
    async with httpx.AsyncClient(base_url=api, timeout=10) as anonymous:
        r = await anonymous.post("/v1/scans", json=SCAN_BODY)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "needs a write token" in r.json()["detail"]
        assert "autonama token create --scope write" in r.json()["detail"]
        r = await anonymous.post(
            "/v1/scans", json=SCAN_BODY, headers={"Authorization": f"Bearer {read_token}"}
        )
        assert r.status_code == 403
        detail = r.json()["detail"]
        assert detail == "this token's scope is read; POST /v1/scans needs a write token"
        r = await anonymous.post(
            "/v1/backtests", json={"symbols": ["BTCUSDT"]}, headers={"Authorization": "Basic x"}
        )
        assert r.status_code == 401
        r = await anonymous.post(
            "/v1/scans", json=SCAN_BODY, headers={"Authorization": "Bearer ant_" + "x" * 43}
        )
        assert (r.status_code, "unknown or revoked" in r.json()["detail"]) == (401, True)
        assert (await anonymous.get("/v1/alerts")).status_code == 200  # reads are open
        r = await anonymous.post(
            "/v1/scans", json=SCAN_BODY, headers={"Authorization": f"Bearer {write_token}"}
        )
        assert r.status_code in (202, 503), r.text  # 503 only while Kafka is still starting
        assert r.status_code != 503 or "Kafka" in r.json()["detail"]


async def test_a_revoked_token_is_refused(api: str, pg_settings: PostgresSettings) -> None:
    from autonama_shared.db.tokens import revoke

    name = f"gone-{uuid.uuid4().hex[:6]}"
    token = await make_token(pg_settings, "write", name)
    async with open_pool(pg_settings) as p, p.acquire() as conn:
        assert await revoke(conn, name)
    await asyncio.sleep(0.1)
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        r = await client.post(
            "/v1/scans", json=SCAN_BODY, headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 401


async def test_auth_all_guards_reads_and_the_stream_takes_a_single_use_ticket(
    pg_settings: PostgresSettings, kafka_settings: KafkaSettings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    proc, url = await asyncio.to_thread(
        start_api,
        pg_settings,
        kafka_settings,
        tmp_path / "api.log",
        AUTONAMA_ALERTS_API_AUTH="all",
    )
    try:
        read_token = await make_token(pg_settings, "read")
        await store(pool, make_signal("BTCUSDT", "BUY", 3))
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            r = await client.get("/v1/alerts")
            assert r.status_code == 401
            assert "needs a read token" in r.json()["detail"]
            assert (await client.get("/healthz")).status_code == 200  # health stays open
            ok = await client.get("/v1/alerts", headers={"Authorization": f"Bearer {read_token}"})
            assert [a["symbol"] for a in ok.json()["items"]] == ["BTCUSDT"]
            again = await client.get("/v1/alerts")  # the page is cached now: still guarded
            assert again.status_code == 401
            assert (await client.get("/v1/alerts/stream?after=0")).status_code == 401
            # the token itself is never taken from a URL
            old = await client.get(f"/v1/alerts/stream?after=0&access_token={read_token}")
            assert old.status_code == 401
            assert (await client.post("/v1/alerts/stream/ticket")).status_code == 401
            issued = await client.post(
                "/v1/alerts/stream/ticket", headers={"Authorization": f"Bearer {read_token}"}
            )
            assert issued.status_code == 200, issued.text
            assert issued.json()["needed"] is True
            ticket = issued.json()["ticket"]
            assert read_token not in ticket
            async with client.stream("GET", f"/v1/alerts/stream?after=0&ticket={ticket}") as stream:
                assert stream.status_code == 200
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        assert json.loads(line[5:])["symbol"] == "BTCUSDT"
                        break
            spent = await client.get(f"/v1/alerts/stream?after=0&ticket={ticket}")
            assert spent.status_code == 401  # a ticket opens one stream, once
            assert "spent or expired" in spent.json()["detail"]
    finally:
        proc.terminate()
        proc.wait(20)


def test_auth_off_is_refused_off_loopback(
    pg_settings: PostgresSettings, kafka_settings: KafkaSettings
) -> None:
    env = api_env(pg_settings, kafka_settings, free_port())
    env |= {"AUTONAMA_ALERTS_API_AUTH": "off", "AUTONAMA_ALERTS_API_HOST": "0.0.0.0"}
    run = subprocess.run(
        [sys.executable, "-m", "autonama_alerts_api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "auth 'off' is refused on 0.0.0.0" in run.stderr


async def test_bad_inputs_get_4xx_never_5xx(http: httpx.AsyncClient) -> None:
    """The inputs that once answered 500, each now a 4xx that names the problem."""
    stream = "/v1/alerts/stream"
    for value in ("²", "9" * 5000, str(2**63)):
        r = await http.get(stream, headers={"Last-Event-ID": value.encode()})
        assert r.status_code == 422, (value[:10], r.status_code)
    cursor = base64.urlsafe_b64encode(json.dumps(["time", 1.0, 10**30]).encode()).decode()
    r = await http.get("/v1/alerts", params={"cursor": cursor.rstrip("="), "sort": "time"})
    assert r.status_code == 422
    for body in (
        b'{"symbols": ["BTCUSDT"], "kstd": NaN}',
        b'{"symbols": ["BTCUSDT"], "kstd": Infinity}',
        b'{"symbols": ["BTCUSDT"], "degree": 1e400}',
    ):
        r = await http.post("/v1/scans", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert r.json()["detail"][0]["loc"][:2] == ["body", "kstd" if b"kstd" in body else "degree"]


async def test_request_budgets_and_the_rate_limit(
    pg_settings: PostgresSettings, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    proc, url = await asyncio.to_thread(
        start_api,
        pg_settings,
        kafka_settings,
        tmp_path / "api.log",
        AUTONAMA_ALERTS_API_WRITES_PER_MINUTE="3",
        AUTONAMA_ALERTS_API_MAX_SCAN_CANDLES="20000000",
        AUTONAMA_ALERTS_API_MAX_BACKTEST_WORK="50000000",
    )
    try:
        token = await make_token(pg_settings, "write")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, timeout=10, headers=headers) as client:
            # the request that kept both analyzers busy for a minute, refused up front
            huge = {
                "top": 33,
                "degrees": list(range(2, 11)),
                "kstds": [round(1.0 + 0.05 * i, 2) for i in range(41)],
                "windows": list(range(100, 2100, 100)),
                "history": 100000,
            }
            r = await client.post("/v1/backtests", json=huge)
            assert r.status_code == 422
            msg = r.json()["detail"][0]["msg"]
            assert "over the budget of 50,000,000" in msg
            assert "AUTONAMA_ALERTS_API_MAX_BACKTEST_WORK" in msg
            r = await client.post("/v1/scans", json={"top": 1000, "interval": "1m", "days": 720})
            assert r.status_code == 422
            assert "over the budget of 20,000,000" in r.json()["detail"][0]["msg"]
            # the two refused requests count towards the minute's three: one more, then 429
            assert (await client.post("/v1/scans", json=SCAN_BODY)).status_code in (202, 503)
            r = await client.post("/v1/scans", json=SCAN_BODY)
            assert r.status_code == 429
            assert 1 <= int(r.headers["retry-after"]) <= 61
            assert (
                "at most 3 writes (scans, backtests, subscriptions, tests) a minute"
                in (r.json()["detail"])
            )
    finally:
        proc.terminate()
        proc.wait(20)


async def changed_since(http: httpx.AsyncClient, path: str, etag: str) -> httpx.Response:
    """The page, once the API has heard of the change (a notification, within ms)."""
    for _ in range(50):
        r = await http.get(path, headers={"If-None-Match": etag})
        if r.status_code != 304:
            return r
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} still unchanged after 2.5 s")


async def settled(http: httpx.AsyncClient) -> None:
    """Once the API has heard every notification of a store: a store's commit notifies the
    API's LISTEN connection a few ms later, and a page asked in between is read before the
    version moves (so its ETag is stale the moment after; seen in CI)."""
    etag = (await http.get("/v1/alerts/summary")).headers["etag"]
    for _ in range(25):
        await asyncio.sleep(0.2)
        again = (await http.get("/v1/alerts/summary")).headers["etag"]
        if again == etag:
            return
        etag = again
    raise AssertionError("the API's state version still moving after 5 s")


async def test_unchanged_pages_answer_304(pool: asyncpg.Pool, http: httpx.AsyncClient) -> None:
    await store(pool, make_signal("BTCUSDT", "BUY", 3))
    await settled(http)
    for path in ("/v1/alerts?limit=5", "/v1/alerts/summary", "/v1/alerts/top-buy"):
        first = await http.get(path)
        etag = first.headers["etag"]
        again = await http.get(path, headers={"If-None-Match": etag})
        assert (again.status_code, again.content) == (304, b"")
        other = await http.get(path + ("&" if "?" in path else "?") + "limit=6")
        assert other.headers["etag"] != etag  # the query is part of it
    etag = (await http.get("/v1/alerts")).headers["etag"]
    await store(pool, make_signal("BTCUSDT", "HOLD", 4))  # no new alert, but the page changes
    changed = await changed_since(http, "/v1/alerts", etag)
    assert changed.status_code == 200
    assert changed.json()["items"] == []
    assert changed.headers["etag"] != etag


async def test_repeated_pages_from_memory_are_the_pages_and_are_counted(
    pool: asyncpg.Pool, api: str
) -> None:
    """A page asked again is answered before routing (CachedPagesMiddleware): the same
    bytes and ETag as the route's, counted in the metrics under its route; what the route
    refuses is never cached."""
    await store(pool, make_signal("BTCUSDT", "BUY", 3), make_signal("ETHUSDT", "SELL", 3))
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        await settled(client)
        pages = [await client.get("/v1/alerts?limit=7&signal=BUY") for _ in range(3)]
        assert {(p.status_code, p.content, p.headers["etag"]) for p in pages} == {
            (200, pages[0].content, pages[0].headers["etag"])
        }
        assert [a["symbol"] for a in pages[0].json()["items"]] == ["BTCUSDT"]
        assert pages[2].headers["content-type"] == "application/json"
        for _ in range(2):
            assert (await client.get("/v1/alerts?limit=0")).status_code == 422
        metrics = (await client.get("/metrics")).text
    served = re.search(
        r'autonama_http_requests_total\{method="GET",route="/v1/alerts",status="200"\} (\d+)',
        metrics,
    )
    assert served is not None
    assert int(served.group(1)) == 3
    assert 'route="/v1/alerts",status="422"} 2' in metrics


async def test_the_summary_etag_follows_finished_scans(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    """A scan that fails on every symbol stores no signal: the summary still changes."""
    first = await http.get("/v1/alerts/summary")
    assert first.json()["last_scan_id"] is None
    scan_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():  # as the ingestor finishes a scan
        await conn.execute(
            """INSERT INTO scans (scan_id, origin, interval, days, degree, kstd, price_scale,
                                  universe, requested_at, status, finished_at,
                                  symbols_expected, symbols_failed)
               VALUES ($1, 'test', '1d', 720, 4, 2.0, 'linear', '{"core": true}', now(),
                       'finished', now(), 3, 3)""",
            scan_id,
        )
        await notify_state(conn)
    after = await changed_since(http, "/v1/alerts/summary", first.headers["etag"])
    assert after.status_code == 200
    assert (after.json()["last_scan_id"], after.json()["failed_symbols"]) == (str(scan_id), 3)


async def test_requests_after_the_database_dropped_the_connections_get_503_not_500(
    pool: asyncpg.Pool,
    pg_settings: PostgresSettings,
    kafka_settings: KafkaSettings,
    tmp_path: Path,
) -> None:
    """What a database restart does to the API's pool: every connection ends. Each request
    then gets 200, or 503 with Retry-After while the pool reconnects, never a 500. (Only this
    API's connections are ended, found by the process id in their names: the other tests of
    the run share the database.)"""
    proc, api = await asyncio.to_thread(start_api, pg_settings, kafka_settings, tmp_path / "a.log")
    try:
        await _dropped_connections(pool, api, pg_settings, proc.pid)
    finally:
        proc.terminate()
        proc.wait(20)


async def _dropped_connections(
    pool: asyncpg.Pool, api: str, pg_settings: PostgresSettings, pid: int
) -> None:
    await store(pool, make_signal("BTCUSDT", "BUY", 3))
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        assert (await client.get("/v1/alerts")).status_code == 200
        admin = await asyncpg.connect(
            host=pg_settings.host,
            port=pg_settings.port,
            user=pg_settings.user,
            database=pg_settings.database,
        )
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name LIKE $1",
                f"autonama-alerts-api@{pid}%",
            )
        finally:
            await admin.close()
        assert killed >= 1
        statuses = []
        for _ in range(40):
            r = await client.get("/v1/alerts")
            statuses.append(r.status_code)
            if r.status_code == 503:
                assert int(r.headers["retry-after"]) >= 1
                assert "database" in r.json()["detail"]
            if r.status_code == 200:
                break
        assert set(statuses) <= {200, 503}
        assert statuses[-1] == 200


async def test_the_market_lists_every_key_in_pages_with_its_numbers(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    await store(
        pool,
        make_signal("BTCUSDT", "BUY", 5, candles=5),
        make_signal("BTCUSDT", "HOLD", 5, degree=6, candles=5),
        make_signal("ETHUSDT", "SELL", 6, candles=5),
        make_signal("SOLUSDT", "HOLD", 7, candles=5),
        make_signal("ADAUSDT", "HOLD", 8, interval="4h", candles=5),
    )
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await http.get("/v1/market", params=params)).json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    keys = [(r["symbol"], r["interval"], r["degree"]) for r in seen]
    assert keys == [
        ("ADAUSDT", "4h", 4),
        ("BTCUSDT", "1d", 4),
        ("BTCUSDT", "1d", 6),
        ("ETHUSDT", "1d", 4),
        ("SOLUSDT", "1d", 4),
    ]
    assert page["keys"] == 5
    assert page["counts"] == {"BUY": 1, "SELL": 1, "HOLD": 3}
    eth = next(r for r in seen if r["symbol"] == "ETHUSDT")
    price = 100.0 + 6  # make_signal: price 100 + day, bands at -10% / +10%, sigma 2
    assert eth["band_distance"] == pytest.approx(0.1 * price / 2.0)
    expected = make_signal("ETHUSDT", "SELL", 6, candles=5).series
    assert expected is not None
    assert eth["closes"] == expected.close
    candle = DAY0 + timedelta(days=6)
    assert datetime.fromisoformat(eth["candle_closed_at"]) == candle + timedelta(days=1)
    assert datetime.fromisoformat(eth["stale_after"]) == candle + timedelta(days=3)
    assert eth["alert_id"] is not None
    ada = next(r for r in seen if r["symbol"] == "ADAUSDT")
    assert datetime.fromisoformat(ada["stale_after"]) == DAY0 + timedelta(days=8, hours=12)
    found = (await http.get("/v1/market", params={"q": "eth"})).json()["items"]
    assert [r["symbol"] for r in found] == ["ETHUSDT"]
    holds = (await http.get("/v1/market", params={"signal": "HOLD"})).json()["items"]
    assert {r["symbol"] for r in holds} == {"ADAUSDT", "BTCUSDT", "SOLUSDT"}
    # a row's chart is its own fit
    six = next(r for r in seen if r["degree"] == 6)
    window = (await http.get(f"/v1/signals/{six['signal_id']}/bands")).json()
    assert (window["degree"], window["signal"], window["signal_id"]) == (
        6,
        "HOLD",
        six["signal_id"],
    )
    assert (await http.get("/v1/signals/999999999/bands")).status_code == 404
    assert (await http.get("/v1/market", params={"cursor": "bm9wZQ"})).status_code == 422


async def test_a_chart_of_a_pruned_signal_is_gone_not_missing(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    """Retention drops a 1m close with its window; its alert and its key's row stay, and its
    chart answers 410 with the reason, where an id never stored is still 404."""
    await store(pool, make_signal("BTCUSDT", "BUY", 2, interval="1m"))
    [alert] = await alerts(http)
    assert (await http.get(f"/v1/signals/{alert['signal_id']}/bands")).status_code == 200
    async with pool.acquire() as conn:
        policy = RetentionSettings(signals_days={"1m": 1})
        assert len(await prune(conn, policy, DAY0 + timedelta(days=10))) == 1

    r = await http.get(f"/v1/signals/{alert['signal_id']}/bands")
    assert r.status_code == 410, r.text
    assert "pruned" in r.json()["detail"]
    assert "(1m)" in r.json()["detail"]
    assert [a["id"] for a in await alerts(http)] == [alert["id"]]
    [row] = (await http.get("/v1/market")).json()["items"]
    assert (row["signal_id"], row["signal"]) == (alert["signal_id"], "BUY")
    assert (await http.get("/v1/signals/999999999/bands")).status_code == 404


def running(pid: int) -> bool:
    """Alive and not a zombie (a dead child not yet reaped by anyone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            children = (task / "children").read_text().split() if task.exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


async def test_workers_stop_when_their_parent_is_killed_and_free_the_port(
    pg_settings: PostgresSettings, kafka_settings: KafkaSettings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """kill -9 of a two-worker API (what a supervisor restart may follow): its workers must
    not live on holding the port, or the restarted API could not listen."""
    proc, url = await asyncio.to_thread(
        start_api,
        pg_settings,
        kafka_settings,
        tmp_path / "api.log",
        AUTONAMA_ALERTS_API_WORKERS="2",
    )
    try:
        workers = descendants(proc.pid)
        assert len(workers) >= 2, workers
        proc.kill()
        await asyncio.to_thread(proc.wait, 10)
        for _ in range(100):  # they shut down gracefully: up to a few seconds
            if not any(Path(f"/proc/{w}").exists() for w in workers):
                break
            await asyncio.sleep(0.1)
        alive = [w for w in workers if running(w)]
        assert alive == [], alive
        port = int(url.rsplit(":", 1)[1])
        with socket.create_server(("127.0.0.1", port)):  # the port is free again
            pass
    finally:
        if proc.poll() is None:
            proc.kill()


def _sent(event: tuple[int, str]) -> dict[str, Any]:
    """The alert of a queued stream event, checked to be one whole SSE event with its id."""
    ident, text = event
    head, data = text.split("data: ", 1)
    assert head == f"id: {ident}\nevent: alert\n", text
    assert data.endswith("\n\n"), text
    alert: dict[str, Any] = json.loads(data)
    assert alert["id"] == ident
    return alert


async def test_a_live_close_without_its_window_is_charted_as_the_trail_of_the_last_one(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    """A live close is stored without its window: its chart is the newest window of its key
    before it, then the key's closes since (each with its own candle and its own fit's
    bands at it), up to the close asked for, whose numbers it shows."""
    first = make_signal("LIVEUSDT", "BUY", 10, candles=5)  # a key's first signal: its window
    # live closes: no window, their last candle only
    later = [live_close(make_signal("LIVEUSDT", "HOLD", d, candles=5)) for d in (11, 12, 13)]
    other = make_signal("LIVEUSDT", "HOLD", 12, degree=6, candles=5)  # another key: not in it
    for signal in (first, *later, other):  # one transaction each, as they close
        await store(pool, signal)
    ids = {
        r["last_candle_time"]: r["id"]
        for r in await pool.fetch(
            "SELECT id, last_candle_time FROM signals WHERE symbol = 'LIVEUSDT' AND degree = 4"
        )
    }
    day = lambda d: DAY0 + timedelta(days=d)  # noqa: E731
    chart = (await http.get(f"/v1/signals/{ids[day(12)]}/bands")).json()
    assert chart["signal_id"] == ids[day(12)]
    assert (chart["signal"], chart["price"]) == ("HOLD", later[1].price)
    assert chart["trail"] == 2  # days 11 and 12
    ms = [int(day(d).timestamp() * 1000) for d in range(6, 13)]
    # the window (days 6-10), then the trail, the newest 5 (the signal's candles)
    assert chart["open_time"] == ms[2:]
    assert first.series is not None
    assert chart["close"] == [*first.series.close[2:], later[0].price, later[1].price]
    assert chart["open"][-2:] == [s.last_candle.open for s in later[:2] if s.last_candle]
    assert chart["low"][-1] == (later[1].last_candle and later[1].last_candle.low)
    assert chart["fit_series"] == [*first.series.fit[2:], later[0].fit, later[1].fit]
    assert chart["upper_series"][-2:] == [s.upper for s in later[:2]]
    alerts = [(a["signal"], a["reason"]) for a in chart["alerts"]]
    assert alerts == [("BUY", "new"), ("HOLD", "ended")]  # the key's, within the chart
    own = (await http.get(f"/v1/signals/{ids[day(10)]}/bands")).json()
    assert (own["trail"], own["open_time"]) == (0, ms[:5])


async def test_a_keys_run_of_closes_is_followed_through_a_batch_and_never_overclaimed(
    pool: asyncpg.Pool,
) -> None:
    """Which windows the key's closes hold is read from where its unbroken run of closes
    starts (migration 0030): several closes of a key in one batch extend it or break it in
    candle order; a late close that fills a gap is not credited, so the window after it is
    stored (where the closes would in fact hold it: stored again, never missing)."""

    def day(d: int) -> datetime:
        return DAY0 + timedelta(days=d)

    async def run_start(symbol: str) -> datetime:
        start: datetime = await pool.fetchval(
            "SELECT run_start FROM current_signals WHERE symbol = $1", symbol
        )
        return start

    async def windows(symbol: str) -> list[datetime]:
        return [
            r["last_candle_time"]
            for r in await pool.fetch(
                "SELECT w.last_candle_time FROM band_windows w JOIN signals s "
                "ON s.id = w.signal_id WHERE s.symbol = $1 ORDER BY 1",
                symbol,
            )
        ]

    # one batch: days 10-12, a gap (13), 14-15: the run restarts at 14
    await store(
        pool,
        make_signal("RUNUSDT", "HOLD", 10, candles=3),
        *(live_close(make_signal("RUNUSDT", "HOLD", d, candles=3)) for d in (11, 12, 14, 15)),
    )
    assert await run_start("RUNUSDT") == day(14)
    await store(pool, make_signal("RUNUSDT", "BUY", 16, candles=3))  # 14, 15 held: not stored
    await store(pool, make_signal("RUNUSDT", "SELL", 17, candles=5))  # 13-16: 13 missing, stored
    assert await run_start("RUNUSDT") == day(14)
    assert await windows("RUNUSDT") == [day(10), day(17)]

    # a gap (day 21) filled late: closes 20-23 are all stored, but the run starts at 22
    await store(pool, make_signal("LATEUSDT", "HOLD", 20, candles=3))
    for d in (22, 23):
        await store(pool, live_close(make_signal("LATEUSDT", "HOLD", d, candles=3)))
    await store(pool, live_close(make_signal("LATEUSDT", "HOLD", 21, candles=3)))  # late
    assert await run_start("LATEUSDT") == day(22)
    await store(pool, make_signal("LATEUSDT", "BUY", 24, candles=4))  # 21-23 not credited
    assert await windows("LATEUSDT") == [day(20), day(24)]

    # a row as an ingestor of the version before 0030 leaves it (no run known): the next
    # close starts the run, however well it follows the current one
    await pool.execute("UPDATE current_signals SET run_start = DEFAULT WHERE symbol = 'LATEUSDT'")
    await store(pool, live_close(make_signal("LATEUSDT", "HOLD", 25, candles=3)))
    assert await run_start("LATEUSDT") == day(25)


async def test_a_window_the_keys_closes_already_hold_is_not_stored_again(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    """A signal's window is stored only where its key's stored closes do not hold it: a
    key's first window, or one after a gap. A change of signal after a window's span of
    closes is charted from those closes, each with its own bands."""
    first = make_signal("ONCEUSDT", "HOLD", 10, candles=3)  # the key's first: stored
    closes = [live_close(make_signal("ONCEUSDT", "HOLD", d, candles=3)) for d in (11, 12)]
    change = make_signal("ONCEUSDT", "BUY", 13, candles=3)  # days 11-13: held by closes
    after_gap = make_signal("ONCEUSDT", "SELL", 15, candles=3)  # day 14 missing: stored
    for signal in (first, *closes, change, after_gap):
        await store(pool, signal)
    ids = {
        r["last_candle_time"]: r["id"]
        for r in await pool.fetch(
            "SELECT id, last_candle_time FROM signals WHERE symbol = $1", "ONCEUSDT"
        )
    }
    day = lambda d: DAY0 + timedelta(days=d)  # noqa: E731
    windows = await pool.fetch(
        "SELECT last_candle_time FROM band_windows WHERE signal_id = ANY($1::bigint[]) ORDER BY 1",
        list(ids.values()),
    )
    assert [w["last_candle_time"] for w in windows] == [day(10), day(15)]
    chart = (await http.get(f"/v1/signals/{ids[day(13)]}/bands")).json()
    assert chart["trail"] == 3  # its closes alone
    assert chart["open_time"] == [int(day(d).timestamp() * 1000) for d in (11, 12, 13)]
    assert chart["close"] == [s.price for s in (*closes, change)]
    assert chart["fit_series"] == [s.fit for s in (*closes, change)]
    assert chart["lower_series"] == [s.lower for s in (*closes, change)]
    assert change.series is not None
    assert change.series.high is not None
    assert chart["high"][-1] == change.series.high[-1]  # its own candle
    assert (chart["signal"], chart["signal_id"]) == ("BUY", ids[day(13)])
    assert [(a["signal"], a["reason"]) for a in chart["alerts"]] == [("BUY", "changed")]
    gap = (await http.get(f"/v1/signals/{ids[day(15)]}/bands")).json()
    assert after_gap.series is not None
    assert (gap["trail"], gap["close"]) == (0, after_gap.series.close)


async def _raw(port: int, request: bytes, read: int = 4096) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await reader.read(read)
    finally:
        writer.close()


async def test_a_50_mb_body_without_a_token_is_refused_before_it_is_read(api: str) -> None:
    port = int(api.rsplit(":", 1)[1])
    size = 50 * 1024 * 1024
    head = (
        f"POST /v1/scans HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    answer = await _raw(port, head + b"{" * 4096)  # the headers and a first piece only
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # sent in chunks without a length, it is cut off at the limit, before any token check
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(200):
                yield b" " * 65536

        r = await client.post(
            "/v1/subscriptions", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413
        ok = await client.post("/v1/scans", json={"symbols": ["BTCUSDT"]})
        assert ok.status_code == 401  # a small body goes on to the token check


async def test_the_pages_cannot_be_framed_sniffed_or_reached_through_another_host_name(
    api: str,
) -> None:
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        page = await client.get("/alerts")
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        for path in ("/docs", "/redoc", "/v1/alerts", "/healthz"):
            r = await client.get(path)
            assert r.headers["x-frame-options"] == "DENY", path
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
            assert r.headers["x-content-type-options"] == "nosniff"
        # a page that rebinds its own name to 127.0.0.1 still says its own name
        rebound = await client.get("/v1/alerts", headers={"Host": "attacker.example:8000"})
        assert rebound.status_code == 400
        named = await client.get("/v1/alerts", headers={"Host": "localhost"})
        assert named.status_code == 200


async def test_two_thousand_streams_from_one_address_get_a_few_seats(api: str) -> None:
    port = int(api.rsplit(":", 1)[1])
    request = b"GET /v1/alerts/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    opened: list[asyncio.StreamWriter] = []
    statuses: list[bytes] = []

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        line = await reader.readline()
        statuses.append(line.split(b" ")[1])
        opened.append(writer)

    try:
        for start in range(0, 2000, 200):
            await asyncio.gather(*(one() for _ in range(200)))
            if start == 0:
                assert statuses.count(b"200") == 20  # AUTONAMA_ALERTS_API_SSE_MAX_PER_ADDRESS
        assert statuses.count(b"200") == 20
        assert statuses.count(b"429") == 1980
        async with httpx.AsyncClient(base_url=api, timeout=10) as client:
            r = await client.get("/v1/alerts/stream")
            assert r.status_code == 429
            assert int(r.headers["retry-after"]) >= 1
            assert (await client.get("/v1/alerts")).status_code == 200  # the rest goes on
    finally:
        for writer in opened:
            writer.close()
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        for _ in range(100):  # the seats come back as the streams close
            async with client.stream("GET", "/v1/alerts/stream") as r:
                if r.status_code == 200:
                    break
            await asyncio.sleep(0.1)
        assert r.status_code == 200


async def test_a_catch_up_from_far_back_is_served_in_bounded_parts(
    pool: asyncpg.Pool, api: str
) -> None:
    """after=0 with a filter that matches nothing once paged the whole table per connection:
    now a connection reads at most 100,000 ids (in ranges of 5,000) and ends with the id
    to resume from, which an EventSource sends back as Last-Event-ID."""
    await store(pool, make_signal("BTCUSDT", "BUY", 3))
    async with pool.acquire() as conn:  # ids far ahead, as in a table with history
        await conn.execute("SELECT setval(pg_get_serial_sequence('alerts', 'id'), 250000)")
    await store(pool, make_signal("ETHUSDT", "BUY", 4))
    last = await pool.fetchval("SELECT max(id) FROM alerts")
    seen: list[str] = []
    async with (
        httpx.AsyncClient(base_url=api, timeout=30) as client,
        client.stream("GET", "/v1/alerts/stream?after=0&symbol=SOLUSDT") as r,
    ):
        async for line in r.aiter_lines():
            seen.append(line)
    assert "id: 100000" in seen  # where to come back from, and the stream ended there
    assert not any(line.startswith("data:") for line in seen)
    resumed: list[str] = []
    async with (
        httpx.AsyncClient(base_url=api, timeout=30) as client,
        client.stream(
            "GET", "/v1/alerts/stream?symbol=ETHUSDT", headers={"Last-Event-ID": "200000"}
        ) as r,
    ):
        async for line in r.aiter_lines():
            resumed.append(line)
            if line.startswith("data:"):
                break
    assert json.loads(resumed[-1][5:])["id"] == last


async def test_an_alerts_outcome_from_the_bars_its_key_closed_after_it(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    """A live key's BUY alert on day 10 (price 110, fit 115.5, bands 99 and 121), then its
    closes: the numbers below are worked out by hand from the bars written here."""
    from autonama_shared.formats.records import LastCandle

    def bar(day: int, signal: str, ohlc: tuple[float, float, float, float]) -> object:
        o, h, low, c = ohlc
        return live_close(make_signal("OUTUSDT", signal, day)).model_copy(
            update={"price": c, "last_candle": LastCandle(open=o, high=h, low=low)}
        )

    await store(pool, live_close(make_signal("OUTUSDT", "BUY", 10)))
    alert_id = await pool.fetchval("SELECT max(id) FROM alerts")
    await store(
        pool,
        bar(11, "BUY", (111, 114, 108, 112)),  # entry 111; +0.90 % at its close
        bar(12, "BUY", (112, 116, 107, 115)),  # the target 115.5 reached; low 107: -3.60 %
        bar(13, "BUY", (115, 118, 101, 117)),  # lower, but after the target: not counted
        bar(14, "HOLD", (117, 122, 116, 120)),  # the upper band 121 reached; the key ended
        # day 15 never stored (a gap): nothing after it is scored
        bar(16, "HOLD", (121, 125, 119, 124)),
    )
    got = (await http.get(f"/v1/alerts/{alert_id}/outcome")).json()
    assert got == {
        "alert_id": alert_id,
        "signal": "BUY",
        "entry_time": (DAY0 + timedelta(days=11)).isoformat().replace("+00:00", "Z"),
        "entry_price": 111.0,
        "return_1": pytest.approx(100 / 111),
        "return_5": None,  # bar 5 is day 15: not stored
        "return_20": None,
        "target_price": pytest.approx(115.5),
        "target_hit_after": 2,
        "opposite_band_price": pytest.approx(121.0),
        "opposite_band_hit_after": 4,
        "max_adverse": pytest.approx(-400 / 111),
        "ended_after": 4,
        "bars_seen": 4,
        "final": False,
    }
    ended = await pool.fetchval("SELECT id FROM alerts WHERE reason = 'ended'")
    refused = await http.get(f"/v1/alerts/{ended}/outcome")
    assert refused.status_code == 404
    assert "ended alert" in refused.json()["detail"]
    assert (await http.get("/v1/alerts/999999999/outcome")).status_code == 404
    assert (await http.get("/v1/alerts/0/outcome")).status_code == 422

    # The ingestor's keeper stores it as the API scored it; again, it changes nothing.
    assert await outcomes.update(pool) >= 1
    kept = dict(await pool.fetchrow("SELECT * FROM alert_outcomes WHERE alert_id = $1", alert_id))
    assert kept.pop("updated_at") is not None
    assert kept.pop("open")  # scored again as bars come
    assert kept | {"alert_id": alert_id} == {
        k: v for k, v in got.items() if k != "signal" and k != "entry_time"
    } | {"entry_time": DAY0 + timedelta(days=11)}
    assert await outcomes.update(pool) == 0  # a replay: nothing moved
    listed = await alerts(http, latest="false", symbol="OUTUSDT")
    assert next(a for a in listed if a["id"] == alert_id)["outcome"] == got  # carried along
    assert next(a for a in listed if a["reason"] == "ended")["outcome"] is None

    # The gap filled (day 15), then the bars up to day 30: final at its 20th bar.
    await store(pool, bar(15, "HOLD", (118, 123, 117, 119)))
    await store(pool, *(bar(d, "HOLD", (120, 121, 119, 120)) for d in range(17, 30)))
    await store(pool, bar(30, "HOLD", (130, 134, 129, 133)))
    assert await outcomes.update(pool) >= 1
    final = (await http.get(f"/v1/alerts/{alert_id}/outcome")).json()
    assert final["return_5"] == pytest.approx(800 / 111)  # day 15 closed at 119
    assert final["return_20"] == pytest.approx(2200 / 111)  # day 30 closed at 133
    assert (final["target_hit_after"], final["opposite_band_hit_after"]) == (2, 4)
    assert final["max_adverse"] == pytest.approx(-400 / 111)  # up to the target, as before
    assert (final["bars_seen"], final["final"], final["ended_after"]) == (20, True, 4)
    for _ in range(50):  # the keeper's NOTIFY makes the cached page of alerts stale
        listed = await alerts(http, latest="false", symbol="OUTUSDT")
        if next(a for a in listed if a["id"] == alert_id)["outcome"] == final:
            break
        await asyncio.sleep(0.1)
    assert next(a for a in listed if a["id"] == alert_id)["outcome"] == final
    stored_final = await pool.fetchrow(
        "SELECT final, open, return_20 FROM alert_outcomes WHERE alert_id = $1", alert_id
    )
    assert stored_final["final"]
    assert not stored_final["open"]  # no longer scored
    assert stored_final["return_20"] == pytest.approx(2200 / 111)
    # final: kept even when its closes are gone (retention drops whole partitions)
    await pool.execute("UPDATE closes SET candle_open = NULL WHERE last_candle_time > $1", DAY0)
    again = (await http.get(f"/v1/alerts/{alert_id}/outcome")).json()
    assert again == final


async def test_the_scorecard_is_what_the_outcomes_say(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    """45 days of BUY closes of one key (45 alerts, the first 25 of them final) and 25 of
    another (5 final): the scorecard's counts, rates, intervals and returns recomputed
    here from each alert's `/v1/alerts/{id}/outcome`."""
    import math
    import statistics

    await store_scored_market(pool)

    card = (await http.get("/v1/scorecard", params={"by": "symbol"})).json()
    assert card["by"] == ["symbol"]
    groups = {g["key"]["symbol"]: g for g in card["groups"]}
    assert groups["FEWUSDT"]["count"] == 5
    assert groups["FEWUSDT"]["insufficient"]
    assert groups["FEWUSDT"]["target_hit_rate"] is None

    ids = [
        r["id"]
        for r in await pool.fetch("SELECT id FROM alerts WHERE symbol = 'SCOREUSDT' ORDER BY id")
    ]
    assert len(ids) == 45
    seen = [(await http.get(f"/v1/alerts/{i}/outcome")).json() for i in ids]
    final = [o for o in seen if o["final"]]
    n = len(final)
    assert n == 25
    group = groups["SCOREUSDT"]
    assert (group["count"], group["insufficient"]) == (n, False)
    z = 1.96
    for name in ("target", "opposite_band"):
        hits = sum(o[f"{name}_hit_after"] is not None for o in final)
        assert group[f"{name}_hit_rate"] == pytest.approx(hits / n)
        p = hits / n  # Wilson's score interval, written out again
        low = (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (
            1 + z * z / n
        )
        high = (p + z * z / (2 * n) + z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (
            1 + z * z / n
        )
        assert group[f"{name}_hit_interval"] == pytest.approx([max(0, low), min(1, high)], abs=1e-4)
    for h in ("1", "5", "20"):
        gross = [o[f"return_{h}"] for o in final]
        figures = group["returns"][h]
        assert figures["median_gross"] == pytest.approx(statistics.median(gross))
        assert figures["mean_gross"] == pytest.approx(sum(gross) / n)
        # net of 0.1 % a fill: a long return r is (0.999^2 (1 + r) - 1)
        nets = [((0.999**2) * (1 + g / 100) - 1) * 100 for g in gross]
        assert figures["median_net"] == pytest.approx(statistics.median(nets))
    reached = [o["target_hit_after"] for o in final if o["target_hit_after"] is not None]
    assert group["median_bars_to_target"] == (statistics.median(reached) if reached else None)
    assert group["median_max_adverse"] == pytest.approx(
        statistics.median(o["max_adverse"] for o in final)
    )
    # the notifications' track record of the key: the same final outcomes
    async with pool.acquire() as conn:
        tracks = await outcomes.track_records(conn, [("SCOREUSDT", "1d", 4, 2.0, "linear", 720)])
    track = tracks[("SCOREUSDT", "1d", 4, 2.0, "linear", 720)]
    assert track.sample == n
    assert track.hit_rate == pytest.approx(
        sum(o["target_hit_after"] is not None for o in final) / n
    )
    assert track.median_return_5 == pytest.approx(statistics.median(o["return_5"] for o in final))
    buys = (await http.get("/v1/scorecard", params={"by": ["signal", "interval"]})).json()
    assert [(g["key"], g["count"]) for g in buys["groups"]] == [
        ({"signal": "BUY", "interval": "1d"}, 30)
    ]
    assert (await http.get("/v1/scorecard", params={"by": "colour"})).status_code == 422


async def test_the_backtest_beside_a_scorecard_trades_the_bars_its_alerts_were_scored_on(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    """GAPUSDT's closes with its bands fixed at 90 / 100 / 110 (worked out by hand below):
    BUY on days 2, 24 and 30 (a close of 85), back inside the next day (92), the fit
    reached the day after (100.5); day 26 never stored. The day-2 and day-30 alerts are
    final, so the span traded is days 2 to 50, in two parts around the gap."""
    from autonama_shared.formats.records import LastCandle

    flat, dip, back, up = (
        (100, 101, 99, 100),
        (100, 101, 84, 85),
        (86, 95, 84, 92),
        (
            92,
            101,
            91,
            100.5,
        ),
    )
    days = {d: flat for d in range(1, 51) if d != 26}
    for start in (2, 24, 30):
        days[start], days[start + 1] = dip, back
        if start + 2 in days:
            days[start + 2] = up

    def bar(day: int, ohlc: tuple[float, float, float, float]) -> object:
        o, h, low, c = ohlc
        return live_close(make_signal("GAPUSDT", "BUY" if c < 90 else "HOLD", day)).model_copy(
            update={
                "price": c,
                "lower": 90.0,
                "fit": 100.0,
                "upper": 110.0,
                "last_candle": LastCandle(open=o, high=h, low=low),
            }
        )

    for day in sorted(days):
        await store(pool, bar(day, days[day]))
    await outcomes.update(pool)
    finals = await pool.fetch(
        "SELECT a.last_candle_time FROM alert_outcomes o JOIN alerts a ON a.id = o.alert_id "
        "WHERE o.final ORDER BY 1"
    )
    assert [r[0] for r in finals] == [DAY0 + timedelta(days=2), DAY0 + timedelta(days=30)]

    card = (
        await http.get(
            "/v1/scorecard", params={"by": "symbol", "symbol": "GAPUSDT", "compare": "backtest"}
        )
    ).json()
    (group,) = card["groups"]
    assert (group["count"], group["insufficient"]) == (2, True)
    # Days 2-25: buy day 3's open (86), the fit reached at day 4's close, sold at day 5's
    # open (100); buy day 25's open (86), and the part ends at day 25's close (92): valued
    # there. Days 27-50: buy day 31's open (86), sold at day 33's open (100). Traded as one
    # run, the day-25 position would have run across the gap to the target.
    target = (0.999**2) * 100 / 86 - 1
    end = (0.999**2) * 92 / 86 - 1
    nets = sorted([target * 100, end * 100, target * 100])
    assert group["backtest"] == {
        "keys": 1,
        "bars": 48,
        "trades": 3,
        "target_exit_rate": pytest.approx(2 / 3),
        "win_rate": 1.0,
        "median_net_return": pytest.approx(nets[1]),
        "mean_net_return": pytest.approx(sum(nets) / 3),
    }
    plain = (await http.get("/v1/scorecard", params={"by": "symbol", "symbol": "GAPUSDT"})).json()
    assert plain["groups"][0]["backtest"] is None  # only when asked for
    shorts = (
        await http.get(
            "/v1/scorecard",
            params={"by": "signal", "symbol": "GAPUSDT", "compare": "backtest"},
        )
    ).json()
    assert [(g["key"], g["backtest"]["trades"]) for g in shorts["groups"]] == [
        ({"signal": "BUY"}, 3)  # the long trades: no SELL was ever closed
    ]
    refused = await http.get("/v1/scorecard", params={"compare": "forward"})
    assert refused.status_code == 422


async def test_an_outcome_whose_bars_never_come_is_let_go(pool: asyncpg.Pool) -> None:
    """A key scanned now and then: its alert's bars are not stored. Scored while the key is
    within 40 bars of it (bars_seen 0), let go once it is past: no longer read each round."""
    await store(pool, live_close(make_signal("GAPUSDT", "BUY", 10)))
    await store(pool, live_close(make_signal("GAPUSDT", "BUY", 30)))  # 20 bars on, a gap
    await outcomes.update(pool)
    rows = await pool.fetch(
        "SELECT bars_seen, final, open FROM alert_outcomes o JOIN alerts a ON a.id = o.alert_id"
        " WHERE a.symbol = 'GAPUSDT' ORDER BY a.id"
    )
    assert [tuple(r) for r in rows] == [(0, False, True), (0, False, True)]
    await store(pool, live_close(make_signal("GAPUSDT", "HOLD", 51)))  # 41 bars past day 10
    await outcomes.update(pool)
    rows = await pool.fetch(
        "SELECT a.last_candle_time, o.open FROM alert_outcomes o JOIN alerts a"
        " ON a.id = o.alert_id WHERE a.symbol = 'GAPUSDT' ORDER BY a.id"
    )
    assert [r["open"] for r in rows] == [False, True]  # day 30's is 21 bars back: still open


async def test_an_outcome_that_has_not_moved_for_40_bars_time_is_let_go(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    """A key whose bars stop coming after two (never scanned again, the fetcher unable to
    catch them up): its outcome is let go once nothing of it changed for 40 bars of real
    time, not kept open and read every round for ever; and served as it was kept."""
    await store(pool, *(live_close(make_signal("ONCEUSDT", "BUY", d)) for d in (10, 11, 12)))
    await outcomes.update(pool)
    open_ = (
        "SELECT o.open FROM alert_outcomes o JOIN alerts a ON a.id = o.alert_id "
        "ORDER BY a.id LIMIT 1"
    )
    assert await pool.fetchval(open_) is True
    await pool.execute(  # 39 days without a change: still waited for
        "UPDATE alert_outcomes SET updated_at = now() - interval '39 days'"
    )
    await outcomes.update(pool)
    assert await pool.fetchval(open_) is True
    await pool.execute("UPDATE alert_outcomes SET updated_at = now() - interval '41 days'")
    await outcomes.update(pool)
    assert await pool.fetchval(open_) is False
    first = await pool.fetchval("SELECT min(id) FROM alerts WHERE symbol = 'ONCEUSDT'")
    # its bars gone since (as retention prunes them): the kept outcome is what is served
    await pool.execute(
        "UPDATE closes SET candle_open = NULL WHERE last_candle_time > $1",
        DAY0 + timedelta(days=10),
    )
    kept = (await http.get(f"/v1/alerts/{first}/outcome")).json()
    assert (kept["bars_seen"], kept["final"]) == (2, False)  # as kept, not re-read from less


async def test_alerts_from_before_the_keeper_are_scored_when_asked(
    pool: asyncpg.Pool, pg_settings: PostgresSettings
) -> None:
    """Alerts raised before migration 0025 (which started the keeper at the newest alert)
    were never scored: `autonama db score-alerts --since` has the keeper admit and score
    them; those it scored already are left as they are."""
    await store(pool, *(live_close(make_signal("OLDUSDT", "BUY", d)) for d in range(1, 26)))
    await pool.execute(  # as 0025 left an existing database: the keeper after every alert
        "UPDATE outbox_positions SET last_id = (SELECT max(id) FROM alerts) WHERE name = 'outcomes'"
    )
    await store(pool, live_close(make_signal("OLDUSDT", "BUY", 26)))  # the first one after
    await outcomes.update(pool)
    assert await pool.fetchval("SELECT count(*) FROM alert_outcomes") == 1
    bad = await asyncio.to_thread(cli, pg_settings, "db", "score-alerts", "--since", "yesterday")
    assert bad.returncode == 2
    assert "'yesterday' is not a date" in bad.stderr
    asked = await asyncio.to_thread(cli, pg_settings, "db", "score-alerts", "--since", "2020-01-01")
    assert asked.returncode == 0, asked.stderr
    assert "25 alert(s) raised since 2020-01-01T00:00:00+00:00 never scored" in asked.stdout
    await outcomes.update(pool)
    rows = await pool.fetch(
        "SELECT a.last_candle_time, o.final, o.bars_seen FROM alert_outcomes o "
        "JOIN alerts a ON a.id = o.alert_id ORDER BY a.id"
    )
    assert len(rows) == 26
    # days 1-6 have their 20 bars (up to day 26): final; the others as far as they go
    assert [(r["final"], r["bars_seen"]) for r in rows] == [
        (d <= 6, min(20, 26 - d)) for d in range(1, 27)
    ]


async def test_a_keeper_that_comes_late_scores_what_is_stored_before_letting_go(
    pool: asyncpg.Pool,
) -> None:
    """The keeper away while a key closed 45 bars after its alert (an ingestor down, a
    burst of closes): the alert's 20 bars are stored, so it is final when the keeper comes
    back, not let go unscored for being 40 bars back."""
    await store(pool, *(live_close(make_signal("LATEUSDT", "BUY", d)) for d in range(1, 47)))
    await outcomes.update(pool)
    first = await pool.fetchrow(
        "SELECT o.final, o.bars_seen FROM alert_outcomes o JOIN alerts a ON a.id = o.alert_id"
        " WHERE a.symbol = 'LATEUSDT' ORDER BY a.id LIMIT 1"
    )
    assert (first["final"], first["bars_seen"]) == (True, 20)
    counts = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE final) AS final, count(*) FILTER (WHERE open) AS open "
        "FROM alert_outcomes"
    )
    assert (counts["final"], counts["open"]) == (26, 20)  # days 1-26 final; 27-46 open
