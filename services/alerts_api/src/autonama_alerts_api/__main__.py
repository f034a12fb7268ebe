"""Entry point: ``python -m autonama_alerts_api`` or ``autonama-alerts-api`` (uvicorn)."""

from __future__ import annotations

import errno
import os
import socket
import sys
import time
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from autonama_alerts_api.app import create_app
from autonama_alerts_api.settings import Settings
from autonama_shared.errors import ConfigError
from autonama_shared.settings import load_settings


def main() -> int:
    try:
        settings = load_settings(Settings)
    except ConfigError as e:
        print(f"autonama-alerts-api: {e}", file=sys.stderr)
        return 2
    # One app on two ports: the API's and the dashboard's (same origin for the page's calls).
    sockets = [_bind(settings.host, settings.port)]
    if settings.dashboard_port and settings.dashboard_port != settings.port:
        sockets.append(_bind(settings.host, settings.dashboard_port))
    workers = settings.workers or os.cpu_count() or 1
    if workers > 1:
        # Each worker process builds its app from the environment, as this one did.
        config = uvicorn.Config(
            "autonama_alerts_api.app:app_from_environment",
            factory=True,
            workers=workers,
            log_level=settings.log_level.lower(),
            access_log=settings.access_log,
            timeout_graceful_shutdown=5,
            **_proxies(settings),
        )
        Multiprocess(config, sockets=sockets).run()
        return 0
    config = uvicorn.Config(
        create_app(settings),
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        timeout_graceful_shutdown=5,
        **_proxies(settings),
    )
    # uvicorn turns SIGTERM into a graceful shutdown that runs the app's lifespan exit.
    uvicorn.Server(config).run(sockets=sockets)
    return 0


def _proxies(settings: Settings) -> dict[str, Any]:
    """X-Forwarded-For and -Proto believed only from the configured proxies (uvicorn would
    believe them from 127.0.0.1 by default: anyone on this machine could pick the address
    the write budget counts against)."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies}


def _bind(host: str, port: int, wait_seconds: float = 10.0) -> socket.socket:
    """Listen on ``host:port``; a port still held (the workers of an API that was just killed
    are stopping) is tried again for up to ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            sock = socket.create_server((host, port), reuse_port=False)
            break
        except OSError as e:
            if e.errno == errno.EADDRINUSE and time.monotonic() < deadline:
                time.sleep(0.25)
                continue
            print(f"autonama-alerts-api: cannot listen on {host}:{port}: {e}", file=sys.stderr)
            raise SystemExit(2) from e
    sock.set_inheritable(True)
    return sock


if __name__ == "__main__":
    sys.exit(main())
