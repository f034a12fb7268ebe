"""A real three-broker Kafka cluster (deploy/local/kafka.sh with KAFKA_BROKERS=3: three
KRaft nodes, each broker and controller, a static quorum of the three), topics replicated
three times with min.insync.replicas=2, producers acks=all and idempotent:

- the leader of the busiest partition of the signals topic is killed (SIGKILL) in the
  middle of a scan: the scan finishes on the two others, every signal stored once;
  the node comes back and catches up (in sync again);
- one broker down for the whole of a scan: the scan runs on the two others;
- a rolling restart of the three brokers, one after the other, while scans run;
- the topics the services make have three replicas and min.insync.replicas=2;
- a webhook subscription gets every alert raised meanwhile once (retries keep their id),
  and so does a subscriber of the alerts stream (SSE), connected throughout;
- the live market (the websocket stand-in's candles closing): the leader of the busiest
  partition of the klines topic killed while candles close, then brought back: every
  close of every key stored once, in order, no gap.

One test, one cluster: a cluster is three JVMs, and the suite's workers would each start
their own for tests of one module.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from autonama_shared.settings import KafkaSettings, PostgresSettings
from tests.fixtures.backends import OwnBroker, own_broker
from tests.integration.test_alerts_api import Events
from tests.integration.test_live import (
    INTERVALS,
    STEP,
    SYMBOLS,
    last_closed,
    live_candles,
    rest_standin,
    until_stored,
    watch_env,
)
from tests.integration.test_notifier import NOTIFIER_ENV, subscribe
from tests.integration.test_pipeline import all_symbols, exactly_once
from tests.support.api import start_api
from tests.support.binance_standin import StandIn
from tests.support.factories import make_token
from tests.support.receivers import WebhookReceiver
from tests.support.stack import Stack, wait_for_log
from tests.support.ws_standin import KlineStreams

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster() -> Iterator[OwnBroker]:
    """Three brokers of the test's own, in a folder and on ports of their own."""
    with own_broker(f"cluster-{secrets.token_hex(4)}", brokers=3) as brokers:
        yield brokers


async def partitions_of(settings: KafkaSettings, topic: str) -> list[dict[str, object]]:
    """Each partition of ``topic``: its leader, replicas and in-sync replicas."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:  # closed even when it fails to start (a broker going or coming): no socket left
        await admin.start()
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return list(described[0]["partitions"])


async def min_insync_of(settings: KafkaSettings, topic: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        await admin.start()
        answer = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    entries = {e[0]: e[1] for e in answer[0].resources[0][4]}
    return str(entries["min.insync.replicas"])


async def until_in_sync(settings: KafkaSettings, topic: str, within: float = 90) -> None:
    """Until every partition of ``topic`` has its three replicas in sync again."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            parts = await partitions_of(settings, topic)
        except KafkaError:  # the cluster still settling: ask again
            parts = []
        if parts and all(len(p["isr"]) == 3 for p in parts):  # type: ignore[arg-type]
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{topic} not back in sync: {parts}")
        await asyncio.sleep(1)


async def test_scans_lose_and_double_nothing_through_broker_faults(
    cluster: OwnBroker,
    pg_settings: PostgresSettings,
    standin_2022: StandIn,
    receiver: WebhookReceiver,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    """One cluster, one running pipeline, three faults in turn (each scan with parameters
    of its own, so that each stores its own signals): a leader killed mid-scan, a broker
    down for a whole scan, a rolling restart under scans. A webhook subscription and a
    stream subscriber get every alert raised meanwhile, each once (a webhook's retry only
    with the same webhook id)."""
    settings = KafkaSettings(
        bootstrap_servers=cluster.bootstrap,
        topic_prefix=f"cluster.{secrets.token_hex(6)}.",
        replication_factor=3,
    )
    stack = Stack(settings, pg_settings, tmp_path, standin_2022.url, dict(NOTIFIER_ENV))
    topic = stack.topics.signals
    symbols = all_symbols(standin_2022)
    api, url = start_api(pg_settings, settings, tmp_path / "api.log")
    watching: asyncio.Future[None] | None = None
    try:
        stack.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
        analyzer = stack.start("analyzer")
        fetcher = stack.start("fetcher")
        notifier = stack.start("notifier")
        token = await make_token(pg_settings, "write")
        async with httpx.AsyncClient(
            base_url=url, timeout=10, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            await subscribe(http, receiver, "all", confirmed=True)  # every alert, repeats too
        streamed: list[dict[str, object]] = []
        opened = asyncio.Event()

        async def subscriber() -> None:
            """Connected before the first scan, reading until cancelled."""
            async with (
                httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10, read=None)) as sse,
                sse.stream("GET", "/v1/alerts/stream") as response,
            ):
                assert response.status_code == 200
                opened.set()
                await Events(response).take(100_000, within=3600, events=streamed)

        watching = asyncio.ensure_future(subscriber())
        await asyncio.wait_for(opened.wait(), 30)
        for service in (analyzer, fetcher, notifier):
            await wait_for_log(service, "assigned")
        parts = await partitions_of(settings, topic)
        assert {len(p["replicas"]) for p in parts} == {3}  # type: ignore[arg-type]
        assert await min_insync_of(settings, topic) == "2"

        # 1. The leader of the busiest partition (most of the scan's symbols are keyed to
        # it) killed (SIGKILL) mid-scan.
        busiest = max(
            parts,
            key=lambda p: sum(1 for s in symbols if partition_of(s, len(parts)) == p["partition"]),
        )
        leader = busiest["leader"]
        scan_id = await stack.request(symbols, kstd=1.0)  # narrow bands: alerts
        conn = await stack.connect()
        try:
            for _ in range(1200):  # mid-scan: some of its signals stored, not all
                if await conn.fetchval("SELECT count(*) FROM scan_symbols") > 0:
                    break
                await asyncio.sleep(0.02)
            killed = cluster.run(f"kill {leader}")
            assert killed.returncode == 0, killed.stderr
            at_kill = await conn.fetchval("SELECT count(*) FROM scan_symbols")
        finally:
            await conn.close()
        assert 0 < at_kill < len(symbols), (at_kill, len(symbols))
        scan = await stack.wait_for_scan(scan_id, within=180)
        assert scan["status"] == "finished"
        await exactly_once(stack, scan_id, symbols)
        after = await partitions_of(settings, topic)
        moved = next(p for p in after if p["partition"] == busiest["partition"])
        assert moved["leader"] != leader  # another replica leads it
        back = cluster.run(f"start {leader}")
        assert back.returncode == 0, back.stderr
        await until_in_sync(settings, topic)

        # 2. One broker down for the whole of a scan.
        down = cluster.run("stop 3")
        assert down.returncode == 0, down.stderr
        scan_id = await stack.request(symbols, degree=6, kstd=1.0)
        scan = await stack.wait_for_scan(scan_id, within=180)
        assert scan["status"] == "finished"
        await exactly_once(stack, scan_id, symbols)
        parts = await partitions_of(settings, topic)
        assert all(3 not in p["isr"] for p in parts)  # type: ignore[operator]  # it was down
        back = cluster.run("start 3")
        assert back.returncode == 0, back.stderr
        await until_in_sync(settings, topic)

        # 3. A rolling restart of the three, one after the other, a scan in flight at each.
        scans = []
        for node, degree in ((1, 3), (2, 5), (3, 7)):
            scans.append(await stack.request(symbols, degree=degree, kstd=1.0))
            restarted = cluster.run(f"stop {node}", f"start {node}")
            assert restarted.returncode == 0, restarted.stderr
        for scan_id in scans:
            scan = await stack.wait_for_scan(scan_id, within=180)
            assert scan["status"] == "finished"
            await exactly_once(stack, scan_id, symbols)
        await until_in_sync(settings, topic)

        # Every alert raised through it all reached the webhook, each once.
        conn = await stack.connect()
        try:
            alerts = await conn.fetchval("SELECT count(*) FROM alerts")
        finally:
            await conn.close()
        assert alerts > 0
        got = await receiver.wait_for("all", alerts, within=120, distinct=True)
        ids = [r.headers["webhook-id"] for r in got]
        assert len(set(ids)) == alerts
        assert receiver.bad == []
        for _ in range(300):  # the stream: each alert once, in id order
            if len([e for e in streamed if e["event"] == "alert"]) >= alerts:
                break
            await asyncio.sleep(0.1)
        assert not watching.done(), watching  # connected throughout
        streamed_ids = [e["id"] for e in streamed if e["event"] == "alert"]
        assert len(streamed_ids) == alerts
        assert streamed_ids == sorted(set(streamed_ids))  # type: ignore[type-var]

        # 4. The live market: a leader killed while candles close (the scans' services
        # stopped first: one fetcher of a database leads the live feed).
        stack.stop_all()
        await live_market_through_a_leader_killed(
            cluster, settings, pg_settings, shared_data, tmp_path
        )
    finally:
        if watching is not None:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watching
        stack.stop_all()
        api.terminate()
        api.wait(20)


async def live_market_through_a_leader_killed(
    cluster: OwnBroker,
    settings: KafkaSettings,
    pg: PostgresSettings,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    """The fetcher's live feed on the cluster (topics of their own): the leader of the
    klines partition most of the 20 symbols go to is killed between two candle closes and
    started again after two more; every close of every key is stored once, in order."""
    kafka = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}live."})
    with rest_standin(live_candles(shared_data)) as rest:
        async with KlineStreams(rest, "1h") as streams:
            (tmp_path / "live").mkdir()
            live = Stack(kafka, pg, tmp_path / "live", rest.url, extra_env=watch_env(streams.url))
            try:
                live.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
                live.start("analyzer")
                fetcher = live.start("fetcher")
                await wait_for_log(fetcher, "live: connected")
                await streams.wait_for_connections()
                first = last_closed(rest.now_ms)
                await until_stored(live, first, within=180)
                closed = await streams.tick()
                parts = await partitions_of(kafka, live.topics.klines)
                busiest = max(
                    parts,
                    key=lambda p: sum(
                        1 for s in SYMBOLS if partition_of(s, len(parts)) == p["partition"]
                    ),
                )
                leader = busiest["leader"]
                killed = cluster.run(f"kill {leader}")
                assert killed.returncode == 0, killed.stderr
                closed += await streams.tick()  # candles close with the leader gone
                closed += await streams.tick()
                back = cluster.run(f"start {leader}")
                assert back.returncode == 0, back.stderr
                closed += await streams.tick(4)  # and after it is back (a 4h close too)
                last = last_closed(rest.now_ms)
                got = await until_stored(live, last, within=180)
                assert len(closed) >= 7
                for (symbol, interval), signals in got.items():
                    expected = list(range(first[interval], last[interval] + 1, STEP[interval]))
                    times = [t for t, _ in signals]
                    assert times == expected, (symbol, interval)  # once each, in order
                assert {i for _, i in got} == set(INTERVALS)
                await until_in_sync(kafka, live.topics.klines)
            finally:
                live.stop_all()


def partition_of(symbol: str, partitions: int) -> int:
    """The partition the default partitioner (murmur2 of the key) sends ``symbol`` to."""
    from aiokafka.partitioner import murmur2

    return (murmur2(symbol.encode()) & 0x7FFFFFFF) % partitions
