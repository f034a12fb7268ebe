"""Entry point: `python -m autonama_alerts_api` or `autonama-alerts-api`."""

from __future__ import annotations

import sys

from autonama_alerts_api.settings import Settings
from autonama_shared.errors import ConfigError
from autonama_shared.settings import load_settings


def main() -> int:
    try:
        load_settings(Settings)
    except ConfigError as e:
        print(f"autonama-alerts-api: {e}", file=sys.stderr)
        return 2
    # The service loop is built by issue 4 (the event pipeline). Until then the
    # service says so and fails, rather than pretending to run.
    print("autonama-alerts-api: not built yet (the event pipeline, issue 4)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
