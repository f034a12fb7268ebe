"""The backtest report, ``backtest_report_YYYYMMDD_HHMMSS.json``: its model and writer.

Its JSON Schema is published beside the results file's
(``schemas/backtest_report.schema.json``, ``make schema``).
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from autonama_shared.engine.specs import PriceScale
from autonama_shared.formats._files import model_schema, published_schema, write_new
from autonama_shared.formats.records import STRICT

__all__ = [
    "MAX_CURVE_POINTS",
    "REPORT_VERSION",
    "BacktestParameters",
    "BacktestReport",
    "ComboMetrics",
    "EquityCurve",
    "FoldModel",
    "MetricsModel",
    "SymbolBacktest",
    "TradeModel",
    "generated_report_schema",
    "report_schema",
    "write_report",
]


#: The version this code writes (1 is still read).
REPORT_VERSION: Literal[2] = 2
#: The most points of an equity curve kept in a report.
MAX_CURVE_POINTS = 2000


class _Model(BaseModel):
    model_config = STRICT


class MetricsModel(_Model):
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    max_drawdown_bars: int
    trades: int
    win_rate: float
    average_trade: float
    exposure: float


class ComboMetrics(_Model):
    degree: int
    kstd: float
    window: int
    metrics: MetricsModel


class TradeModel(_Model):
    side: Literal["long", "short"]
    signal_time: int = Field(description="Open time (ms) of the bar whose close decided.")
    entry_time: int
    entry_price: float
    exit_time: int
    exit_price: float
    reason: Literal["target", "signal", "stop", "max_hold", "end"]
    net_return: float


class FoldModel(_Model):
    train_start: int = Field(description="Open time (ms) of the first training bar.")
    train_end: int = Field(description="Open time (ms) of the last training bar.")
    test_start: int
    test_end: int
    chosen: ComboMetrics = Field(description="Best on the training bars.")
    test: ComboMetrics = Field(description="The same combination on the test bars.")


class EquityCurve(_Model):
    """The reported run's equity and buy-and-hold's on the same bars (at most 2,000 points)."""

    time: list[int] = Field(description="Bar open times, ms since the epoch (UTC).")
    equity: list[float]
    buy_and_hold: list[float]


class SymbolBacktest(_Model):
    symbol: str
    first_time: int | None = Field(description="First evaluated bar (ms); null on error.")
    last_time: int | None
    bars: int
    chosen: ComboMetrics | None = Field(description="The best combination (in sample with split).")
    out_of_sample: ComboMetrics | None = Field(description="The chosen one on the held-out bars.")
    buy_and_hold: MetricsModel | None
    buy_and_hold_out_of_sample: MetricsModel | None
    trades: list[TradeModel] = Field(description="Trades of the reported combination.")
    combinations: list[ComboMetrics] = Field(description="Every combination, in sample.")
    folds: list[FoldModel] = Field(
        default_factory=list, description="Walk-forward folds (with --folds)."
    )
    walk_forward: MetricsModel | None = Field(
        default=None, description="The test parts of every fold chained (with --folds)."
    )
    equity_curve: EquityCurve | None = Field(
        default=None, description="The reported run beside buy-and-hold (version 2 on)."
    )
    error: str | None = None


class BacktestParameters(_Model):
    interval: str
    degrees: list[int]
    kstds: list[float]
    windows: list[int]
    price_scale: PriceScale
    fee: float
    slippage_bps: float
    allow_short: bool
    stop_loss: float | None
    max_hold: int | None
    split: float | None
    folds: int | None = None
    metric: str
    source: str


class BacktestReport(_Model):
    """Version 2: fees on each fill's notional (shorts), buy-and-hold filled like the
    strategy with fee and slippage on both fills, Sortino over every bar's downside, the
    equity curves. Version 1 reports still read (their figures are version 1's)."""

    schema_version: Literal[1, 2] = REPORT_VERSION
    engine_version: str
    generated_at: AwareDatetime
    parameters: BacktestParameters
    symbols: list[SymbolBacktest]
    portfolio: MetricsModel | None = Field(
        description="Equal weight of every symbol's reported run."
    )
    portfolio_buy_and_hold: MetricsModel | None


def write_report(report: BacktestReport, folder: Path) -> Path:
    """``backtest_report_YYYYMMDD_HHMMSS.json`` (UTC), written atomically, never overwriting."""
    stamp = report.generated_at.astimezone(UTC).strftime("%Y%m%d_%H%M%S")
    return write_new(folder, f"backtest_report_{stamp}", report.model_dump_json())


def report_schema() -> dict[str, Any]:
    """The published JSON Schema of the backtest report."""
    return published_schema("backtest_report")


def generated_report_schema() -> dict[str, Any]:
    """The schema as the models define it now (``make schema`` writes it to the package)."""
    return model_schema(BacktestReport, "backtest_report")
