"""`autonama`: the command-line entry point. Subcommands live in their own modules."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from autonama_cli import backtest, pipeline, scan
from autonama_shared import __version__
from autonama_shared.db import migrate
from autonama_shared.errors import AutonamaError, ConfigError
from autonama_shared.report import generated_report_schema
from autonama_shared.results import generated_schema
from autonama_shared.settings import AppSettings, load_settings


def _migrate(args: argparse.Namespace) -> int:
    settings = load_settings(AppSettings)

    async def run() -> list[int]:
        from autonama_shared.db.pool import open_pool

        async with (
            open_pool(settings.postgres, application_name="autonama-migrate") as pool,
            pool.acquire() as conn,
        ):
            return await migrate(conn, settings.postgres.db_schema)

    applied = asyncio.run(run())
    where = f"{settings.postgres.dsn()} schema {settings.postgres.db_schema}"
    if applied:
        print(f"applied migrations {', '.join(f'{v:04d}' for v in applied)} to {where}")
    else:
        print(f"{where} is up to date")
    return 0


def _schema(args: argparse.Namespace) -> int:
    schema = generated_schema() if args.which == "results" else generated_report_schema()
    print(json.dumps(schema, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autonama",
        description="Polynomial-regression band signals on Binance spot markets.",
    )
    parser.add_argument("--version", action="version", version=f"autonama {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "migrate",
        help="apply the database migrations (settings: AUTONAMA_POSTGRES__HOST, ...)",
    )
    p.set_defaults(handler=_migrate)
    scan.add_parser(sub)
    pipeline.add_parsers(sub)
    backtest.add_parser(sub)
    p = sub.add_parser("schema", help="print the JSON Schema of the results file or report")
    p.add_argument("which", nargs="?", choices=["results", "report"], default="results")
    p.set_defaults(handler=_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except ConfigError as e:
        print(f"autonama {args.command}: {e}", file=sys.stderr)
        return 2
    except AutonamaError as e:
        print(f"autonama {args.command}: {e}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
