"""Autonama notifier: alerts delivered to webhooks and Apprise targets."""
