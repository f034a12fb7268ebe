"""The market watch's bodies and a signal's window (its chart)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from autonama_alerts_api.models.alerts import Alert
from autonama_alerts_api.models.common import ALERT_EXAMPLE, with_examples
from autonama_shared.formats.keys import KEY_FIELDS, SignalKey

__all__ = ["MARKET_ROW_EXAMPLE", "BandSeries", "MarketPage", "MarketRow"]


#: The example alert's signal, as the market watch shows it.
MARKET_ROW_EXAMPLE: dict[str, Any] = {
    **{
        name: ALERT_EXAMPLE[name]
        for name in ("signal_id", *KEY_FIELDS, "signal", "price", "lower", "upper", "fit")
    },
    "sigma": 4479.95,
    "band_distance": -0.25,
    "potential_return": 33.75,
    "target_return": 19.35,
    "last_candle_time": "2026-03-14T00:00:00Z",
    "candle_closed_at": "2026-03-15T00:00:00Z",
    "stale_after": "2026-03-17T00:00:00Z",
    "alert_id": 42,
    "closes": [55210.0, 54100.5, 53020.1, 52000.0],
}


class _MarketRowId(BaseModel):
    signal_id: int = Field(description="Its chart: /v1/signals/{signal_id}/bands.")


class MarketRow(SignalKey, _MarketRowId):
    """The current signal of one key (symbol, interval, parameters), HOLD included."""

    model_config = with_examples(MARKET_ROW_EXAMPLE)

    signal: Literal["BUY", "SELL", "HOLD"]
    price: float
    lower: float
    upper: float
    fit: float
    sigma: float
    band_distance: float = Field(
        description="From the price to the nearer band, in sigmas: positive inside the "
        "bands, negative outside (below the lower band for a BUY)."
    )
    potential_return: float = Field(description="Percent between the bands.")
    target_return: float = Field(description="Percent back to the fit line, signed.")
    last_candle_time: datetime = Field(description="Open time of the last closed candle.")
    candle_closed_at: datetime
    stale_after: datetime = Field(
        description="Two intervals after the candle closed: a newer candle should be in by then."
    )
    alert_id: int | None = Field(description="The key's current alert (BUY or SELL), if any.")
    closes: list[float] = Field(description="The window's last closes, oldest first.")


class MarketPage(BaseModel):
    model_config = with_examples(
        {
            "items": [MARKET_ROW_EXAMPLE],
            "keys": 10,
            "counts": {"BUY": 1, "SELL": 0, "HOLD": 9},
            "next_cursor": None,
        }
    )

    items: list[MarketRow]
    keys: int = Field(description="Keys with a current signal, whatever the filters.")
    counts: dict[str, int] = Field(description="Keys per current signal, whatever the filters.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class _SignalId(BaseModel):
    signal_id: int


class BandSeries(SignalKey, _SignalId):
    """The stored window of one signal: candles, fit and bands."""

    model_config = with_examples(
        {
            **{k: MARKET_ROW_EXAMPLE[k] for k in ("signal_id", "symbol", "interval", "degree")},
            **{k: MARKET_ROW_EXAMPLE[k] for k in ("kstd", "price_scale", "days", "signal")},
            **{k: MARKET_ROW_EXAMPLE[k] for k in ("price", "fit", "lower", "upper", "sigma")},
            "potential_return": 33.75,
            "target_return": 19.35,
            "last_candle_time": "2026-03-14T00:00:00Z",
            "open_time": [1773360000000, 1773446400000],
            "open": [54100.5, 53020.1],
            "high": [54300.0, 53400.0],
            "low": [52900.0, 51800.0],
            "close": [53020.1, 52000.0],
            "fit_series": [62120.7, 62060.4],
            "lower_series": [53160.8, 53100.5],
            "upper_series": [71080.6, 71020.3],
            "alerts": [ALERT_EXAMPLE],
        }
    )

    signal: Literal["BUY", "SELL", "HOLD"]
    price: float
    fit: float
    lower: float
    upper: float
    sigma: float
    potential_return: float
    target_return: float
    last_candle_time: datetime
    open_time: list[int] = Field(description="Candle open times, ms since the epoch (UTC).")
    open: list[float] | None
    high: list[float] | None
    low: list[float] | None
    close: list[float]
    fit_series: list[float]
    lower_series: list[float]
    upper_series: list[float]
    trail: int = Field(
        0,
        description="How many of the last candles are live closes after the stored window "
        "(a live close is stored without its window): each with the fit and bands its own "
        "fit drew at it, not the window's curve; 0 for a signal's own window.",
    )
    alerts: list[Alert] = Field(description="Alerts of this key within the window.")
