"""``autonama dlq list|show|replay``: what the workers set aside, and bringing it back."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from autonama_cli._console import stdout_console
from autonama_cli._db import with_database
from autonama_shared.db.replays import record_replays, replayed
from autonama_shared.errors import ConfigError
from autonama_shared.messaging import dead_letters as dlq
from autonama_shared.settings import AppSettings, load_settings
from autonama_shared.untrusted import printable

__all__ = ["listing", "replay", "show"]


def _when(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError as e:
        raise ConfigError(f"{flag} {text!r} is not a time: use ISO 8601, 2026-12-07T10:00") from e
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _chosen(args: argparse.Namespace, app: AppSettings) -> list[dlq.Letter]:
    letters = asyncio.run(dlq.read_letters(app.kafka))
    for i in getattr(args, "ids", None) or ():
        if not any(x.id == i for x in letters):
            raise ConfigError(f"no dead letter {i} (autonama dlq list shows their ids)")
    return dlq.select(
        letters,
        ids=getattr(args, "ids", None) or (),
        topic=args.topic,
        since=_when(args.since, "--since"),
        until=_when(args.until, "--until"),
        reason=args.reason,
    )


def listing(args: argparse.Namespace) -> int:
    app = load_settings(AppSettings)
    letters = _chosen(args, app)
    done = with_database(lambda conn: replayed(conn, [x.digest for x in letters]))
    table = Table(title=f"Dead letters ({len(letters)})")
    for name in ("id", "set aside", "by", "record", "bytes", "replayed", "why"):
        table.add_column(name, overflow="fold")
    for x in letters:
        d = x.letter
        if d is None:
            table.add_row(x.id, "", "", "", str(len(x.raw)), "", "the letter is unreadable")
            continue
        when = done.get(x.digest)
        table.add_row(
            x.id,
            d.failed_at.strftime("%Y-%m-%d %H:%M:%S"),
            d.service,
            f"{d.topic}[{d.partition}]@{d.offset}",
            str(d.value_bytes if d.value_bytes is not None else ""),
            when.strftime("%Y-%m-%d %H:%M:%S") if when else "",
            printable(d.error, 160),
        )
    stdout_console().print(table)
    return 0


def show(args: argparse.Namespace) -> int:
    app = load_settings(AppSettings)
    chosen = _chosen(argparse.Namespace(**{**vars(args), "ids": [args.id]}), app)
    d = chosen[0].letter if chosen else None
    if d is None:
        raise ConfigError(f"dead letter {args.id} cannot be read")
    x = chosen[0]
    out: dict[str, Any] = d.model_dump(mode="json", exclude={"value_b64"})
    out["id"] = x.id
    try:
        value = asyncio.run(dlq.record_bytes(app.kafka, d))
        try:
            out["record"] = json.loads(value)
        except ValueError:
            out["record_text"] = printable(value.decode("utf-8", "replace"), 2000)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - shown, not raised: the letter is still worth seeing
        out["record_error"] = str(e)
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def replay(args: argparse.Namespace) -> int:
    if not (args.ids or args.topic or args.since or args.until or args.reason or args.all):
        raise ConfigError(
            "name the letters to replay: their ids, --topic/--since/--until/--reason, or --all"
        )
    app = load_settings(AppSettings)
    letters = _chosen(args, app)
    done = with_database(lambda conn: replayed(conn, [x.digest for x in letters]))
    todo = [x for x in letters if args.again or x.digest not in done]
    for x in letters:
        if x not in todo:
            at = done[x.digest]
            print(f"{x.id}: replayed before ({at:%Y-%m-%d %H:%M:%S}); --again to resend")
    sent = asyncio.run(dlq.replay(app.kafka, todo))
    marks = [(x.digest, x.id, x.letter.topic if x.letter else "") for x in sent]
    if marks:
        with_database(lambda conn: record_replays(conn, marks))
    for _, letter_id, topic in marks:
        print(f"{letter_id}: replayed to {topic}")
    print(f"{len(sent)} replayed, {len(letters) - len(todo)} skipped")
    return 0
