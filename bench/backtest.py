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

Targets: the simulation and metrics at 50 M bar-combination steps/s or more (compiled
loops, numba: engine/_kernels.py), the whole sweep in 0.1 s or less and 3,000x the naive
per-combination fits; each figure the median of 3 runs, with its spread.

Scale: 100 synthetic 4h series of 5,000 bars x 9 degrees x 9 kstd x 3 windows (243
combinations), one symbol at a time (only its metrics kept): under 30 s, peak RSS
under 2 GB.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numpy.polynomial import Polynomial

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import data_root
from autonama_shared.engine.backtest import metrics_from, simulate
from autonama_shared.engine.bands import walk_forward_sweep
from autonama_shared.engine.candles import Candles
from autonama_shared.engine.specs import TradeRules
from autonama_shared.engine.sweep import Grid, sweep_series
from autonama_shared.sources.files import FileSource

WINDOW = 365
DEGREES = list(range(2, 11))
KSTDS = [1.0 + 0.25 * i for i in range(9)]
SAMPLE_BARS = 60
RUNS = 3


def spread(values: list[float]) -> str:
    return f"median of {len(values)}, min {min(values):.3f}, max {max(values):.3f}"


def synthetic(symbol: str, n: int, seed: int) -> Candles:
    """A 4h random walk with real-looking candles (no market data needed for scale)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = 1 + np.abs(rng.normal(0, 0.005, n))
    times = 1_600_000_000_000 + np.arange(n, dtype=np.int64) * 14_400_000
    high, low = np.maximum(open_, close) * wick, np.minimum(open_, close) / wick
    return Candles(symbol, "4h", times, open_, high, low, close, np.ones(n))


def scale_case() -> tuple[float, int]:
    started = time.perf_counter()
    steps = 0
    for i in range(100):
        c = synthetic(f"S{i:03d}USDT", 5000, i)
        result = sweep_series(c, Grid(DEGREES, KSTDS, [200, 500, 1000], TradeRules(), 2190.0))
        steps += (result.end - result.start) * len(result.results)
        best = result.best("sharpe")  # what a report keeps; the rest is dropped here
        del result, best
    return time.perf_counter() - started, steps


def main() -> None:
    folder = data_root() / "klines" / "until-2022-10" / "1d"
    source = FileSource(folder)
    series = [asyncio.run(source.fetch(s, "1d", 100_000)) for s in source.symbols("1d")]
    usable = [c for c in series if len(c) > WINDOW + 1]
    bars = sum(len(c) - WINDOW + 1 for c in usable)
    combos = len(DEGREES) * len(KSTDS)

    rules = TradeRules()
    warm = usable[0]  # compile the kernels once, outside the timings
    started = time.perf_counter()
    sweep_series(warm, Grid(DEGREES[:1], KSTDS[:1], [WINDOW], rules, 365.0))
    t_compile = time.perf_counter() - started

    bands_times, sim_times, sweep_times = [], [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        prepared = []
        for c in usable:
            sweep = walk_forward_sweep(c.close, WINDOW, DEGREES)
            lo = WINDOW - 1
            for k in range(len(DEGREES)):
                for kstd in KSTDS:
                    prepared.append((c, lo, sweep.bands(k, kstd)))
        bands_times.append(time.perf_counter() - started)

        started = time.perf_counter()
        for c, lo, (lower, fit, upper) in prepared:
            o, h, lw, cl = c.open[lo:], c.high[lo:], c.low[lo:], c.close[lo:]
            out = simulate(o, h, lw, cl, lower[lo:], fit[lo:], upper[lo:], rules)
            metrics_from(out.equity, 365.0, out.net_returns, out.exposure)
        sim_times.append(time.perf_counter() - started)

        started = time.perf_counter()
        trades = 0
        for c in usable:
            result = sweep_series(c, Grid(DEGREES, KSTDS, [WINDOW], rules, 365.0))
            trades += sum(r.metrics.trades for r in result.results)
        sweep_times.append(time.perf_counter() - started)
    t_bands = statistics.median(bands_times)
    t_sim = statistics.median(sim_times)
    t_sweep = statistics.median(sweep_times)
    steps = bars * combos

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
    print(f"numba compile of the kernels (first call, cached afterwards): {t_compile:.2f} s")
    print(f"walk-forward bands of all combinations: {t_bands:.3f} s ({spread(bands_times)})")
    print(
        f"simulation + metrics: {steps:,} bar-combination steps in {t_sim:.3f} s "
        f"({spread(sim_times)}): {steps / t_sim / 1e6:.0f} M steps/s, compiled with numba "
        f"(target 50 M: {steps / t_sim / 50e6:.1f}x)"
    )
    print(
        f"whole sweep (bands + {trades:,} trades + metrics of every combination): "
        f"{t_sweep:.3f} s ({spread(sweep_times)}; target 0.1 s)"
    )
    print(
        f"naive per-window numpy.polynomial fits, one per combination (measured on "
        f"{len(sample)} bars x {len(DEGREES)} degrees, scaled): {naive_combo:.0f} s; "
        f"ratio {naive_combo / t_bands:,.0f}x on the bands, {naive_combo / t_sweep:,.0f}x on "
        f"the whole sweep (target 3000x)"
    )
    print(
        f"naive fits, one per degree (kstd reusing them), scaled: {naive_degree:.0f} s; "
        f"ratio {naive_degree / t_bands:,.0f}x on the bands"
    )
    t_scale, scale_steps = scale_case()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"scale: 100 synthetic 4h series x 5,000 bars x 243 combinations (9 x 9 x 3 windows), "
        f"one symbol at a time: {t_scale:.1f} s, {scale_steps / t_scale / 1e6:.0f} M steps/s "
        f"(target 30 s: {30 / t_scale:.1f}x); peak RSS of this process {peak_mb:,.0f} MB "
        f"(target 2,048 MB)"
    )


if __name__ == "__main__":
    main()
