"""The backtest's previous numpy implementation, kept in the tests as a reference: the
compiled kernels (``engine/_kernels.py``) must give the very same trades, equity and
metrics. (Written per trade with numpy, not per bar: an independent formulation.)"""

# ruff: noqa
from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from autonama_shared.engine.backtest import Metrics, Side, Trade, trade_return
from autonama_shared.engine.specs import TradeRules

Float64Array = NDArray[np.float64]


def _next_true(cond: NDArray[np.bool_]) -> NDArray[np.int64]:
    """For each index i, the smallest j >= i with cond[j], or len(cond) if none."""
    n = cond.shape[0]
    idx = np.where(cond, np.arange(n), n)
    return np.minimum.accumulate(idx[::-1])[::-1]


def reference_simulate(
    open_: Float64Array,
    high: Float64Array,
    low: Float64Array,
    close: Float64Array,
    lower: Float64Array,
    fit: Float64Array,
    upper: Float64Array,
    rules: TradeRules,
) -> tuple[list[Trade], np.ndarray, float]:
    """The numpy implementation the compiled kernel replaced, kept as a reference."""
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
    return trades, equity, exposure


def reference_metrics(
    equity: Float64Array, per_year: float, trades: list[Trade] | None = None, exposure: float = 1.0
) -> Metrics:
    """The numpy metrics the compiled kernel replaced."""
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
