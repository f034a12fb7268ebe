"""A hole in many streams at once (the exchange stalled, one candle never came on any
stream) is filled over REST for all of them together, not one stream after another; each
stream still publishes every candle once, in order, its later frames after its hole."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from autonama_shared.engine.candles import Candles
from autonama_shared.messaging.events import CandleClosed, ScanParams
from autonama_shared.sources.live import LiveFeed, WatchSettings

STEP = 60_000
T0 = 1_700_000_000_000 // STEP * STEP  # the last candle published before the stall
STREAMS = 40


def frame(symbol: str, t: int) -> str:
    k = {"t": t, "s": symbol, "i": "1m", "o": "1", "h": "2", "l": "0.5", "c": "1.5", "v": "9"}
    return json.dumps({"stream": f"{symbol.lower()}@kline_1m", "data": {"k": k | {"x": True}}})


async def test_the_holes_of_a_stall_are_filled_together_and_in_order() -> None:
    symbols = [f"S{i:02d}USDT" for i in range(STREAMS)]
    params = [ScanParams(interval="1m", days=1, degree=2, kstd=2.0)]
    in_flight, most = 0, 0
    published: dict[str, list[int]] = {s: [] for s in symbols}

    async def fetch(symbol: str, interval: str, n: int) -> Candles:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)  # a REST round trip
        in_flight -= 1
        times = [T0 + STEP * (i - n + 2) for i in range(n)]  # up to T0 + STEP: closed
        rows = [[t, 1.0, 2.0, 0.5, 1.5, 9.0] for t in times]
        return Candles.from_rows(symbol, interval, rows)

    async def publish(event: CandleClosed, key: bytes) -> asyncio.Future[Any]:
        published[event.symbol].append(event.open_time[-1])
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    feed = LiveFeed(
        {(s, "1m"): params for s in symbols},
        WatchSettings(),
        fetch,
        publish,
        published={f"{s.lower()}@kline_1m": T0 for s in symbols},
    )
    # T0 + STEP never came; T0 + 2 STEP comes on every stream, then T0 + 3 STEP on one
    # while the holes are still being filled
    for s in symbols:
        await feed.on_message(frame(s, T0 + 2 * STEP))
    await feed.on_message(frame(symbols[0], T0 + 3 * STEP))
    await feed.on_message(frame(symbols[0], T0 + 2 * STEP))  # a duplicate
    await feed.settled()
    assert most > STREAMS // 2  # together (one after another: 1 in flight at a time)
    for s in symbols:
        expected = [T0 + STEP, T0 + 2 * STEP] + ([T0 + 3 * STEP] if s == symbols[0] else [])
        assert published[s] == expected, s
