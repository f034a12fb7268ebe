"""The notifier on a hostile network, for real: the notifier as a process, PostgreSQL, and
local servers that play the receivers a malicious subscriber would point it at.

- No delivery reaches a loopback address unless the allow-list names it: not by an IP
  literal, a name that resolves inside, an Apprise plugin's own socket, or a redirect.
- A receiver's answer is data: NUL and control characters are stored escaped, every
  outcome is recorded once, and the other subscriptions of the same round are not lost.
- A tarpit holds its own Apprise sends, which are stopped at the deadline; the webhooks of
  other subscriptions go on meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from autonama_shared.db.subscriptions import enqueue_test, new_secret
from autonama_shared.notify.network import REFUSED
from tests.integration.test_notifier import NOTIFIER_ENV
from tests.support.receivers import WebhookReceiver
from tests.support.stack import Stack, wait_for_log


@dataclass
class Hostile:
    """A server on one loopback address that counts every request and answers as told."""

    host: str
    hits: list[str] = field(default_factory=list)
    redirect_to: str = ""
    hostile_words: bool = False  # answer every other request as a hostile ntfy would
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    async def start(self) -> Hostile:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # a tarpit's requests are cut at the stop, not waited for
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.url = f"http://{self.host}:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.hits.append(request.path)
        self.arrived.set()
        if request.path.startswith("/redirect"):
            raise web.HTTPFound(self.redirect_to)
        if request.path.startswith("/tarpit"):
            await asyncio.sleep(60)
        if self.hostile_words:  # ntfy's own error shape, with hostile words
            error = "evil\u0000\nFAKE LOG LINE \u001b[31m\u202e"
            return web.json_response({"code": 40001, "http": 400, "error": error}, status=400)
        return web.Response(status=200, text="{}")


@pytest.fixture
async def inside() -> AsyncIterator[Hostile]:
    server = await Hostile("127.0.0.1").start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def elsewhere() -> AsyncIterator[Hostile]:
    """On 127.0.0.2: a loopback address the tests' allow-list (127.0.0.1/32) leaves shut."""
    server = await Hostile("127.0.0.2").start()
    try:
        yield server
    finally:
        await server.stop()


async def subscribe(pool: asyncpg.Pool, name: str, kind: str, url: str) -> int:
    """Stored as a subscription made while its name resolved elsewhere would be (the API's
    check at creation is not what is tested here: the connection-time guard is), with a
    test event queued."""
    async with pool.acquire() as conn:
        sub: int = await conn.fetchval(
            """INSERT INTO subscriptions (name, kind, url, secret, filter)
               VALUES ($1, $2, $3, $4, '{}') RETURNING id""",
            name,
            kind,
            url,
            new_secret() if kind == "webhook" else None,
        )
        await enqueue_test(conn, sub)
    return sub


async def outcomes(pool: asyncpg.Pool, n: int, within: float = 30.0) -> list[dict[str, Any]]:
    """The deliveries once ``n`` of them are no longer pending (each with its attempts)."""
    deadline = time.monotonic() + within
    while True:
        rows = await pool.fetch(
            """SELECT d.subscription_id, d.status, d.last_error, d.attempts,
                      (SELECT count(*) FROM delivery_attempts a WHERE a.delivery_id = d.id)
                      AS recorded
               FROM deliveries d ORDER BY d.subscription_id"""
        )
        done = [dict(r) for r in rows if r["status"] != "pending"]
        if len(done) >= n:
            return done
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(done)} of {n} deliveries finished: {rows}")
        await asyncio.sleep(0.2)


async def test_no_delivery_reaches_inside_by_any_route(
    stack: Stack, pool: asyncpg.Pool, inside: Hostile, elsewhere: Hostile
) -> None:
    port = inside.url.rsplit(":", 1)[1]
    elsewhere_port = elsewhere.url.rsplit(":", 1)[1]
    inside.redirect_to = f"{elsewhere.url}/json/stolen"
    targets = [
        ("literal", "webhook", f"http://127.0.0.1:{port}/hook"),
        ("name", "webhook", f"http://localhost:{port}/hook"),
        ("hex", "webhook", f"http://0x7f000001:{port}/hook"),
        ("ipv6-mapped", "webhook", f"http://[::ffff:127.0.0.1]:{port}/hook"),
        ("apprise", "apprise", f"json://127.0.0.1:{port}/x"),
        ("apprise-name", "apprise", f"json://localhost:{port}/x"),
        # allowed itself, it redirects to an address the allow-list does not name
        ("redirect", "apprise", f"json://127.0.0.1:{port}/redirect"),
        ("elsewhere", "webhook", f"http://127.0.0.2:{elsewhere_port}/hook"),
    ]
    ids = {name: await subscribe(pool, name, kind, url) for name, kind, url in targets}
    # 127.0.0.1 alone is allowed, for the redirect's first hop only
    env = {**NOTIFIER_ENV, "AUTONAMA_NOTIFIER_ALLOWED_NETWORKS": ""}
    stack.extra_env.update(env)
    notifier = stack.start("notifier")
    await wait_for_log(notifier, "assigned")
    done = await outcomes(pool, len(targets))
    assert inside.hits == []
    assert elsewhere.hits == []
    for row in done:
        assert row["status"] == "failed", row  # refused for good, never retried
        assert row["last_error"] == REFUSED, row  # and nothing more about the address
        assert row["recorded"] == 1
    assert {r["subscription_id"] for r in done} == set(ids.values())

    # with 127.0.0.1 allowed, the redirect's first hop is made; the second is refused
    notifier.stop()
    stack.extra_env["AUTONAMA_NOTIFIER_ALLOWED_NETWORKS"] = "127.0.0.1/32"
    async with pool.acquire() as conn:
        await enqueue_test(conn, ids["redirect"])
    notifier = stack.start("notifier")
    await wait_for_log(notifier, "assigned")
    await outcomes(pool, len(targets) + 1)
    assert inside.hits == ["/redirect"]
    assert elsewhere.hits == []  # a redirect is checked like any connection


async def test_hostile_answers_are_data_and_every_outcome_is_recorded_once(
    stack: Stack, pool: asyncpg.Pool, inside: Hostile, receiver: WebhookReceiver
) -> None:
    port = inside.url.rsplit(":", 1)[1]
    inside.hostile_words = True
    hostile = await subscribe(pool, "hostile", "apprise", f"ntfy://127.0.0.1:{port}/alerts")
    healthy = await subscribe(pool, "healthy", "webhook", f"{receiver.url}/hook/healthy")
    async with pool.acquire() as conn:
        secret = await conn.fetchval("SELECT secret FROM subscriptions WHERE id = $1", healthy)
    receiver.secrets["healthy"] = secret
    stack.extra_env.update(
        {
            **NOTIFIER_ENV,
            "AUTONAMA_NOTIFIER_RETRY_BASE_SECONDS": "60",
            "AUTONAMA_NOTIFIER_RETRY_MAX_DELAY_SECONDS": "120",
        }
    )
    notifier = stack.start("notifier")
    await wait_for_log(notifier, "assigned")
    await receiver.wait_for("healthy", 1)
    deadline = time.monotonic() + 30
    while True:
        row = await pool.fetchrow(
            """SELECT d.status, d.attempts, d.last_error,
                      (SELECT array_agg(error) FROM delivery_attempts a WHERE a.delivery_id = d.id)
                      AS errors
               FROM deliveries d WHERE subscription_id = $1""",
            hostile,
        )
        if row is not None and row["attempts"] >= 1:
            break
        assert time.monotonic() < deadline, "the hostile answer's outcome was never recorded"
        await asyncio.sleep(0.2)
    assert row["status"] == "pending"  # tried again later (60 s here), not in a loop
    assert row["attempts"] == 1
    assert len(row["errors"]) == 1
    stored = row["last_error"]
    assert "evil\\x00\\nFAKE LOG LINE \\x1b[31m\\u202e" in stored
    for raw in ("\x00", "\n", "\x1b", "\u202e"):
        assert raw not in stored
    healthy_row = await pool.fetchrow(
        "SELECT status, attempts FROM deliveries WHERE subscription_id = $1", healthy
    )
    assert (healthy_row["status"], healthy_row["attempts"]) == ("delivered", 1)
    await asyncio.sleep(2.0)  # nothing is claimed and sent again meanwhile
    attempts = await pool.fetchval(
        "SELECT attempts FROM deliveries WHERE subscription_id = $1", hostile
    )
    assert attempts == 1
    assert "FAKE LOG LINE" not in "".join(
        line for line in notifier.log().splitlines() if not line.startswith("20")
    )  # every log line starts with its time: none was forged


async def test_a_tarpit_holds_only_its_own_sends_which_are_stopped_at_the_deadline(
    stack: Stack, pool: asyncpg.Pool, inside: Hostile, receiver: WebhookReceiver
) -> None:
    port = inside.url.rsplit(":", 1)[1]
    tarpit = await subscribe(pool, "tarpit", "apprise", f"json://127.0.0.1:{port}/tarpit")
    async with pool.acquire() as conn:
        for _ in range(9):  # ten sends to the tarpit: more than the pool's workers
            await enqueue_test(conn, tarpit)
    stack.extra_env.update(
        {
            **NOTIFIER_ENV,
            # below Apprise's own read timeout (4 s): the pool stops the send, not Apprise
            "AUTONAMA_NOTIFIER_TIMEOUT_SECONDS": "2",
            "AUTONAMA_NOTIFIER_LEASE_SECONDS": "10",
            "AUTONAMA_NOTIFIER_APPRISE_WORKERS": "4",
        }
    )
    notifier = stack.start("notifier")
    await wait_for_log(notifier, "assigned")
    async with asyncio.timeout(30):
        await inside.arrived.wait()  # the tarpit holds its first sends
    healthy = await subscribe(pool, "healthy", "webhook", f"{receiver.url}/hook/healthy")
    receiver.secrets["healthy"] = await pool.fetchval(
        "SELECT secret FROM subscriptions WHERE id = $1", healthy
    )
    async with pool.acquire() as conn:
        for _ in range(4):
            await enqueue_test(conn, healthy)
    got = await receiver.wait_for("healthy", 5, within=30)
    # every healthy delivery arrived while the tarpit still held its first sends: none of
    # them had come to an end yet (they end at the 2 s deadline, stopped)
    first_end = None
    while first_end is None:
        first_end = await pool.fetchval(
            """SELECT extract(epoch FROM min(a.at)) FROM delivery_attempts a
               JOIN deliveries d ON d.id = a.delivery_id WHERE d.subscription_id = $1""",
            tarpit,
        )
        await asyncio.sleep(0.2)
    assert max(r.at for r in got) < float(first_end)
    rows = await pool.fetch(
        "SELECT attempts, last_error FROM deliveries WHERE subscription_id = $1 AND attempts > 0",
        tarpit,
    )
    assert all("did not finish within 2 s" in r["last_error"] for r in rows), rows
    # the tarpit was given at most its two sends at a time (apprise_per_subscription)
    assert len([h for h in inside.hits if h.startswith("/tarpit")]) <= 2 * (len(rows) + 1)
