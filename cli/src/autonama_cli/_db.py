"""The stack's database for the commands that manage it (tokens, subscriptions)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from autonama_shared.db import migrate
from autonama_shared.db.pool import open_pool
from autonama_shared.settings import AppSettings, load_settings

__all__ = ["with_database"]

T = TypeVar("T")


def with_database(work: Callable[[Any], Awaitable[T]], *, transaction: bool = False) -> T:
    """Run ``work(connection)`` on the stack's database (its schema brought up to date
    first), in one transaction if asked."""
    app = load_settings(AppSettings)

    async def run() -> T:
        async with (
            open_pool(app.postgres, application_name="autonama-cli") as pool,
            pool.acquire() as conn,
        ):
            await migrate(conn, app.postgres.db_schema)
            if not transaction:
                return await work(conn)
            async with conn.transaction():
                return await work(conn)

    return asyncio.run(run())
