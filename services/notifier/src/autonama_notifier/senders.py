"""Sending one delivery: a signed POST to a webhook (Standard Webhooks, signed by the
``standardwebhooks`` library) or a message through Apprise. Each returns an ``Attempt``;
network errors become retried attempts here, never exceptions."""

from __future__ import annotations

import asyncio
import functools
import math
from datetime import UTC, datetime

import aiohttp
import apprise
from standardwebhooks.webhooks import Webhook

from autonama_shared.db.subscriptions import Claimed
from autonama_shared.notify.messages import message_text
from autonama_shared.notify.retry import Attempt, of_status

__all__ = ["USER_AGENT", "send", "signed_headers"]

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


async def _webhook(session: aiohttp.ClientSession, d: Claimed, seconds: float) -> Attempt:
    assert d.secret is not None
    headers = signed_headers(d.message_id, d.secret, d.body, datetime.now(UTC))
    try:
        async with session.post(
            d.url,
            data=d.body.encode(),
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=seconds),
        ) as response:
            await response.content.read(MAX_ANSWER_BYTES)
            return of_status(response.status, response.headers.get("Retry-After"))
    except TimeoutError:
        return Attempt("retry", error=f"no answer within {seconds:g} s")
    except aiohttp.ClientError as e:
        return Attempt("retry", error=f"cannot reach the receiver: {type(e).__name__}: {e}")


async def _apprise(d: Claimed, seconds: float) -> Attempt:
    notifier = apprise.Apprise()
    if not notifier.add(d.url):
        return Attempt("failed", error="Apprise no longer accepts this URL")
    title, text = message_text(d.template, d.body)
    try:
        result = await asyncio.wait_for(notifier.async_notify(body=text, title=title), seconds)
    except TimeoutError:
        return Attempt("retry", error=f"Apprise did not finish within {seconds:g} s")
    if result:
        return Attempt("delivered")
    logs = getattr(result, "logs", None)
    said = [e.message for e in logs() if e.level in ("WARNING", "ERROR")] if logs else []
    scheme = d.url.split("://", 1)[0]
    return Attempt("retry", error=f"{scheme}:// not delivered" + (f": {said[-1]}" if said else ""))


async def send(session: aiohttp.ClientSession, d: Claimed, seconds: float) -> Attempt:
    """One attempt of delivery ``d``."""
    if d.kind == "webhook":
        return await _webhook(session, d, seconds)
    return await _apprise(d, seconds)
