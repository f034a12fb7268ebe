"""Local receivers for the notifier's tests and benchmark: a webhook receiver that verifies
every request with the ``standardwebhooks`` library, and an SMTP server (aiosmtpd) for
Apprise's mailto://. No internet here: these are the targets."""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float  # time.time() when received


#: Decides the answer to one request: (status, headers). Default: 204.
Answer = Callable[["WebhookReceiver", web.Request], tuple[int, dict[str, str]]]


@dataclass
class WebhookReceiver:
    """Answers POST /hook/<name>; a request whose signature does not verify with the
    secret registered for <name> is a test failure (kept in ``bad``) and answered 400."""

    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    attempts: list[tuple[str, str, int]] = field(default_factory=list)  # (name, msg id, status)
    bad: list[str] = field(default_factory=list)
    answer: Answer | None = None
    delay: float = 0.0  # seconds before each answer
    url: str = ""
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hook/{name}", self._handle)
        app.router.add_post("/json/{name}", self._json)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        secret = self.secrets.get(name)
        for _ in range(100):  # a test registers the secret once its creation returned,
            if secret is not None:  # which a running notifier's first send may beat
                break
            await asyncio.sleep(0.05)
            secret = self.secrets.get(name)
        if secret is None:
            self.bad.append(f"{name}: no secret registered")
            return web.Response(status=400)
        try:
            body = Webhook(secret).verify(raw, headers)
        except WebhookVerificationError as e:
            self.bad.append(f"{name}: {e}")
            return web.Response(status=400)
        if self.delay:
            await asyncio.sleep(self.delay)
        status, extra = self.answer(self, request) if self.answer else (204, {})
        self.attempts.append((name, headers["webhook-id"], status))
        if 200 <= status < 300:
            self.received.append(Received(name, headers, body, time.time()))
            self._arrived.set()
        return web.Response(status=status, headers=extra)

    async def _json(self, request: web.Request) -> web.Response:
        """Apprise's json:// target posts here (no signature: Apprise's own format)."""
        body = json.loads(await request.read())
        status, extra = self.answer(self, request) if self.answer else (200, {})
        self.attempts.append((request.match_info["name"], "", status))
        if 200 <= status < 300:
            self.received.append(
                Received(request.match_info["name"], dict(request.headers), body, time.time())
            )
            self._arrived.set()
        return web.Response(status=status, headers=extra)

    def of(self, name: str) -> list[Received]:
        return [r for r in self.received if r.path == name]

    def _count(self, name: str, distinct: bool) -> int:
        got = self.of(name)
        return len({r.headers["webhook-id"] for r in got}) if distinct else len(got)

    async def wait_for(
        self, name: str, count: int, within: float = 60.0, *, distinct: bool = False
    ) -> list[Received]:
        """What ``name`` received once it holds ``count`` requests (``distinct``: messages,
        a retried one counted once)."""
        deadline = time.monotonic() + within
        while self._count(name, distinct) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{name}: {len(self.of(name))} of {count} deliveries in {within} s; "
                    f"attempts {self.attempts[-10:]}; bad {self.bad[:3]}"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(left, 0.5))
        return self.of(name)


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class SmtpServer:
    """An SMTP server on a free local port; ``messages`` are the mails it accepted."""

    port: int = 0
    _box: _Mailbox = field(default_factory=_Mailbox)
    _controller: Controller | None = None

    def start(self) -> SmtpServer:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._controller = Controller(self._box, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    @property
    def messages(self) -> list[Message]:
        return self._box.messages

    async def wait(self, count: int, within: float) -> bool:
        """Whether ``count`` mails arrived within ``within`` seconds (aiosmtpd's thread
        fills the list: polled)."""
        for _ in range(max(1, int(within / 0.2))):
            if len(self.messages) >= count:
                return True
            await asyncio.sleep(0.2)
        return len(self.messages) >= count
