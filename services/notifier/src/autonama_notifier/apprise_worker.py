"""One Apprise worker process: sends one message at a time, read as a JSON line on stdin,
answered as a JSON line on stdout (``{"ok": bool, "error": str | null}``).

It runs apart from the notifier so that a send can be *stopped*: Apprise's plugins are
blocking code (requests, smtplib) that a thread cannot be made to give up, so the pool
(``apprise_pool.py``) kills the process at the deadline instead. In here, every socket is
checked by the network guard (``notify/network.py``: no loopback, private or link-local
address unless allowed, redirects included), the process's memory is capped (a receiver
cannot grow it without bound with an endless answer) and every socket times out.

Started as ``python -m autonama_notifier.apprise_worker`` with its settings in the
environment: ``AUTONAMA_NOTIFIER_ALLOWED_NETWORKS``, ``AUTONAMA_APPRISE_WORKER_TIMEOUT``
(seconds, per socket operation) and ``AUTONAMA_APPRISE_WORKER_MEMORY`` (bytes).
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sys
from typing import Any

from autonama_shared.notify.network import REFUSED, AllowList, install_socket_guard
from autonama_shared.untrusted import printable

__all__ = ["main", "send_one"]


def send_one(request: dict[str, Any]) -> dict[str, Any]:
    """Send one message with Apprise; what became of it, its error text bounded."""
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(str(request["url"])):
        return {"ok": False, "error": "Apprise no longer accepts this URL", "refused": True}
    result = notifier.notify(body=str(request["body"]), title=str(request["title"]))
    if result:
        return {"ok": True, "error": None}
    logs = getattr(result, "logs", None)
    said = [e.message for e in logs() if e.level in ("WARNING", "ERROR")] if logs else []
    return {"ok": False, "error": printable(str(said[-1]), 300) if said else None}


def main() -> int:
    allow = AllowList.parse(os.environ.get("AUTONAMA_NOTIFIER_ALLOWED_NETWORKS", ""))
    refused = install_socket_guard(allow)
    socket.setdefaulttimeout(float(os.environ.get("AUTONAMA_APPRISE_WORKER_TIMEOUT", "10")))
    memory = int(os.environ.get("AUTONAMA_APPRISE_WORKER_MEMORY", str(1 << 30)))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # stderr goes nowhere (the pool opens it on /dev/null); Apprise keeps its own log of each
    # send, which send_one reads back (bounded, escaped)
    import apprise

    # Apprise loads its plugins at the first URL (0.7 s here, more on a busy machine):
    # before the first request, not during its deadline. (No connection is made.)
    apprise.Apprise.instantiate("json://localhost", suppress_exceptions=True)

    sys.stdout.write(json.dumps({"ready": True}) + "\n")  # the pool's deadlines start now
    sys.stdout.flush()

    for line in sys.stdin:
        before = refused[0]
        try:
            answer = send_one(json.loads(line))
        except MemoryError:
            answer = {"ok": False, "error": "the receiver's answer was too large"}
        except Exception as e:  # noqa: BLE001 (a plugin's failure is this send's outcome)
            answer = {"ok": False, "error": printable(f"{type(e).__name__}: {e}", 300)}
        if not answer["ok"] and refused[0] > before:  # the plugin's words may name the host
            answer = {"ok": False, "error": REFUSED, "refused": True}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
