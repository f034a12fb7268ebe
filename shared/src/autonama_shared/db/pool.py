"""Opening an asyncpg pool in one place, closing it in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from autonama_shared.errors import TemporaryError
from autonama_shared.settings import PostgresSettings

__all__ = ["open_pool"]


@asynccontextmanager
async def open_pool(
    settings: PostgresSettings,
    *,
    application_name: str = "autonama",
    read_only_role: str | None = None,
) -> AsyncIterator[asyncpg.Pool]:
    """A pool whose connections use ``settings.db_schema`` as their search path.

    With ``read_only_role`` every connection starts as that role (``SET ROLE`` at
    connection start-up, which ``RESET ALL`` returns to) in read-only transactions:
    whatever the login user may do, these connections can only read.
    Raises ``TemporaryError`` when the server cannot be reached (retry later).
    """
    server_settings = {"search_path": settings.db_schema, "application_name": application_name}
    if read_only_role is not None:
        server_settings |= {"role": read_only_role, "default_transaction_read_only": "on"}
    try:
        pool = await asyncpg.create_pool(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=settings.password.get_secret_value() or None,
            database=settings.database,
            min_size=settings.min_pool_size,
            max_size=settings.max_pool_size,
            server_settings=server_settings,
        )
    except (OSError, asyncpg.PostgresError) as e:
        raise TemporaryError(f"cannot connect to PostgreSQL at {settings.dsn()}: {e}") from e
    try:
        yield pool
    finally:
        await pool.close()
