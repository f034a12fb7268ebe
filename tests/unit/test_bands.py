"""The band engine against an independent per-window numpy.polynomial fit, on real candles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from autonama_shared.engine.bands import (
    compute_signal,
    fit_bands,
    fit_bands_batch,
    scan_signals,
    walk_forward,
)
from autonama_shared.engine.specs import BandParams
from autonama_shared.errors import ConfigError, DataError
from tests.naive import naive_fit, naive_signal, read_closes

RTOL = 1e-9
MAJORS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"]


@pytest.fixture(scope="module")
def daily(shared_data: Path) -> dict[str, np.ndarray]:
    folder = shared_data / "klines" / "until-2022-10" / "1d"
    return {s: read_closes(folder / f"{s}.csv")[1] for s in MAJORS}


@pytest.mark.parametrize("degree", [2, 4, 7, 10])
@pytest.mark.parametrize("kstd", [1.0, 2.0, 2.75])
@pytest.mark.parametrize("scale", ["linear", "log"])
def test_full_window_matches_naive_fit(
    daily: dict[str, np.ndarray], degree: int, kstd: float, scale: str
) -> None:
    params = BandParams(degree=degree, kstd=kstd, price_scale=scale)  # type: ignore[arg-type]
    for symbol, closes in daily.items():
        window = closes[-720:]
        got = fit_bands(window, params)
        fit, lower, upper, sigma = naive_fit(window, degree, kstd, scale)
        assert_allclose(got.fit, fit, rtol=RTOL, err_msg=symbol)
        assert_allclose(got.lower, lower, rtol=RTOL, err_msg=symbol)
        assert_allclose(got.upper, upper, rtol=RTOL, err_msg=symbol)
        assert_allclose(got.sigma, sigma, rtol=RTOL, err_msg=symbol)


@pytest.mark.parametrize("degree", [2, 4, 7, 10])
@pytest.mark.parametrize("scale", ["linear", "log"])
def test_signals_match_naive_on_many_windows(
    daily: dict[str, np.ndarray], degree: int, scale: str
) -> None:
    """Identical BUY/SELL/HOLD at the end of many real windows (so all three occur)."""
    params = BandParams(degree=degree, kstd=1.5, price_scale=scale)  # type: ignore[arg-type]
    seen = set()
    for closes in daily.values():
        for end in range(400, len(closes), 37):
            window = closes[end - 365 : end]
            got = compute_signal(window, params, window=365)
            assert got.signal == naive_signal(window, degree, 1.5, scale)
            seen.add(got.signal)
    assert seen == {"BUY", "SELL", "HOLD"}


def test_batch_equals_one_by_one(daily: dict[str, np.ndarray]) -> None:
    params = BandParams(degree=5, kstd=2.0)
    windows = np.vstack([c[-500:] for c in daily.values()])
    batch = fit_bands_batch(windows, params)
    for row, window in enumerate(windows):
        single = fit_bands(window, params)
        assert_allclose(batch.fit[row], single.fit, rtol=1e-12)
        assert_allclose(batch.sigma[row], single.sigma, rtol=1e-12)


def test_signal_numbers_follow_the_spec(daily: dict[str, np.ndarray]) -> None:
    closes = daily["BTCUSDT"][-720:]
    r = compute_signal(closes, BandParams(degree=4, kstd=2.0), window=720)
    fit, lower, upper, sigma = naive_fit(closes, 4, 2.0, "linear")
    price = closes[-1]
    assert r.price == price
    assert r.candles == 720
    assert not r.partial_window
    assert r.error is None
    assert_allclose(
        [r.fit, r.lower, r.upper, r.sigma], [fit[-1], lower[-1], upper[-1], sigma], rtol=RTOL
    )
    assert r.target_return is not None
    assert_allclose(r.target_return, (fit[-1] - price) / price * 100, rtol=RTOL)
    if r.signal == "BUY":
        expected_potential = (upper[-1] - lower[-1]) / lower[-1] * 100
    elif r.signal == "SELL":
        expected_potential = (upper[-1] - lower[-1]) / upper[-1] * 100
    else:
        expected_potential = 0.0
    assert_allclose(r.potential_return, expected_potential, rtol=RTOL)


def test_groups_by_length_and_reports_partial_windows(daily: dict[str, np.ndarray]) -> None:
    params = BandParams()
    series = [daily["BTCUSDT"], daily["ETHUSDT"][-200:], daily["SOLUSDT"][-25:]]
    full, partial, short = scan_signals(series, params, window=720)
    assert (full.candles, full.partial_window) == (720, False)
    assert (partial.candles, partial.partial_window) == (200, True)
    fit, *_ = naive_fit(daily["ETHUSDT"][-200:], 4, 2.0, "linear")
    assert partial.fit is not None
    assert_allclose(partial.fit, fit[-1], rtol=RTOL)
    assert short.signal == "HOLD"
    assert short.potential_return == 0.0
    assert short.error == "25 candles are too few for degree 4; at least 30 are needed"
    assert short.fit is None


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_bad_prices_are_a_per_series_error(bad: float) -> None:
    good = np.linspace(10, 20, 60)
    broken = good.copy()
    broken[17] = bad
    ok, err = scan_signals([good, broken], BandParams(), window=60)
    assert ok.error is None
    assert err.signal == "HOLD"
    assert err.error is not None
    assert "[17]" in err.error
    assert "not a positive finite price" in err.error
    with pytest.raises(DataError):
        fit_bands(broken, BandParams())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"degree": 1}, "degree must be an integer from 2 to 10"),
        ({"degree": 11}, "degree must be an integer from 2 to 10"),
        ({"degree": 4.0}, "degree must be an integer"),
        ({"kstd": 0.99}, "kstd must be from 1.0 to 3.0"),
        ({"kstd": 3.01}, "kstd must be from 1.0 to 3.0"),
        ({"kstd": float("nan")}, "kstd must be from 1.0 to 3.0"),
        ({"price_scale": "sqrt"}, "price_scale must be 'linear' or 'log'"),
    ],
)
def test_out_of_range_parameters_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BandParams(**kwargs)  # type: ignore[arg-type]


# --- walk-forward -----------------------------------------------------------------


@pytest.mark.parametrize("degree", [2, 4, 7, 10])
@pytest.mark.parametrize("scale", ["linear", "log"])
def test_walk_forward_matches_naive_per_window_fit(
    daily: dict[str, np.ndarray], degree: int, scale: str
) -> None:
    closes = daily["ETHUSDT"]
    window = 120
    params = BandParams(degree=degree, kstd=2.0, price_scale=scale)  # type: ignore[arg-type]
    wf = walk_forward(closes, window, params)
    assert np.isnan(wf.fit[: window - 1]).all()
    for t in range(window - 1, len(closes), 53):
        fit, lower, upper, sigma = naive_fit(closes[t - window + 1 : t + 1], degree, 2.0, scale)
        assert_allclose(wf.fit[t], fit[-1], rtol=RTOL, err_msg=f"bar {t}")
        assert_allclose(wf.lower[t], lower[-1], rtol=RTOL, err_msg=f"bar {t}")
        assert_allclose(wf.upper[t], upper[-1], rtol=RTOL, err_msg=f"bar {t}")
        assert_allclose(wf.sigma[t], sigma, rtol=RTOL, err_msg=f"bar {t}")


def test_walk_forward_has_no_look_ahead(daily: dict[str, np.ndarray]) -> None:
    """The band at bar t is the same when every bar after t is deleted, or changed."""
    closes = daily["BTCUSDT"]
    params = BandParams(degree=6, kstd=2.0, price_scale="log")
    full = walk_forward(closes, 200, params)
    rng = np.random.default_rng(7)
    for t in [199, 250, 777, 1500, len(closes) - 2]:
        cut = walk_forward(closes[: t + 1], 200, params)
        assert_allclose(cut.fit, full.fit[: t + 1], rtol=1e-12)
        assert_allclose(cut.upper, full.upper[: t + 1], rtol=1e-12)
        shuffled = closes.copy()
        shuffled[t + 1 :] = rng.permutation(shuffled[t + 1 :]) * 1.7
        changed = walk_forward(shuffled, 200, params)
        assert_allclose(changed.lower[: t + 1], full.lower[: t + 1], rtol=1e-12)


def test_walk_forward_endpoint_equals_full_fit_of_last_window(daily: dict[str, np.ndarray]) -> None:
    closes = daily["SOLUSDT"]
    params = BandParams(degree=4, kstd=2.0)
    wf = walk_forward(closes, 365, params)
    last = fit_bands(closes[-365:], params)
    assert_allclose(wf.fit[-1], last.fit[-1], rtol=RTOL)
    assert_allclose(wf.sigma[-1], last.sigma, rtol=RTOL)


def test_walk_forward_over_many_blocks_matches_naive(shared_data: Path) -> None:
    """Hourly bars with a 30-day window: far more windows than one block holds."""
    _, closes = read_closes(shared_data / "klines" / "until-2022-10" / "1h" / "BTCUSDT.csv")
    closes = closes[-3000:]
    window = 720
    wf = walk_forward(closes, window, BandParams(degree=7, kstd=2.0, price_scale="log"))
    for t in [window - 1, 1000, 1811, 2400, len(closes) - 1]:
        fit, _, upper, sigma = naive_fit(closes[t - window + 1 : t + 1], 7, 2.0, "log")
        assert_allclose(wf.fit[t], fit[-1], rtol=RTOL)
        assert_allclose(wf.upper[t], upper[-1], rtol=RTOL)
        assert_allclose(wf.sigma[t], sigma, rtol=RTOL)


def test_walk_forward_steep_noiseless_trend_stays_exact() -> None:
    """A steep trend with tiny noise: the cancellation-prone windows are recomputed centred."""
    rng = np.random.default_rng(3)
    t = np.arange(600, dtype=np.float64)
    closes = 1000.0 + 50.0 * t + rng.normal(0.0, 1e-3, t.size)
    wf = walk_forward(closes, 100, BandParams(degree=2))
    for end in [99, 300, 599]:
        fit, _, _, sigma = naive_fit(closes[end - 99 : end + 1], 2, 2.0, "linear")
        assert_allclose(wf.fit[end], fit[-1], rtol=RTOL)
        assert_allclose(wf.sigma[end], sigma, rtol=1e-6)


def test_with_bands_returns_the_full_fit(daily: dict[str, np.ndarray]) -> None:
    closes = daily["DOGEUSDT"][-400:]
    (r,) = scan_signals([closes], BandParams(degree=3, price_scale="log"), 400, with_bands=True)
    assert r.bands is not None
    fit, lower, upper, _ = naive_fit(closes, 3, 2.0, "log")
    assert_allclose(r.bands.fit, fit, rtol=RTOL)
    assert_allclose(r.bands.lower, lower, rtol=RTOL)
    assert_allclose(r.bands.upper, upper, rtol=RTOL)
    assert r.fit == r.bands.fit[-1]
    (plain,) = scan_signals([closes], BandParams(degree=3, price_scale="log"), 400)
    assert plain.bands is None
