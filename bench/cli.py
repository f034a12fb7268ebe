"""How fast the ``autonama`` command answers ``--help``. Prints figures; asserts nothing.

    uv run python bench/cli.py

Each command runs in a fresh process (``autonama`` from the environment), 10
times after one warm-up; the figure is the median wall time with min and max.
Target: under 0.5 s (heavy libraries load only when a command runs).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 0.5
RUNS = 10


def timed(argv: list[str]) -> list[float]:
    subprocess.run(argv, capture_output=True, check=True)  # noqa: S603 - warm the file cache
    out = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)  # noqa: S603 - our own command
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    exe = shutil.which("autonama") or str(Path(sys.executable).with_name("autonama"))
    for args in (["--help"], ["scan", "--help"], ["backtest", "--help"]):
        t = timed([exe, *args])
        median = statistics.median(t)
        print(
            f"autonama {' '.join(args)}: median {median:.3f} s over {RUNS} runs "
            f"(min {min(t):.3f}, max {max(t):.3f}); target {TARGET} s: "
            f"{'met' if median < TARGET else 'NOT met'} ({TARGET / median:.1f}x)"
        )


if __name__ == "__main__":
    main()
