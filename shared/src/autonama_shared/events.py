"""The events that travel over Kafka: immutable, versioned, JSON on the wire.

Every event carries ``type`` and ``schema_version``; times are timezone-aware
UTC; the scan id is carried from the request to the last signal. Only adapters
turn events into bytes (``encode``) and back (``decode``); a consumer that meets
bytes it cannot decode, another type, or a newer ``schema_version`` than it
knows gets an ``EventDecodeError`` and sends the message to the dead-letter topic.

    ScanRequested  scan-requests   someone (CLI, API, schedule) wants a scan
    ScanPlanned    scans           the fetcher resolved the universe: these symbols
    KlineBatch     klines          closed candles of one symbol for one scan (or its fetch error)
    SignalComputed signals         the analyzer's result for one symbol (or its error)
    ScanFinished   scans           the ingestor stored every symbol of the scan
    BacktestRequested scan-requests  someone wants a backtest (fetcher: candles; analyzer: trades)
    BacktestPlanned   scans          the fetcher resolved the backtest's symbols
    BacktestKlines    klines         the history of one symbol for one backtest
    BacktestComputed  signals        the analyzer's backtest of one symbol
    DeadLetter     dead-letters    a message no consumer could handle, with why
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
)

from autonama_shared.backtest import TradeRules
from autonama_shared.backtest_run import BacktestSpec
from autonama_shared.bands import (
    MAX_DEGREE,
    MAX_KSTD,
    MIN_DEGREE,
    MIN_KSTD,
    BandParams,
    PriceScale,
    Signal,
)
from autonama_shared.errors import AutonamaError
from autonama_shared.intervals import INTERVALS, IntervalName
from autonama_shared.report import SymbolBacktest
from autonama_shared.scan import MAX_DAYS, MAX_TOP, MIN_DAYS, ScanSpec

__all__ = [
    "SCHEMA_VERSION",
    "BacktestComputed",
    "BacktestKlines",
    "BacktestParams",
    "BacktestPlanned",
    "BacktestRequested",
    "DeadLetter",
    "Event",
    "EventDecodeError",
    "KlineBatch",
    "ScanFinished",
    "ScanParams",
    "ScanPlanned",
    "ScanRequested",
    "SignalComputed",
    "decode",
    "encode",
    "new_scan_id",
    "utcnow",
]

#: The version this code writes and the newest it reads.
SCHEMA_VERSION = 1

Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}$")]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_scan_id() -> str:
    return str(uuid.uuid4())


class EventDecodeError(AutonamaError):
    """Bytes that are not a known event of a version this code reads: dead-letter them."""


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return value


class ScanParams(BaseModel):
    """Interval, window and band parameters of a scan (validated like the CLI's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval: str
    days: int = Field(ge=MIN_DAYS, le=MAX_DAYS)
    degree: int = Field(ge=MIN_DEGREE, le=MAX_DEGREE)
    kstd: float = Field(ge=MIN_KSTD, le=MAX_KSTD)
    price_scale: PriceScale = "linear"

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if value not in INTERVALS:
            raise ValueError(f"unknown interval {value!r}; one of {', '.join(INTERVALS)}")
        return value

    def band_params(self) -> BandParams:
        return BandParams(degree=self.degree, kstd=self.kstd, price_scale=self.price_scale)

    def spec(self, symbols: tuple[str, ...] | None = None, top: int | None = None) -> ScanSpec:
        return ScanSpec(self.interval, self.days, self.band_params(), symbols=symbols, top=top)


class ScanRequested(_Event):
    type: Literal["scan.requested"] = "scan.requested"
    scan_id: str = Field(default_factory=new_scan_id)
    requested_at: AwareDatetime = Field(default_factory=utcnow)
    origin: Literal["cli", "api", "schedule", "test", "file"] = "cli"
    params: ScanParams
    symbols: list[Symbol] | None = None
    top: int | None = Field(default=None, ge=1, le=MAX_TOP)
    #: For scheduled scans: the schedule's name and the candle close it follows.
    schedule: str | None = None


class ScanPlanned(_Event):
    type: Literal["scan.planned"] = "scan.planned"
    scan_id: str
    planned_at: AwareDatetime = Field(default_factory=utcnow)
    request: ScanRequested
    symbols: list[Symbol]
    window: int = Field(ge=1)
    #: Set when the universe could not be resolved: the scan failed before it began.
    error: str | None = None


class _CandleColumns(_Event):
    """Closed candles as columns, oldest first (empty when ``error`` says why)."""

    open_time: list[int] = Field(default_factory=list)
    open: list[float] = Field(default_factory=list)
    high: list[float] = Field(default_factory=list)
    low: list[float] = Field(default_factory=list)
    close: list[float] = Field(default_factory=list)
    volume: list[float] = Field(default_factory=list)


class KlineBatch(_CandleColumns):
    type: Literal["klines.batch"] = "klines.batch"
    scan_id: str
    symbol: Symbol
    params: ScanParams
    window: int = Field(ge=1)
    fetched_at: AwareDatetime = Field(default_factory=utcnow)
    #: Set when the candles could not be fetched; the lists are then empty.
    error: str | None = None


class SignalComputed(_Event):
    type: Literal["signal.computed"] = "signal.computed"
    scan_id: str
    symbol: Symbol
    params: ScanParams
    window: int
    computed_at: AwareDatetime = Field(default_factory=utcnow)
    engine_version: str
    signal: Signal
    potential_return: float
    candles: int
    partial_window: bool
    last_candle_time: AwareDatetime | None = None
    price: float | None = None
    lower: float | None = None
    upper: float | None = None
    fit: float | None = None
    sigma: float | None = None
    target_return: float | None = None
    error: str | None = None
    #: The window's candles and bands, for charts without refetching (absent on error).
    series: dict[str, list[float]] | None = None


class ScanFinished(_Event):
    type: Literal["scan.finished"] = "scan.finished"
    scan_id: str
    finished_at: AwareDatetime = Field(default_factory=utcnow)
    symbols_done: int
    symbols_failed: int


class DeadLetter(_Event):
    type: Literal["dead.letter"] = "dead.letter"
    service: str
    failed_at: AwareDatetime = Field(default_factory=utcnow)
    topic: str
    partition: int
    offset: int
    error: str
    key_b64: str | None
    value_b64: str | None

    @classmethod
    def of(
        cls,
        service: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        error: str,
    ) -> DeadLetter:
        return cls(
            service=service,
            topic=topic,
            partition=partition,
            offset=offset,
            error=error,
            key_b64=base64.b64encode(key).decode() if key is not None else None,
            value_b64=base64.b64encode(value).decode() if value is not None else None,
        )

    def original_value(self) -> bytes | None:
        return base64.b64decode(self.value_b64) if self.value_b64 is not None else None


class BacktestParams(BaseModel):
    """What ``autonama backtest`` takes: the sweep, the trading rules, the history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval: IntervalName = "1d"
    history: int = Field(default=2000, ge=32, le=100_000)
    degrees: list[Annotated[int, Field(ge=MIN_DEGREE, le=MAX_DEGREE)]] = Field(
        default_factory=lambda: [4], min_length=1, max_length=9
    )
    kstds: list[Annotated[float, Field(ge=MIN_KSTD, le=MAX_KSTD)]] = Field(
        default_factory=lambda: [2.0], min_length=1, max_length=41
    )
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
        "history", "degrees", "kstds", "windows", "fee", "slippage_bps", "stop_loss", "max_hold",
        "split", "folds", mode="before",
    )  # fmt: skip
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        # JSON true/false are not numbers, though Python would take them as 1 and 0.
        items = value if isinstance(value, list) else [value]
        if any(isinstance(v, bool) for v in items):
            raise ValueError("must be a number, not true or false")
        return value

    def spec(self) -> BacktestSpec:
        """The validated spec; ``ConfigError`` names what is wrong."""
        rules = TradeRules(fee=self.fee, slippage_bps=self.slippage_bps,
                           allow_short=self.allow_short, stop_loss=self.stop_loss,
                           max_hold=self.max_hold)  # fmt: skip
        return BacktestSpec(
            interval=self.interval, degrees=tuple(self.degrees), kstds=tuple(self.kstds),
            windows=tuple(self.windows), rules=rules, price_scale=self.price_scale,
            split=self.split, folds=self.folds, metric=self.metric, history=self.history,
        )  # fmt: skip


class BacktestRequested(_Event):
    type: Literal["backtest.requested"] = "backtest.requested"
    backtest_id: str = Field(default_factory=new_scan_id)
    requested_at: AwareDatetime = Field(default_factory=utcnow)
    origin: Literal["cli", "api", "test"] = "api"
    params: BacktestParams
    symbols: list[Symbol] | None = None
    top: int | None = Field(default=None, ge=1, le=MAX_TOP)


class BacktestPlanned(_Event):
    type: Literal["backtest.planned"] = "backtest.planned"
    backtest_id: str
    planned_at: AwareDatetime = Field(default_factory=utcnow)
    request: BacktestRequested
    symbols: list[Symbol]
    error: str | None = None


class BacktestKlines(_CandleColumns):
    type: Literal["backtest.klines"] = "backtest.klines"
    backtest_id: str
    symbol: Symbol
    params: BacktestParams
    error: str | None = None


class BacktestComputed(_Event):
    type: Literal["backtest.computed"] = "backtest.computed"
    backtest_id: str
    symbol: Symbol
    computed_at: AwareDatetime = Field(default_factory=utcnow)
    engine_version: str
    result: SymbolBacktest
    #: The reported run's bars, equity and buy-and-hold equity (absent on error).
    equity_time: list[int] | None = None
    equity: list[float] | None = None
    hold: list[float] | None = None


Event = (
    ScanRequested | ScanPlanned | KlineBatch | SignalComputed | ScanFinished | DeadLetter
    | BacktestRequested | BacktestPlanned | BacktestKlines | BacktestComputed
)  # fmt: skip
_BY_TYPE: dict[str, type[_Event]] = {
    cls.model_fields["type"].default: cls for cls in get_args(Event)
}


def encode(event: _Event) -> bytes:
    return event.model_dump_json().encode()


E = TypeVar("E", bound="_Event")


def decode(raw: bytes | None, *accepted: type[E]) -> E:
    """Parse ``raw`` as one of ``accepted``; ``EventDecodeError`` says why it cannot be."""
    if raw is None:
        raise EventDecodeError("empty message (no value)")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EventDecodeError(f"not JSON: {e}") from e
    if not isinstance(data, dict):
        raise EventDecodeError("not a JSON object")
    kind, version = data.get("type"), data.get("schema_version")
    cls = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None or cls not in accepted:
        wanted = [c.model_fields["type"].default for c in accepted]
        raise EventDecodeError(f"event type {kind!r} is not one of {wanted}")
    if not isinstance(version, int) or version < 1:
        raise EventDecodeError(f"schema_version {version!r} is not a positive integer")
    if version > SCHEMA_VERSION:
        raise EventDecodeError(
            f"schema_version {version} of {kind} is newer than this service reads "
            f"({SCHEMA_VERSION})"
        )
    try:
        event = cls.model_validate(data)
    except ValidationError as e:
        raise EventDecodeError(f"invalid {kind}: {e.error_count()} errors: {e.errors()[:3]}") from e
    return event  # cls is one of ``accepted``
