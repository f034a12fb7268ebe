"""Entry point: ``python -m autonama_fetcher`` or ``autonama-fetcher``."""

from __future__ import annotations

import sys

from autonama_fetcher.service import run
from autonama_fetcher.settings import Settings
from autonama_shared.lifecycle import run_service
from autonama_shared.settings import load_settings


def main() -> int:
    return run_service("autonama-fetcher", lambda: load_settings(Settings), run)


if __name__ == "__main__":
    sys.exit(main())
