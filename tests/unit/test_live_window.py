"""The live window equals the batch engine on every candle of real replays (1e-9), and
duplicate or late candles change nothing."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autonama_shared.engine.bands import SignalResult, compute_signal
from autonama_shared.engine.live import LiveWindow
from autonama_shared.engine.specs import BandParams
from autonama_shared.errors import DataError

NUMBERS = ("price", "lower", "upper", "fit", "sigma", "target_return", "potential_return")


def candles(root: Path, period: str, interval: str, symbol: str) -> pd.DataFrame:
    return pd.read_csv(root / "klines" / period / interval / f"{symbol}.csv")


def same(live: SignalResult, batch: SignalResult) -> None:
    assert live.signal == batch.signal
    assert (live.candles, live.partial_window, live.error) == (
        batch.candles,
        batch.partial_window,
        batch.error,
    )
    for name in NUMBERS:
        a, b = getattr(live, name), getattr(batch, name)
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize(
    ("period", "interval", "symbol", "params", "window"),
    [
        ("until-2026-03", "1d", "BTCUSDT", BandParams(degree=4, kstd=2.0), 180),
        ("until-2026-03", "4h", "SOLUSDT", BandParams(degree=6, kstd=1.5), 360),
        ("until-2022-10", "1d", "DOGEUSDT", BandParams(degree=3, price_scale="log"), 120),
        ("until-2022-10", "1h", "ETHUSDT", BandParams(degree=10, kstd=3.0), 240),
    ],
)
def test_every_close_of_a_replay_equals_the_batch_engine(
    shared_data: Path,
    period: str,
    interval: str,
    symbol: str,
    params: BandParams,
    window: int,
) -> None:
    frame = candles(shared_data, period, interval, symbol).tail(window + 400)
    times = frame["open_time"].to_numpy()
    closes = frame["close"].to_numpy(dtype=np.float64)
    live = LiveWindow(params, window)
    signals = set()
    for t in range(len(closes)):  # from the first candle: partial windows, then full ones
        result = live.push(int(times[t]), float(closes[t]))
        assert result is not None
        same(result, compute_signal(closes[: t + 1], params, window))
        signals.add(result.signal)
    assert len(live) == window
    assert signals >= {"HOLD", "BUY"} or signals >= {"HOLD", "SELL"}  # the replay alerts


def test_a_warm_up_then_live_closes_equal_the_batch_engine(shared_data: Path) -> None:
    frame = candles(shared_data, "until-2026-03", "1d", "ETHUSDT")
    times = frame["open_time"].to_numpy()
    closes = frame["close"].to_numpy(dtype=np.float64)
    params, window = BandParams(degree=5, kstd=2.0), 365
    live = LiveWindow(params, window)
    live.load(times[:-50], closes[:-50])
    same(live.signal(), compute_signal(closes[:-50], params, window))
    for t in range(len(closes) - 50, len(closes)):
        result = live.push(int(times[t]), float(closes[t]))
        assert result is not None
        same(result, compute_signal(closes[: t + 1], params, window))


def test_duplicates_and_late_candles_change_nothing() -> None:
    closes = 100 + np.sin(np.arange(80) / 5.0) * 10
    live = LiveWindow(BandParams(degree=3), 60)
    for t, c in enumerate(closes):
        live.push(t * 60_000, float(c))
    before = live.signal()
    assert live.push(79 * 60_000, 1.0) is None  # the last candle again
    assert live.push(10 * 60_000, 1.0) is None  # a late one
    assert live.signal() == before
    with pytest.raises(DataError, match="not a positive finite price"):
        live.push(80 * 60_000, float("nan"))
    assert live.signal() == before


def exact_sigma(closes: np.ndarray, degree: int) -> float:
    """sigma of the spec's fit in exact rational arithmetic (normal equations on the
    scaled abscissa): an independent reference, free of rounding until the square root."""
    n = len(closes)
    xs = [Fraction(-1) + Fraction(2 * i, n - 1) for i in range(n)]
    ys = [Fraction(float(c)) for c in closes]
    k = degree + 1
    a = [[sum(x ** (r + c) for x in xs) for c in range(k)] for r in range(k)]
    b = [sum(y * x**r for x, y in zip(xs, ys, strict=True)) for r in range(k)]
    for col in range(k):  # Gauss-Jordan, exact
        pivot = a[col][col]
        a[col] = [v / pivot for v in a[col]]
        b[col] /= pivot
        for row in range(k):
            if row != col and a[row][col] != 0:
                f = a[row][col]
                a[row] = [v - f * w for v, w in zip(a[row], a[col], strict=True)]
                b[row] -= f * b[col]
    rss = sum((y - sum(b[j] * x**j for j in range(k))) ** 2 for x, y in zip(xs, ys, strict=True))
    return math.sqrt(rss / n)


def test_a_steep_noiseless_trend_keeps_its_precision() -> None:
    # |y|^2 - |Q^T y|^2 would cancel here: the residuals are computed explicitly, on the
    # centred window; the result is checked against exact arithmetic.
    t = np.arange(300, dtype=np.float64)
    closes = 1e6 + 1e4 * t + 1e-3 * np.sin(t)
    live = LiveWindow(BandParams(degree=2), 200)
    for i, c in enumerate(closes):
        result = live.push(i, float(c))
    assert result is not None
    assert result.sigma is not None
    # float64 closes near 3e6 are rounded to ~2e-10 each, against residuals of ~7e-4: no
    # float64 computation can promise more than ~1e-7 of sigma here (the batch engine is
    # within the same); the subtraction alone would have lost every digit.
    exact = exact_sigma(closes[-200:], 2)
    np.testing.assert_allclose(result.sigma, exact, rtol=1e-7)
    np.testing.assert_allclose(
        compute_signal(closes, BandParams(degree=2), 200).sigma, exact, rtol=1e-7
    )
    energy = float(np.sum((closes[-200:] - closes[-200:].mean()) ** 2))
    assert exact**2 * 200 * 1e5 < energy  # the case the guard is for
