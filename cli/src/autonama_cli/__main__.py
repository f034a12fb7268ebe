"""`autonama`: the command-line entry point. Arguments in ``parsers``, commands in their modules.

A command's module is imported only when it runs, so ``autonama --help`` and
``autonama scan --help`` answer without loading pandas, matplotlib, Kafka or
the database client.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path

from autonama_cli.parsers import build_parser
from autonama_shared.errors import AutonamaError, ConfigError

__all__ = ["main", "migrate", "schema", "stack_environment"]


def migrate(args: argparse.Namespace) -> int:
    from autonama_shared.db import migrate as apply
    from autonama_shared.db.pool import open_pool
    from autonama_shared.settings import AppSettings, load_settings

    settings = load_settings(AppSettings)

    async def run() -> list[int]:
        async with (
            open_pool(settings.postgres, application_name="autonama-migrate") as pool,
            pool.acquire() as conn,
        ):
            return await apply(conn, settings.postgres.db_schema)

    applied = asyncio.run(run())
    where = f"{settings.postgres.dsn()} schema {settings.postgres.db_schema}"
    if applied:
        print(f"applied migrations {', '.join(f'{v:04d}' for v in applied)} to {where}")
    else:
        print(f"{where} is up to date")
    return 0


def schema(args: argparse.Namespace) -> int:
    from autonama_shared.formats.report import generated_report_schema
    from autonama_shared.formats.results import generated_schema

    which = generated_schema() if args.which == "results" else generated_report_schema()
    print(json.dumps(which, indent=2))
    return 0


def _handler(name: str) -> Callable[[argparse.Namespace], int]:
    module, function = name.split(":")
    handler: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(module), function
    )
    return handler


def stack_environment(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """Where a local stack runs (``make up`` writes ``.local/stack.env``: its Kafka, database
    and drop folder): its ``AUTONAMA_*`` values become defaults of this command; a value the
    environment sets itself wins. The local cluster's password file
    (``.local/postgres/pgpass``, made by deploy/local/postgres.sh) is used unless the
    environment names another. Returns the stack file read, if any."""
    env = os.environ if environ is None else environ
    folder = env.get("AUTONAMA_LOCAL_DIR") or ".local"
    passfile = Path(folder, "postgres", "pgpass")
    if "PGPASSFILE" not in env and passfile.is_file():
        env["PGPASSFILE"] = str(passfile.resolve())
    path = Path(folder, "stack.env")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.startswith("AUTONAMA_") and key not in env:
            env[key] = value
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stack_environment()
    try:
        code: int = _handler(args.handler)(args)
    except ConfigError as e:
        print(f"autonama {args.command}: {e}", file=sys.stderr)
        return 2
    except AutonamaError as e:
        print(f"autonama {args.command}: {e}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
