"""Benchmark of the band engine on real candles. Prints figures and ratios; asserts nothing.

    uv run python bench/bands.py

1. Scan: 100 real series of 720 candles, degree 4, kstd 2: the batched engine
   (one basis, matrix products) against a per-symbol numpy.polyfit loop, with
   identical signals required. Target: 20x or better.
2. Walk-forward: one year (365 bars) of daily band values with a 365-candle
   window: the rolling engine against a per-window numpy.polyfit loop.
   Target: 100x or better.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import data_root, read_closes, windows_of
from autonama_shared.engine.bands import scan_signals, walk_forward
from autonama_shared.engine.specs import BandParams

DEGREE, KSTD = 4, 2.0


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def polyfit_signal(close: NDArray[np.float64]) -> str:
    n = len(close)
    x = np.linspace(-1.0, 1.0, n)
    coeffs = np.polyfit(x, close, DEGREE)
    fit = np.polyval(coeffs, x)
    sigma = np.sqrt(np.mean((close - fit) ** 2))
    lower, upper = fit[-1] - KSTD * sigma, fit[-1] + KSTD * sigma
    return "BUY" if close[-1] < lower else "SELL" if close[-1] > upper else "HOLD"


def polyfit_walk_forward(close: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    out = np.full(len(close), np.nan)
    x = np.linspace(-1.0, 1.0, window)
    for t in range(window - 1, len(close)):
        y = close[t - window + 1 : t + 1]
        out[t] = np.polyval(np.polyfit(x, y, DEGREE), x[-1])
    return out


def main() -> None:
    params = BandParams(degree=DEGREE, kstd=KSTD)
    series = [closes for _, closes in windows_of(720, 100)]

    batched = scan_signals(series, params, window=720)
    looped = [polyfit_signal(c) for c in series]
    same = sum(r.signal == s for r, s in zip(batched, looped, strict=True))
    t_batch = best_of(lambda: scan_signals(series, params, window=720), 20)
    t_loop = best_of(lambda: [polyfit_signal(c) for c in series], 5)
    counts = {s: sum(r.signal == s for r in batched) for s in ("BUY", "SELL", "HOLD")}
    print(
        f"scan    100 series x 720 candles, degree {DEGREE}: batched {t_batch * 1e3:8.2f} ms, "
        f"polyfit loop {t_loop * 1e3:8.2f} ms, ratio {t_loop / t_batch:6.1f}x (target 20x); "
        f"identical signals {same}/100 {counts}"
    )

    btc = read_closes(data_root() / "klines" / "until-2022-10" / "1d" / "BTCUSDT.csv")
    window = 365
    close = btc[-(window + 365 - 1) :]  # 365 band values
    wf = walk_forward(close, window, params)
    ref = polyfit_walk_forward(close, window)
    worst = float(np.nanmax(np.abs(wf.fit - ref) / np.abs(ref)))
    t_wf = statistics.median(
        best_of(lambda: walk_forward(close, window, params), 5) for _ in range(3)
    )
    t_naive = best_of(lambda: polyfit_walk_forward(close, window), 3)
    print(
        f"walk-forward 365 daily bars, window {window}: rolling {t_wf * 1e3:8.3f} ms, "
        f"polyfit per window {t_naive * 1e3:8.2f} ms, ratio {t_naive / t_wf:6.1f}x (target 100x); "
        f"max relative difference of the fit {worst:.1e}"
    )


if __name__ == "__main__":
    main()
