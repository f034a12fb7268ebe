"""What Binance's kline websocket streams send and allow: the closing frame of a candle, the
answer to a request, when a stream has nothing to catch up, and the limits on connections
and subscriptions (``sources.live`` keeps to them)."""

from __future__ import annotations

import json
from typing import Any

from autonama_shared.engine.intervals import interval_ms

__all__ = [
    "CONNECT_SPACING_SECONDS",
    "SUBSCRIBE_SPACING_SECONDS",
    "SUBSCRIBE_STREAMS",
    "SUBSCRIBE_TIMEOUT_SECONDS",
    "URL_STREAMS",
    "answer_of",
    "closed_candle",
    "up_to_date",
]

#: Binance: at most 300 new connections per 5 minutes per IP; one a second stays far below.
CONNECT_SPACING_SECONDS = 1.0
#: Streams named in a connection's URL (about 2 KB of request line); the rest are subscribed.
URL_STREAMS = 100
#: Streams per SUBSCRIBE message, and the time between two messages (Binance closes a
#: connection that sends more than 5 messages a second).
SUBSCRIBE_STREAMS = 200
SUBSCRIBE_SPACING_SECONDS = 0.25
#: How long Binance may take to answer a SUBSCRIBE.
SUBSCRIBE_TIMEOUT_SECONDS = 10.0


def closed_candle(frame: dict[str, Any]) -> tuple[str, str, list[float]] | None:
    """(symbol, interval, [open time, open, high, low, close, volume]) of a combined-stream
    kline frame whose candle is closed (``k.x``), else None.

    >>> closed_candle({"stream": "btcusdt@kline_1m", "data": {"e": "kline", "k": {
    ...     "t": 60000, "s": "BTCUSDT", "i": "1m", "o": "1", "h": "2", "l": "0.5",
    ...     "c": "1.5", "v": "10", "x": True}}})
    ('BTCUSDT', '1m', [60000.0, 1.0, 2.0, 0.5, 1.5, 10.0])
    """
    data = frame.get("data", frame)
    k = data.get("k") if isinstance(data, dict) else None
    if not isinstance(k, dict) or not k.get("x"):
        return None
    row = [float(k["t"]), *(float(k[c]) for c in ("o", "h", "l", "c", "v"))]
    return str(k["s"]).upper(), str(k["i"]), row


def up_to_date(interval: str, published: int | None, now_ms: int | None) -> bool:
    """Whether the candle published last (its open time) is the last one closed at
    ``now_ms``, so that a catch-up has nothing to fetch.

    A candle opened at or after ``floor(now / step) * step - step`` (weeks counted from a
    Monday, as Binance's start) is: no later candle has closed. Were the phase of an
    interval's candles other than assumed, a stream would at worst be fetched when it need
    not be, never skipped when it missed one (the bound is less than a step after the last
    closed candle's open). Months vary in length, so "1M" is always fetched.

    >>> H = 3_600_000
    >>> up_to_date("1h", 10 * H, 11 * H + 5), up_to_date("1h", 9 * H, 11 * H + 5)
    (True, False)
    >>> up_to_date("1M", 0, 1), up_to_date("1h", None, 1), up_to_date("1h", 0, None)
    (False, False, False)
    """
    if published is None or now_ms is None or interval == "1M":
        return False
    step = interval_ms(interval)
    phase = _MONDAY_MS if interval == "1w" else 0
    return published >= (now_ms - phase) // step * step + phase - step


#: 1970-01-05, the first Monday after the epoch: Binance's weekly candles open on Mondays.
_MONDAY_MS = 4 * 86_400_000


def answer_of(raw: str | bytes) -> dict[str, Any] | None:
    """The answer to a request (``{"result": ..., "id": n}``), or None for a stream's frame."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if isinstance(message, dict) and "id" in message and "stream" not in message:
        return message
    return None
