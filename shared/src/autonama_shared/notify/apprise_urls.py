"""Apprise URLs checked when a subscription is made (Apprise is imported only here and in
the notifier's worker processes).

Only the services people use for alerts are accepted (chat, e-mail, push, SMS, and the
generic json/xml/form webhooks): no raw socket, syslog or message-broker target that would
let a subscription write to an arbitrary host's port. And a URL may not change what the
notifier controls: its timeouts (``rto``, ``cto``; the worker has a hard deadline), its
HTTP method (``method``) or its headers (``+Header=value`` on json/xml/form).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

__all__ = ["ALLOWED_SCHEMES", "REFUSED_OPTIONS", "check_apprise_url"]

_SERVICES = {
    "chat": "tgram discord slack matrix matrixs mmost mmosts rocket rockets zulip gchat signal "
    "signals whatsapp line lark feishu dingtalk wecombot wxteams webex flock ryver twist "
    "revolt guilded threema viber workflow workflows",
    "push": "ntfy ntfys pover pbul gotify gotifys prowl spush simplepush join pushed pjet pjets "
    "bark barks onesignal pagerduty opsgenie pagertree signl4 ifttt pushy pushme pushdeer "
    "pushdeers chanify",
    "e-mail": "mailto mailtos mailgun sendgrid ses sparkpost postmark brevo resend smtp2go "
    "mailersend",
    "SMS": "twilio vonage nexmo plivo sinch clicksend msgbird d7sms bulksms 46elks elks seven "
    "telnyx infobip kavenegar",
    "social": "mastodon mastodons toot toots bsky bluesky",
    # generic webhooks and home automation (checked by the network guard like any other)
    "webhooks": "json jsons xml xmls form forms apprise apprises hassio hassios",
}
ALLOWED_SCHEMES = frozenset(s for group in _SERVICES.values() for s in group.split())

#: URL options that would hand the notifier's own controls to whoever wrote the URL.
REFUSED_OPTIONS = {
    "rto": "its read timeout (the notifier's deadline applies)",
    "cto": "its connect timeout (the notifier's deadline applies)",
    "method": "the HTTP method",
}


def check_apprise_url(url: str) -> None:
    """``ValueError`` naming the problem unless Apprise knows how to send to ``url`` and
    the URL is one Autonama accepts (module docstring)."""
    import apprise

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        raise ValueError("an Apprise URL starts with its service, e.g. tgram://, mailto://")
    if scheme not in ALLOWED_SCHEMES:
        raise ValueError(
            f"{scheme}:// is not accepted: Autonama delivers to chat, e-mail, push and SMS "
            "services and to json/xml/form webhooks (no raw sockets, syslog or brokers)"
        )
    try:
        query = urlsplit(url).query
    except ValueError as e:
        raise ValueError(f"the URL cannot be read: {e}") from e
    for part in re.split(r"[&;]", query):
        # unquote, not unquote_plus: Apprise reads a literal + as a header's mark
        name = unquote(part.split("=", 1)[0]).strip().lower()
        if name in REFUSED_OPTIONS:
            raise ValueError(f"the URL may not set {name}= ({REFUSED_OPTIONS[name]})")
        if name.startswith("+"):
            raise ValueError(f"the URL may not set a header ({name}=)")
    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        raise ValueError(
            f"Apprise cannot send to this {scheme}:// URL (unknown service, or a part of "
            "the URL is missing or malformed: see https://github.com/caronc/apprise/wiki)"
        )
