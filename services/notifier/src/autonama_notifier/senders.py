"""Sending one delivery: a signed POST to a webhook (Standard Webhooks, signed by the
``standardwebhooks`` library) or a message through Apprise (in a worker process of the
pool, stopped at the deadline). Each returns an ``Attempt``; network errors become retried
attempts here, never exceptions. Every connection goes through the network guard
(``notify/network.py``): an address it refuses fails the delivery for good, and the
attempt says only "refused: private address"."""

from __future__ import annotations

import functools
import math
import socket
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp
from standardwebhooks.webhooks import Webhook

from autonama_notifier.apprise_pool import ApprisePool
from autonama_shared.db.deliveries import Claimed
from autonama_shared.notify.messages import message_text, probe_body
from autonama_shared.notify.network import REFUSED, AllowList, RefusedAddress, check_sockaddr
from autonama_shared.notify.retry import Attempt, of_status

__all__ = ["USER_AGENT", "body_of", "guarded_sockets", "send", "signed_headers"]

USER_AGENT = "Autonama-Notifier/0.1 (+https://github.com/autonama)"
#: What of a receiver's answer is read (the rest is not waited for).
MAX_ANSWER_BYTES = 64 * 1024


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def signed_headers(message_id: str, secret: str, body: str, now: datetime) -> dict[str, str]:
    """Standard Webhooks' headers for ``body``: its id, the time, and the v1 signature."""
    moment = datetime.fromtimestamp(math.floor(now.timestamp()), tz=UTC)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": _signer(secret).sign(message_id, moment, body),
    }


def guarded_sockets(
    allow: AllowList,
) -> Callable[[tuple[int, int, int, str, tuple[object, ...]]], socket.socket]:
    """aiohttp's ``socket_factory``: called with each address *after* resolution, for the
    first connection and every later one; refuses what the guard refuses."""

    def factory(addr_info: tuple[int, int, int, str, tuple[object, ...]]) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        check_sockaddr(family, sockaddr, allow)
        sock = socket.socket(family=family, type=kind, proto=proto)
        sock.setblocking(False)
        return sock

    return factory


def _refused(e: BaseException) -> bool:
    """Whether the guard refused the connection (aiohttp wraps the socket factory's error)."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, RefusedAddress) or REFUSED in str(seen):
            return True
        seen = seen.__cause__ or getattr(seen, "os_error", None)
    return False


def body_of(d: Claimed) -> str:
    """What is sent: the stored body, or for a test event (queued without one) its probe."""
    return d.body if d.body is not None else probe_body(d.subscription_id, d.name)


async def _webhook(session: aiohttp.ClientSession, d: Claimed, seconds: float) -> Attempt:
    if d.secret is None:
        return Attempt("failed", error="a webhook subscription without its signing secret")
    body = body_of(d)
    headers = signed_headers(d.message_id, d.secret, body, datetime.now(UTC))
    try:
        async with session.post(
            d.url,
            data=body.encode(),
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=seconds),
        ) as response:
            await response.content.read(MAX_ANSWER_BYTES)
            return of_status(response.status, response.headers.get("Retry-After"))
    except TimeoutError:
        return Attempt("retry", error=f"no answer within {seconds:g} s")
    except (aiohttp.ClientError, OSError, ValueError) as e:
        if _refused(e):
            return Attempt("failed", error=REFUSED)
        return Attempt("retry", error=f"cannot reach the receiver: {type(e).__name__}")


async def send(
    session: aiohttp.ClientSession, apprise: ApprisePool, d: Claimed, seconds: float
) -> Attempt:
    """One attempt of delivery ``d``."""
    if d.kind == "webhook":
        return await _webhook(session, d, seconds)
    title, text = message_text(d.template, body_of(d))
    return await apprise.send(d.url, title, text)
