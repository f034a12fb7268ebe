"""Entry point: `python -m autonama_analyzer` or `autonama-analyzer`."""

from __future__ import annotations

import sys

from autonama_analyzer.settings import Settings
from autonama_shared.errors import ConfigError
from autonama_shared.settings import load_settings


def main() -> int:
    try:
        load_settings(Settings)
    except ConfigError as e:
        print(f"autonama-analyzer: {e}", file=sys.stderr)
        return 2
    # The service loop is built by issue 4 (the event pipeline). Until then the
    # service says so and fails, rather than pretending to run.
    print("autonama-analyzer: not built yet (the event pipeline, issue 4)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
