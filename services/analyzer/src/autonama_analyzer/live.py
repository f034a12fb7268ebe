"""The live market in the analyzer: each key's window (symbol, interval, parameters) kept
in memory and moved on by one closed candle at a time (``engine.live.LiveWindow``:
O(degree x window), equal to the batch engine to 1e-9).

A stream's first candle carries the candles before it (the fetcher's window): its keys
start from them, with no request. A key whose previous candle this analyzer does not hold
otherwise -- after a restart, or when a rebalance brought its symbol here -- is loaded over
REST (Binance, or the stand-in; the exchange's clock re-read) up to the candle, then goes on
live. A candle
it has answered before (a replay after a crash or a rewind) gets the same signal again
from a short history. The window's band series (for charts) travels with a key's first
signal and with every signal that differs from the key's previous one (what raises or ends
an alert); the others carry only their numbers, so that a minute's hundreds of closes do
not each carry and store a day of candles.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from autonama_shared import __version__
from autonama_shared.engine.bands import SignalResult, scan_signals
from autonama_shared.engine.candles import Candles
from autonama_shared.engine.intervals import interval_ms
from autonama_shared.engine.live import LiveWindow
from autonama_shared.formats.records import last_candle_of, record_of, series_of
from autonama_shared.messaging.events import CandleClosed, ScanParams, SignalComputed
from autonama_shared.sources.watches import scan_id_of

__all__ = ["LiveState"]

#: The last candle of (symbol, interval) over REST: ``BinanceSource.fetch``.
Fetch = Callable[[str, str, int], Awaitable[Candles]]
#: Signals kept per key to answer a replayed candle with the same signal.
HISTORY = 64


@dataclass
class _Key:
    window: LiveWindow
    candles: Candles  # the window's candles (open, high, low, close), for charts
    recent: OrderedDict[int, SignalComputed] = field(default_factory=OrderedDict)
    last: str | None = None  # the key's previous signal (BUY, SELL, HOLD)


class LiveState:
    def __init__(self, fetch: Fetch, server_now: Callable[[], Awaitable[int]]) -> None:
        self.fetch = fetch
        self.server_now = server_now
        self.keys: dict[tuple[str, ScanParams], _Key] = {}
        self.counts = {"pushed": 0, "loaded": 0, "warmed": 0, "replayed": 0}

    async def handle(self, event: CandleClosed) -> list[SignalComputed]:
        """The signal of each of the event's keys at its candle."""
        t = int(event.open_time[0])
        candle = event.to_candles(event.symbol, event.interval)
        before = event.before.to_candles(event.symbol, event.interval) if event.before else None
        out = []
        for params in event.params:
            key = (event.symbol, params)
            k = self.keys.get(key)
            if k is not None and t in k.recent:
                self.counts["replayed"] += 1
                out.append(k.recent[t])
                continue
            step = interval_ms(params.interval)
            if k is not None and k.window.last_open_time == t - step:
                result = k.window.push(t, float(candle.close[0]))
                k.candles = k.candles.merge(candle).tail(params.window)
                self.counts["pushed"] += 1
                with_series = result is not None and result.signal != k.last
            else:
                k = await self._load(event.symbol, params, candle, before)
                self.keys[key] = k
                result = k.window.signal()
                with_series = True
            if result is None:  # cannot happen: t is newer than the window's last candle
                continue
            signal = self._signal(event.symbol, params, k, result, t, with_series)
            k.last = result.signal
            k.recent[t] = signal
            while len(k.recent) > HISTORY:
                k.recent.popitem(last=False)
            out.append(signal)
        return out

    async def _load(
        self, symbol: str, params: ScanParams, candle: Candles, before: Candles | None = None
    ) -> _Key:
        """The key's window up to ``candle``, ``candle`` last: from the candles the fetcher
        sent before it (a stream's first candle) when they fill the window, else over REST."""
        t = int(candle.open_time[0])
        if before is not None and len(before) >= params.window - 1:
            upto = before
            self.counts["warmed"] += 1
        else:
            # Enough candles to reach back a whole window from ``t``, however far "now" is
            # past it (a replay, or a feed catching up): the window ends at ``t``, never later.
            later = max(0, (await self.server_now() - t) // interval_ms(params.interval))
            fetched = await self.fetch(symbol, params.interval, params.window + later + 1)
            upto = fetched.slice(0, int(np.searchsorted(fetched.open_time, t, side="right")))
            self.counts["loaded"] += 1
        candles = upto.merge(candle).tail(params.window)
        window = LiveWindow(params.band_params(), params.window)
        window.load(candles.open_time, candles.close)
        return _Key(window, candles)

    def _signal(
        self,
        symbol: str,
        params: ScanParams,
        k: _Key,
        result: SignalResult,
        t: int,
        with_series: bool,
    ) -> SignalComputed:
        series = None
        if with_series and result.error is None:
            # The band series of the window: the batch engine's, for the chart.
            banded = scan_signals(
                [k.candles.close], params.band_params(), params.window, with_bands=True
            )[0]
            series = series_of(banded, k.candles, with_ohlc=True)
        return SignalComputed(
            **record_of(result),
            scan_id=scan_id_of(params),
            symbol=symbol,
            params=params,
            window=params.window,
            engine_version=__version__,
            last_candle_time=datetime.fromtimestamp(t / 1000, tz=UTC),
            series=series,
            last_candle=last_candle_of(result, k.candles),
        )
