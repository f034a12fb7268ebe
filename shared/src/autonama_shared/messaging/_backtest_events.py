"""The backtest's events: a request, the plan, each symbol's history, each symbol's result.

Private to ``messaging``: import them from ``autonama_shared.messaging.events``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from autonama_shared.engine.intervals import IntervalName
from autonama_shared.engine.specs import (
    BacktestSpec,
    PriceScale,
    ScanSpec,
    TradeRules,
)
from autonama_shared.formats.params import Degree, Kstd, Top, checked
from autonama_shared.formats.records import STRICT
from autonama_shared.formats.report import SymbolBacktest
from autonama_shared.messaging._base import (
    Symbol,
    UTCDatetime,
    UUIDText,
    _CandleColumns,
    _Event,
    _tuple,
    new_scan_id,
    utcnow,
)


class BacktestParams(BaseModel):
    """What ``autonama backtest`` takes: the sweep, the trading rules, the history."""

    model_config = STRICT

    interval: IntervalName = "1d"
    history: int = Field(default=2000, ge=32, le=100_000)
    degrees: list[Degree] = Field(default_factory=lambda: [4], min_length=1, max_length=9)
    kstds: list[Kstd] = Field(default_factory=lambda: [2.0], min_length=1, max_length=41)
    windows: list[Annotated[int, Field(ge=30, le=10_000)]] = Field(
        default_factory=lambda: [365], min_length=1, max_length=20
    )
    price_scale: PriceScale = "linear"
    fee: float = Field(default=0.001, ge=0, lt=0.1)
    slippage_bps: float = Field(default=0.0, ge=0, lt=1000)
    allow_short: StrictBool = False
    stop_loss: float | None = Field(default=None, gt=0, lt=1)
    max_hold: int | None = Field(default=None, ge=1, le=100_000)
    split: float | None = Field(default=None, ge=0.1, le=0.9)
    folds: int | None = Field(default=None, ge=2, le=20)
    metric: Literal["sharpe", "sortino", "total_return", "cagr"] = "sharpe"

    @field_validator(
        "history",
        "degrees",
        "kstds",
        "windows",
        "fee",
        "slippage_bps",
        "stop_loss",
        "max_hold",
        "split",
        "folds",
        mode="before",
    )
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        # JSON true/false are not numbers, though Python would take them as 1 and 0.
        items = value if isinstance(value, list) else [value]
        if any(isinstance(v, bool) for v in items):
            raise ValueError("must be a number, not true or false")
        return value

    @model_validator(mode="after")
    def _valid(self) -> BacktestParams:
        checked(self.spec)
        return self

    def spec(self) -> BacktestSpec:
        """The validated spec; ``ConfigError`` names what is wrong."""
        rules = TradeRules(
            fee=self.fee,
            slippage_bps=self.slippage_bps,
            allow_short=self.allow_short,
            stop_loss=self.stop_loss,
            max_hold=self.max_hold,
        )
        return BacktestSpec(
            interval=self.interval,
            degrees=tuple(self.degrees),
            kstds=tuple(self.kstds),
            windows=tuple(self.windows),
            rules=rules,
            price_scale=self.price_scale,
            split=self.split,
            folds=self.folds,
            metric=self.metric,
            history=self.history,
        )


class BacktestRequested(_Event):
    type: Literal["backtest.requested"] = "backtest.requested"
    backtest_id: UUIDText = Field(default_factory=new_scan_id)
    requested_at: UTCDatetime = Field(default_factory=utcnow)
    origin: Literal["cli", "api", "test"] = "api"
    params: BacktestParams
    symbols: list[Symbol] | None = None
    top: Top | None = None

    @model_validator(mode="after")
    def _valid(self) -> BacktestRequested:
        checked(self.universe)
        return self

    def universe(self) -> ScanSpec:
        """The symbols to backtest, as a scan spec's universe (validated)."""
        return ScanSpec(interval=self.params.interval, symbols=_tuple(self.symbols), top=self.top)


class BacktestPlanned(_Event):
    type: Literal["backtest.planned"] = "backtest.planned"
    backtest_id: UUIDText
    planned_at: UTCDatetime = Field(default_factory=utcnow)
    request: BacktestRequested
    symbols: list[Symbol]
    error: str | None = None


class BacktestKlines(_CandleColumns):
    type: Literal["backtest.klines"] = "backtest.klines"
    backtest_id: UUIDText
    symbol: Symbol
    params: BacktestParams
    error: str | None = None


class BacktestComputed(_Event):
    type: Literal["backtest.computed"] = "backtest.computed"
    backtest_id: UUIDText
    symbol: Symbol
    computed_at: UTCDatetime = Field(default_factory=utcnow)
    engine_version: str
    result: SymbolBacktest
    #: The reported run's bars, equity and buy-and-hold equity (absent on error).
    equity_time: list[int] | None = None
    equity: list[float] | None = None
    hold: list[float] | None = None
