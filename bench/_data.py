"""Real candles for the benchmarks, read in place from ../shared/data (or AUTONAMA_TEST_DATA)."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    root = Path(os.environ.get("AUTONAMA_TEST_DATA", str(REPO_ROOT.parent / "shared" / "data")))
    if not (root / "klines").is_dir():
        sys.exit(f"benchmark data not found at {root}: set AUTONAMA_TEST_DATA")
    return root


def read_closes(path: Path) -> NDArray[np.float64]:
    with path.open(newline="") as f:
        return np.array([float(r["close"]) for r in csv.DictReader(f)], dtype=np.float64)


def all_series() -> list[tuple[str, NDArray[np.float64]]]:
    """Every normalized series of ../shared/data as (label, closes)."""
    root = data_root() / "klines"
    return [
        (f"{p.parent.parent.name}/{p.parent.name}/{p.stem}", read_closes(p))
        for p in sorted(root.glob("*/*/*.csv"))
    ]


def windows_of(length: int, count: int) -> list[tuple[str, NDArray[np.float64]]]:
    """``count`` distinct real windows of ``length`` closes, taken round-robin across series."""
    series = [(label, c) for label, c in all_series() if len(c) >= length]
    out: list[tuple[str, NDArray[np.float64]]] = []
    offset = 0
    while len(out) < count:
        for label, closes in series:
            end = len(closes) - offset * length
            if end >= length and len(out) < count:
                out.append((f"{label}[-{offset * length}]", closes[end - length : end]))
        offset += 1
        if offset * length > max(len(c) for _, c in series):
            break
    if len(out) < count:
        sys.exit(f"only {len(out)} windows of {length} candles in the data, {count} wanted")
    return out
