"""The scorecard (#28): final alert outcomes (``engine/outcomes.py``) aggregated by any of
the key's fields and the signal.

Per group: how many final outcomes; the share that reached the target and the opposite
band within 20 bars, each with its Wilson 95 % interval; the median and mean return after
1, 5 and 20 bars, gross and net of the backtest's default fee and slippage on both fills
(``engine.backtest.trade_return``, fills as the backtest makes them); the median bars to
the target (of those that reached it) and the median max adverse excursion. A group of
fewer than ``MIN_SAMPLE`` final outcomes gives its count and ``insufficient``, no rate.

Beside a group, the backtest of the same keys over the same bars (``beside``): the band
signals the keys closed with, traded by ``engine.backtest.simulate`` under the backtest's
default fee and slippage, shorts allowed (so that SELL alerts have their trades too); a
group of one signal counts the trades of its side. It answers "did the alerts behave as
the backtest said?" on the very bars the alerts were scored on.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autonama_shared.engine.backtest import simulate, trade_return
from autonama_shared.engine.outcomes import HORIZONS
from autonama_shared.engine.specs import TradeRules

__all__ = [
    "GROUP_FIELDS",
    "MIN_SAMPLE",
    "Beside",
    "Group",
    "Horizon",
    "Segment",
    "beside",
    "scorecard",
    "wilson",
]

#: What a scorecard may group by.
GROUP_FIELDS = ("symbol", "interval", "degree", "kstd", "price_scale", "days", "signal")
MIN_SAMPLE = 20
_Z = 1.959963984540054  # the normal quantile of 97.5 %


def wilson(hits: int, n: int) -> tuple[float, float]:
    """The Wilson score interval (95 %) of ``hits`` successes in ``n`` trials.

    >>> [round(x, 4) for x in wilson(8, 10)]
    [0.4902, 0.9433]
    """
    p = hits / n
    denominator = 1 + _Z * _Z / n
    centre = (p + _Z * _Z / (2 * n)) / denominator
    half = _Z * math.sqrt(p * (1 - p) / n + _Z * _Z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Horizon:
    median_gross: float
    mean_gross: float
    median_net: float
    mean_net: float


@dataclass(frozen=True)
class Group:
    key: dict[str, Any]
    count: int
    insufficient: bool
    target_hit_rate: float | None = None
    target_hit_interval: tuple[float, float] | None = None
    opposite_band_hit_rate: float | None = None
    opposite_band_hit_interval: tuple[float, float] | None = None
    returns: dict[str, Horizon] = field(default_factory=dict)
    median_bars_to_target: float | None = None
    median_max_adverse: float | None = None


def net(signal: str, gross: float, rules: TradeRules) -> float:
    """A gross return (%) net of the fee on both fills and the slippage, as the backtest
    fills: long buys at entry (1 + s) and sells at the close (1 - s); short the reverse.

    >>> round(net("BUY", 10.0, TradeRules(fee=0.001, slippage_bps=0)), 6)
    9.78011
    """
    s = rules.slippage_bps / 10_000
    if signal == "BUY":
        return trade_return("long", 1 + s, (1 + gross / 100) * (1 - s), rules.fee) * 100
    return trade_return("short", 1 - s, (1 - gross / 100) * (1 + s), rules.fee) * 100


def scorecard(
    outcomes: Iterable[Mapping[str, Any]], by: Sequence[str], rules: TradeRules
) -> list[Group]:
    """The groups of the final ``outcomes`` (each with the key's fields, its signal and its
    outcome's numbers) by the fields ``by``, the largest first."""
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for o in outcomes:
        groups.setdefault(tuple(o[f] for f in by), []).append(o)
    out = []
    for values, members in sorted(groups.items(), key=lambda g: (-len(g[1]), str(g[0]))):
        key = dict(zip(by, values, strict=True))
        n = len(members)
        if n < MIN_SAMPLE:
            out.append(Group(key, n, insufficient=True))
            continue
        target = sum(m["target_hit_after"] is not None for m in members)
        opposite = sum(m["opposite_band_hit_after"] is not None for m in members)
        returns = {}
        for h in HORIZONS:
            gross = [m[f"return_{h}"] for m in members]
            nets = [net(m["signal"], g, rules) for m, g in zip(members, gross, strict=True)]
            returns[str(h)] = Horizon(
                statistics.median(gross),
                statistics.fmean(gross),
                statistics.median(nets),
                statistics.fmean(nets),
            )
        reached = [m["target_hit_after"] for m in members if m["target_hit_after"] is not None]
        out.append(
            Group(
                key,
                n,
                insufficient=False,
                target_hit_rate=target / n,
                target_hit_interval=wilson(target, n),
                opposite_band_hit_rate=opposite / n,
                opposite_band_hit_interval=wilson(opposite, n),
                returns=returns,
                median_bars_to_target=statistics.median(reached) if reached else None,
                median_max_adverse=statistics.median(m["max_adverse"] for m in members),
            )
        )
    return out


#: One key's consecutive stored bars (each a close with its candle and its bands), oldest
#: first: the columns ``simulate`` trades. A gap in a key's closes starts another segment.
Segment = Mapping[str, NDArray[np.float64]]

_SIDES = {"BUY": "long", "SELL": "short"}


@dataclass(frozen=True)
class Beside:
    """The backtest of a group's keys over the bars their alerts were scored on."""

    keys: int
    bars: int
    trades: int
    target_exit_rate: float | None  # the share of trades that left at the regression line
    win_rate: float | None  # the share with a positive net return
    median_net_return: float | None  # per trade, percent, after fees and slippage
    mean_net_return: float | None


def beside(
    segments: Iterable[tuple[Any, Segment]], signal: str | None, rules: TradeRules
) -> Beside:
    """The backtest of ``segments`` (each with its key), its trades all or, with ``signal``,
    those of its side (BUY long, SELL short).

    >>> flat = np.full(6, 100.0)
    >>> bars = {"open": np.array([100, 100, 86, 92, 100, 100.]), "close": np.array(
    ...     [100, 85, 92, 100.5, 100, 100.]), "lower": flat - 10, "fit": flat, "upper": flat + 10}
    >>> bars |= {"high": np.maximum(bars["open"], bars["close"]) + 1,
    ...          "low": np.minimum(bars["open"], bars["close"]) - 1}
    >>> b = beside([("KEY", bars)], "BUY", TradeRules())
    >>> b.trades, b.target_exit_rate, round(b.median_net_return, 4)
    (1, 1.0, 16.0466)
    """
    side = _SIDES.get(signal) if signal is not None else None
    keys, bars, nets, targets = set(), 0, [], 0
    for key, seg in segments:
        keys.add(key)
        bars += len(seg["close"])
        run = simulate(
            seg["open"],
            seg["high"],
            seg["low"],
            seg["close"],
            seg["lower"],
            seg["fit"],
            seg["upper"],
            rules,
        )
        for trade in run.trades:
            if side is None or trade.side == side:
                nets.append(trade.net_return * 100)
                targets += trade.reason == "target"
    n = len(nets)
    return Beside(
        keys=len(keys),
        bars=bars,
        trades=n,
        target_exit_rate=targets / n if n else None,
        win_rate=sum(x > 0 for x in nets) / n if n else None,
        median_net_return=statistics.median(nets) if n else None,
        mean_net_return=statistics.fmean(nets) if n else None,
    )
