"""A stream's first candle is published with the candles before it (the window the feed
loaded from the cache or REST), so that the analyzers warm its keys up from them instead of
loading the same window over REST again; later candles travel alone."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from autonama_shared.engine.candles import Candles
from autonama_shared.messaging.events import CandleClosed, ScanParams, decode, encode
from autonama_shared.sources.live import LiveFeed, WatchSettings

STEP = 60_000
T0 = 1_700_000_000_000 // STEP * STEP  # the last closed candle at the start


async def test_the_first_candle_carries_the_window_before_it() -> None:
    params = [ScanParams(interval="1m", days=1, degree=2, kstd=2.0)]  # 1,440 candles
    sent: list[CandleClosed] = []
    asked: list[int] = []

    async def fetch(symbol: str, interval: str, n: int) -> Candles:
        asked.append(n)
        rows = [[T0 - STEP * (n - 1 - i), 1.0 + i, 2.0 + i, 0.5, 1.5 + i, 9.0] for i in range(n)]
        return Candles.from_rows(symbol, interval, rows)

    async def publish(event: CandleClosed, key: bytes) -> asyncio.Future[Any]:
        sent.append(decode(encode(event), CandleClosed))  # as the analyzers read it
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    feed = LiveFeed({("ETHUSDT", "1m"): params}, WatchSettings(), fetch, publish)
    await feed.catch_up(list(feed.streams))
    k = {"t": T0 + STEP, "s": "ETHUSDT", "i": "1m", "o": "2", "h": "3", "l": "1", "c": "2.5"}
    frame = {"stream": "ethusdt@kline_1m", "data": {"k": k | {"v": "9", "x": True}}}
    await feed.on_message(json.dumps(frame))
    await feed.settled()
    assert asked == [1_440]  # the window, loaded once
    first, second = sent
    assert first.open_time == [T0]
    assert first.before is not None
    assert len(first.before.open_time) == 1_439
    assert first.before.open_time[-1] == T0 - STEP  # up to the candle, not including it
    assert first.before.close[0] == 1.5  # the oldest of the window
    assert second.open_time == [T0 + STEP]
    assert second.before is None
