"""Compiled (numba) loops of the backtest: one pass over the bars per combination.

Pure numeric code on arrays, compiled once per machine (``cache=True`` keeps the
machine code beside this file). ``engine.backtest`` states the rules; these
loops follow them bar by bar, and the tests hold them to hand-computed cases
and to the earlier numpy implementation's trades.

Reason codes: 0 target, 1 signal, 2 stop, 3 max_hold, 4 end. Side: +1 long, -1 short.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["REASONS", "metrics_kernel", "simulate_kernel"]

REASONS = ("target", "signal", "stop", "max_hold", "end")


@njit(cache=True)
def simulate_kernel(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    lower: np.ndarray,
    fit: np.ndarray,
    upper: np.ndarray,
    fee: float,
    slip: float,
    allow_short: bool,
    stop_loss: float,
    max_hold: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Equity per bar, the trades (int rows: side, signal, entry, exit, reason; float rows:
    entry price, exit price, net return) and the exposure. ``stop_loss`` NaN and
    ``max_hold`` 0 mean none."""
    n = close.shape[0]
    equity = np.ones(n)
    cap = n // 2 + 1
    ints = np.zeros((cap, 5), dtype=np.int64)
    floats = np.zeros((cap, 3))
    k = 0
    held_bars = 0
    level = 1.0
    flat_from = 0  # equity from here on is `level` until the next entry
    t = 0
    while t < n - 1:
        signal_bar = -1
        side = 0
        for i in range(t, n - 1):
            if not math.isnan(lower[i]):
                if close[i] < lower[i]:
                    signal_bar, side = i, 1
                    break
                if allow_short and close[i] > upper[i]:
                    signal_bar, side = i, -1
                    break
        if signal_bar < 0:
            break
        entry = signal_bar + 1
        raw_in = open_[entry]
        entry_price = raw_in * (1 + slip) if side == 1 else raw_in * (1 - slip)
        decide = n
        reason = 0
        for j in range(entry, n):
            if math.isnan(lower[j]):
                continue
            if side == 1:
                if close[j] >= fit[j]:
                    decide, reason = j, 0
                    break
                if close[j] > upper[j]:
                    decide, reason = j, 1
                    break
            else:
                if close[j] <= fit[j]:
                    decide, reason = j, 0
                    break
                if close[j] < lower[j]:
                    decide, reason = j, 1
                    break
        if max_hold > 0 and entry + max_hold - 1 < decide:
            decide, reason = entry + max_hold - 1, 3
        exit_bar = decide + 1
        raw_out = math.nan
        if not math.isnan(stop_loss):
            last = min(exit_bar, n - 1)
            stop = entry_price * (1 - stop_loss) if side == 1 else entry_price * (1 + stop_loss)
            for h in range(entry, last + 1):
                hit = low[h] <= stop if side == 1 else high[h] >= stop
                if hit:
                    gapped = open_[h] <= stop if side == 1 else open_[h] >= stop
                    if h < exit_bar or gapped:
                        exit_bar, reason = h, 2
                        raw_out = open_[h] if gapped else stop
                    break
        if exit_bar >= n:
            exit_bar, reason, raw_out = n - 1, 4, close[n - 1]
        elif math.isnan(raw_out):
            raw_out = open_[exit_bar]
        exit_price = raw_out * (1 - slip) if side == 1 else raw_out * (1 + slip)
        if side == 1:
            net = (1 - fee) * (1 - fee) * exit_price / entry_price - 1
        else:
            net = (1 - fee) - (1 + fee) * exit_price / entry_price
        ints[k, 0], ints[k, 1], ints[k, 2] = side, signal_bar, entry
        ints[k, 3], ints[k, 4] = exit_bar, reason
        floats[k, 0], floats[k, 1], floats[k, 2] = entry_price, exit_price, net
        k += 1
        for b in range(flat_from, entry):
            equity[b] = level
        for b in range(entry, exit_bar):
            rel = close[b] / entry_price
            equity[b] = level * ((1 - fee) * rel) if side == 1 else level * (2 - fee - rel)
        held_bars += exit_bar - entry
        level = level * (1 + net)
        flat_from = exit_bar
        t = exit_bar if reason != 4 else n
    for b in range(flat_from, n):
        equity[b] = level
    exposure = held_bars / n if n else 0.0
    return equity, ints[:k], floats[:k], exposure


@njit(cache=True)
def metrics_kernel(
    equity: np.ndarray, per_year: float, nets: np.ndarray
) -> tuple[float, float, float, float, float, float, int, float, float]:
    """total return, CAGR, volatility, Sharpe, Sortino, max drawdown, its bars, win rate,
    average trade (``engine.backtest.metrics_of`` states the formulas)."""
    n = equity.shape[0]
    if n == 0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0
    growth = equity[n - 1] / equity[0]
    total = growth - 1
    years = (n - 1) / per_year if n > 1 else 0.0
    cagr = growth ** (1 / years) - 1 if years > 0 and growth > 0 else 0.0
    m = n - 1
    mean = 0.0
    down = 0.0
    for i in range(m):
        r = equity[i + 1] / equity[i] - 1
        mean += r
        if r < 0:
            down += r * r
    mean = mean / m if m > 0 else 0.0
    var = 0.0
    for i in range(m):
        d = equity[i + 1] / equity[i] - 1 - mean
        var += d * d
    sd = math.sqrt(var / (m - 1)) if m > 1 else 0.0
    dsd = math.sqrt(down / m) if m > 0 else 0.0
    root = math.sqrt(per_year)
    sharpe = mean / sd * root if sd > 0 else 0.0
    sortino = mean / dsd * root if dsd > 0 else 0.0
    peak = equity[0]
    worst = 0.0
    run = 0
    longest = 0
    for i in range(n):
        if equity[i] > peak:
            peak = equity[i]
        dd = equity[i] / peak - 1
        if dd < worst:
            worst = dd
        if dd < 0:
            run += 1
            if run > longest:
                longest = run
        else:
            run = 0
    wins = 0
    for x in nets:
        if x > 0:
            wins += 1
    count = nets.shape[0]
    win_rate = wins / count if count else 0.0
    average = nets.mean() if count else 0.0
    return total, cagr, sd * root, sharpe, sortino, worst, longest, win_rate, average
