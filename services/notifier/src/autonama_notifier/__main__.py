"""Entry point: ``python -m autonama_notifier`` or ``autonama-notifier``."""

from __future__ import annotations

import sys

from autonama_notifier.service import run
from autonama_notifier.settings import Settings
from autonama_shared.lifecycle import run_service
from autonama_shared.settings import load_settings


def main() -> int:
    return run_service("autonama-notifier", lambda: load_settings(Settings), run)


if __name__ == "__main__":
    sys.exit(main())
