"""Notifications: what a subscription asks for (``subscriptions``), the messages it gets
(``messages``) and when a failed delivery is tried again (``retry``). Pure: the sending
(httpx, Apprise) lives in the notifier service, the tables in ``autonama_shared.db``."""
