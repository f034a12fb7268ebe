from __future__ import annotations

import re
from pathlib import Path

import pytest

from autonama_shared.db import load_migrations
from autonama_shared.engine.specs import (
    MAX_DAYS,
    MAX_DEGREE,
    MAX_KSTD,
    MIN_DAYS,
    MIN_DEGREE,
    MIN_KSTD,
)
from autonama_shared.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parents[2] / "shared/src/autonama_shared/db/migrations"


def test_files_are_ordered_by_version(tmp_path: Path) -> None:
    (tmp_path / "0010_later.sql").write_text("SELECT 2;")
    (tmp_path / "0002_first.sql").write_text("SELECT 1;")
    (tmp_path / "notes.txt").write_text("not a migration")
    assert [(m.version, m.name) for m in load_migrations(tmp_path)] == [(2, "first"), (10, "later")]


@pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql"])
def test_badly_named_file_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(ConfigError, match=r"NNNN_description\.sql"):
        load_migrations(tmp_path)


def test_duplicate_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(ConfigError, match="two migration files have version 1"):
        load_migrations(tmp_path)


def test_checksum_changes_with_content(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    before = load_migrations(tmp_path)[0].checksum
    (tmp_path / "0001_a.sql").write_text("SELECT 2;")
    assert load_migrations(tmp_path)[0].checksum != before


def test_the_tables_checks_are_the_engines_bounds() -> None:
    """Every ``column BETWEEN a AND b`` CHECK of the migrations on a scan parameter states the
    bounds the engine validates (``engine.specs``): a change of one is a change of both."""
    bounds = {
        "degree": (MIN_DEGREE, MAX_DEGREE),
        "kstd": (MIN_KSTD, MAX_KSTD),
        "days": (MIN_DAYS, MAX_DAYS),
    }
    found = [
        (m.name, column, float(low), float(high))
        for m in load_migrations(MIGRATIONS)
        for column, low, high in re.findall(r"\b(\w+) BETWEEN ([\d.]+) AND ([\d.]+)", m.sql)
        if column in bounds
    ]
    assert {column for _, column, _, _ in found} == set(bounds)
    assert [f for f in found if (f[2], f[3]) != bounds[f[1]]] == []
