"""Entry point: ``python -m autonama_alerts_api`` or ``autonama-alerts-api`` (uvicorn)."""

from __future__ import annotations

import sys

import uvicorn

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
    # uvicorn turns SIGTERM into a graceful shutdown that runs the app's lifespan exit.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
