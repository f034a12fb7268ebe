"""The migration runner on the real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from autonama_shared.db import load_migrations, migrate
from autonama_shared.errors import MigrationError
from autonama_shared.settings import PostgresSettings


def write(folder: Path, name: str, sql: str) -> None:
    (folder / name).write_text(sql, encoding="utf-8")


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    write(
        tmp_path, "0001_items.sql", "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);"
    )
    write(tmp_path, "0002_price.sql", "ALTER TABLE items ADD COLUMN price numeric;")
    return tmp_path


async def versions(conn: asyncpg.Connection, schema: str) -> list[int]:
    rows = await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations ORDER BY version')
    return [r["version"] for r in rows]


async def test_apply_on_empty_database_then_nothing_twice(
    pg_conn: asyncpg.Connection, pg_settings: PostgresSettings, migrations_dir: Path
) -> None:
    schema = pg_settings.db_schema
    assert await migrate(pg_conn, schema, load_migrations(migrations_dir)) == [1, 2]
    assert await migrate(pg_conn, schema, load_migrations(migrations_dir)) == []
    assert await versions(pg_conn, schema) == [1, 2]

    await pg_conn.execute(f'INSERT INTO "{schema}".items VALUES ($1, $2, $3)', 7, "btc", 1.5)
    row = await pg_conn.fetchrow(f'SELECT id, name, price FROM "{schema}".items')
    assert row is not None
    assert (row["id"], row["name"], float(row["price"])) == (7, "btc", 1.5)


async def test_failed_migration_leaves_previous_version(
    pg_conn: asyncpg.Connection, pg_settings: PostgresSettings, migrations_dir: Path
) -> None:
    schema = pg_settings.db_schema
    await migrate(pg_conn, schema, load_migrations(migrations_dir))
    # The first statement would succeed; the second fails: the whole file must roll back.
    write(
        migrations_dir,
        "0003_broken.sql",
        "CREATE TABLE half_done (id int);\nALTER TABLE no_such_table ADD COLUMN x int;",
    )
    with pytest.raises(MigrationError, match=r"0003_broken\.sql failed"):
        await migrate(pg_conn, schema, load_migrations(migrations_dir))
    assert await versions(pg_conn, schema) == [1, 2]
    exists = await pg_conn.fetchval("SELECT to_regclass($1)", f"{schema}.half_done")
    assert exists is None
    # The connection is usable and the runner can go on once the file is fixed.
    write(migrations_dir, "0003_broken.sql", "CREATE TABLE half_done (id int);")
    assert await migrate(pg_conn, schema, load_migrations(migrations_dir)) == [3]


async def test_edited_migration_is_refused(
    pg_conn: asyncpg.Connection, pg_settings: PostgresSettings, migrations_dir: Path
) -> None:
    await migrate(pg_conn, pg_settings.db_schema, load_migrations(migrations_dir))
    write(migrations_dir, "0002_price.sql", "ALTER TABLE items ADD COLUMN cost numeric;")
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        await migrate(pg_conn, pg_settings.db_schema, load_migrations(migrations_dir))


async def test_package_migrations_apply(
    pg_conn: asyncpg.Connection, pg_settings: PostgresSettings
) -> None:
    """The product's own migrations apply to an empty schema, and a second run changes nothing."""
    shipped = load_migrations()
    applied = await migrate(pg_conn, pg_settings.db_schema)
    assert applied == [m.version for m in shipped]
    assert await migrate(pg_conn, pg_settings.db_schema) == []


async def test_subscriptions_made_before_the_confirmed_setting_keep_receiving_repeats(
    pg_conn: asyncpg.Connection, pg_settings: PostgresSettings
) -> None:
    """Migration 0028: a subscription made before the filter had `confirmed` received every
    alert, repeats included; it still does. One made after leaves them out unless asked."""
    from autonama_shared.notify.subscriptions import AlertFilter

    schema = pg_settings.db_schema
    await migrate(pg_conn, schema, [m for m in load_migrations() if m.version < 28])
    await pg_conn.execute(
        f"""INSERT INTO "{schema}".subscriptions (name, kind, url, secret, filter)
            VALUES ('old', 'webhook', 'https://example.com/a', 'whsec_x', '{{}}'),
                   ('old BUY', 'webhook', 'https://example.com/b', 'whsec_x',
                    '{{"signals": ["BUY"], "events": ["raised"]}}')"""
    )
    assert await migrate(pg_conn, schema) == [m.version for m in load_migrations()][27:]
    stored = [
        AlertFilter.model_validate_json(r["filter"])
        for r in await pg_conn.fetch(f'SELECT filter FROM "{schema}".subscriptions ORDER BY id')
    ]
    assert [(f.confirmed, f.signals, f.events) for f in stored] == [
        (True, ["BUY", "SELL"], ["raised", "ended"]),
        (True, ["BUY"], ["raised"]),  # nothing else of it changed
    ]
    assert AlertFilter().confirmed is False  # a new one, unless asked
