"""Trading the band signals through history, without look-ahead: trades, equity, metrics.

Pure code (numpy in, typed results out). The bands are the walk-forward ones
(``bands.walk_forward_sweep``): the band at bar t uses closes t-window+1 .. t.

Rules (``TradeRules``):

- a signal decided on the close of bar t is filled at the open of bar t+1;
- long only by default: enter on BUY (close below the lower band); exit at the
  first of: the close reaches the regression line (target), a SELL signal, the
  stop-loss (the low touches entry x (1 - stop); filled at the stop, or at the
  open if it gapped through), the maximum holding time (bars);
- ``allow_short`` mirrors it: enter on SELL, exit at the line, on BUY, on the
  stop above, or after the maximum holding time;
- one position at a time; fees (a fraction per side) and slippage (basis
  points, against us) on every fill; a position still open at the end is
  valued at the last close and counted as a trade.

Metrics are per bar and annualised with the interval's bars per year.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from autonama_shared.engine.specs import TradeRules

__all__ = [
    "Metrics",
    "Trade",
    "TradeResult",
    "TradeRules",
    "bars_per_year",
    "buy_and_hold",
    "metrics_from",
    "metrics_of",
    "simulate",
    "trade_return",
]

Float64Array = NDArray[np.float64]
Side = Literal["long", "short"]


@dataclass(frozen=True, slots=True)
class Trade:
    side: Side
    signal_bar: int  # the bar whose close decided the entry
    entry_bar: int  # filled at this bar's open
    entry_price: float  # after slippage
    exit_bar: int  # filled at this bar's open (or intrabar at a stop; last bar if still open)
    exit_price: float  # after slippage
    reason: Literal["target", "signal", "stop", "max_hold", "end"]
    net_return: float  # after fees and slippage, as a fraction


class TradeResult:
    """The outcome of one simulation: the equity per bar, the trades (as arrays, and as
    ``Trade`` objects built when first asked for), the share of bars in a position."""

    __slots__ = ("_floats", "_ints", "_trades", "equity", "exposure")

    def __init__(
        self, equity: Float64Array, ints: NDArray[np.int64], floats: Float64Array, exposure: float
    ) -> None:
        self.equity = equity
        self.exposure = exposure
        self._ints, self._floats = ints, floats
        self._trades: list[Trade] | None = None

    @property
    def net_returns(self) -> Float64Array:
        return self._floats[:, 2]

    @property
    def trades(self) -> list[Trade]:
        from autonama_shared.engine._kernels import REASONS

        if self._trades is None:
            self._trades = [
                Trade(
                    "long" if side == 1 else "short",
                    int(signal),
                    int(entry),
                    float(entry_price),
                    int(exit_bar),
                    float(exit_price),
                    REASONS[reason],  # type: ignore[arg-type]
                    float(net),
                )
                for (side, signal, entry, exit_bar, reason), (entry_price, exit_price, net) in zip(
                    self._ints.tolist(), self._floats.tolist(), strict=True
                )
            ]
        return self._trades


def bars_per_year(interval_ms: int) -> float:
    """Bars in 365 days of ``interval_ms`` candles (crypto trades every day).

    >>> bars_per_year(86_400_000), bars_per_year(3_600_000)
    (365.0, 8760.0)
    """
    return 365 * 86_400_000 / interval_ms


def trade_return(side: Side, entry_price: float, exit_price: float, fee: float) -> float:
    """A trade's net return, the fee a fraction of each fill's notional value.

    Long: buy with the whole equity V (fee f V, paid in the asset bought), sell it all:
    ``(1 - f)^2 X / E - 1``. Short: sell V / E units (fee f V), buy them back (fee
    ``f V X / E``): ``(1 - f) - (1 + f) X / E``. Prices are the fills, slippage included.

    >>> round(trade_return("long", 100.0, 110.0, 0.001), 9)
    0.0978011
    >>> round(trade_return("short", 0.448545615, 0.57218595, 0.001), 9)
    -0.27792283
    """
    if side == "long":
        return (1 - fee) * (1 - fee) * exit_price / entry_price - 1
    return (1 - fee) - (1 + fee) * exit_price / entry_price


def simulate(
    open_: Float64Array,
    high: Float64Array,
    low: Float64Array,
    close: Float64Array,
    lower: Float64Array,
    fit: Float64Array,
    upper: Float64Array,
    rules: TradeRules,
) -> TradeResult:
    """Trades of the band signals under ``rules`` (see the module docstring).

    Bands are NaN where no full window exists yet: no signal there.

    >>> o = np.array([10., 10, 8, 9, 10, 11]); c = np.array([10., 8, 9, 10, 11, 11])
    >>> lo = np.full(6, 9.0); fi = np.full(6, 10.0); up = np.full(6, 11.5)
    >>> r = simulate(o, o + 1, o - 1, c, lo, fi, up, TradeRules(fee=0.0))
    >>> [(t.entry_bar, t.entry_price, t.exit_bar, t.exit_price, t.reason) for t in r.trades]
    [(2, 8.0, 4, 10.0, 'target')]
    """

    # numba, loaded when a backtest first runs: the services that only import this module
    # (the API's scorecard, the notifier's messages) start 0.6 s sooner without it
    from autonama_shared.engine._kernels import simulate_kernel

    def c(a: Float64Array) -> Float64Array:
        return np.ascontiguousarray(a, dtype=np.float64)

    equity, ints, floats, exposure = simulate_kernel(
        c(open_),
        c(high),
        c(low),
        c(close),
        c(lower),
        c(fit),
        c(upper),
        float(rules.fee),
        rules.slippage_bps / 10_000,
        bool(rules.allow_short),
        math.nan if rules.stop_loss is None else float(rules.stop_loss),
        0 if rules.max_hold is None else int(rules.max_hold),
    )
    return TradeResult(equity, ints, floats, float(exposure))


def buy_and_hold(open_: Float64Array, close: Float64Array, rules: TradeRules) -> Float64Array:
    """Buy-and-hold on the bars a strategy trades, filled as the strategy's trades are.

    The curve starts at 1.0 on the first bar (where a strategy can first decide); the
    buy fills at the next bar's open with slippage and the fee, the position is marked
    to each close, and sold at the last close with slippage and the fee.

    >>> o = np.array([10.0, 10.0, 11.0]); c = np.array([10.0, 10.5, 12.0])
    >>> curve = buy_and_hold(o, c, TradeRules(fee=0.001, slippage_bps=10))
    >>> [round(float(x), 6) for x in curve]
    [1.0, 1.047902, 1.195208]
    """
    n = close.shape[0]
    equity = np.ones(n)
    if n < 2:
        return equity
    slip = rules.slippage_bps / 10_000
    entry = open_[1] * (1 + slip)
    equity[1:] = (1 - rules.fee) * close[1:] / entry
    equity[-1] = trade_return("long", entry, close[-1] * (1 - slip), rules.fee) + 1
    return equity


@dataclass(frozen=True, slots=True)
class Metrics:
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    max_drawdown_bars: int
    trades: int = 0
    win_rate: float = 0.0
    average_trade: float = 0.0
    exposure: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def metrics_of(
    equity: Float64Array, per_year: float, trades: list[Trade] | None = None, exposure: float = 1.0
) -> Metrics:
    """Return, risk and trade statistics of an equity curve (one value per bar).

    >>> m = metrics_of(np.array([1.0, 1.1, 0.99, 1.2]), 365.0)
    >>> round(m.total_return, 6), round(m.max_drawdown, 6), m.max_drawdown_bars
    (0.2, -0.1, 1)
    """
    trade_list = trades or []
    nets = np.array([t.net_return for t in trade_list], dtype=np.float64)
    return metrics_from(np.asarray(equity, dtype=np.float64), per_year, nets, exposure)


def metrics_from(
    equity: Float64Array, per_year: float, net_returns: Float64Array, exposure: float = 1.0
) -> Metrics:
    """``metrics_of`` with the trades given by their net returns (the sweep's fast path)."""
    from autonama_shared.engine._kernels import metrics_kernel

    total, cagr, vol, sharpe, sortino, mdd, mdd_bars, win_rate, average = metrics_kernel(
        np.ascontiguousarray(equity, dtype=np.float64),
        float(per_year),
        np.ascontiguousarray(net_returns, dtype=np.float64),
    )
    return Metrics(
        total_return=float(total),
        cagr=float(cagr),
        volatility=float(vol),
        sharpe=float(sharpe),
        sortino=float(sortino),
        max_drawdown=float(mdd),
        max_drawdown_bars=int(mdd_bars),
        trades=int(net_returns.shape[0]),
        win_rate=float(win_rate),
        average_trade=float(average),
        exposure=exposure,
    )
