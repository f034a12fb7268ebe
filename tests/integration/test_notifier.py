"""Notifications end to end on the real broker and database: the ingestor's outbox relay,
the notifier (a process of its own), the subscriptions API (uvicorn), and local receivers
(a webhook receiver that verifies every signature with ``standardwebhooks``, Apprise's
json:// and mailto:// against local servers)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from autonama_shared.db.channels import alerts_channel
from autonama_shared.db.outbox import AlertRelay
from autonama_shared.messaging.events import AlertEnded, AlertRaised, decode
from autonama_shared.messaging.kafka import ensure_topics
from autonama_shared.messaging.topics import Topics
from autonama_shared.settings import KafkaSettings, PostgresSettings
from tests.fixtures.backends import OwnBroker
from tests.support.api import start_api
from tests.support.cli import cli
from tests.support.factories import make_signal, make_token, store
from tests.support.receivers import SmtpServer, WebhookReceiver
from tests.support.stack import Stack, wait_for_log

#: Quick retries for the tests (the defaults wait 2 s doubling up to an hour).
NOTIFIER_ENV = {
    "AUTONAMA_NOTIFIER_RETRY_BASE_SECONDS": "0.2",
    "AUTONAMA_NOTIFIER_RETRY_MAX_DELAY_SECONDS": "1",
    "AUTONAMA_NOTIFIER_POLL_SECONDS": "0.2",
    "AUTONAMA_NOTIFIER_TIMEOUT_SECONDS": "2",
    "AUTONAMA_NOTIFIER_LEASE_SECONDS": "5",
    "AUTONAMA_NOTIFIER_PUBLIC_URL": "http://dashboard.test:3001",
    # the receivers of these tests listen on loopback, which the guard refuses by default
    "AUTONAMA_NOTIFIER_ALLOWED_NETWORKS": "127.0.0.1/32",
}

#: The alert relay's position (the outcomes' keeper has one beside it, migration 0025).
RELAY_POSITION = "SELECT last_id FROM outbox_positions WHERE name = 'alerts'"


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
async def http(api: str, pg_settings: PostgresSettings) -> AsyncIterator[httpx.AsyncClient]:
    token = await make_token(pg_settings, "write")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api, timeout=10, headers=headers) as client:
        yield client


@pytest.fixture
def notifying(stack: Stack) -> Stack:
    """The stack's environment for the notifier's quick retries."""
    stack.extra_env.update(NOTIFIER_ENV)
    return stack


async def subscribe(
    http: httpx.AsyncClient, receiver: WebhookReceiver, name: str, **filters: Any
) -> dict[str, Any]:
    body = {
        "name": name,
        "target": {"kind": "webhook", "url": f"{receiver.url}/hook/{name}"},
        "filter": filters,
    }
    r = await http.post("/v1/subscriptions", json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    assert created["secret"].startswith("whsec_")
    receiver.secrets[name] = created["secret"]
    return created


async def api_alerts(http: httpx.AsyncClient) -> dict[int, dict[str, Any]]:
    r = await http.get("/v1/alerts", params={"latest": "false", "limit": 500})
    assert r.status_code == 200, r.text
    return {a["id"]: a for a in r.json()["items"]}


async def read_alert_events(kafka: KafkaSettings, count: int, within: float = 30.0) -> list[Any]:
    consumer = AIOKafkaConsumer(
        Topics.of(kafka).alerts,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    events: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while len(events) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    events.extend(
                        (r.key, decode(r.value, AlertRaised, AlertEnded)) for r in records
                    )
    finally:
        await consumer.stop()
    return events


# -- the outbox relay --------------------------------------------------------------------


async def test_the_relay_publishes_committed_alerts_in_order_and_again_after_a_crash(
    pool: asyncpg.Pool, kafka_settings: KafkaSettings, pg_settings: PostgresSettings
) -> None:
    topics = Topics.of(kafka_settings)
    await ensure_topics(kafka_settings.bootstrap_servers, topics.specs())
    await store(pool, make_signal("BTCUSDT", "BUY", 10), make_signal("ETHUSDT", "SELL", 10))
    await store(pool, make_signal("BTCUSDT", "HOLD", 11))  # ends BTCUSDT's BUY
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        sent: list[bytes] = []

        async def send_then_fail(topic: str, value: bytes, key: bytes) -> None:
            # Published for real, then the "process dies" before the position is stored.
            await producer.send_and_wait(topic, value, key=key)
            sent.append(key)
            if len(sent) == 3:
                raise RuntimeError("crash after publishing")

        channel = alerts_channel(pg_settings.db_schema)
        with pytest.raises(RuntimeError, match="crash after publishing"):
            await AlertRelay(pool, send_then_fail, topics.alerts, channel).relay_once()
        async with pool.acquire() as conn:
            assert await conn.fetchval(RELAY_POSITION) == 0

        async def send(topic: str, value: bytes, key: bytes) -> None:
            await producer.send_and_wait(topic, value, key=key)

        relay = AlertRelay(pool, send, topics.alerts, channel)
        assert await relay.relay_once() == 3
        assert await relay.relay_once() == 0  # nothing new: nothing published again
    finally:
        await producer.stop()

    events = await read_alert_events(kafka_settings, 6)
    async with pool.acquire() as conn:
        stored = await conn.fetch("SELECT id, symbol, reason FROM alerts ORDER BY id")
        assert await conn.fetchval(RELAY_POSITION) == stored[-1]["id"]
    # At least once: the failed round's 3 events, then the 3 again; every one keyed by its key.
    assert sorted(e.id for _, e in events) == sorted([r["id"] for r in stored] * 2)
    for key, e in events:
        assert key == e.key.encode()
        assert isinstance(e, AlertEnded) == (e.reason == "ended")
    # Per key, in id order.
    btc = [e.id for _, e in events[3:] if e.symbol == "BTCUSDT"]
    assert btc == sorted(btc)
    assert len(btc) == 2


# -- webhooks ------------------------------------------------------------------------------


async def test_matching_alerts_reach_a_webhook_signed_with_the_alert_as_the_api_serves_it(
    notifying: Stack, http: httpx.AsyncClient, receiver: WebhookReceiver, pool: asyncpg.Pool
) -> None:
    notifying.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
    notifier = notifying.start("notifier")
    btc = await subscribe(http, receiver, "btc", symbols=["BTC*"], min_potential_return=10)
    everything = await subscribe(http, receiver, "all")
    await subscribe(http, receiver, "sells", signals=["SELL"], events=["raised"])
    await wait_for_log(notifier, "assigned")

    await store(
        pool,
        make_signal("BTCUSDT", "BUY", 10, potential=15.0),  # btc, all
        make_signal("ETHUSDT", "BUY", 10, potential=15.0),  # all
        make_signal("BTCUSDT", "SELL", 10, potential=5.0, interval="4h"),  # all, sells
    )
    await store(pool, make_signal("BTCUSDT", "HOLD", 11, potential=3.0))  # BTC BUY ends: btc, all

    got = await receiver.wait_for("btc", 2)
    await receiver.wait_for("all", 4)
    await receiver.wait_for("sells", 1)
    await asyncio.sleep(1.0)  # nothing else arrives
    assert [len(receiver.of(n)) for n in ("btc", "all", "sells")] == [2, 4, 1]
    assert receiver.bad == []

    served = await api_alerts(http)
    assert [r.body["type"] for r in got] == ["alert.raised", "alert.ended"]
    for r in receiver.received:
        alert = r.body["data"]
        sub_id = btc["id"] if r.path == "btc" else None
        if sub_id is not None:
            assert r.headers["webhook-id"] == f"msg_{alert['id']}_{sub_id}"
        expected = served[alert["id"]] | {
            "chart_url": f"http://dashboard.test:3001/alerts#signal={alert['signal_id']}"
        }
        # the alert as raised: its outcome, the API's alone, comes with the bars after it;
        # the body has its key's track record (no final outcome yet)
        expected.pop("outcome")
        assert alert.pop("track_record") == {
            "sample": 0,
            "hit_rate": None,
            "median_return_5": None,
        }
        assert alert == expected
    assert [r.body["data"]["signal"] for r in got] == ["BUY", "HOLD"]
    assert got[1].body["data"]["previous_signal"] == "BUY"

    r = await http.get(f"/v1/subscriptions/{everything['id']}/deliveries")
    assert r.status_code == 200, r.text
    deliveries = r.json()
    assert len(deliveries) == 4
    assert {d["status"] for d in deliveries} == {"delivered"}
    assert all(d["attempts"] == 1 and d["last_status_code"] == 204 for d in deliveries)
    assert all(d["attempt_log"][0]["outcome"] == "delivered" for d in deliveries)

    # A test event, delivered like an alert.
    r = await http.post(f"/v1/subscriptions/{btc['id']}/test")
    assert r.status_code == 202, r.text
    tests = await receiver.wait_for("btc", 3)
    assert tests[-1].body["type"] == "subscription.test"
    assert tests[-1].headers["webhook-id"].startswith("msg_test_")


async def test_failures_are_retried_with_the_same_webhook_id_in_key_order(
    notifying: Stack, http: httpx.AsyncClient, receiver: WebhookReceiver, pool: asyncpg.Pool
) -> None:
    notifying.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
    notifier = notifying.start("notifier")
    sub = await subscribe(http, receiver, "flaky")
    await wait_for_log(notifier, "assigned")
    down_until = time.monotonic() + 3.0
    answers = iter([(429, {"Retry-After": "1"}), (408, {})])

    def answer(_: WebhookReceiver, request: web.Request) -> tuple[int, dict[str, str]]:
        if time.monotonic() < down_until:
            return 503, {}
        return next(answers, (200, {}))

    receiver.answer = answer
    await store(pool, make_signal("BTCUSDT", "BUY", 10, potential=15.0))
    await store(pool, make_signal("BTCUSDT", "HOLD", 11))
    await store(pool, make_signal("BTCUSDT", "SELL", 12, potential=12.0))
    got = await receiver.wait_for("flaky", 3, within=60)
    assert receiver.bad == []
    # Key order held through the retries: BUY, its end, then SELL.
    assert [(r.body["data"]["signal"], r.body["type"]) for r in got] == [
        ("BUY", "alert.raised"),
        ("HOLD", "alert.ended"),
        ("SELL", "alert.raised"),
    ]
    first_id = got[0].headers["webhook-id"]
    tries = [status for _, msg, status in receiver.attempts if msg == first_id]
    assert tries[-1] == 200
    assert 503 in tries
    assert 429 in tries
    assert len(tries) >= 4
    r = await http.get(f"/v1/subscriptions/{sub['id']}/deliveries")
    first = next(d for d in r.json() if d["message_id"] == first_id)
    assert first["status"] == "delivered"
    assert first["attempts"] == len(tries)
    assert [a["status_code"] for a in reversed(first["attempt_log"])][-1] == 200
    # sent: its body is dropped (the alert is kept), and only then
    bodies = await pool.fetch(
        "SELECT status, body IS NULL AS dropped FROM deliveries WHERE subscription_id = $1",
        sub["id"],
    )
    assert [(b["status"], b["dropped"]) for b in bodies] == [("delivered", True)] * 3


async def test_a_refusal_fails_for_good_and_failed_deliveries_disable_the_subscription(
    notifying: Stack, http: httpx.AsyncClient, receiver: WebhookReceiver, pool: asyncpg.Pool
) -> None:
    notifying.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
    notifier = notifying.start(
        "notifier", AUTONAMA_NOTIFIER_DISABLE_AFTER="3", AUTONAMA_NOTIFIER_MAX_AGE_SECONDS="2"
    )
    gone = await subscribe(http, receiver, "gone", symbols=["ETHUSDT"])
    broken = await subscribe(http, receiver, "broken", symbols=["BTC*"])
    await wait_for_log(notifier, "assigned")
    receiver.answer = lambda _, request: (
        (410, {}) if request.match_info["name"] == "gone" else (500, {})
    )
    btc = ["BTCUSDT", "BTCUPUSDT", "BTCDOWNUSDT"]
    await store(pool, make_signal("ETHUSDT", "BUY", 10), *(make_signal(s, "BUY", 10) for s in btc))

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = (await http.get(f"/v1/subscriptions/{broken['id']}")).json()
        if not state["enabled"]:
            break
        await asyncio.sleep(0.3)
    # Each of the 3 deliveries retried until its maximum age, then failed: disabled.
    assert state["enabled"] is False
    assert "disabled after 3 deliveries failed in a row" in state["disabled_reason"]
    assert "HTTP 500" in state["disabled_reason"]
    await wait_for_log(notifier, f"subscription {broken['id']} disabled")
    failed = (await http.get(f"/v1/subscriptions/{broken['id']}/deliveries")).json()
    assert {d["status"] for d in failed} == {"failed"}
    assert all(d["attempts"] > 1 for d in failed)
    assert all("gave up after" in d["last_error"] for d in failed)
    kept = await pool.fetchval(  # a failed delivery keeps what it would have sent
        "SELECT count(*) FROM deliveries WHERE subscription_id = $1 AND body LIKE '{%'",
        broken["id"],
    )
    assert kept == len(failed) == 3
    # The refusal: one attempt, failed for good; one failed delivery does not disable.
    refused = (await http.get(f"/v1/subscriptions/{gone['id']}/deliveries")).json()
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in refused] == [
        ("failed", 1, 410)
    ]
    assert (await http.get(f"/v1/subscriptions/{gone['id']}")).json()["enabled"] is True

    # Disabled: new alerts are not queued for it; enabled again, they are delivered.
    receiver.answer = None
    await store(pool, make_signal("BTCUSDT", "SELL", 11))
    await asyncio.sleep(1.5)
    assert receiver.of("broken") == []
    r = await http.patch(f"/v1/subscriptions/{broken['id']}", json={"enabled": True})
    assert r.status_code == 200, r.text
    assert r.json()["consecutive_failures"] == 0
    await store(pool, make_signal("BTCUSDT", "HOLD", 12))
    got = await receiver.wait_for("broken", 1)
    assert [(r.body["data"]["symbol"], r.body["type"]) for r in got] == [("BTCUSDT", "alert.ended")]


async def test_subscriptions_api_validates_and_needs_a_write_token(
    api: str, http: httpx.AsyncClient, pg_settings: PostgresSettings
) -> None:
    bad = [
        (
            {"name": "x", "target": {"kind": "webhook", "url": "ftp://example.com/x"}},
            "http:// or https://",
        ),
        ({"name": "x", "target": {"kind": "apprise", "url": "nosuch://x"}}, "not accepted"),
        ({"name": "x", "target": {"kind": "apprise", "url": "tgram://x"}}, "Apprise cannot"),
        (
            {"name": "x", "target": {"kind": "apprise", "url": "json://h/?method=DELETE"}},
            "may not set method=",
        ),
        (
            {"name": "x", "target": {"kind": "webhook", "url": "http://169.254.169.254/x"}},
            "refused: private address",
        ),
        (
            {"name": "x", "target": {"kind": "webhook", "url": "http://h:99999/x"}},
            "port must be a number from 1 to 65535",
        ),
        (
            {"name": "x", "target": {"kind": "apprise", "url": "json://h"}, "template": "$prise"},
            "unknown placeholder $prise",
        ),
        (
            {"name": "x", "target": {"kind": "webhook", "url": "http://h"}, "filter": {"x": 1}},
            "x",
        ),
    ]
    for body, why in bad:
        r = await http.post("/v1/subscriptions", json=body)
        assert r.status_code == 422, r.text
        assert why in r.text
    read = await make_token(pg_settings, "read")
    async with httpx.AsyncClient(base_url=api, timeout=10) as anonymous:
        assert (await anonymous.get("/v1/subscriptions")).status_code == 401
        r = await anonymous.get("/v1/subscriptions", headers={"Authorization": f"Bearer {read}"})
        assert r.status_code == 403
    assert (await http.get("/v1/subscriptions/999")).status_code == 404
    assert (await http.delete("/v1/subscriptions/999")).status_code == 404
    created = (
        await http.post(
            "/v1/subscriptions",
            json={"name": "t", "target": {"kind": "apprise", "url": "json://127.0.0.1:9/x"}},
        )
    ).json()
    assert created["secret"] is None
    listed = (await http.get("/v1/subscriptions")).json()
    assert [s["id"] for s in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert (await http.delete(f"/v1/subscriptions/{created['id']}")).status_code == 204
    assert (await http.get("/v1/subscriptions")).json() == []


# -- Apprise -------------------------------------------------------------------------------


@pytest.mark.slow
async def test_apprise_json_and_mailto_targets_get_the_message(
    notifying: Stack, http: httpx.AsyncClient, receiver: WebhookReceiver, pool: asyncpg.Pool
) -> None:
    smtp = SmtpServer().start()
    try:
        notifying.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
        notifier = notifying.start("notifier")
        host = receiver.url.removeprefix("http://")
        targets = {
            "json": f"json://{host}/json/ops",
            "mail": (
                f"mailto://127.0.0.1:{smtp.port}?from=alerts@autonama.test"
                "&to=trader@autonama.test&mode=insecure"
            ),
        }
        for name, url in targets.items():
            body: dict[str, Any] = {"name": name, "target": {"kind": "apprise", "url": url}}
            if name == "json":
                body["template"] = "$symbol $signal at $price, potential $potential_return%"
            r = await http.post("/v1/subscriptions", json=body)
            assert r.status_code == 201, r.text
        await wait_for_log(notifier, "assigned")
        await store(pool, make_signal("SOLUSDT", "BUY", 10, potential=22.5))
        got = await receiver.wait_for("ops", 1)
        assert got[0].body["title"] == "SOLUSDT 1d: BUY"
        assert got[0].body["message"] == "SOLUSDT BUY at 110, potential 22.50%"
        assert await smtp.wait(1, within=30), notifier.log()[-3000:]
        mail = smtp.messages[0]
        text = mail.get_payload(decode=True)
        content = (
            text.decode()
            if isinstance(text, bytes)
            else "".join(
                p.get_payload(decode=True).decode()  # type: ignore[union-attr]
                for p in mail.walk()
                if p.get_content_type() == "text/plain"
            )
        )
        assert "SOLUSDT 1d: BUY" in mail["Subject"]
        assert "below the lower band" in content
        assert "Chart: http://dashboard.test:3001/alerts#signal=" in content
    finally:
        smtp.stop()


# -- the guarantee -------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_minute_of_503_a_kill_9_and_a_broker_restart_lose_no_delivery(
    own_kafka: OwnBroker,
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    http: httpx.AsyncClient,
    receiver: WebhookReceiver,
    pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    # a broker of the test's own: it is restarted below
    kafka = kafka_settings.model_copy(update={"bootstrap_servers": own_kafka.bootstrap})
    notifying = Stack(kafka, pg_settings, tmp_path, "http://127.0.0.1:9", dict(NOTIFIER_ENV))
    try:
        await _a_minute_of_503(notifying, own_kafka, http, receiver, pool)
    finally:
        notifying.stop_all()


async def _a_minute_of_503(
    notifying: Stack,
    own_kafka: OwnBroker,
    http: httpx.AsyncClient,
    receiver: WebhookReceiver,
    pool: asyncpg.Pool,
) -> None:
    notifying.extra_env["AUTONAMA_NOTIFIER_RETRY_MAX_DELAY_SECONDS"] = "5"
    notifying.start("ingestor", AUTONAMA_INGESTOR_WATCH_FILES="false")
    notifier = notifying.start("notifier")
    await subscribe(http, receiver, "all")
    await wait_for_log(notifier, "assigned")
    receiver.delay = 0.05  # a slow receiver: deliveries are in flight when the notifier dies
    down_until = time.monotonic() + 60.0  # and one that answers 503 for a minute

    def answer(_: WebhookReceiver, request: web.Request) -> tuple[int, dict[str, str]]:
        return (503, {}) if time.monotonic() < down_until else (204, {})

    receiver.answer = answer
    symbols = [f"S{i:03d}USDT" for i in range(60)]
    for day in (10, 11):
        for chunk in range(0, 60, 20):
            signal = "BUY" if day == 10 else "HOLD"
            await store(pool, *(make_signal(s, signal, day) for s in symbols[chunk : chunk + 20]))
    await asyncio.sleep(5.0)
    notifier.kill9()
    replacement = notifying.start("notifier")

    restart = await asyncio.to_thread(own_kafka.restart)
    assert restart.returncode == 0, restart.stderr
    for s in symbols[:10]:  # alerts committed after the broker came back
        await store(pool, make_signal(s, "SELL", 12))
    assert time.monotonic() < down_until  # all of it while the receiver still refused

    expected = 130
    got = await receiver.wait_for("all", expected, within=180, distinct=True)
    ids = [r.headers["webhook-id"] for r in got]
    async with pool.acquire() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM alerts")
    assert stored == expected
    assert len(set(ids)) == expected  # every alert delivered; duplicates only with one id
    assert len(ids) - expected <= 200  # at most the in-flight window again
    assert receiver.bad == []
    assert sum(1 for _, _, code in receiver.attempts if code == 503) >= expected
    assert replacement.running()
    # A key's alerts arrived in order: its BUY before its end, before its SELL.
    firsts: dict[str, list[int]] = {}
    for r in got:
        data = r.body["data"]
        seen = firsts.setdefault(data["symbol"], [])
        if data["id"] not in seen:
            seen.append(data["id"])
    assert all(ids_ == sorted(ids_) for ids_ in firsts.values())


async def test_the_cli_manages_subscriptions_the_notifier_delivers(
    notifying: Stack, receiver: WebhookReceiver, pg_settings: PostgresSettings
) -> None:
    bad = await asyncio.to_thread(
        cli, pg_settings, "subscribe", "add", "--name", "x", "--webhook", "ftp://h/x"
    )
    assert bad.returncode != 0
    assert "http:// or https://" in bad.stderr
    args = ("subscribe", "add", "--name", "cli", "--webhook", f"{receiver.url}/hook/cli",
            "--symbols", "BTC*", "--signals", "BUY", "--confirmed")  # fmt: skip
    inside = await asyncio.to_thread(
        cli, pg_settings, *args, extra_env={"AUTONAMA_NOTIFIER_ALLOWED_NETWORKS": ""}
    )
    assert inside.returncode != 0  # a loopback receiver, not allowed: refused at creation
    assert "refused: private address" in inside.stderr
    made = await asyncio.to_thread(
        cli, pg_settings, *args, extra_env={"AUTONAMA_NOTIFIER_ALLOWED_NETWORKS": "127.0.0.1"}
    )
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    receiver.secrets["cli"] = created["secret"]
    assert created["filter"]["symbols"] == ["BTC*"]
    assert created["filter"]["confirmed"] is True  # the repeats too, as asked
    notifier = notifying.start("notifier")
    await wait_for_log(notifier, "assigned")
    sent = await asyncio.to_thread(cli, pg_settings, "subscribe", "test", str(created["id"]))
    assert sent.returncode == 0, sent.stderr
    got = await receiver.wait_for("cli", 1)
    assert got[0].body["type"] == "subscription.test"
    listed = await asyncio.to_thread(cli, pg_settings, "subscribe", "list")
    assert "cli" in listed.stdout
    assert "symbols=['BTC*']" in listed.stdout
    for _ in range(20):  # the delivery is recorded just after the receiver answered
        shown = await asyncio.to_thread(
            cli, pg_settings, "subscribe", "deliveries", str(created["id"])
        )
        if "delivered" in shown.stdout:
            break
    assert "subscription.test" in shown.stdout
    assert "delivered" in shown.stdout
    gone = await asyncio.to_thread(cli, pg_settings, "subscribe", "remove", str(created["id"]))
    assert gone.returncode == 0, gone.stderr
    again = await asyncio.to_thread(cli, pg_settings, "subscribe", "remove", str(created["id"]))
    assert again.returncode != 0
    assert f"subscription {created['id']} does not exist" in again.stderr
