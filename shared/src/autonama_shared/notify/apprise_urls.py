"""Apprise URLs checked when a subscription is made (Apprise is imported only here and in
the notifier's sender)."""

from __future__ import annotations

__all__ = ["check_apprise_url"]


def check_apprise_url(url: str) -> None:
    """``ValueError`` naming the problem unless Apprise knows how to send to ``url``."""
    import apprise

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        raise ValueError("an Apprise URL starts with its service, e.g. tgram://, mailto://")
    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        raise ValueError(
            f"Apprise cannot send to this {scheme}:// URL (unknown service, or a part of "
            "the URL is missing or malformed: see https://github.com/caronc/apprise/wiki)"
        )
