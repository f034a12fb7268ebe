"""Who may call the API: bearer tokens with a read or write scope (``autonama token``).

``AUTONAMA_ALERTS_API_AUTH``:

    write  (default) what writes or starts work needs a write token; reads are open
    all    every /v1 read needs a read (or write) token too
    off    no tokens (refused unless the API listens on a loopback address)

The token comes as ``Authorization: Bearer <token>``; the live stream also
takes ``?access_token=`` since a browser's EventSource cannot send headers.
Verified tokens are remembered for a few seconds, so a revocation takes effect
within ``CACHE_SECONDS``. A 401 says what is missing, a 403 which scope is needed;
a token makes at most ``writes_per_minute`` scan or backtest requests a minute (429).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request

from autonama_alerts_api.deps import State, StateDep
from autonama_shared.db.tokens import hash_token

__all__ = [
    "CACHE_SECONDS",
    "READ_ERRORS",
    "WRITE_ERRORS",
    "ManageAccess",
    "ReadAccess",
    "WriteAccess",
    "require_manage",
    "require_read",
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


def _bearer(request: Request, query_token: str | None) -> str | None:
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
    return query_token


async def _check(
    request: Request, state: State, needed: str, query_token: str | None, *, spend: bool = True
) -> None:
    token = _bearer(request, query_token)
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
        _spend(state, hash_token(token) or token)


def _spend(state: State, who: str) -> None:
    """One write from ``who``: a 429 with Retry-After once its minute's budget is spent."""
    per_minute = state.settings.writes_per_minute
    now = time.monotonic()
    recent = [t for t in state.writes.get(who, []) if now - t < 60.0]
    if len(recent) >= per_minute:
        retry = max(1, int(60.0 - (now - recent[0])) + 1)
        raise HTTPException(
            429,
            f"at most {per_minute} scan or backtest requests a minute per token; "
            f"try again in {retry} s",
            headers={"Retry-After": str(retry)},
        )
    recent.append(now)
    state.writes[who] = recent


AccessToken = Annotated[
    str | None,
    Query(
        max_length=100,
        include_in_schema=False,
        description="The token, for clients that cannot send headers (EventSource)",
    ),
]


async def require_write(request: Request, state: StateDep) -> None:
    """What writes or starts work: a write token, unless auth is off (then the budget of
    requests a minute is the client address's)."""
    if state.settings.auth != "off":
        await _check(request, state, "write", None)
    else:
        _spend(state, request.client.host if request.client else "unknown")


async def require_manage(request: Request, state: StateDep) -> None:
    """Managing subscriptions: a write token (a subscription's target can hold another
    service's token, so even listing them needs one), unless auth is off; not counted in the
    budget of scan and backtest requests."""
    if state.settings.auth != "off":
        await _check(request, state, "write", None, spend=False)


async def require_read(request: Request, state: StateDep, access_token: AccessToken = None) -> None:
    """Reads: a read or write token when auth is ``all``; open otherwise."""
    if state.settings.auth == "all":
        await _check(request, state, "read", access_token)


ReadAccess = Depends(require_read)
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
    429: {**_PROBLEM, "description": "Too many requests this minute (see Retry-After)"},
}
