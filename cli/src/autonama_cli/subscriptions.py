"""``autonama subscribe ...``: notification subscriptions, in the database the stack uses
(the same rules as ``POST /v1/subscriptions``; the notifier delivers)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from pydantic import ValidationError
from rich.table import Table

from autonama_cli._console import stdout_console
from autonama_cli._db import with_database
from autonama_shared.db import subscriptions as db
from autonama_shared.errors import ConfigError
from autonama_shared.formats.records import describe
from autonama_shared.notify.network import AllowList, check_host
from autonama_shared.notify.records import DeliveryView
from autonama_shared.notify.subscriptions import SubscriptionSpec

__all__ = ["add", "deliveries", "enable", "listing", "remove", "send_test"]


def _spec(args: argparse.Namespace) -> SubscriptionSpec:
    target = (
        {"kind": "webhook", "url": args.webhook}
        if args.webhook
        else {"kind": "apprise", "url": args.apprise}
    )
    given = {
        "events": args.events,
        "signals": args.signals,
        "symbols": args.symbols,
        "intervals": args.intervals,
        "min_potential_return": args.min_potential_return,
        "confirmed": args.confirmed or None,
    }
    body: dict[str, Any] = {
        "name": args.name,
        "target": target,
        "filter": {k: v for k, v in given.items() if v is not None},
    }
    if args.template is not None:
        body["template"] = args.template
    try:
        spec = SubscriptionSpec.model_validate(body)
        # the same variable the notifier and the API read
        allowed = os.environ.get("AUTONAMA_NOTIFIER_ALLOWED_NETWORKS", "")
        check_host(spec.target.url, AllowList.parse(allowed))
    except ValidationError as e:
        raise ConfigError(f"the subscription is not valid: {describe(e)}") from e
    except ValueError as e:
        raise ConfigError(f"the subscription is not valid: target.url: {e}") from e
    return spec


def add(args: argparse.Namespace) -> int:
    spec = _spec(args)
    created = with_database(lambda conn: db.create_subscription(conn, spec), transaction=True)
    print(created.model_dump_json(indent=2))
    if created.secret:
        print(
            f"subscription {created.id} created; its signing secret is shown only now: "
            "verify each request with it (Standard Webhooks)",
            file=sys.stderr,
        )
    return 0


def listing(args: argparse.Namespace) -> int:
    subs = with_database(db.list_subscriptions)
    table = Table(title="Subscriptions")
    for name in ("id", "name", "target", "filter", "enabled"):
        table.add_column(name)
    for s in subs:
        f = s.filter.model_dump(exclude_defaults=True)
        table.add_row(
            str(s.id),
            s.name,
            f"{s.target.kind}: {s.target.url}",
            ", ".join(f"{k}={v}" for k, v in f.items()) or "every alert",
            "yes" if s.enabled else f"no: {s.disabled_reason}",
        )
    stdout_console().print(table)
    return 0


def _missing(subscription_id: int) -> ConfigError:
    return ConfigError(f"subscription {subscription_id} does not exist (autonama subscribe list)")


def remove(args: argparse.Namespace) -> int:
    if not with_database(lambda conn: db.delete_subscription(conn, args.id)):
        raise _missing(args.id)
    print(f"subscription {args.id} deleted")
    return 0


def enable(args: argparse.Namespace) -> int:
    on = args.action == "enable"
    found = with_database(lambda conn: db.set_enabled(conn, args.id, on))
    if found is None:
        raise _missing(args.id)
    print(f"subscription {args.id} {'enabled' if on else 'disabled'}")
    return 0


def send_test(args: argparse.Namespace) -> int:
    async def queue(conn: Any) -> int | None:
        found = await db.get_subscription(conn, args.id)
        return None if found is None else await db.enqueue_test(conn, args.id)

    delivery = with_database(queue, transaction=True)
    if delivery is None:
        raise _missing(args.id)
    print(f"test event queued (delivery {delivery}); see: autonama subscribe deliveries {args.id}")
    return 0


def deliveries(args: argparse.Namespace) -> int:
    async def read(conn: Any) -> list[DeliveryView] | None:
        if await db.get_subscription(conn, args.id) is None:
            return None
        return await db.recent_deliveries(conn, args.id, args.limit)

    found = with_database(read)
    if found is None:
        raise _missing(args.id)
    table = Table(title=f"Deliveries of subscription {args.id}, newest first")
    for name in ("id", "event", "status", "attempts", "last answer", "next try (UTC)"):
        table.add_column(name)
    for d in found:
        answer = d.last_error or (str(d.last_status_code) if d.last_status_code else "")
        table.add_row(
            str(d.id),
            d.event_type + (f" #{d.alert_id}" if d.alert_id else ""),
            d.status,
            str(d.attempts),
            answer,
            d.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if d.next_attempt_at else "",
        )
    stdout_console().print(table)
    return 0
