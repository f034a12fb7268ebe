"""Notifications' pure parts: filters, messages, retries and signatures (no broker, no
database)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from autonama_notifier.deliver import next_state
from autonama_notifier.senders import signed_headers
from autonama_notifier.settings import Settings
from autonama_shared.db.deliveries import Claimed
from autonama_shared.db.subscriptions import new_secret
from autonama_shared.engine.outcomes import TrackRecord
from autonama_shared.formats.alerts import AlertRecord
from autonama_shared.notify.messages import check_template, message_text, webhook_body
from autonama_shared.notify.retry import Attempt, of_status
from autonama_shared.notify.subscriptions import AlertFilter, SubscriptionSpec, matches
from autonama_shared.retry import backoff_seconds

T0 = datetime(2026, 3, 14, tzinfo=UTC)


def make_alert(**fields: Any) -> AlertRecord:
    base: dict[str, Any] = {
        "id": 42,
        "signal_id": 1207,
        "symbol": "ETHUSDT",
        "interval": "1d",
        "degree": 4,
        "kstd": 2.0,
        "price_scale": "linear",
        "days": 720,
        "signal": "BUY",
        "previous_signal": "HOLD",
        "reason": "changed",
        "price": 2950.0,
        "lower": 3000.0,
        "upper": 3600.0,
        "fit": 3300.0,
        "potential_return": 20.0,
        "target_return": 11.86,
        "last_candle_time": T0,
        "created_at": T0,
        "scan_id": None,
    }
    return AlertRecord(**(base | fields))


ENDED_BUY = {"signal": "HOLD", "previous_signal": "BUY", "reason": "ended", "potential_return": 2}


@pytest.mark.parametrize(
    ("filter_", "alert", "expected"),
    [
        ({}, {}, True),
        ({"symbols": ["ETH*"]}, {}, True),
        ({"symbols": ["eth*"]}, {}, True),  # globs are case-insensitive
        ({"symbols": ["BTC*", "?THUSDT"]}, {}, True),
        ({"symbols": ["ETH"]}, {}, False),  # a glob matches the whole symbol
        ({"intervals": ["4h"]}, {}, False),
        ({"signals": ["SELL"]}, {}, False),
        ({"events": ["ended"]}, {}, False),
        ({"min_potential_return": 20}, {}, True),
        ({"min_potential_return": 20.5}, {}, False),
        # An ended alert matches by the side that ended, whatever its potential now.
        ({"signals": ["BUY"], "min_potential_return": 10}, ENDED_BUY, True),
        ({"signals": ["SELL"]}, ENDED_BUY, False),
        ({"events": ["raised"]}, ENDED_BUY, False),
    ],
)
def test_filters(filter_: dict[str, Any], alert: dict[str, Any], expected: bool) -> None:
    assert matches(AlertFilter(**filter_), make_alert(**alert)) is expected


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"target": {"kind": "webhook", "url": "https://user:pw@example.com/x"}}, "no user"),
        ({"target": {"kind": "webhook", "url": "file:///etc/passwd"}}, "http:// or https://"),
        ({"target": {"kind": "apprise", "url": "example.com/no-scheme"}}, "starts with"),
        ({"target": {"kind": "apprise", "url": "tgram://"}}, "Apprise cannot"),
        ({"template": "$symbol costs $$5 $nope"}, "unknown placeholder $nope"),
        ({"template": "100$"}, "not a template"),
        ({"filter": {"symbols": ["BTC/USDT"]}}, "symbols"),
        ({"filter": {"events": []}}, "events"),
        ({"filter": {"min_potential_return": -1}}, "min_potential_return"),
    ],
)
def test_subscriptions_refuse_what_cannot_work_and_say_why(body: dict[str, Any], why: str) -> None:
    spec = {"name": "x", "target": {"kind": "apprise", "url": "json://127.0.0.1/x"}} | body
    with pytest.raises(ValidationError, match=why.replace("$", r"\$")):
        SubscriptionSpec.model_validate(spec)


def test_a_telegram_url_is_accepted_as_apprise_parses_it() -> None:
    spec = SubscriptionSpec.model_validate(
        {"name": "tg", "target": {"kind": "apprise", "url": "tgram://123456:ABCdef/987654"}}
    )
    assert spec.target.kind == "apprise"


def test_the_webhook_body_is_the_alert_and_a_chart_link() -> None:
    alert = make_alert()
    body = json.loads(webhook_body(alert, "http://h:3001/", now=T0))
    assert body["type"] == "alert.raised"
    assert body["timestamp"] == "2026-03-14T00:00:00Z"
    assert body["data"] == json.loads(alert.model_dump_json()) | {
        "chart_url": "http://h:3001/alerts#signal=1207"
    }
    ended = json.loads(webhook_body(make_alert(**ENDED_BUY), "http://h"))
    assert ended["type"] == "alert.ended"


def test_messages_read_as_a_trader_expects() -> None:
    title, text = message_text(None, webhook_body(make_alert(), "http://h"))
    assert title == "ETHUSDT 1d: BUY"
    assert text.startswith("BUY at 2950 (below the lower band). Bands 3000 - 3600, fit 3300;")
    assert "potential 20.00%, to the fit 11.86%" in text
    assert text.endswith("Chart: http://h/alerts#signal=1207")
    title, text = message_text(None, webhook_body(make_alert(**ENDED_BUY), "http://h"))
    assert title == "ETHUSDT 1d: BUY ended"
    assert "(back inside the bands)" in text
    sell = make_alert(signal="SELL", price=3700.0)
    title, text = message_text("$symbol $headline $where at $price", webhook_body(sell, "x"))
    assert text == "ETHUSDT SELL above the upper band at 3700"


def test_a_keys_track_record_in_the_body_and_the_text() -> None:
    """$sample, $hit_rate and $median_return_5: in any template; in the default text only
    when the key has 20 final outcomes or more (a rate of 3 alerts says nothing)."""
    alert = make_alert()
    large = TrackRecord(sample=48, hit_rate=0.625, median_return_5=1.234)
    body = webhook_body(alert, "http://h", track=large)
    assert json.loads(body)["data"]["track_record"] == {
        "sample": 48,
        "hit_rate": 0.625,
        "median_return_5": 1.234,
    }
    _, text = message_text(None, body)
    assert text.endswith(
        "Track record of this key: the fit reached by 62.50% of 48 alerts, median 1.23% "
        "after 5 bars."
    )
    small = webhook_body(alert, "http://h", track=TrackRecord(3, 1.0, 4.0))
    assert "Track record" not in message_text(None, small)[1]
    _, own = message_text("$symbol: $hit_rate% of $sample", small)
    assert own == "ETHUSDT: 100.00% of 3"
    none = webhook_body(alert, "http://h", track=TrackRecord(0, None, None))
    assert message_text("$hit_rate/$median_return_5/$sample", none)[1] == "n/a/n/a/0"
    assert check_template("$hit_rate $median_return_5 $sample")


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (301, "failed"),
        (400, "failed"),
        (404, "failed"),
        (410, "failed"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_which_answers_are_retried(code: int, outcome: str) -> None:
    assert of_status(code).outcome == outcome


def test_backoff_doubles_with_jitter_up_to_the_cap_and_honours_retry_after() -> None:
    rng = random.Random(7)
    for attempts in range(1, 30):
        ceiling = min(3600.0, 2.0 * 2 ** (attempts - 1))
        wait = backoff_seconds(attempts, base=2.0, cap=3600.0, rng=rng)
        assert ceiling / 2 <= wait <= ceiling
    waits = {backoff_seconds(3, base=2.0, cap=3600.0, rng=rng) for _ in range(20)}
    assert len(waits) > 10  # jitter: receivers failing together are not retried together
    assert backoff_seconds(1, base=2.0, cap=60.0, retry_after=120) == 60.0
    now = datetime(2026, 3, 14, 12, 0, 0, tzinfo=UTC)
    assert of_status(429, "Sat, 14 Mar 2026 12:00:30 GMT", now).retry_after == 30.0


def claimed(attempts: int = 0, age: timedelta = timedelta(0)) -> Claimed:
    return Claimed(
        id=1,
        subscription_id=7,
        message_id="msg_42_7",
        body="{}",
        attempts=attempts,
        created_at=T0 - age,
        alert_created_at=T0,
        kind="webhook",
        url="http://h/x",
        secret=new_secret(),
        template=None,
    )


def test_a_retry_that_would_pass_the_maximum_age_fails_for_good() -> None:
    s = Settings(retry_base_seconds=60, retry_max_delay_seconds=3600, max_age_seconds=86_400)
    retry = Attempt("retry", 503, "HTTP 503")
    young = next_state(claimed(attempts=3), retry, s, T0)
    assert (young.status, young.attempt, young.outcome) == ("pending", 4, "retry")
    assert 120 <= young.retry_in <= 3600
    old = next_state(claimed(attempts=40, age=timedelta(hours=23, minutes=59)), retry, s, T0)
    assert old.status == "failed"
    assert "gave up after 41 attempts" in (old.error or "")
    done = next_state(claimed(), Attempt("delivered", 200), s, T0)
    assert (done.status, done.retry_in) == ("delivered", 0.0)


def test_lease_must_outlast_an_attempt() -> None:
    with pytest.raises(ValidationError, match="LEASE_SECONDS must exceed"):
        Settings(timeout_seconds=30, lease_seconds=20)


def test_signatures_verify_with_the_reference_library_and_only_for_their_body() -> None:
    secret = new_secret()
    body = webhook_body(make_alert(), "http://h")
    now = datetime.now(UTC)
    headers = signed_headers("msg_42_7", secret, body, now)
    assert headers["webhook-id"] == "msg_42_7"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(secret).verify(body, headers)["data"]["id"] == 42
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("ETHUSDT", "BTCUSDT"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
