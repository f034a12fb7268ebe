"""What a process loads when it starts: each measured in a fresh interpreter.

Heavy libraries load only where they are used: the events (every service's
wire format) load no pandas, pyarrow or matplotlib; the analyzer loads no
database client, no web framework and no candle cache; ``autonama --help`` loads none of the
libraries its commands use (``bench/cli.py`` times it).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CLI_HELP = """
from autonama_cli.__main__ import main
try:
    main(["scan", "--help"])
except SystemExit:
    pass
"""
HEAVY = {"pandas", "pyarrow", "matplotlib", "asyncpg", "fastapi", "aiokafka", "binance", "rich"}


def loaded_by(code: str) -> set[str]:
    """The heavy top-level packages in ``sys.modules`` after running ``code``."""
    report = "import json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"{code}\n{report}"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(json.loads(out.splitlines()[-1])) & HEAVY


@pytest.mark.parametrize(
    ("code", "allowed"),
    [
        ("import autonama_shared.messaging.events", set()),
        ("import autonama_shared.engine.bands, autonama_shared.engine.specs", set()),
        # python-binance: a live key's window is loaded over REST (no cache: no pyarrow)
        ("import autonama_analyzer.__main__", {"aiokafka", "binance"}),
        ("import autonama_ingestor.__main__", {"aiokafka", "asyncpg"}),
        (CLI_HELP, set()),
    ],
    ids=["events", "engine", "analyzer", "ingestor", "cli-help"],
)
def test_a_process_loads_only_what_it_uses(code: str, allowed: set[str]) -> None:
    assert loaded_by(code) - allowed == set()


def test_the_probe_sees_a_heavy_import() -> None:
    assert "pandas" in loaded_by("import pandas")
