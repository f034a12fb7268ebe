"""``autonama token create|list|revoke``: the API's tokens, in the database the stack uses."""

from __future__ import annotations

import argparse
import sys

from rich.table import Table

from autonama_cli._console import stdout_console
from autonama_cli._db import with_database
from autonama_shared.db.tokens import Scope, TokenInfo, create_token, list_tokens, revoke
from autonama_shared.errors import ConfigError

__all__ = ["create", "listing", "revoke_token"]


def create(args: argparse.Namespace) -> int:
    scope: Scope = args.scope
    token, info = with_database(lambda conn: create_token(conn, args.name, scope))
    if args.quiet:
        print(token)
        return 0
    print(token)
    print(
        f"token {info.name!r} ({info.scope}) created: it is shown only now; send it as "
        "'Authorization: Bearer <token>'",
        file=sys.stderr,
    )
    return 0


def listing(args: argparse.Namespace) -> int:
    tokens: list[TokenInfo] = with_database(list_tokens)
    table = Table(title="API tokens (only their first characters are kept in clear)")
    for name in ("name", "scope", "token starts", "created (UTC)", "revoked (UTC)"):
        table.add_column(name)
    for t in tokens:
        table.add_row(
            t.name,
            t.scope,
            t.prefix + "...",
            t.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            t.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if t.revoked_at else "",
        )
    stdout_console().print(table)
    return 0


def revoke_token(args: argparse.Namespace) -> int:
    if not with_database(lambda conn: revoke(conn, args.name)):
        raise ConfigError(f"no active token named {args.name!r} (autonama token list)")
    print(f"token {args.name!r} revoked")
    return 0
