"""Who may call the API: bearer tokens with a read or write scope (``autonama token``).

``AUTONAMA_ALERTS_API_AUTH``:

    write  (default) what writes or starts work needs a write token; reads are open
    all    every /v1 read needs a read (or write) token too
    off    no tokens (refused unless the API listens on a loopback address)

The token comes as ``Authorization: Bearer <token>``, never in a URL (access logs and
proxies keep URLs): the live stream, which a browser's EventSource opens without headers,
takes a short-lived single-use ``?ticket=`` instead (``limits.py``), when reads need a
token at all. Verified tokens are remembered for a few seconds, so a revocation takes
effect within ``CACHE_SECONDS``. A 401 says what is missing, a 403 which scope is needed;
a token makes at most ``writes_per_minute`` writes a minute across every API process
(429).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request

from autonama_alerts_api.deps import State, StateDep
from autonama_alerts_api.limits import redeem_ticket, spend_write
from autonama_shared.db.tokens import hash_token

__all__ = [
    "CACHE_SECONDS",
    "READ_ERRORS",
    "WRITE_ERRORS",
    "ManageAccess",
    "ReadAccess",
    "StreamAccess",
    "WriteAccess",
    "require_manage",
    "require_read",
    "require_stream",
    "require_write",
]

CACHE_SECONDS = 5.0
_CREATE = "create one with: autonama token create --scope {scope} --name NAME"


async def _scope_of(state: State, token: str) -> str | None:
    digest = hash_token(token)
    if digest is None:
        return None
    cache = state.token_cache
    hit = cache.get(digest)
    now = time.monotonic()
    if hit is not None and now - hit[1] < CACHE_SECONDS:
        return hit[0]
    scope: str | None = await state.pool.fetchval(
        "SELECT scope FROM api_tokens WHERE sha256 = $1 AND revoked_at IS NULL", digest
    )
    if len(cache) > 10_000:
        cache.clear()
    cache[digest] = (scope, now)
    return scope


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        kind, _, value = header.partition(" ")
        if kind.lower() != "bearer" or not value.strip():
            raise HTTPException(
                401,
                "the Authorization header must be 'Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return value.strip()
    return None


async def _check(request: Request, state: State, needed: str, *, spend: bool = True) -> str:
    """The caller's scope, or the 401/403/429 that says what is wrong."""
    token = _bearer(request)
    what = f"{request.method} {request.url.path}"
    if token is None:
        raise HTTPException(
            401,
            f"{what} needs a {needed} token (Authorization: Bearer <token>); "
            + _CREATE.format(scope=needed),
            headers={"WWW-Authenticate": "Bearer"},
        )
    scope = await _scope_of(state, token)
    if scope is None:
        raise HTTPException(
            401,
            "the token is unknown or revoked; " + _CREATE.format(scope=needed),
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if needed == "write" and scope != "write":
        raise HTTPException(403, f"this token's scope is {scope}; {what} needs a write token")
    if needed == "write" and spend:
        await spend_write(state, hash_token(token) or token)
    return scope


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def require_write(request: Request, state: StateDep) -> None:
    """What writes or starts work: a write token, unless auth is off (then the budget of
    writes a minute is the client address's)."""
    if state.settings.auth != "off":
        await _check(request, state, "write")
    else:
        await spend_write(state, _address(request))


async def require_manage(request: Request, state: StateDep) -> None:
    """Managing subscriptions and watches: a write token (a subscription's target can hold
    another service's token, so even listing them needs one), unless auth is off; what
    changes something (not a GET) counts against the write budget."""
    spend = request.method not in ("GET", "HEAD")
    if state.settings.auth != "off":
        await _check(request, state, "write", spend=spend)
    elif spend:
        await spend_write(state, _address(request))


async def require_read(request: Request, state: StateDep) -> None:
    """Reads: a read or write token when auth is ``all``; open otherwise."""
    if state.settings.auth == "all":
        await _check(request, state, "read")


Ticket = Annotated[
    str | None,
    Query(
        max_length=100,
        description="A stream ticket (`POST /v1/alerts/stream/ticket`), when reads need a "
        "token: an EventSource cannot send the Authorization header",
    ),
]


async def require_stream(request: Request, state: StateDep, ticket: Ticket = None) -> None:
    """The stream: open when reads are; else a read token in the header, or a ticket."""
    if state.settings.auth != "all":
        return
    if ticket is not None and request.headers.get("authorization") is None:
        if await redeem_ticket(state, ticket) is None:
            raise HTTPException(
                401,
                "the ticket is unknown, spent or expired; ask for a new one with "
                "POST /v1/alerts/stream/ticket",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return
    await _check(request, state, "read")


ReadAccess = Depends(require_read)
StreamAccess = Depends(require_stream)
ManageAccess = Depends(require_manage)
WriteAccess = Depends(require_write)

_PROBLEM: dict[str, Any] = {
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
}
#: What the routes document: a missing or unknown token (401), a read token that writes (403).
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {**_PROBLEM, "description": "No token, or an unknown or revoked one (auth all)"}
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {**_PROBLEM, "description": "No token, or an unknown or revoked one"},
    403: {**_PROBLEM, "description": "The token's scope is read; this needs write"},
    413: {"description": "The body is larger than 64 KB (refused before it is read)"},
    429: {**_PROBLEM, "description": "Too many writes this minute (see Retry-After)"},
}
