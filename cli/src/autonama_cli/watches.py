"""``autonama watch add|list|remove``: what the live market follows, in the stack's database
(the same rules as ``POST /v1/watches``; the fetcher follows them within seconds)."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import ValidationError
from rich.table import Table

from autonama_cli._console import stdout_console
from autonama_cli._db import with_database
from autonama_shared.db import watches as db
from autonama_shared.errors import ConfigError
from autonama_shared.formats.records import describe
from autonama_shared.sources.watches import WatchSpec

__all__ = ["add", "listing", "remove"]


def add(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "intervals": args.intervals,
        "params": [
            {"degree": d, "kstd": k, "days": args.days, "price_scale": args.price_scale}
            for d in args.degree
            for k in args.kstd
        ],
    }
    if args.symbols:
        body["symbols"] = args.symbols
    if args.top is not None:
        body["top"] = args.top
    if args.all:
        body["all"] = True
    try:
        spec = WatchSpec.model_validate(body)
    except ValidationError as e:
        raise ConfigError(f"the watch is not valid: {describe(e)}") from e
    created = with_database(lambda conn: db.create_watch(conn, args.name, spec))
    print(f"watch {created.id} ({created.name!r}) stored; the fetcher follows it within seconds")
    return 0


def listing(args: argparse.Namespace) -> int:
    watches = with_database(db.list_watches)
    table = Table(title="Watches (besides the default one of the settings)")
    for name in ("id", "name", "universe", "intervals", "parameters"):
        table.add_column(name)
    for w in watches:
        s = w.spec
        universe = (
            " ".join(s.symbols)
            if s.symbols
            else f"top {s.top}"
            if s.top
            else "all USDT pairs"
            if s.all
            else "core movers"
        )
        params = ", ".join(
            f"deg {p.degree} k {p.kstd:g} {p.days} d {p.price_scale}" for p in s.params
        )
        table.add_row(str(w.id), w.name, universe, " ".join(s.intervals), params)
    stdout_console().print(table)
    return 0


def remove(args: argparse.Namespace) -> int:
    if not with_database(lambda conn: db.delete_watch(conn, args.id)):
        raise ConfigError(f"watch {args.id} does not exist (autonama watch list)")
    print(f"watch {args.id} deleted")
    return 0
