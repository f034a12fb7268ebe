"""API tokens: created once and shown once, stored as a SHA-256, listed, revoked.

A token is ``ant_`` and 43 URL-safe characters (256 random bits). Only its hash
and a short prefix (for lists) are stored; ``scope`` is ``read`` (every GET)
or ``write`` (also what writes or starts work: scans, backtests).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from autonama_shared.db.pool import one
from autonama_shared.errors import ConfigError

__all__ = ["PREFIX", "Scope", "TokenInfo", "create_token", "hash_token", "list_tokens", "revoke"]

Scope = Literal["read", "write"]
PREFIX = "ant_"
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_TOKEN = re.compile(r"^ant_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    scope: Scope
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def hash_token(token: str) -> str | None:
    """The stored hash of ``token``, or None when it is not shaped like one of ours.

    >>> len(hash_token("ant_" + "A" * 43)), hash_token("Bearer xyz"), hash_token("ant_short")
    (64, None, None)
    """
    if not _TOKEN.fullmatch(token):
        return None
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, name: str, scope: Scope
) -> tuple[str, TokenInfo]:
    """A new token (returned once, never stored) and what is stored of it."""
    if not _NAME.fullmatch(name):
        raise ConfigError(f"token name {name!r}: 1-64 letters, digits and _ . @ -")
    if scope not in ("read", "write"):
        raise ConfigError(f"token scope {scope!r}: read or write")
    token = PREFIX + secrets.token_urlsafe(32)
    try:
        row = await conn.fetchrow(
            """INSERT INTO api_tokens (name, scope, prefix, sha256) VALUES ($1, $2, $3, $4)
               RETURNING id, name, scope, prefix, created_at, revoked_at""",
            name,
            scope,
            token[:10],
            hash_token(token),
        )
    except asyncpg.UniqueViolationError as e:
        raise ConfigError(f"a token named {name!r} exists; revoke it or choose another name") from e
    return token, TokenInfo(**dict(one(row, "the new token's INSERT")))


async def list_tokens(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
) -> list[TokenInfo]:
    rows = await conn.fetch(
        "SELECT id, name, scope, prefix, created_at, revoked_at FROM api_tokens ORDER BY id"
    )
    return [TokenInfo(**dict(r)) for r in rows]


async def revoke(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, name: str) -> bool:
    """Revoke the token named ``name``; False when no such active token exists."""
    done = await conn.fetchval(
        """UPDATE api_tokens SET revoked_at = now()
           WHERE name = $1 AND revoked_at IS NULL RETURNING id""",
        name,
    )
    return done is not None
