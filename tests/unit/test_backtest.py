"""Trade accounting on small hand-computed cases, and the honesty checks on real candles."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from autonama_shared.engine.backtest import buy_and_hold, metrics_of, simulate
from autonama_shared.engine.bands import walk_forward_sweep
from autonama_shared.engine.candles import Candles
from autonama_shared.engine.specs import BacktestSpec, TradeRules
from autonama_shared.engine.sweep import Grid, choose_and_test, sweep_series
from autonama_shared.errors import ConfigError
from autonama_shared.formats.report import BacktestReport
from autonama_shared.runs.backtest import run_symbol
from autonama_shared.sources.files import FileSource
from tests.naive import naive_fit
from tests.reference_backtest import reference_metrics, reference_simulate

FLAT = 9.0, 10.0, 11.5  # lower, fit, upper used by the hand-made cases


def bands(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.full(n, FLAT[0]), np.full(n, FLAT[1]), np.full(n, FLAT[2])


def run(
    opens: list[float],
    closes: list[float],
    rules: TradeRules,
    lows: list[float] | None = None,
    highs: list[float] | None = None,
):
    o, c = np.array(opens), np.array(closes)
    lo = np.array(lows) if lows is not None else np.minimum(o, c)
    hi = np.array(highs) if highs is not None else np.maximum(o, c)
    return simulate(o, hi, lo, c, *bands(len(c)), rules)


def test_entry_at_next_open_and_fees_on_both_sides() -> None:
    # Bar 1 closes at 8 < 9 (BUY): filled at bar 2's open, 8. Bar 3 closes at 10 >= fit:
    # out at bar 4's open, 10. Net: 10 / 8 * 0.999 * 0.999 - 1.
    r = run([10, 10, 8, 9, 10, 11], [10, 8, 9, 10, 11, 11], TradeRules(fee=0.001))
    (t,) = r.trades
    assert (t.signal_bar, t.entry_bar, t.entry_price, t.exit_bar, t.exit_price, t.reason) == (
        1,
        2,
        8.0,
        4,
        10.0,
        "target",
    )
    assert t.net_return == pytest.approx(10 / 8 * 0.999 * 0.999 - 1, rel=1e-12)
    assert r.equity[-1] == pytest.approx(1 + t.net_return, rel=1e-12)
    assert r.equity[1] == 1.0  # nothing held before the fill
    # Held from the entry bar to the bar before the exit fill: bars 2 and 3.
    assert r.exposure == pytest.approx(2 / 6)


def test_slippage_moves_both_fills_against_us() -> None:
    r = run([10, 10, 8, 9, 10, 11], [10, 8, 9, 10, 11, 11], TradeRules(fee=0.0, slippage_bps=10))
    (t,) = r.trades
    assert t.entry_price == pytest.approx(8 * 1.001)
    assert t.exit_price == pytest.approx(10 * 0.999)
    assert t.net_return == pytest.approx(10 * 0.999 / (8 * 1.001) - 1)


def test_stop_loss_fills_at_the_stop_or_at_a_gap() -> None:
    rules = TradeRules(fee=0.0, stop_loss=0.05)
    # Entry at 8 (bar 2); bar 3 trades down to 7.5 (< 8 * 0.95 = 7.6): out at 7.6, same bar.
    lows = [9.5, 7.9, 7.9, 7.5, 8.8, 8.8]
    r = run([10, 10, 8, 8.2, 9, 9], [10, 8, 8.1, 9.2, 9, 9], rules, lows=lows)
    (t,) = r.trades
    assert (t.exit_bar, t.reason) == (3, "stop")
    assert t.exit_price == pytest.approx(7.6)
    # The same, but bar 3 opens at 7 (a gap through the stop): filled at the open, 7.
    lows = [9.5, 7.9, 7.9, 6.9, 8.8, 8.8]
    r = run([10, 10, 8, 7, 9, 9], [10, 8, 8.1, 9.2, 9, 9], rules, lows=lows)
    assert (r.trades[0].exit_price, r.trades[0].reason) == (7.0, "stop")


def test_max_hold_exits_after_that_many_bars() -> None:
    # Never reaches the fit: with max_hold=2 the position opened at bar 2 is closed at bar 4's open.
    r = run(
        [10, 10, 8, 8.5, 8.7, 8.9, 9],
        [10, 8, 8.6, 8.8, 9.2, 9.5, 9.6],
        TradeRules(fee=0.0, max_hold=2),
    )
    t = r.trades[0]
    assert (t.entry_bar, t.exit_bar, t.exit_price, t.reason) == (2, 4, 8.7, "max_hold")


def test_short_side_mirrors_the_long_one_with_fees_on_each_fill() -> None:
    # Bar 1 closes at 12 > 11.5 (SELL): short at bar 2's open, 12; bar 3 closes at 10 <= fit:
    # covered at bar 4's open, 9.5. Sell 1/12 units of equity 1 for 1 (fee 0.001), buy them
    # back for 9.5/12 (fee 0.001 * 9.5/12): 1 + (1 - 0.001) - 9.5/12 * 1.001 = 1.2065...
    opens, closes = [10, 10, 12, 11, 9.5, 10], [10, 12, 11, 10, 10, 10]
    assert run(opens, closes, TradeRules(fee=0.001)).trades == []  # long only by default
    r = run(opens, closes, TradeRules(fee=0.001, allow_short=True))
    (t,) = r.trades
    assert (t.side, t.entry_price, t.exit_price, t.reason) == ("short", 12.0, 9.5, "target")
    assert t.net_return == pytest.approx(0.999 - 1.001 * 9.5 / 12, rel=1e-12)
    assert t.net_return == pytest.approx(0.2065416666666667, rel=1e-12)
    # Marked to the close while short (entry fee paid): at bar 2, 1 + 0.999 - 11 / 12.
    assert r.equity[2] == pytest.approx(1 + 0.999 - 11 / 12, rel=1e-12)
    assert r.equity[-1] == pytest.approx(1 + t.net_return, rel=1e-12)


def test_a_losing_short_pays_the_fee_on_the_dearer_buy_back() -> None:
    # SELL on bar 1 (close 12): short at bar 2's open, 12; the price runs to 15 and the
    # position is valued at the last close, 15, slipped 10 bps up: 15.015; entry slipped
    # down: 11.988. Net: (1 - f) - (1 + f) * 15.015 / 11.988, f = 0.001.
    opens, closes = [10, 10, 12, 13, 14, 15], [10, 12, 13, 14, 15, 15]
    (t,) = run(opens, closes, TradeRules(fee=0.001, slippage_bps=10, allow_short=True)).trades
    assert (t.entry_price, t.exit_price, t.reason) == pytest.approx((11.988, 15.015, "end"))
    assert t.net_return == pytest.approx(0.999 - 1.001 * 15.015 / 11.988, rel=1e-12)
    # the old, equity-based figure charged this loss too little: (2 - X/E) * 0.999^2 - 1
    assert t.net_return < (2 - 15.015 / 11.988) * 0.999**2 - 1


def test_buy_and_hold_pays_fee_and_slippage_on_both_fills() -> None:
    # Bars 0..3: decide on bar 0, buy at bar 1's open 10 * 1.002 (20 bps), fee 0.5 %;
    # marked to each close; sold at the last close 13 * 0.998, fee 0.5 % again.
    o, c = np.array([9.0, 10.0, 11.0, 12.0]), np.array([9.5, 10.5, 12.0, 13.0])
    curve = buy_and_hold(o, c, TradeRules(fee=0.005, slippage_bps=20))
    entry = 10 * 1.002
    assert curve[0] == 1.0
    assert curve[1] == pytest.approx(0.995 * 10.5 / entry, rel=1e-12)
    assert curve[2] == pytest.approx(0.995 * 12.0 / entry, rel=1e-12)
    assert curve[3] == pytest.approx(0.995 * 0.995 * 13 * 0.998 / entry, rel=1e-12)
    m = metrics_of(curve, 365.0)
    assert m.total_return == pytest.approx(0.995**2 * 13 * 0.998 / entry - 1, rel=1e-12)


def test_sortino_uses_the_downside_of_every_bar() -> None:
    # returns +10 %, -10 %, 0 %, +5 %: downside deviation sqrt((0.1^2) / 4) = 0.05 over all
    # four bars (not sqrt(0.1^2 / 1) over the one losing bar).
    curve = np.cumprod([1.0, 1.10, 0.90, 1.00, 1.05])
    m = metrics_of(curve, 365.0)
    mean = (0.10 - 0.10 + 0.0 + 0.05) / 4
    assert m.sortino == pytest.approx(mean / 0.05 * np.sqrt(365), rel=1e-12)


def test_one_position_at_a_time_and_an_open_position_at_the_end() -> None:
    # BUY on bars 1 and 2: one position (from bar 2); it never reaches the fit: valued at the end.
    r = run([10, 10, 8, 7, 8], [10, 8, 7, 8, 8.5], TradeRules(fee=0.0))
    (t,) = r.trades
    assert (t.entry_bar, t.exit_bar, t.reason, t.exit_price) == (2, 4, "end", 8.5)
    assert r.equity[-1] == pytest.approx(8.5 / 8)


def test_metrics_of_a_known_curve() -> None:
    m = metrics_of(np.array([1.0, 1.1, 0.99, 1.2, 1.2]), per_year=4.0)
    returns = np.array([0.1, -0.1, 1.2 / 0.99 - 1, 0.0])
    assert m.total_return == pytest.approx(0.2)
    assert m.cagr == pytest.approx(1.2 ** (1 / 1.0) - 1)  # 4 bars at 4 a year: one year
    assert m.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * 2)
    assert m.max_drawdown == pytest.approx(0.99 / 1.1 - 1)
    assert m.max_drawdown_bars == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fee": -0.1}, "fee"),
        ({"stop_loss": 1.5}, "stop-loss"),
        ({"max_hold": 0}, "max-hold"),
        ({"slippage_bps": -1}, "slippage"),
    ],
)
def test_bad_rules_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TradeRules(**kwargs)  # type: ignore[arg-type]


# --- on real candles -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> Candles:
    import asyncio

    source = FileSource(shared_data / "klines" / "until-2022-10" / "1d")
    return asyncio.run(source.fetch("BTCUSDT", "1d", 100_000))


def cut(c: Candles, t: int) -> Candles:
    """The candles up to and including bar t."""
    return c.slice(0, t + 1)


def trade_sweep(c: Candles, rules: TradeRules):
    return sweep_series(c, Grid([3, 6], [1.5, 2.0], [200], rules, 365.0, "log"))


@pytest.mark.parametrize("t", [400, 777, 1200, 1700])
def test_truncation_changes_no_decision_up_to_t(btc: Candles, t: int) -> None:
    rules = TradeRules(stop_loss=0.08, max_hold=30, allow_short=True)
    full, part = trade_sweep(btc, rules), trade_sweep(cut(btc, t), rules)
    for a, b in zip(full.results, part.results, strict=True):
        assert a.combo == b.combo
        done_a = [x for x in a.trades if x.exit_bar + full.start < t]
        done_b = [x for x in b.trades if x.exit_bar + part.start < t]
        assert done_a == done_b
        upto = t - full.start
        assert_allclose(a.equity[:upto], b.equity[:upto], rtol=1e-12)
        assert len(done_a) > 0 or t < 500


@pytest.mark.parametrize("t", [600, 1300])
def test_changing_prices_after_t_changes_nothing_before_t(btc: Candles, t: int) -> None:
    rng = np.random.default_rng(11)
    scale = np.ones(len(btc))
    scale[t + 1 :] = rng.uniform(0.5, 1.5, len(btc) - t - 1)
    prices = (btc.open * scale, btc.high * scale, btc.low * scale, btc.close * scale)
    shuffled = Candles(btc.symbol, btc.interval, btc.open_time, *prices, btc.volume)
    rules = TradeRules(stop_loss=0.1)
    full, other = trade_sweep(btc, rules), trade_sweep(shuffled, rules)
    upto = t - full.start
    for a, b in zip(full.results, other.results, strict=True):
        assert [x for x in a.trades if x.exit_bar < upto] == [
            x for x in b.trades if x.exit_bar < upto
        ]
        assert_allclose(a.equity[:upto], b.equity[:upto], rtol=1e-12)


def test_every_sweep_band_matches_the_naive_fit(btc: Candles) -> None:
    degrees, window = [2, 4, 7, 10], 365
    sweep = walk_forward_sweep(btc.close, window, degrees, "log")
    for k, degree in enumerate(degrees):
        for kstd in (1.0, 2.25, 3.0):
            lower, fit, upper = sweep.bands(k, kstd)
            for t in range(window - 1, len(btc), 211):
                f, lo, up, _ = naive_fit(btc.close[t - window + 1 : t + 1], degree, kstd, "log")
                assert_allclose([lower[t], fit[t], upper[t]], [lo[-1], f[-1], up[-1]], rtol=1e-9)


def test_split_chooses_in_sample_and_reports_out_of_sample(btc: Candles) -> None:
    train, test, chosen = choose_and_test(
        btc, Grid([2, 4], [1.5, 2.0], [200], TradeRules(), 365.0), 0.6
    )
    assert len(train.results) == 4
    assert chosen is train.best("sharpe")
    assert [r.combo for r in test.results] == [chosen.combo]
    assert test.start == train.end  # the test bars follow the training bars, no overlap


def test_rolling_folds_choose_on_each_part_and_test_on_the_next(btc: Candles) -> None:
    from autonama_shared.engine.sweep import rolling_folds

    steps, chained = rolling_folds(btc, Grid([2, 4], [1.5, 2.0], [200], TradeRules(), 365.0), 3)
    assert len(steps) == 3
    for i, f in enumerate(steps):
        assert f.train[1] == f.test[0]  # each test part follows its training part
        if i:
            assert f.train == steps[i - 1].test  # and is the next fold's training part
        grid = Grid([2, 4], [1.5, 2.0], [200], TradeRules(), 365.0)
        best = sweep_series(btc, grid, start=f.train[0], end=f.train[1]).best("sharpe")
        assert f.chosen.combo == best.combo
    assert len(chained) == steps[-1].test[1] - steps[0].test[0]
    product = np.prod([f.result.equity[-1] for f in steps])
    assert chained[-1] == pytest.approx(product, rel=1e-12)


def test_the_issue_s_short_example_on_real_candles(shared_data: Path) -> None:
    """XRPUSDT daily to 2022-10, degree 6, kstd 2, window 90, fee 0.001, 5 bps, shorts:
    its first trade, a losing short from 0.448545615 to 0.57218595, nets -0.277922830
    with the fee on each fill (the figure worked out when the definition was reviewed)."""
    source = FileSource(shared_data / "klines" / "until-2022-10" / "1d")
    candles = asyncio.run(source.fetch("XRPUSDT", "1d", 2000))
    rules = TradeRules(fee=0.001, slippage_bps=5, allow_short=True)
    spec = BacktestSpec("1d", (6,), (2.0,), (90,), rules, history=2000)
    run = run_symbol("XRPUSDT", candles, None, spec)
    first = run.row.trades[0]
    assert first.side == "short"
    assert (first.entry_price, first.exit_price) == pytest.approx(
        (0.448545615, 0.57218595), abs=5e-10
    )
    assert first.net_return == pytest.approx(-0.277922830, abs=5e-10)
    # buy-and-hold on the same bars, both fills with fee and slippage
    lo = int(np.searchsorted(candles.open_time, run.row.first_time))
    entry = candles.open[lo + 1] * 1.0005
    exit_ = candles.close[-1] * 0.9995
    assert run.row.buy_and_hold is not None
    assert run.row.buy_and_hold.total_return == pytest.approx(
        0.999 * 0.999 * exit_ / entry - 1, rel=1e-12
    )
    curve = run.row.equity_curve
    assert curve is not None
    assert len(curve.time) == min(2000, run.row.bars)
    assert curve.time[0] == run.row.first_time
    assert curve.time[-1] == run.row.last_time


def test_a_version_1_report_still_reads() -> None:
    """Reports written before the definitions were fixed (version 1, no equity curve)."""
    v1 = {
        "schema_version": 1,
        "engine_version": "0.1.0",
        "generated_at": "2026-11-01T00:00:00Z",
        "parameters": {
            "interval": "1d",
            "degrees": [4],
            "kstds": [2.0],
            "windows": [365],
            "price_scale": "linear",
            "fee": 0.001,
            "slippage_bps": 0.0,
            "allow_short": False,
            "stop_loss": None,
            "max_hold": None,
            "split": None,
            "metric": "sharpe",
            "source": "files",
        },
        "symbols": [
            {
                "symbol": "BTCUSDT",
                "first_time": None,
                "last_time": None,
                "bars": 0,
                "chosen": None,
                "out_of_sample": None,
                "buy_and_hold": None,
                "buy_and_hold_out_of_sample": None,
                "trades": [],
                "combinations": [],
                "error": "no candles",
            }
        ],
        "portfolio": None,
        "portfolio_buy_and_hold": None,
    }
    report = BacktestReport.model_validate(v1)
    assert report.schema_version == 1
    assert report.symbols[0].equity_curve is None
    assert BacktestReport.model_fields["schema_version"].default == 2  # what is written now


RULES = [
    TradeRules(fee=0.001),
    TradeRules(fee=0.001, slippage_bps=5, allow_short=True),
    TradeRules(fee=0.0, stop_loss=0.05, max_hold=20),
    TradeRules(fee=0.002, slippage_bps=20, allow_short=True, stop_loss=0.08, max_hold=30),
]


@pytest.mark.parametrize("rules", RULES, ids=["long", "short+slip", "stop+hold", "all"])
def test_the_compiled_kernel_trades_as_the_numpy_reference(btc: Candles, rules: TradeRules) -> None:
    """Every combination of a degree x kstd sweep on real candles: the same trades to the
    last bit, the same equity and metrics as the per-trade numpy implementation."""
    window = 120
    sweep = walk_forward_sweep(btc.close, window, [2, 4, 6, 8])
    lo = window - 1
    o, h, lw, c = (getattr(btc, k)[lo:] for k in ("open", "high", "low", "close"))
    compared = 0
    for k in range(4):
        for kstd in (1.0, 1.5, 2.0, 2.5):
            lower, fit, upper = (band[lo:] for band in sweep.bands(k, kstd))
            got = simulate(o, h, lw, c, lower, fit, upper, rules)
            trades, equity, exposure = reference_simulate(o, h, lw, c, lower, fit, upper, rules)
            assert got.trades == trades
            assert_allclose(got.equity, equity, rtol=1e-13, atol=0)
            assert got.exposure == pytest.approx(exposure, rel=1e-15)
            mine = metrics_of(got.equity, 365.0, got.trades, got.exposure)
            theirs = reference_metrics(equity, 365.0, trades, exposure)
            for name in ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown"):
                assert getattr(mine, name) == pytest.approx(
                    getattr(theirs, name), rel=1e-9, abs=1e-15
                )
            assert (mine.max_drawdown_bars, mine.trades) == (
                theirs.max_drawdown_bars,
                theirs.trades,
            )
            compared += len(trades)
    assert compared > 20  # the sweep traded: the comparison is not vacuous


def test_volatility_win_rate_average_trade_and_exposure_by_hand() -> None:
    # Two trades on 8 bars: bought at bar 2's open 8, out at bar 4's open 10 (+25 %);
    # bought at bar 6's open 10, valued at the last close 9 (-10 %). No fees.
    opens = [10.0, 10.0, 8.0, 9.0, 10.0, 10.0, 10.0, 9.0]
    closes = [10.0, 8.0, 9.0, 10.0, 10.0, 8.5, 9.5, 9.0]
    r = run(opens, closes, TradeRules(fee=0.0))
    assert [(t.entry_bar, t.exit_bar, t.reason) for t in r.trades] == [
        (2, 4, "target"),
        (6, 7, "end"),
    ]
    assert [t.net_return for t in r.trades] == pytest.approx([0.25, -0.1])
    m = metrics_of(r.equity, 365.0, r.trades, r.exposure)
    assert (m.trades, m.win_rate, m.average_trade) == (2, 0.5, pytest.approx(0.075))
    assert m.exposure == pytest.approx(3 / 8)  # bars 2, 3 and 6 held
    # equity: 1, 1, 9/8, 10/8, 1.25, 1.25, 1.25 * 9.5/10, 1.25 * 0.9
    curve = np.array([1, 1, 9 / 8, 10 / 8, 1.25, 1.25, 1.25 * 0.95, 1.25 * 0.9])
    assert_allclose(r.equity, curve, rtol=1e-12)
    returns = curve[1:] / curve[:-1] - 1
    assert m.volatility == pytest.approx(returns.std(ddof=1) * np.sqrt(365), rel=1e-12)
