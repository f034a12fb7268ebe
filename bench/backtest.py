"""Benchmark of the backtest sweep on real candles. Prints figures and ratios; asserts nothing.

    uv run python bench/backtest.py

The 33 daily series of ../shared/data/klines/until-2022-10/1d, window 365,
degrees 2..10 x kstd 1.0..3.0 step 0.25 (81 combinations):

- the sweep: walk-forward bands of every combination, then every combination
  traded (next-open fills, 0.1 % fees) with its metrics;
- the naive way: a numpy.polynomial fit of each trailing window, measured on a
  sample of bars and scaled to all bars (stated as such), once per
  combination (what re-running a per-window backtest for each setting costs)
  and once per degree (kstd reusing the fit).

Target: 1000x or better against the naive per-combination fits, under 5 s.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import numpy as np
from numpy.polynomial import Polynomial

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import data_root
from autonama_shared.engine.bands import walk_forward_sweep
from autonama_shared.engine.specs import TradeRules
from autonama_shared.engine.sweep import sweep_series
from autonama_shared.sources.files import FileSource

WINDOW = 365
DEGREES = list(range(2, 11))
KSTDS = [1.0 + 0.25 * i for i in range(9)]
SAMPLE_BARS = 60


def main() -> None:
    folder = data_root() / "klines" / "until-2022-10" / "1d"
    source = FileSource(folder)
    series = [asyncio.run(source.fetch(s, "1d", 100_000)) for s in source.symbols("1d")]
    usable = [c for c in series if len(c) > WINDOW + 1]
    bars = sum(len(c) - WINDOW + 1 for c in usable)
    combos = len(DEGREES) * len(KSTDS)

    started = time.perf_counter()
    for c in usable:
        sweep = walk_forward_sweep(c.close, WINDOW, DEGREES)
        for k in range(len(DEGREES)):
            for kstd in KSTDS:
                sweep.bands(k, kstd)
    t_bands = time.perf_counter() - started

    started = time.perf_counter()
    trades = 0
    for c in usable:
        result = sweep_series(c, DEGREES, KSTDS, [WINDOW], TradeRules(), 365.0)
        trades += sum(r.metrics.trades for r in result.results)
    t_sweep = time.perf_counter() - started

    # The naive way on a sample of bars, scaled.
    rng = np.random.default_rng(1)
    x = np.linspace(-1.0, 1.0, WINDOW)
    per_series = SAMPLE_BARS // 10 + 1
    sample = [(c, int(t)) for c in usable for t in rng.integers(WINDOW - 1, len(c), per_series)][
        :SAMPLE_BARS
    ]
    started = time.perf_counter()
    for c, t in sample:
        y = c.close[t - WINDOW + 1 : t + 1]
        for degree in DEGREES:
            fit = Polynomial.fit(x, y, degree)(x)
            np.sqrt(np.mean((y - fit) ** 2))
    per_bar_per_degree = (time.perf_counter() - started) / (len(sample) * len(DEGREES))
    naive_combo = per_bar_per_degree * bars * combos
    naive_degree = per_bar_per_degree * bars * len(DEGREES)

    print(
        f"{len(usable)} daily series ({len(series) - len(usable)} shorter than the window), "
        f"{bars:,} bars, window {WINDOW}, {combos} combinations "
        f"({len(DEGREES)} degrees x {len(KSTDS)} kstd)"
    )
    print(f"walk-forward bands of all combinations: {t_bands:.3f} s")
    print(
        f"sweep (bands + {trades:,} trades + metrics of every combination): {t_sweep:.3f} s "
        f"(target under 5 s)"
    )
    print(
        f"naive per-window numpy.polynomial fits, one per combination (measured on "
        f"{len(sample)} bars x {len(DEGREES)} degrees, scaled): {naive_combo:.0f} s; "
        f"ratio {naive_combo / t_bands:,.0f}x on the bands, {naive_combo / t_sweep:,.0f}x on "
        f"the whole sweep (target 1000x)"
    )
    print(
        f"naive fits, one per degree (kstd reusing them), scaled: {naive_degree:.0f} s; "
        f"ratio {naive_degree / t_bands:,.0f}x on the bands"
    )


if __name__ == "__main__":
    main()
