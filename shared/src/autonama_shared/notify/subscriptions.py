"""A subscription: a name, where to deliver (a webhook URL or an Apprise URL), which alerts
(a filter) and, for Apprise targets, the message's template. Validated once, here, for the
API and the CLI alike.

Filter rules (every given field must match; an empty filter matches every alert):

- ``events``: ``raised`` (a key turned BUY or SELL) and/or ``ended`` (it turned HOLD);
- ``signals``: the alert's signal; an ended alert matches by the side that ended, so a
  subscription to BUY hears both the BUY and its end;
- ``symbols``: exact symbols or globs (``ETH*``, ``*BTC``, ``?OLUSDT``);
- ``intervals``: Binance intervals (``1d``, ``4h``...);
- ``min_potential_return``: percent; applies to raised alerts only, so that the end of an
  alert one was told about is never filtered out;
- ``confirmed``: also the alerts that repeat a key's signal at a newer close (reason
  ``confirmed``: a key outside its bands raises one every close, most of a live market's
  alerts). Off unless asked for: a subscription hears a key turn BUY or SELL, change side,
  and end. Subscriptions made before this setting existed keep receiving them (migration
  0028 set it on for them).
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field

from autonama_shared.engine.intervals import IntervalName
from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.formats.records import strict_body
from autonama_shared.notify.messages import check_template

__all__ = [
    "SPEC_EXAMPLE",
    "AlertFilter",
    "AppriseTarget",
    "SubscriptionSpec",
    "Target",
    "WebhookTarget",
    "matches",
]


_WEBHOOK_URL = re.compile(r"^https?://[^\s/?#@]+(?:[/?#]\S*)?$")


def _http_url(url: str) -> str:
    """``ValueError`` naming what is wrong with a webhook URL.

    >>> _http_url("https://example.com/hooks")
    'https://example.com/hooks'
    >>> _http_url("http://example.com:99999/")
    Traceback (most recent call last):
    ...
    ValueError: the webhook URL's port must be a number from 1 to 65535
    """
    if any(unicodedata.category(ch)[0] in "CZ" for ch in url):
        raise ValueError("a webhook URL has no spaces or control characters (CR, LF, NUL...)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("the webhook URL's port must be a number from 1 to 65535") from None
    if parts.username or parts.password:
        raise ValueError("a webhook URL carries no user or password (the signature is the proof)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL is http:// or https:// with a host")
    if not _WEBHOOK_URL.match(url):
        raise ValueError("a webhook URL is http:// or https://, a host, then a path")
    if port == 0:
        raise ValueError("the webhook URL's port must be a number from 1 to 65535")
    return url


def _apprise_url(url: str) -> str:
    # Imported here: only the edges that accept a subscription need Apprise.
    from autonama_shared.notify.apprise_urls import check_apprise_url

    check_apprise_url(url)
    return url


class WebhookTarget(BaseModel):
    """A URL that receives each alert as a signed JSON POST (Standard Webhooks)."""

    model_config = strict_body({"kind": "webhook", "url": "https://example.com/hooks/autonama"})

    kind: Literal["webhook"] = "webhook"
    url: Annotated[
        str,
        # The pattern documents the form (OpenAPI); the validator says what is wrong.
        Field(min_length=8, max_length=2000, json_schema_extra={"pattern": _WEBHOOK_URL.pattern}),
        AfterValidator(_http_url),
    ]


class AppriseTarget(BaseModel):
    """An Apprise URL (tgram://, discord://, slack://, mailto://, ntfy://, json://...)."""

    model_config = strict_body(
        {"kind": "apprise", "url": "tgram://123456789:AAF-example-token/987654321"},
        {"kind": "apprise", "url": "mailtos://me:app-password@gmail.com"},
    )

    kind: Literal["apprise"] = "apprise"
    url: Annotated[
        str,
        Field(
            min_length=4,
            max_length=2000,
            json_schema_extra={"pattern": r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$"},
        ),
        AfterValidator(_apprise_url),
    ]


Target = Annotated[WebhookTarget | AppriseTarget, Field(discriminator="kind")]
SymbolGlob = Annotated[str, Field(pattern=r"^[A-Za-z0-9*?]{1,20}$")]


class AlertFilter(BaseModel):
    """Which alerts a subscription receives (see the module docstring)."""

    model_config = strict_body(
        {"symbols": ["BTCUSDT", "ETH*"], "signals": ["BUY"], "min_potential_return": 10}
    )

    events: list[Literal["raised", "ended"]] = Field(
        default=["raised", "ended"], min_length=1, max_length=2
    )
    signals: list[Literal["BUY", "SELL"]] = Field(default=["BUY", "SELL"], min_length=1)
    symbols: list[SymbolGlob] | None = Field(default=None, min_length=1, max_length=500)
    intervals: list[IntervalName] | None = Field(default=None, min_length=1)
    min_potential_return: float | None = Field(default=None, ge=0, le=1e6)
    confirmed: bool = Field(
        default=False,
        description="Also the alerts that repeat a key's signal at a newer close (reason "
        "confirmed: a key outside its bands raises one every close).",
    )


#: A subscription as asked for (the examples of the API's and the CLI's documentation).
SPEC_EXAMPLE: dict[str, Any] = {
    "name": "BTC and ETH daily to my receiver",
    "target": {"kind": "webhook", "url": "https://example.com/hooks/autonama"},
    "filter": {
        "events": ["raised", "ended"],
        "signals": ["BUY", "SELL"],
        "symbols": ["BTCUSDT", "ETH*"],
        "intervals": ["1d"],
        "min_potential_return": 10,
        "confirmed": False,
    },
}


class SubscriptionSpec(BaseModel):
    """What ``POST /v1/subscriptions`` and ``autonama subscribe add`` take."""

    model_config = strict_body(
        SPEC_EXAMPLE,
        {
            "name": "Telegram",
            "target": {"kind": "apprise", "url": "tgram://123456789:AAF-example-token/987654321"},
            "filter": {"signals": ["BUY"]},
        },
    )

    name: str = Field(min_length=1, max_length=200)
    target: Target
    filter: AlertFilter = Field(default_factory=AlertFilter)
    template: Annotated[str, AfterValidator(check_template)] | None = Field(
        default=None,
        max_length=4000,
        description="The message of an Apprise target, with $symbol, $signal, $price... "
        "(docs/tutorial/notifications.md); webhooks always carry the alert as JSON.",
    )


def matches(f: AlertFilter, alert: AlertRecord) -> bool:
    """Whether ``alert`` passes ``f`` (module docstring).

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 3, 14, tzinfo=UTC)
    >>> a = AlertRecord(id=1, signal_id=1, symbol="ETHUSDT", interval="1d", degree=4,
    ...     kstd=2.0, price_scale="linear", days=720, signal="BUY", previous_signal="HOLD",
    ...     reason="changed", price=1.0, lower=1.1, upper=1.5, fit=1.3,
    ...     potential_return=36.4, target_return=30.0, last_candle_time=t, created_at=t,
    ...     scan_id=None)
    >>> matches(AlertFilter(symbols=["ETH*"], min_potential_return=10), a)
    True
    >>> matches(AlertFilter(symbols=["BTC*"]), a)
    False
    >>> again = a.model_copy(update={"previous_signal": "BUY", "reason": "confirmed"})
    >>> matches(AlertFilter(), again), matches(AlertFilter(confirmed=True), again)
    (False, True)
    """
    if alert.ended:
        if "ended" not in f.events or alert.previous_signal not in f.signals:
            return False
    else:
        if "raised" not in f.events or alert.signal not in f.signals:
            return False
        if alert.reason == "confirmed" and not f.confirmed:
            return False
        if f.min_potential_return is not None and alert.potential_return < f.min_potential_return:
            return False
    if f.intervals is not None and alert.interval not in f.intervals:
        return False
    if f.symbols is not None:
        symbol = alert.symbol.upper()
        if not any(fnmatch.fnmatchcase(symbol, p.upper()) for p in f.symbols):
            return False
    return True
