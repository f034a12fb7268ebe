"""The events that travel over Kafka: immutable, versioned, JSON on the wire.

Every event carries ``type`` and ``schema_version``; times are timezone-aware
UTC; the scan id is carried from the request to the last signal. Only adapters
turn events into bytes (``encode``) and back (``decode``); a consumer that meets
bytes it cannot decode, another type, or a newer ``schema_version`` than it
knows gets an ``EventDecodeError`` and sends the message to the dead-letter topic.

    ScanRequested     scan-requests      someone (CLI, API, schedule) wants a scan
    ScanPlanned       scans              the fetcher resolved the universe: these symbols
    KlineBatch        klines             closed candles of one symbol for one scan (or its
                                         fetch error)
    CandleClosed      klines             one closed candle of a followed stream (the live
                                         market)
    SignalComputed    signals            the analyzer's result for one symbol (or its error)
    BacktestRequested backtest-requests  someone wants a backtest
    BacktestPlanned   scans              the fetcher resolved the backtest's symbols
    BacktestKlines    backtest-klines    the history of one symbol for one backtest
    BacktestComputed  signals            the analyzer's backtest of one symbol
    AlertRaised       alerts             a key turned BUY or SELL (the ingestor's outbox relay)
    AlertEnded        alerts             a key that was BUY or SELL turned HOLD
    DeadLetter        dead-letters       a message no consumer could handle, with why

``ScanFinished`` is no longer published (the database knows when a scan is done);
it is still decoded, so the ones left in a topic are read and ignored.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
from typing import Annotated, Literal, TypeVar, Union, get_args

from pydantic import (
    BaseModel,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from autonama_shared.engine.intervals import INTERVALS
from autonama_shared.engine.specs import (
    BandParams,
    PriceScale,
    ScanSpec,
)
from autonama_shared.formats.keys import KEY_FIELDS, SignalKey
from autonama_shared.formats.params import Days, Degree, Kstd, Top, checked
from autonama_shared.formats.records import (
    STRICT,
    LastCandle,
    SignalRecord,
    WindowSeries,
    describe,
)
from autonama_shared.messaging._alert_events import AlertEnded, AlertRaised, alert_event
from autonama_shared.messaging._backtest_events import (
    BacktestComputed,
    BacktestKlines,
    BacktestParams,
    BacktestPlanned,
    BacktestRequested,
)
from autonama_shared.messaging._base import (
    SCHEMA_VERSION,
    EventDecodeError,
    Symbol,
    UTCDatetime,
    UUIDText,
    _CandleColumns,
    _Event,
    _tuple,
    new_scan_id,
    utcnow,
)

__all__ = [
    "SCHEMA_VERSION",
    "AlertEnded",
    "AlertRaised",
    "BacktestComputed",
    "BacktestKlines",
    "BacktestParams",
    "BacktestPlanned",
    "BacktestRequested",
    "CandleClosed",
    "DeadLetter",
    "Event",
    "EventDecodeError",
    "KlineBatch",
    "ScanFinished",
    "ScanParams",
    "ScanPlanned",
    "ScanRequested",
    "SignalComputed",
    "alert_event",
    "decode",
    "encode",
    "new_scan_id",
    "utcnow",
]


class ScanParams(BaseModel):
    """Interval, window and band parameters of a scan (validated like the CLI's)."""

    model_config = STRICT

    interval: str
    days: Days
    degree: Degree
    kstd: Kstd
    price_scale: PriceScale = "linear"

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if value not in INTERVALS:
            raise ValueError(f"unknown interval {value!r}; one of {', '.join(INTERVALS)}")
        return value

    def band_params(self) -> BandParams:
        return BandParams(degree=self.degree, kstd=self.kstd, price_scale=self.price_scale)

    def key(self, symbol: str) -> SignalKey:
        """The key of ``symbol``'s signals under these parameters."""
        return SignalKey(symbol=symbol, **{name: getattr(self, name) for name in KEY_FIELDS[1:]})

    @model_validator(mode="after")
    def _valid(self) -> ScanParams:
        checked(self.spec)
        return self

    @property
    def window(self) -> int:
        """Candles in the window: the one definition (``ScanSpec.window``)."""
        return self.spec().window

    def spec(self, symbols: tuple[str, ...] | None = None, top: int | None = None) -> ScanSpec:
        return ScanSpec(self.interval, self.days, self.band_params(), symbols=symbols, top=top)


class ScanRequested(_Event):
    type: Literal["scan.requested"] = "scan.requested"
    scan_id: UUIDText = Field(default_factory=new_scan_id)
    requested_at: UTCDatetime = Field(default_factory=utcnow)
    origin: Literal["cli", "api", "schedule", "test", "file"] = "cli"
    params: ScanParams
    symbols: list[Symbol] | None = None
    top: Top | None = None
    #: For scheduled scans: the schedule's name and the candle close it follows.
    schedule: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> ScanRequested:
        checked(self.spec)
        return self

    def spec(self) -> ScanSpec:
        """The validated scan: parameters and universe."""
        return self.params.spec(_tuple(self.symbols), self.top)


class ScanPlanned(_Event):
    type: Literal["scan.planned"] = "scan.planned"
    scan_id: UUIDText
    planned_at: UTCDatetime = Field(default_factory=utcnow)
    request: ScanRequested
    symbols: list[Symbol]
    window: int = Field(ge=1)
    #: Set when the universe could not be resolved: the scan failed before it began.
    error: str | None = None


class KlineBatch(_CandleColumns):
    type: Literal["klines.batch"] = "klines.batch"
    scan_id: UUIDText
    symbol: Symbol
    params: ScanParams
    window: int = Field(ge=1)
    fetched_at: UTCDatetime = Field(default_factory=utcnow)
    #: Set when the candles could not be fetched; the lists are then empty.
    error: str | None = None

    @model_validator(mode="after")
    def _window(self) -> KlineBatch:
        if self.window != self.params.window:
            raise ValueError(f"window {self.window} is not the parameters' {self.params.window}")
        return self


class CandleClosed(_CandleColumns):
    """One closed candle of a followed stream (the live market), with the parameter sets
    of its key: the analyzer that owns the symbol updates each key's window with it."""

    type: Literal["candle.closed"] = "candle.closed"
    symbol: Symbol
    interval: str
    params: list[ScanParams] = Field(min_length=1, max_length=50)
    closed_at: UTCDatetime = Field(default_factory=utcnow)
    #: The candles before this one (the stream's window, oldest first), with a stream's
    #: first candle only: the analyzers warm its keys up from it, so a window is loaded
    #: once (by the fetcher, from its cache or REST), not once more by an analyzer.
    before: _CandleColumns | None = None

    @model_validator(mode="after")
    def _one_candle(self) -> CandleClosed:
        if len(self.open_time) != 1:
            raise ValueError(f"a closed candle is one candle, got {len(self.open_time)}")
        if any(p.interval != self.interval for p in self.params):
            raise ValueError(f"every parameter set must be of interval {self.interval}")
        if self.before is not None and self.before.open_time[-1:] >= self.open_time:
            raise ValueError("the candles before a closed candle must be older than it")
        return self


class SignalComputed(_Event, SignalRecord):
    """The analyzer's result for one symbol: the signal record, where it comes from, its window."""

    type: Literal["signal.computed"] = "signal.computed"
    scan_id: UUIDText
    symbol: Symbol
    params: ScanParams
    window: int
    computed_at: UTCDatetime = Field(default_factory=utcnow)
    engine_version: str
    last_candle_time: UTCDatetime | None = None
    #: The window's candles and bands, for charts without refetching (absent on error).
    series: WindowSeries | None = None
    #: The last candle's open, high and low: a live close that travels without its window
    #: is still a candle on its key's chart.
    last_candle: LastCandle | None = None

    @property
    def key(self) -> SignalKey:
        return self.params.key(self.symbol)


class ScanFinished(_Event):
    type: Literal["scan.finished"] = "scan.finished"
    scan_id: UUIDText
    finished_at: UTCDatetime = Field(default_factory=utcnow)
    symbols_done: int
    symbols_failed: int


class DeadLetter(_Event):
    type: Literal["dead.letter"] = "dead.letter"
    service: str
    failed_at: UTCDatetime = Field(default_factory=utcnow)
    topic: str
    partition: int
    offset: int
    error: str
    key_b64: str | None
    value_b64: str | None
    #: the record's size and digest: with ``value_b64`` null (too large for the dead-letter
    #: topic) the record is read back from topic / partition / offset and checked by these
    value_bytes: int | None = None
    value_sha256: str | None = None

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
            value_bytes=len(value) if value is not None else None,
            value_sha256=hashlib.sha256(value).hexdigest() if value is not None else None,
        )

    def without_value(self) -> DeadLetter:
        """This letter carrying a reference (topic, partition, offset, size, digest) in place
        of the record's bytes, for a record too large to travel in a dead letter."""
        return self.model_copy(update={"value_b64": None})

    def original_value(self) -> bytes | None:
        return base64.b64decode(self.value_b64) if self.value_b64 is not None else None


Event = (
    ScanRequested
    | ScanPlanned
    | KlineBatch
    | SignalComputed
    | ScanFinished
    | DeadLetter
    | BacktestRequested
    | BacktestPlanned
    | BacktestKlines
    | BacktestComputed
    | CandleClosed
    | AlertRaised
    | AlertEnded
)
_BY_TYPE: dict[str, type[_Event]] = {
    cls.model_fields["type"].default: cls for cls in get_args(Event)
}


def encode(event: _Event) -> bytes:
    return event.model_dump_json().encode()


E = TypeVar("E", bound="_Event")


@functools.lru_cache(maxsize=64)
def _reader(accepted: tuple[type[_Event], ...]) -> TypeAdapter[_Event]:
    """One parse of the bytes into whichever of ``accepted`` its ``type`` names."""
    if len(accepted) == 1:
        return TypeAdapter(accepted[0])
    union = Union[accepted]  # type: ignore[valid-type]  # noqa: UP007 - built at run time
    return TypeAdapter(Annotated[union, Field(discriminator="type")])


def decode(raw: bytes | None, *accepted: type[E]) -> E:
    """Parse ``raw`` as one of ``accepted``; ``EventDecodeError`` says why it cannot be."""
    if raw is None:
        raise EventDecodeError("empty message (no value)")
    if accepted:
        # The usual case in one pass of pydantic's JSON parser (twice as fast as json.loads
        # and validation); anything it refuses is read again below to say precisely why.
        with contextlib.suppress(ValidationError, ValueError):
            event = _reader(tuple(accepted)).validate_json(raw)
            if 1 <= event.schema_version <= SCHEMA_VERSION:
                return event  # type: ignore[return-value]  # one of ``accepted``
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
        raise EventDecodeError(f"invalid {kind}: {describe(e)}") from e
    return event  # cls is one of ``accepted``
