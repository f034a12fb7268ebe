"""Entry point: ``python -m autonama_ingestor`` or ``autonama-ingestor``."""

from __future__ import annotations

import sys

from autonama_ingestor.service import run
from autonama_ingestor.settings import Settings
from autonama_shared.lifecycle import run_service
from autonama_shared.settings import load_settings


def main() -> int:
    return run_service("autonama-ingestor", lambda: load_settings(Settings), run)


if __name__ == "__main__":
    sys.exit(main())
