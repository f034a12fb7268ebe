"""The alerts' bodies: an alert, a page of them, the summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autonama_alerts_api.models.common import ALERT_EXAMPLE, SCAN_ID, with_examples
from autonama_shared.engine.scorecard import MIN_SAMPLE
from autonama_shared.formats.alerts import AlertRecord

__all__ = [
    "Alert",
    "AlertOutcome",
    "AlertPage",
    "BacktestBeside",
    "GroupField",
    "HorizonFigures",
    "ScanFailure",
    "Scorecard",
    "ScorecardGroup",
    "Summary",
]


class AlertOutcome(BaseModel):
    """What the market did after a BUY or SELL alert, bar by bar up to 20 bars (the rules:
    the README's "How alerts are scored"). Percentages are numbers (4.2 is 4.2 %), bars are
    counts of bars after the alert's; null where not known yet (the bar has not closed, or
    a gap in the key's candles stops the count)."""

    model_config = with_examples(
        {
            "alert_id": 42,
            "signal": "BUY",
            "entry_time": "2026-03-02T00:00:00Z",
            "entry_price": 61250.0,
            "return_1": 0.82,
            "return_5": 2.4,
            "return_20": None,
            "target_price": 63400.0,
            "target_hit_after": 4,
            "opposite_band_price": 66100.0,
            "opposite_band_hit_after": None,
            "max_adverse": -1.35,
            "ended_after": 6,
            "bars_seen": 9,
            "final": False,
        }
    )

    alert_id: int
    signal: Literal["BUY", "SELL"]
    entry_time: datetime | None = Field(description="Open time of the bar after the alert's.")
    entry_price: float | None = Field(description="Open of the bar after the alert's.")
    return_1: float | None = Field(description="Gross return (%) at the close 1 bar after.")
    return_5: float | None = Field(description="Gross return (%) at the close 5 bars after.")
    return_20: float | None = Field(description="Gross return (%) at the close 20 bars after.")
    target_price: float = Field(description="The fit at the alert's bar.")
    target_hit_after: int | None = Field(
        description="Bars until a high (BUY) or low (SELL) reached the target."
    )
    opposite_band_price: float = Field(
        description="The upper (BUY) or lower (SELL) band at the alert's bar."
    )
    opposite_band_hit_after: int | None = Field(
        description="Bars until the opposite band was reached."
    )
    max_adverse: float | None = Field(
        description="Worst excursion against the alert (%, zero or negative) until the target "
        "was hit, or over all the bars seen."
    )
    ended_after: int | None = Field(description="Bars until the key turned HOLD, within 20.")
    bars_seen: int = Field(description="Closed bars after the alert's, without a gap (at most 20).")
    final: bool = Field(description="20 bars seen: the outcome no longer changes.")


class Alert(AlertRecord):
    """A BUY or SELL signal that was new for its symbol, interval and parameters, or the end
    of one: signal HOLD, reason ``ended``, previous_signal the side that ended."""

    model_config = ConfigDict(json_schema_extra={"examples": [ALERT_EXAMPLE]})

    outcome: AlertOutcome | None = Field(
        default=None,
        description="What the market did after it so far (`GET /v1/alerts/{id}/outcome`); "
        "null until a bar after it has been scored, and for an ended alert.",
    )


class AlertPage(BaseModel):
    model_config = with_examples(
        {"items": [ALERT_EXAMPLE], "next_cursor": "WyJwb3RlbnRpYWxfcmV0dXJuIiwgMzMuNzUsIDQyXQ"}
    )

    items: list[Alert]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class Summary(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "counts": {"BUY": 3, "SELL": 1},
                    "strongest_buy": ALERT_EXAMPLE,
                    "strongest_sell": None,
                    "last_scan_id": ALERT_EXAMPLE["scan_id"],
                    "last_scan_finished_at": "2026-03-15T00:00:09Z",
                    "last_scan_symbols": 100,
                    "failed_symbols": 2,
                }
            ]
        }
    )

    counts: dict[str, int] = Field(description="Current alerts per signal.")
    strongest_buy: Alert | None
    strongest_sell: Alert | None
    last_scan_id: str | None
    last_scan_finished_at: datetime | None
    last_scan_symbols: int | None
    failed_symbols: int | None = Field(description="Symbols the last finished scan failed on.")
    recent_failures: list[ScanFailure] = Field(
        default_factory=list,
        description="Scans that failed as a whole since the last finished one, newest first.",
    )


class ScanFailure(BaseModel):
    model_config = with_examples(
        {
            "scan_id": SCAN_ID,
            "requested_at": "2026-03-15T00:00:01Z",
            "error": "Binance is unreachable: Cannot connect to host api.binance.com:443",
        }
    )

    scan_id: str
    requested_at: datetime
    error: str | None


GroupField = Literal["symbol", "interval", "degree", "kstd", "price_scale", "days", "signal"]


_HORIZON_EXAMPLE = {"median_gross": 1.2, "mean_gross": 0.9, "median_net": 1.0, "mean_net": 0.7}
_GROUP_EXAMPLE: dict[str, Any] = {
    "key": {"signal": "BUY"},
    "count": 48,
    "insufficient": False,
    "target_hit_rate": 0.625,
    "target_hit_interval": [0.484, 0.748],
    "opposite_band_hit_rate": 0.146,
    "opposite_band_hit_interval": [0.072, 0.272],
    "returns": {"1": _HORIZON_EXAMPLE, "5": _HORIZON_EXAMPLE, "20": _HORIZON_EXAMPLE},
    "median_bars_to_target": 4.0,
    "median_max_adverse": -1.8,
    "backtest": None,
}
_BESIDE_EXAMPLE = {
    "keys": 3,
    "bars": 1260,
    "trades": 17,
    "target_exit_rate": 0.588,
    "win_rate": 0.647,
    "median_net_return": 1.4,
    "mean_net_return": 0.9,
}


class BacktestBeside(BaseModel):
    """The backtest of a scorecard group's keys over the bars their alerts were scored on."""

    model_config = with_examples(_BESIDE_EXAMPLE)

    keys: int
    bars: int = Field(description="Stored bars traded (a missing bar splits a key's span).")
    trades: int = Field(description="Trades of the group's side (both without a signal).")
    target_exit_rate: float | None = Field(description="Share that left at the fit line.")
    win_rate: float | None = Field(description="Share with a positive net return.")
    median_net_return: float | None = Field(description="Per trade, percent, net.")
    mean_net_return: float | None


class HorizonFigures(BaseModel):
    model_config = with_examples(_HORIZON_EXAMPLE)

    median_gross: float
    mean_gross: float
    median_net: float
    mean_net: float


class ScorecardGroup(BaseModel):
    model_config = with_examples(_GROUP_EXAMPLE)

    key: dict[str, Any] = Field(description="The group's values of the fields asked for.")
    count: int = Field(description="Final outcomes (20 bars seen) in the group.")
    insufficient: bool = Field(
        description=f"Fewer than {MIN_SAMPLE} final outcomes: no rate or figure is claimed."
    )
    target_hit_rate: float | None = Field(description="Share that reached the target.")
    target_hit_interval: tuple[float, float] | None = Field(description="Wilson 95 %.")
    opposite_band_hit_rate: float | None
    opposite_band_hit_interval: tuple[float, float] | None
    returns: dict[str, HorizonFigures] = Field(
        description="By horizon in bars (1, 5, 20): returns in percent, gross and net."
    )
    median_bars_to_target: float | None
    median_max_adverse: float | None
    backtest: BacktestBeside | None = Field(
        None, description="With `compare=backtest`: the backtest over the same bars."
    )


class Scorecard(BaseModel):
    """Final alert outcomes by group (README: How alerts are scored)."""

    model_config = with_examples(
        {
            "by": ["signal"],
            "fee": 0.001,
            "slippage_bps": 0.0,
            "min_sample": 20,
            "groups": [_GROUP_EXAMPLE],
        }
    )

    by: list[str]
    fee: float = Field(description="Per fill, in the net figures (the backtest's default).")
    slippage_bps: float
    min_sample: int
    groups: list[ScorecardGroup]
