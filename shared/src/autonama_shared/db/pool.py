"""Opening an asyncpg pool in one place, closing it in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg
from asyncpg.exceptions import _base as asyncpg_base
from asyncpg.pool import PoolConnectionProxy

from autonama_shared.db.migrations import load_migrations, migrate
from autonama_shared.errors import FatalError, TemporaryError
from autonama_shared.faults import Fault, postgres_fault
from autonama_shared.lifecycle import retry_until_ready
from autonama_shared.settings import PostgresSettings

__all__ = [
    "CUSTOM_PLANS",
    "Conn",
    "classified",
    "migrate_when_ready",
    "one",
    "open_pool",
    "schema_version",
    "transaction",
]

log = logging.getLogger(__name__)

#: A connection of the pool or a plain one: what the storage functions take.
Conn = asyncpg.Connection | PoolConnectionProxy

#: For a transaction whose statements read partitions of closes (or band_windows) by
#: values known at run time: each statement is planned for its own values, never run from
#: a cached generic plan (``SET LOCAL``: until the transaction ends). asyncpg prepares
#: statements and PostgreSQL may keep a generic plan after five runs; one made while the
#: day's new partition was near empty reads it by a sequential scan on every run for as
#: long as it stays cached, which is until autovacuum first analyzes that partition (about
#: a minute a day at the market's pace; a whole simulated day in bench/longrun.py, where
#: it halved the storage path and multiplied the outcomes' keeper rounds by 20).
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"


@asynccontextmanager
async def open_pool(
    settings: PostgresSettings,
    *,
    application_name: str = "autonama",
    read_only_role: str | None = None,
    role: str | None = None,
    max_size: int | None = None,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[asyncpg.Pool]:
    """A pool whose connections use ``settings.db_schema`` as their search path.

    With ``read_only_role`` every connection starts as that role (``SET ROLE`` at
    connection start-up, which ``RESET ALL`` returns to) in read-only transactions:
    whatever the login user may do, these connections can only read. With ``role`` they
    start as that role and may write what it may (the API's subscriptions).
    Raises ``TemporaryError`` when the server cannot be reached (retry later); a service
    passes its ``stop`` event instead, and the opening is tried again (with backoff) until
    the server answers or the service stops (``Stopped``): a database away for a moment
    when a service starts is waited for, not a reason to exit.
    """
    # No JIT: every query here is a short OLTP statement; over temporary tables (no
    # statistics) the planner's estimates can pass jit_above_cost and a 20 ms batch
    # then spends 800 ms compiling (measured on the ingestor's store statement).
    server_settings = {
        "search_path": settings.db_schema,
        "application_name": application_name,
        "jit": "off",
    }
    if read_only_role is not None:
        server_settings |= {"role": read_only_role, "default_transaction_read_only": "on"}
    elif role is not None:
        server_settings["role"] = role

    async def create() -> asyncpg.Pool:
        try:
            return await asyncpg.create_pool(
                host=settings.host,
                port=settings.port,
                user=settings.user,
                password=settings.password.get_secret_value() or None,
                database=settings.database,
                min_size=settings.min_pool_size,
                max_size=max_size or settings.max_pool_size,
                server_settings=server_settings,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise TemporaryError(f"cannot connect to PostgreSQL at {settings.dsn()}: {e}") from e

    if stop is None:
        pool = await create()
    else:
        pool = await retry_until_ready(stop, f"{application_name}: PostgreSQL", create)
    try:
        yield pool
    finally:
        await pool.close()


#: Every error that can come out of asyncpg (``classified`` sorts them).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg_base.InternalClientError,
)


@contextmanager
def classified(what: str = "PostgreSQL") -> Iterator[None]:
    """Sort a database error by the fault model (``autonama_shared.faults``).

    The database away or busy (a lost connection, disk full, read-only after a failover,
    a deadlock) becomes ``TemporaryError``: retry, never blame the record. A missing
    table, column, privilege or schema becomes ``FatalError``: nothing can be stored until
    an operator acts. An error of the record at hand (a bad value, a constraint)
    propagates as it is.
    """
    try:
        yield
    except DATABASE_ERRORS as e:
        kind = postgres_fault(e)
        if kind is Fault.TEMPORARY:
            raise TemporaryError(f"{what}: {type(e).__name__}: {e}") from e
        if kind is Fault.FATAL:
            raise FatalError(f"{what}: {type(e).__name__}: {e}") from e
        raise


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[PoolConnectionProxy]:
    """A connection in a transaction, its errors ``classified``."""
    with classified():
        async with pool.acquire() as conn, conn.transaction():
            yield conn


async def migrate_when_ready(settings: PostgresSettings, stop: asyncio.Event, who: str) -> None:
    """Apply the migrations (or, with ``settings.migrate`` false, wait until the owner has),
    waiting with backoff while the database is unreachable. ``Stopped`` if ``stop`` came first.
    """
    latest = max(m.version for m in load_migrations())

    async def attempt() -> list[int]:
        async with open_pool(settings, application_name=who) as pool, pool.acquire() as conn:
            with classified():
                if settings.migrate:
                    return await migrate(conn, settings.db_schema)
                at = await schema_version(conn, settings.db_schema)
            if at < latest:
                raise TemporaryError(
                    f"schema {settings.db_schema} is at migration {at}, this code needs {latest}:"
                    " waiting for the owner to run `autonama migrate`"
                )
            return []

    applied = await retry_until_ready(stop, f"{who}: migrations", attempt)
    if applied:
        log.info("%s: applied migrations %s", who, applied)


async def schema_version(conn: asyncpg.Connection | PoolConnectionProxy, schema: str) -> int:
    """The newest migration applied to ``schema`` (0: none, or no such table yet)."""
    exists = await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", f"{schema}.schema_migrations"
    )
    if not exists:
        return 0
    version: int | None = await conn.fetchval(
        f'SELECT max(version) FROM "{schema}".schema_migrations'  # noqa: S608 - a checked name
    )
    return version or 0


def one(row: asyncpg.Record | None, what: str) -> asyncpg.Record:
    """``row``, of a statement that always returns one (an aggregate, ``INSERT ...
    RETURNING``): its absence is a bug named by ``what``, never a silent ``None``."""
    if row is None:
        raise FatalError(f"{what} returned no row")
    return row
