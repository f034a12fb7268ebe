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


@dataclass(frozen=True, slots=True)
class TradeResult:
    trades: list[Trade]
    equity: Float64Array  # per bar, starting at 1.0
    exposure: float  # fraction of bars in a position


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


def _next_true(cond: NDArray[np.bool_]) -> NDArray[np.int64]:
    """For each index i, the smallest j >= i with cond[j], or len(cond) if none."""
    n = cond.shape[0]
    idx = np.where(cond, np.arange(n), n)
    return np.minimum.accumulate(idx[::-1])[::-1]


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
    n = close.shape[0]
    valid = ~np.isnan(lower)
    buy = valid & (close < lower)
    sell = valid & (close > upper)
    at_or_above_fit = valid & (close >= fit)
    at_or_below_fit = valid & (close <= fit)
    next_buy, next_sell = _next_true(buy), _next_true(sell)
    next_up_fit, next_down_fit = _next_true(at_or_above_fit), _next_true(at_or_below_fit)
    slip = rules.slippage_bps / 10_000
    trades: list[Trade] = []
    equity = np.ones(n)
    in_market = np.zeros(n, dtype=bool)
    level = 1.0
    t = 0  # the first bar that may decide an entry
    while t < n - 1:
        long_at = int(next_buy[t])
        short_at = int(next_sell[t]) if rules.allow_short else n
        signal_bar = min(long_at, short_at)
        if signal_bar >= n - 1:
            break
        side: Side = "long" if long_at <= short_at else "short"
        entry = signal_bar + 1
        raw_in = open_[entry]
        entry_price = raw_in * (1 + slip) if side == "long" else raw_in * (1 - slip)
        # Exit decisions on closes from the entry bar on: target, opposite signal, max hold.
        if side == "long":
            target, opposite = int(next_up_fit[entry]), int(next_sell[entry])
        else:
            target, opposite = int(next_down_fit[entry]), int(next_buy[entry])
        decide = min(target, opposite)
        reason: str = "target" if target <= opposite else "signal"
        if rules.max_hold is not None and entry + rules.max_hold - 1 < decide:
            decide, reason = entry + rules.max_hold - 1, "max_hold"
        exit_bar = decide + 1  # filled at the next open
        raw_out = float("nan")
        if rules.stop_loss is not None:
            last = min(exit_bar, n - 1)
            if side == "long":
                stop = entry_price * (1 - rules.stop_loss)
                hits = np.flatnonzero(low[entry : last + 1] <= stop)
            else:
                stop = entry_price * (1 + rules.stop_loss)
                hits = np.flatnonzero(high[entry : last + 1] >= stop)
            # A stop on the exit bar itself only counts if it comes before that bar's open fill:
            # the open is the fill, so only a gap through the stop there matters.
            if hits.size:
                hit = entry + int(hits[0])
                if (
                    hit < exit_bar
                    or (side == "long" and open_[hit] <= stop)
                    or (side == "short" and open_[hit] >= stop)
                ):
                    exit_bar, reason = hit, "stop"
                    gapped = open_[hit] <= stop if side == "long" else open_[hit] >= stop
                    raw_out = open_[hit] if gapped else stop
        if exit_bar >= n:  # still open at the end: valued at the last close
            exit_bar, reason, raw_out = n - 1, "end", close[n - 1]
        elif np.isnan(raw_out):
            raw_out = open_[exit_bar]
        exit_price = raw_out * (1 - slip) if side == "long" else raw_out * (1 + slip)
        net = trade_return(side, entry_price, exit_price, rules.fee)
        trades.append(
            Trade(
                side,
                signal_bar,
                entry,
                float(entry_price),
                exit_bar,
                float(exit_price),
                reason,  # type: ignore[arg-type]
                float(net),
            )
        )
        # Equity: marked to the close while in the position (the entry fee paid, the
        # exit's not yet), the fill prices and both fees at the exit.
        held = slice(entry, exit_bar)
        relative = close[held] / entry_price
        f = rules.fee
        equity[held] = level * ((1 - f) * relative if side == "long" else 2 - f - relative)
        in_market[held] = True
        level = level * (1 + net)
        equity[exit_bar:] = level
        t = exit_bar if reason != "end" else n
    exposure = float(in_market.mean()) if n else 0.0
    return TradeResult(trades, equity, exposure)


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
    n = equity.shape[0]
    total = float(equity[-1] / equity[0] - 1) if n else 0.0
    years = (n - 1) / per_year if n > 1 else 0.0
    growth = equity[-1] / equity[0] if n else 1.0
    cagr = float(growth ** (1 / years) - 1) if years > 0 and growth > 0 else 0.0
    returns = np.diff(equity) / equity[:-1] if n > 1 else np.zeros(0)
    sd = float(returns.std(ddof=1)) if returns.size > 1 else 0.0
    mean = float(returns.mean()) if returns.size else 0.0
    # Downside deviation with a target of 0, over every bar (Sortino and Price's definition).
    dsd = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))) if returns.size else 0.0
    peak = np.maximum.accumulate(equity)
    drawdown = equity / peak - 1
    # The longest run of bars under a previous peak.
    edges = np.flatnonzero(np.diff(np.concatenate(([0], (drawdown < 0).astype(np.int8), [0]))))
    longest = int((edges[1::2] - edges[::2]).max()) if edges.size else 0
    trade_list = trades or []
    wins = [t for t in trade_list if t.net_return > 0]
    return Metrics(
        total_return=total,
        cagr=cagr,
        volatility=sd * math.sqrt(per_year),
        sharpe=mean / sd * math.sqrt(per_year) if sd > 0 else 0.0,
        sortino=mean / dsd * math.sqrt(per_year) if dsd > 0 else 0.0,
        max_drawdown=float(drawdown.min()) if n else 0.0,
        max_drawdown_bars=int(longest),
        trades=len(trade_list),
        win_rate=len(wins) / len(trade_list) if trade_list else 0.0,
        average_trade=float(np.mean([t.net_return for t in trade_list])) if trade_list else 0.0,
        exposure=exposure,
    )
