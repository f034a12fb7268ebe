"""The event pipeline end to end: real Kafka, real PostgreSQL, the services as processes."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from numpy.testing import assert_allclose

from autonama_shared.messaging.events import (
    SCHEMA_VERSION,
    BacktestParams,
    BacktestRequested,
    KlineBatch,
    ScanParams,
    ScanRequested,
    encode,
)
from autonama_shared.settings import KafkaSettings, PostgresSettings
from tests.fixtures.backends import OwnBroker
from tests.naive import naive_fit
from tests.support.binance_standin import StandIn
from tests.support.stack import Stack, wait_for_log

TEN = [
    "BTCUSDT",
    "ETHUSDT",
    "BNBUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "ADAUSDT",
    "DOGEUSDT",
    "AVAXUSDT",
    "LINKUSDT",
    "LTCUSDT",
]


def all_symbols(standin: StandIn) -> list[str]:
    return sorted(s for s, _ in standin.klines)


def unpacked(row: asyncpg.Record) -> dict[str, list[float] | None]:
    """The packed window columns (8-byte big-endian floats, migration 0009) as lists."""
    out: dict[str, list[float] | None] = {}
    for name in ("series_close", "series_upper"):
        raw = row[name]
        out[name] = None if raw is None else list(struct.unpack(f">{len(raw) // 8}d", raw))
    return out


async def signal_rows(stack: Stack, scan_id: str) -> dict[str, dict[str, object]]:
    conn = await stack.connect()
    try:
        rows = await conn.fetch(
            """SELECT s.*, w.close AS series_close, w.upper_band AS series_upper
               FROM scan_symbols ss JOIN signals s ON s.id = ss.signal_id
               LEFT JOIN band_windows w ON w.signal_id = s.id
               WHERE ss.scan_id = $1""",
            uuid.UUID(scan_id),
        )
    finally:
        await conn.close()
    by_symbol = {r["symbol"]: dict(r) | unpacked(r) for r in rows}
    assert len(by_symbol) == len(rows), "a symbol appears twice"
    return by_symbol


async def exactly_once(stack: Stack, scan_id: str, symbols: list[str]) -> None:
    conn = await stack.connect()
    try:
        per_symbol = await conn.fetch(
            "SELECT symbol, count(*) AS n FROM scan_symbols WHERE scan_id = $1 GROUP BY symbol",
            uuid.UUID(scan_id),
        )
        signals = await conn.fetchval(
            "SELECT count(*) FROM signals WHERE scan_id = $1", uuid.UUID(scan_id)
        )
        dup_keys = await conn.fetchval(
            """SELECT count(*) FROM (SELECT 1 FROM signals
               GROUP BY symbol, interval, degree, kstd, price_scale, days, last_candle_time
               HAVING count(*) > 1) d"""
        )
    finally:
        await conn.close()
    assert sorted(r["symbol"] for r in per_symbol) == sorted(symbols)
    assert all(r["n"] == 1 for r in per_symbol)
    assert signals == len(symbols)
    assert dup_keys == 0


def check_against_naive(
    standin: StandIn,
    rows: dict[str, dict[str, object]],
    degree: int,
    kstd: float,
    window: int = 720,
) -> None:
    for symbol, row in rows.items():
        candles = standin.klines[(symbol, "1d")]
        closes = candles[candles[:, 0] + 86_400_000 <= standin.now_ms][-window:, 4]
        fit, lower, upper, sigma = naive_fit(closes, degree, kstd, "linear")
        assert row["candles"] == len(closes)
        assert_allclose(
            [row["fit"], row["lower_band"], row["upper_band"], row["sigma"]],
            [fit[-1], lower[-1], upper[-1], sigma],
            rtol=1e-9,
            err_msg=symbol,
        )
        assert row["series_close"] == closes.tolist()
        assert_allclose(row["series_upper"], upper, rtol=1e-9)  # type: ignore[arg-type]


async def test_scan_of_ten_symbols_equals_the_offline_scan(
    stack: Stack, standin_2022: StandIn, tmp_path: Path
) -> None:
    for name in ("ingestor", "analyzer", "fetcher"):
        stack.start(name)
    # Requested through the CLI, followed with --wait, as a user would.
    run = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "autonama_cli",
            "request-scan",
            "--symbols",
            ",".join(TEN),
            "--degree",
            "5",
            "--kstd",
            "1.5",
            "--wait",
            "--timeout",
            "120",
        ],
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stderr + "\n".join(s.log() for s in stack.services)
    scan_id = run.stdout.splitlines()[0].strip()
    assert f"scan {scan_id} finished: 10 done, 0 failed" in run.stdout
    scan = await stack.wait_for_scan(scan_id)
    assert (scan["status"], scan["symbols_expected"], scan["symbols_done"]) == ("finished", 10, 10)
    rows = await signal_rows(stack, scan_id)
    assert sorted(rows) == sorted(TEN)

    offline = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "autonama_cli",
            "scan",
            "--symbols",
            ",".join(TEN),
            "--degree",
            "5",
            "--kstd",
            "1.5",
            "--binance-url",
            standin_2022.url,
            "--output",
            str(tmp_path / "offline"),
            "--cache-dir",
            str(tmp_path / "c2"),
        ],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert offline.returncode == 0, offline.stderr
    (results_file,) = (tmp_path / "offline").glob("backtest_results_*.json")
    for r in json.loads(results_file.read_text())["results"]:
        row = rows[r["symbol"]]
        assert row["signal"] == r["signal"]
        assert row["candles"] == r["candles"]
        assert_allclose(
            [
                row["price"],
                row["fit"],
                row["lower_band"],
                row["upper_band"],
                row["sigma"],
                row["potential_return"],
                row["target_return"],
            ],
            [
                r["price"],
                r["fit"],
                r["lower"],
                r["upper"],
                r["sigma"],
                r["potential_return"],
                r["target_return"],
            ],
            rtol=1e-9,
            atol=1e-12,
            err_msg=r["symbol"],
        )
    check_against_naive(standin_2022, rows, degree=5, kstd=1.5)


async def test_three_analyzer_replicas_share_a_thirty_symbol_scan(
    stack: Stack, standin_2022: StandIn
) -> None:
    symbols = all_symbols(standin_2022)[:30]
    stack.start("ingestor")
    analyzers = [stack.start("analyzer") for _ in range(3)]
    for a in analyzers:
        await wait_for_log(a, "assigned")
    # Let the group settle on three members (each holds 2 of the 6 partitions).
    for a in analyzers:
        await wait_for_log(a, "assigned 2 partitions")
    stack.start("fetcher")
    scan_id = await stack.request(symbols)
    scan = await stack.wait_for_scan(scan_id)
    assert scan["status"] == "finished"
    assert scan["symbols_done"] + scan["symbols_failed"] == 30
    shares = [
        sum(int(line.split()[-2]) for line in a.log().splitlines() if "analysed" in line)
        for a in analyzers
    ]
    assert sum(shares) == 30
    assert all(share > 0 for share in shares), shares
    await exactly_once(stack, scan_id, symbols)
    rows = await signal_rows(stack, scan_id)
    check_against_naive(standin_2022, rows, degree=4, kstd=2.0)


@pytest.mark.slow
async def test_killing_an_analyzer_mid_scan_loses_nothing(
    stack: Stack, standin_2022: StandIn
) -> None:
    symbols = all_symbols(standin_2022)
    standin_2022.latency_seconds = 0.15  # a scan that lasts several seconds
    stack.start("ingestor")
    slow = {"AUTONAMA_ANALYZER_MAX_BATCH": "1"}
    victim = stack.start("analyzer", **slow)
    survivor = stack.start("analyzer", **slow)
    await wait_for_log(victim, "assigned")
    await wait_for_log(survivor, "assigned")
    stack.start("fetcher", AUTONAMA_FETCHER_CONCURRENCY="2")
    scan_id = await stack.request(symbols)
    await wait_for_log(victim, "analysed 1 batches")
    victim.kill9()
    assert await stack.scan_status(scan_id) == "running"  # killed in the middle of the scan
    scan = await stack.wait_for_scan(scan_id)
    assert scan["status"] == "finished"
    await exactly_once(stack, scan_id, symbols)


async def test_stopping_and_restarting_the_ingestor_mid_scan(
    stack: Stack, standin_2022: StandIn
) -> None:
    symbols = all_symbols(standin_2022)
    standin_2022.latency_seconds = 0.15
    ingestor = stack.start("ingestor")
    stack.start("analyzer")
    stack.start("fetcher", AUTONAMA_FETCHER_CONCURRENCY="2")
    scan_id = await stack.request(symbols)
    await wait_for_log(ingestor, "stored 1 signals", count=3)
    assert ingestor.stop() == 0  # SIGTERM: finishes its batch, commits, exits cleanly
    assert "ingestor stopped" in ingestor.log()
    assert await stack.scan_status(scan_id) == "running"
    stack.start("ingestor")
    scan = await stack.wait_for_scan(scan_id)
    assert scan["status"] == "finished"
    await exactly_once(stack, scan_id, symbols)


@pytest.mark.slow
async def test_ingestor_replicas_share_a_scan_and_their_rebalances_lose_nothing(
    stack: Stack, standin_2022: StandIn
) -> None:
    """Several ingestors in one group (`make up INGESTORS=m`): one added mid-scan takes
    partitions from the first (a rebalance), the first killed (kill -9) hands its own over
    unfinished. Every signal is stored once, every alert raised once, in id order."""
    symbols = all_symbols(standin_2022)
    standin_2022.latency_seconds = 0.5  # a scan of some 16 s: room for two rebalances
    replica = {"AUTONAMA_INGESTOR_WATCH_FILES": "false"}
    first = stack.start("ingestor")
    stack.start("analyzer", AUTONAMA_ANALYZER_MAX_BATCH="1")
    await wait_for_log(first, "assigned")
    stack.start("fetcher", AUTONAMA_FETCHER_CONCURRENCY="1")
    scan_id = await stack.request(symbols, kstd=1.0)  # narrow bands: calls, so alerts
    await wait_for_log(first, "stored 1 signals", count=2)
    second = stack.start("ingestor", **replica)  # a replica added: partitions move
    await wait_for_log(second, "stored 1 signals")
    first.kill9()  # and one killed mid-batch: its partitions go to the others
    assert await stack.scan_status(scan_id) == "running"
    third = stack.start("ingestor", **replica)
    scan = await stack.wait_for_scan(scan_id, within=180)
    assert scan["status"] == "finished"
    await exactly_once(stack, scan_id, symbols)
    shares = [
        sum(
            int(line.split("stored ")[1].split()[0])
            for line in service.log().splitlines()
            if " stored " in line
        )
        for service in (first, second)
    ]
    assert all(share > 0 for share in shares), shares  # both wrote some of it
    assert "assigned" in third.log()
    conn = await stack.connect()
    try:
        raised = await conn.fetch(
            """SELECT a.id, a.signal_id, a.reason FROM alerts a
               WHERE a.scan_id = $1 ORDER BY a.id""",
            uuid.UUID(scan_id),
        )
        calls = await conn.fetchval(
            "SELECT count(*) FROM signals WHERE scan_id = $1 AND signal <> 'HOLD'",
            uuid.UUID(scan_id),
        )
        outbox = await conn.fetchval("SELECT last_id FROM outbox_positions WHERE name = 'alerts'")
    finally:
        await conn.close()
    # each key's first signal: an alert for every BUY or SELL, one each, none for HOLD
    assert len(raised) == calls > 0
    assert len({r["signal_id"] for r in raised}) == len(raised)
    assert {r["reason"] for r in raised} == {"new"}
    assert outbox is not None


@pytest.mark.slow
async def test_kafka_restart_during_a_scan(
    own_kafka: OwnBroker,
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    standin_2022: StandIn,
    tmp_path: Path,
) -> None:
    kafka = kafka_settings.model_copy(update={"bootstrap_servers": own_kafka.bootstrap})
    stack = Stack(kafka, pg_settings, tmp_path, standin_2022.url)
    try:
        symbols = all_symbols(standin_2022)
        standin_2022.latency_seconds = 0.3
        stack.start("ingestor")
        stack.start("analyzer")
        fetcher = stack.start("fetcher", AUTONAMA_FETCHER_CONCURRENCY="1")
        scan_id = await stack.request(symbols)
        await wait_for_log(fetcher, "symbols planned")
        await asyncio.sleep(1.0)
        restart = await asyncio.to_thread(own_kafka.restart)
        assert restart.returncode == 0, restart.stderr
        scan = await stack.wait_for_scan(scan_id, within=180)
        assert scan["status"] == "finished"
        await exactly_once(stack, scan_id, symbols)
    finally:
        stack.stop_all()


async def test_poison_messages_go_to_the_dead_letter_topic(
    stack: Stack, standin_2022: StandIn
) -> None:
    stack.start("ingestor")
    analyzer = stack.start("analyzer")
    fetcher = stack.start("fetcher")
    await wait_for_log(analyzer, "assigned")
    await wait_for_log(fetcher, "assigned")
    topics = stack.topics
    newer = KlineBatch(
        scan_id=str(uuid.uuid4()),
        symbol="BTCUSDT",
        window=720,
        params=ScanParams(interval="1d", days=720, degree=4, kstd=2.0),
    ).model_copy(update={"schema_version": SCHEMA_VERSION + 1})
    await stack.send(topics.klines, b"\x00not json{", b"BTCUSDT")
    await stack.send(topics.klines, encode(newer), b"BTCUSDT")
    await stack.send(topics.signals, b'{"type": "signal.computed"}', b"ETHUSDT")
    await stack.send(topics.scan_requests, b"[1, 2, 3]", None)
    # The bad scan request is read (and refused) by both the fetcher and the ingestor.
    letters = await stack.dead_letters(5)
    by_service = {(d.service, d.topic): d for d in letters}
    bad_json = next(d for d in letters if d.original_value() == b"\x00not json{")
    assert bad_json.service == "analyzer"
    assert bad_json.topic == topics.klines
    assert "not JSON" in bad_json.error
    assert bad_json.offset >= 0
    newer_letter = next(d for d in letters if "newer than this service reads" in d.error)
    assert newer_letter.original_value() == encode(newer)
    assert ("ingestor", topics.signals) in by_service
    assert ("fetcher", topics.scan_requests) in by_service
    assert ("ingestor", topics.scan_requests) in by_service
    assert len(letters) == 5
    # ... and the services keep going.
    scan_id = await stack.request(["BTCUSDT", "ETHUSDT"])
    scan = await stack.wait_for_scan(scan_id)
    assert (scan["status"], scan["symbols_done"]) == ("finished", 2)


async def test_failed_fetch_is_a_failed_symbol_not_a_stuck_scan(stack: Stack) -> None:
    for name in ("ingestor", "analyzer", "fetcher"):
        stack.start(name)
    scan_id = await stack.request(["BTCUSDT", "NOSUCHUSDT"])
    scan = await stack.wait_for_scan(scan_id)
    assert (scan["status"], scan["symbols_done"], scan["symbols_failed"]) == ("finished", 1, 1)
    conn = await stack.connect()
    try:
        error = await conn.fetchval(
            "SELECT error FROM scan_symbols WHERE scan_id = $1 AND symbol = 'NOSUCHUSDT'",
            uuid.UUID(scan_id),
        )
    finally:
        await conn.close()
    assert "Invalid symbol" in error


async def test_hostile_records_are_dead_lettered_and_every_service_goes_on(
    stack: Stack, standin_2022: StandIn
) -> None:
    """Records that once stopped a service for good (open times of 10^19, an id that is not
    a UUID, NaN prices): each is dead-lettered with why, no service dies, a scan completes."""
    services = [stack.start(name) for name in ("ingestor", "analyzer", "fetcher")]
    for s in services[1:]:
        await wait_for_log(s, "assigned")
    topics = stack.topics
    params = ScanParams(interval="1d", days=40, degree=3, kstd=2.0)
    good = KlineBatch(
        scan_id=str(uuid.uuid4()),
        symbol="BTCUSDT",
        window=params.window,
        params=params,
        open_time=[1_600_000_000_000 + i * 86_400_000 for i in range(40)],
        open=[1.0] * 40,
        high=[1.0] * 40,
        low=[1.0] * 40,
        close=[1.0 + i / 100 for i in range(40)],
        volume=[1.0] * 40,
    ).model_dump(mode="json")
    huge_times = good | {"open_time": [10**19 + i for i in range(40)]}
    nan_close = json.dumps(good).replace('"close": [1.0', '"close": [NaN', 1)
    not_uuid_batch = good | {"scan_id": "not-a-uuid"}
    not_uuid_request = ScanRequested(params=params, symbols=["BTCUSDT"]).model_dump(mode="json") | {
        "scan_id": "not-a-uuid"
    }
    await stack.send(topics.klines, json.dumps(huge_times).encode(), b"BTCUSDT")
    await stack.send(topics.klines, nan_close.encode(), b"BTCUSDT")
    await stack.send(topics.klines, json.dumps(not_uuid_batch).encode(), b"BTCUSDT")
    await stack.send(topics.scan_requests, json.dumps(not_uuid_request).encode(), b"x")
    # the request is read (and refused) by both the fetcher and the ingestor
    letters = await stack.dead_letters(5)
    errors = sorted(
        (d.service, d.topic.removeprefix(stack.kafka.topic_prefix), d.error) for d in letters
    )
    assert [(s, t) for s, t, _ in errors] == [
        ("analyzer", "klines"),
        ("analyzer", "klines"),
        ("analyzer", "klines"),
        ("fetcher", "scan-requests"),
        ("ingestor", "scan-requests"),
    ]
    reasons = " | ".join(e for _, _, e in errors)
    assert "open_time" in reasons
    assert "finite number" in reasons
    assert "is not a UUID" in reasons
    scan_id = await stack.request(["BTCUSDT", "ETHUSDT"])
    scan = await stack.wait_for_scan(scan_id)
    assert (scan["status"], scan["symbols_done"]) == ("finished", 2)
    assert all(s.process.poll() is None for s in services)  # none died on the way


@pytest.mark.slow
async def test_a_small_scan_is_not_queued_behind_a_large_backtest(
    stack: Stack, standin_2022: StandIn
) -> None:
    """Backtests have topics and consumer groups of their own: a two-symbol scan requested
    after a backtest of every symbol finishes while that backtest is still running."""
    for name in ("ingestor", "analyzer", "fetcher"):
        service = stack.start(name)
        if name != "ingestor":
            await wait_for_log(service, "assigned", count=2)  # both loops have partitions
    backtest = BacktestRequested(
        origin="test",
        params=BacktestParams(
            history=1500,
            degrees=list(range(2, 11)),
            kstds=[1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0],
            windows=[200, 300, 365],
        ),
        symbols=all_symbols(standin_2022),
    )
    topics = stack.topics
    await stack.send(topics.backtest_requests, encode(backtest), backtest.backtest_id.encode())
    scan_id = await stack.request(["BTCUSDT", "ETHUSDT"], days=90)
    scan = await stack.wait_for_scan(scan_id)
    assert scan["status"] == "finished"
    conn = await stack.connect()
    try:
        progress = await conn.fetchrow(
            "SELECT status, symbols_expected, symbols_done FROM backtests WHERE backtest_id = $1",
            uuid.UUID(backtest.backtest_id),
        )
    finally:
        await conn.close()
    assert progress is not None  # the backtest was planned before the scan...
    assert progress["status"] == "running"  # ...and was still running when the scan finished
    assert progress["symbols_done"] < progress["symbols_expected"] == len(all_symbols(standin_2022))
