"""The messages of a notification: the webhook body (Standard Webhooks' envelope around the
alert as the API serves it) and the text of an Apprise message (a template per
subscription, ``string.Template`` syntax: ``$symbol`` or ``${symbol}``; never ``str.format``,
which would let a template reach into Python objects)."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from typing import Any

from autonama_shared.engine.outcomes import TrackRecord
from autonama_shared.engine.scorecard import MIN_SAMPLE
from autonama_shared.formats.alerts import AlertRecord

__all__ = [
    "DEFAULT_TEMPLATE",
    "TEMPLATE_FIELDS",
    "TRACK_TEMPLATE",
    "chart_url",
    "check_template",
    "event_type",
    "message_text",
    "probe_body",
    "webhook_body",
]

#: The default text of an Apprise message (the title is "$symbol $interval: $headline").
DEFAULT_TEMPLATE = (
    "$headline at $price ($where). Bands $lower - $upper, fit $fit; potential "
    "$potential_return%, to the fit $target_return%. Degree $degree, kstd $kstd, "
    "$days days, $price_scale. Chart: $chart_url"
)

_ALERT_FIELDS = set(AlertRecord.model_fields)

#: What a template may use.
TEMPLATE_FIELDS = (
    "symbol",
    "interval",
    "signal",
    "previous_signal",
    "reason",
    "headline",
    "where",
    "price",
    "lower",
    "upper",
    "fit",
    "potential_return",
    "target_return",
    "degree",
    "kstd",
    "days",
    "price_scale",
    "last_candle_time",
    "alert_id",
    "chart_url",
    "sample",
    "hit_rate",
    "median_return_5",
)

#: Added to the default text when the key's track record has this many final outcomes.
TRACK_TEMPLATE = (
    " Track record of this key: the fit reached by $hit_rate% of $sample alerts, median "
    "$median_return_5% after 5 bars."
)


def event_type(alert: AlertRecord) -> str:
    """``alert.ended`` or ``alert.raised``."""
    return "alert.ended" if alert.ended else "alert.raised"


def chart_url(public_url: str, alert: AlertRecord) -> str:
    """The dashboard's chart of the alert's signal.

    >>> from autonama_shared.notify.messages import chart_url
    >>> chart_url("http://127.0.0.1:8000/", _example())
    'http://127.0.0.1:8000/alerts#signal=1207'
    """
    return f"{public_url.rstrip('/')}/alerts#signal={alert.signal_id}"


def webhook_body(
    alert: AlertRecord,
    public_url: str,
    now: datetime | None = None,
    track: TrackRecord | None = None,
) -> str:
    """The JSON body POSTed to a webhook: ``{"type", "timestamp", "data"}``, data being the
    alert as ``GET /v1/alerts`` serves it plus ``chart_url`` and, when known, its key's
    ``track_record`` (final outcomes: ``sample``, ``hit_rate``, ``median_return_5``). Built
    once per delivery and stored, so every retry sends (and signs) the same bytes."""
    # The record's fields only: an event (a subclass) also carries its type and version.
    data = alert.model_dump(mode="json", include=_ALERT_FIELDS)
    data["chart_url"] = chart_url(public_url, alert)
    if track is not None:
        data["track_record"] = {
            "sample": track.sample,
            "hit_rate": track.hit_rate,
            "median_return_5": track.median_return_5,
        }
    return _envelope(event_type(alert), data, now)


def probe_body(subscription_id: int, name: str, now: datetime | None = None) -> str:
    """The body of ``POST /v1/subscriptions/{id}/test``."""
    data = {"subscription_id": subscription_id, "name": name, "message": "Autonama test event"}
    return _envelope("subscription.test", data, now)


def _envelope(kind: str, data: dict[str, Any], now: datetime | None) -> str:
    moment = (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": kind, "timestamp": moment, "data": data}, separators=(",", ":"))


def _number(x: float) -> str:
    return f"{x:.8g}"


def _percent(x: object, scale: float) -> str:
    """A share or a percentage as text with two decimals; "n/a" when unknown."""
    return f"{x * scale:.2f}" if isinstance(x, float | int) else "n/a"


def _fields(alert: dict[str, Any]) -> dict[str, str]:
    ended = alert["reason"] == "ended"
    side = alert["previous_signal"] if ended else alert["signal"]
    if ended:
        headline, where = f"{side} ended", "back inside the bands"
    elif side == "BUY":
        headline, where = "BUY", "below the lower band"
    else:
        headline, where = "SELL", "above the upper band"
    fields = {name: str(alert.get(name, "")) for name in TEMPLATE_FIELDS}
    track = alert.get("track_record") or {}
    fields |= {
        "sample": str(track.get("sample", 0)),
        "hit_rate": _percent(track.get("hit_rate"), 100),
        "median_return_5": _percent(track.get("median_return_5"), 1),
    }
    fields |= {
        "headline": headline,
        "where": where,
        "alert_id": str(alert.get("id", "")),
        "kstd": f"{alert['kstd']:g}",
        **{
            k: _number(alert[k])
            for k in ("price", "lower", "upper", "fit")
            if isinstance(alert.get(k), float | int)
        },
        **{
            k: f"{alert[k]:.2f}"
            for k in ("potential_return", "target_return")
            if isinstance(alert.get(k), float | int)
        },
    }
    return fields


def message_text(template: str | None, body: str) -> tuple[str, str]:
    """The title and text of an Apprise message for a stored webhook body (an alert, or the
    test event)."""
    envelope = json.loads(body)
    data = envelope["data"]
    if envelope["type"] == "subscription.test":
        return "Autonama test", f"Test event for subscription {data['name']!r}: it works."
    fields = _fields(data)
    title = f"{fields['symbol']} {fields['interval']}: {fields['headline']}"
    if template is None:  # the default: the track record when the sample says something
        track = data.get("track_record") or {}
        large = int(track.get("sample") or 0) >= MIN_SAMPLE
        template = DEFAULT_TEMPLATE + (TRACK_TEMPLATE if large else "")
    return title, string.Template(template).safe_substitute(fields)


def check_template(template: str) -> str:
    """``ValueError`` naming the placeholder a template uses that does not exist.

    >>> check_template("$symbol is $signal")
    '$symbol is $signal'
    >>> check_template("$symbol at $prise")
    Traceback (most recent call last):
    ...
    ValueError: unknown placeholder $prise; a template may use $symbol, $interval, ...
    """
    try:
        names = string.Template(template).get_identifiers()
    except ValueError as e:
        raise ValueError(f"not a template: {e} (write $$ for a dollar sign)") from e
    if not string.Template(template).is_valid():
        raise ValueError("not a template: a $ not followed by a name (write $$ for a dollar sign)")
    unknown = [n for n in names if n not in TEMPLATE_FIELDS]
    if unknown:
        raise ValueError(
            f"unknown placeholder ${unknown[0]}; a template may use "
            + ", ".join(f"${f}" for f in TEMPLATE_FIELDS)
        )
    return template


def _example() -> AlertRecord:
    """An alert for the doctests."""
    t = datetime(2026, 3, 14, tzinfo=UTC)
    return AlertRecord(
        id=42,
        signal_id=1207,
        symbol="BTCUSDT",
        interval="1d",
        degree=4,
        kstd=2.0,
        price_scale="linear",
        days=720,
        signal="BUY",
        previous_signal="HOLD",
        reason="changed",
        price=52000.0,
        lower=53100.5,
        upper=71020.3,
        fit=62060.4,
        potential_return=33.75,
        target_return=19.35,
        last_candle_time=t,
        created_at=t,
        scan_id=None,
    )
