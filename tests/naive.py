"""Independent reference implementations for the tests: slow, obvious, float64.

Nothing here imports Autonama's numeric code. The fit is numpy.polynomial's
own least squares (Polynomial.fit) on each window separately.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from numpy.polynomial import Polynomial
from numpy.typing import NDArray


def read_closes(path: Path) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """open_time and close columns of a normalized ../shared/data klines CSV."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    times = np.array([int(r["open_time"]) for r in rows], dtype=np.int64)
    closes = np.array([float(r["close"]) for r in rows], dtype=np.float64)
    return times, closes


def naive_fit(
    close: NDArray[np.float64], degree: int, kstd: float, scale: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float]:
    """fit, lower, upper (price units) and sigma (fitted scale) of one window."""
    n = len(close)
    x = np.array([-1.0 + 2.0 * i / (n - 1) for i in range(n)])
    y = np.log(close) if scale == "log" else close.copy()
    fit_y = Polynomial.fit(x, y, degree)(x)
    sigma = float(np.sqrt(np.mean((y - fit_y) ** 2)))
    back = np.exp if scale == "log" else (lambda v: v)
    return back(fit_y), back(fit_y - kstd * sigma), back(fit_y + kstd * sigma), sigma


def naive_signal(close: NDArray[np.float64], degree: int, kstd: float, scale: str) -> str:
    _, lower, upper, _ = naive_fit(close, degree, kstd, scale)
    price = close[-1]
    if price < lower[-1]:
        return "BUY"
    if price > upper[-1]:
        return "SELL"
    return "HOLD"
