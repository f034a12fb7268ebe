"""Schema migrations: plain SQL files applied in order, each in its own transaction.

Files are named ``NNNN_description.sql`` (``0001_scans.sql``) and live in
``autonama_shared/db/migrations/``. The table ``schema_migrations`` in the
target schema records the versions applied and a checksum of each file, so:

- applying twice is a no-op;
- a migration that fails is rolled back whole, and the database stays at the
  previous version (``MigrationError`` says which file and why);
- a file edited after it was applied is refused (its checksum changed): write
  a new migration instead;
- two processes starting at once do not race: a transaction-level advisory
  lock per schema serialises them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from autonama_shared.errors import ConfigError, MigrationError

__all__ = ["Migration", "load_migrations", "migrate"]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """The migrations in ``directory`` (default: the package's own), oldest first.

    Any other ``.sql`` file name, or two files with one version, is a ``ConfigError``.
    """
    if directory is None:
        root = resources.files("autonama_shared.db") / "migrations"
        files = [(f.name, f.read_text(encoding="utf-8")) for f in root.iterdir()]
    else:
        if not directory.is_dir():
            raise ConfigError(f"migrations folder {directory} does not exist")
        files = [(f.name, f.read_text(encoding="utf-8")) for f in directory.iterdir()]
    found: dict[int, Migration] = {}
    for name, text in files:
        if not name.endswith(".sql"):
            continue
        match = _NAME.match(name)
        if match is None:
            raise ConfigError(f"migration file {name!r} is not named NNNN_description.sql")
        version = int(match.group(1))
        if version in found:
            raise ConfigError(f"two migration files have version {version}: {name}")
        found[version] = Migration(version, match.group(2), text)
    return [found[v] for v in sorted(found)]


async def migrate(
    conn: asyncpg.Connection | PoolConnectionProxy,
    schema: str,
    migrations: list[Migration] | None = None,
) -> list[int]:
    """Bring ``schema`` up to date; return the versions applied now (empty: nothing to do)."""
    if not _SCHEMA.match(schema):
        raise ConfigError(f"schema name {schema!r} must match {_SCHEMA.pattern}")
    if migrations is None:
        migrations = load_migrations()
    applied_now: list[int] = []
    try:
        for migration in migrations:
            async with conn.transaction():
                # Serialise concurrent migrators of this schema until this transaction ends.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", schema)
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                await conn.execute(
                    f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now())"""
                )
                row = await conn.fetchrow(
                    # The schema name is checked against _SCHEMA above: no injection.
                    f'SELECT checksum FROM "{schema}".schema_migrations WHERE version = $1',  # noqa: S608
                    migration.version,
                )
                if row is not None:
                    if row["checksum"] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name}.sql was changed "
                            "after it was applied; add a new migration instead of editing it"
                        )
                    continue
                await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                try:
                    await conn.execute(migration.sql)
                except asyncpg.PostgresError as e:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name}.sql failed: {e}; "
                        "it was rolled back; the migrations before it stay applied"
                    ) from e
                await conn.execute(
                    f'INSERT INTO "{schema}".schema_migrations (version, name, checksum) '  # noqa: S608
                    "VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
                applied_now.append(migration.version)
    except (OSError, asyncpg.InterfaceError) as e:
        raise MigrationError(f"lost the database connection while migrating: {e}") from e
    return applied_now
