"""Limits that hold whatever a client does: the write budget (shared by every API process,
in PostgreSQL), the stream's single-use tickets, and the stream's seats per address.

- **Write budget**: what writes or starts work (scans, backtests, subscriptions and their
  test events, watches) draws on its token's bucket of ``writes_per_minute``, refilled at
  that rate (with auth off, its client address's); the bucket lives in
  ``api_write_budget``, so two API processes do not double it.
- **Tickets**: ``POST /v1/alerts/stream/ticket`` (with the token in its header) answers a
  ticket that opens one stream within ``TICKET_SECONDS``; the stream's URL carries the
  ticket, never the token, and a ticket works once.
- **Seats** (``stream.Seats``): at most ``sse_max_per_address`` open streams from one
  address and ``sse_max_clients`` in all, per API process: past them 429 (the address's)
  or 503 (the process's), with Retry-After.
"""

from __future__ import annotations

import hashlib
import math
import secrets

import asyncpg
from fastapi import HTTPException

from autonama_alerts_api.deps import State

__all__ = ["TICKET_SECONDS", "issue_ticket", "redeem_ticket", "spend_write"]

TICKET_SECONDS = 30


def _pool(state: State) -> asyncpg.Pool:
    if state.manage is None:  # pragma: no cover - the lifespan always opens it
        raise HTTPException(503, "the API's writer pool is not open")
    return state.manage


async def spend_write(state: State, who: str) -> None:
    """One write from ``who``: a 429 with Retry-After once its budget is spent. A bucket
    of ``writes_per_minute`` refilled at that rate (a write refused spends nothing), kept
    in PostgreSQL so that every API process draws on the same one."""
    per_minute = float(state.settings.writes_per_minute)
    row = await _pool(state).fetchrow(
        """INSERT INTO api_write_budget AS b (who, tokens, updated_at, last_allowed)
           VALUES ($1, $2 - 1, now(), true)
           ON CONFLICT (who) DO UPDATE SET (tokens, last_allowed, updated_at) = (
               SELECT CASE WHEN level >= 1 THEN level - 1 ELSE level END, level >= 1, now()
               FROM (SELECT least($2, b.tokens + extract(epoch FROM now() - b.updated_at)
                                                 ::float8 * $2 / 60.0) AS level) refilled)
           RETURNING last_allowed, tokens""",
        who,
        per_minute,
    )
    if row is None:  # never: an upsert with RETURNING answers its row
        raise HTTPException(503, "the write budget could not be counted")
    if not row["last_allowed"]:
        retry = max(1, math.ceil((1.0 - row["tokens"]) * 60.0 / per_minute))
        raise HTTPException(
            429,
            f"at most {state.settings.writes_per_minute} writes (scans, backtests, "
            f"subscriptions, tests) a minute per token; try again in {retry} s",
            headers={"Retry-After": str(retry)},
        )


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


async def issue_ticket(state: State, scope: str) -> str:
    """A new single-use ticket for one stream, valid ``TICKET_SECONDS``."""
    ticket = "tkt_" + secrets.token_urlsafe(24)
    pool = _pool(state)
    await pool.execute("DELETE FROM stream_tickets WHERE expires_at < now()")
    await pool.execute(
        """INSERT INTO stream_tickets (sha256, scope, expires_at)
           VALUES ($1, $2, now() + make_interval(secs => $3))""",
        _digest(ticket),
        scope,
        float(TICKET_SECONDS),
    )
    return ticket


async def redeem_ticket(state: State, ticket: str) -> str | None:
    """The scope of ``ticket`` if it is valid now (it is then spent), else None."""
    if not ticket.startswith("tkt_") or len(ticket) > 100:
        return None
    scope: str | None = await _pool(state).fetchval(
        "DELETE FROM stream_tickets WHERE sha256 = $1 AND expires_at >= now() RETURNING scope",
        _digest(ticket),
    )
    return scope
