"""Scenarios of the notifier's delivery queue, with what each must come to (worked out by
hand from the filter rules of ``notify.subscriptions``): run on the in-memory queue by the
unit tests, on PostgreSQL by the contract test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.notify.subscriptions import SubscriptionSpec


class World(Protocol):
    async def subscribe(self, spec: SubscriptionSpec) -> int: ...
    async def enable(self, sid: int, enabled: bool) -> None: ...
    async def queue(self, alerts: Sequence[AlertRecord]) -> int: ...
    async def queued(self) -> list[tuple[int, int]]: ...


def spec(name: str, **filter_: Any) -> SubscriptionSpec:
    return SubscriptionSpec.model_validate(
        {
            "name": name,
            "target": {"kind": "webhook", "url": "https://example.com/hook"},
            "filter": filter_,
        }
    )


def alert(
    id_: int, symbol: str, signal: str, previous: str | None, reason: str, **more: Any
) -> AlertRecord:
    t = datetime.now(UTC) + timedelta(minutes=1)  # committed after the subscriptions
    return AlertRecord.model_validate(
        {
            "id": id_,
            "signal_id": id_,
            "symbol": symbol,
            "interval": "1d",
            "degree": 4,
            "kstd": 2.0,
            "price_scale": "linear",
            "days": 720,
            "signal": signal,
            "previous_signal": previous,
            "reason": reason,
            "price": 100.0,
            "lower": 90.0,
            "upper": 110.0,
            "fit": 105.0,
            "potential_return": 22.0,
            "target_return": 5.0,
            "last_candle_time": t,
            "created_at": t,
            "scan_id": None,
        }
        | more
    )


Result = tuple[list[int], list[tuple[int, int]]]


async def filters_choose_and_a_replay_queues_nothing(world: World) -> tuple[Result, Result]:
    everything = await world.subscribe(spec("all"))
    eth_sells = await world.subscribe(spec("eth sells", symbols=["ETH*"], signals=["SELL"]))
    big = await world.subscribe(spec("big", min_potential_return=30))
    alerts = [
        alert(1, "BTCUSDT", "BUY", None, "new"),
        alert(2, "ETHUSDT", "SELL", "BUY", "changed"),
        alert(3, "ETHUSDT", "HOLD", "SELL", "ended"),  # the end of a SELL: to eth sells too
        alert(4, "SOLUSDT", "BUY", None, "new", potential_return=35.0),
    ]
    counts = [await world.queue(alerts), await world.queue(alerts)]
    expected = [
        (everything, 1),
        (everything, 2),
        (eth_sells, 2),
        (everything, 3),
        (eth_sells, 3),
        (big, 3),  # min_potential_return leaves ends through: one is told how it ended
        (everything, 4),
        (big, 4),
    ]
    return (counts, await world.queued()), ([8, 0], expected)


async def a_disabled_subscription_is_queued_nothing(world: World) -> tuple[Result, Result]:
    on = await world.subscribe(spec("on"))
    off = await world.subscribe(spec("off"))
    await world.enable(off, False)
    first = await world.queue([alert(1, "BTCUSDT", "BUY", None, "new")])
    await world.enable(off, True)
    second = await world.queue([alert(2, "BTCUSDT", "SELL", "BUY", "changed")])
    return ([first, second], await world.queued()), ([1, 2], [(on, 1), (on, 2), (off, 2)])


async def an_alert_from_before_a_subscription_is_not_sent(world: World) -> tuple[Result, Result]:
    sid = await world.subscribe(spec("late"))
    old = alert(1, "BTCUSDT", "BUY", None, "new")
    old = old.model_copy(update={"created_at": old.created_at - timedelta(hours=1)})
    count = await world.queue([old, alert(2, "BTCUSDT", "SELL", "BUY", "changed")])
    return ([count], await world.queued()), ([1], [(sid, 2)])


async def repeats_go_only_where_asked_for(world: World) -> tuple[Result, Result]:
    """A key outside its bands raises a confirmed alert every close: a subscription hears
    it turn BUY, change side and end, and the repeats only with ``confirmed``."""
    changes = await world.subscribe(spec("changes"))
    repeats = await world.subscribe(spec("repeats", confirmed=True))
    alerts = [
        alert(1, "BTCUSDT", "BUY", None, "new"),
        alert(2, "BTCUSDT", "BUY", "BUY", "confirmed"),
        alert(3, "BTCUSDT", "BUY", "BUY", "confirmed"),
        alert(4, "BTCUSDT", "HOLD", "BUY", "ended"),
    ]
    count = await world.queue(alerts)
    expected = [
        (changes, 1),
        (repeats, 1),
        (repeats, 2),
        (repeats, 3),
        (changes, 4),
        (repeats, 4),
    ]
    return ([count], await world.queued()), ([6], expected)


Scenario = Callable[[World], Awaitable[tuple[Result, Result]]]
SCENARIOS: list[Scenario] = [
    filters_choose_and_a_replay_queues_nothing,
    a_disabled_subscription_is_queued_nothing,
    an_alert_from_before_a_subscription_is_not_sent,
    repeats_go_only_where_asked_for,
]
