"""The ``autonama`` command in a process of its own, on a test's database schema."""

from __future__ import annotations

import os
import subprocess
import sys

from autonama_shared.settings import PostgresSettings


def cli(
    pg: PostgresSettings, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AUTONAMA_POSTGRES__HOST": pg.host,
        "AUTONAMA_POSTGRES__PORT": str(pg.port),
        "AUTONAMA_POSTGRES__USER": pg.user,
        "AUTONAMA_POSTGRES__DATABASE": pg.database,
        "AUTONAMA_POSTGRES__DB_SCHEMA": pg.db_schema,
        "COLUMNS": "200",  # tables printed whole
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "autonama_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
