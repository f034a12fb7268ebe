"""The analyzer's live state: a key loaded once over REST, then moved on one candle at a
time; a replayed candle answered with the same signal; every signal equal to the batch
engine; the band series only with a key's first signal and its changes (fakes for REST and
the clock)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autonama_analyzer.live import LiveState
from autonama_shared.engine.bands import compute_signal
from autonama_shared.engine.candles import Candles
from autonama_shared.messaging.events import CandleClosed, ScanParams, decode, encode

HOUR = 3_600_000


@pytest.fixture
def hourly(shared_data: Path) -> Candles:
    frame = pd.read_csv(shared_data / "klines" / "until-2022-10" / "1h" / "ETHUSDT.csv").tail(400)
    rows = frame[["open_time", "open", "high", "low", "close", "volume"]].to_numpy(np.float64)
    return Candles.from_rows("ETHUSDT", "1h", rows)


async def test_loaded_once_then_pushed_replays_answered_and_equal_to_the_batch(
    hourly: Candles,
) -> None:
    params = ScanParams(interval="1h", days=3, degree=3, kstd=1.0)  # 72 candles
    now = {"ms": 0}
    fetches = []

    async def fetch(symbol: str, interval: str, candles: int) -> Candles:
        fetches.append(candles)
        visible = hourly.slice(0, int(np.searchsorted(hourly.open_time, now["ms"] - HOUR) + 1))
        return visible.tail(candles)

    async def server_now() -> int:
        return now["ms"]

    state = LiveState(fetch, server_now)
    start = 200
    signals = {"with": 0, "without": 0}
    previous = None
    for i in range(start, 330):
        now["ms"] = int(hourly.open_time[i]) + HOUR + 5_000  # just after the close
        event = close_of(hourly, i, params)
        (signal,) = await state.handle(event)
        batch = compute_signal(hourly.close[: i + 1], params.band_params(), params.window)
        assert signal.signal == batch.signal
        np.testing.assert_allclose(
            [signal.lower, signal.upper, signal.fit, signal.sigma],
            [batch.lower, batch.upper, batch.fit, batch.sigma],
            rtol=1e-9,
        )
        assert signal.last_candle_time.timestamp() * 1000 == hourly.open_time[i]
        # every close carries its own candle, window or not (its chart's live candle)
        assert signal.last_candle is not None
        candle = (signal.last_candle.open, signal.last_candle.high, signal.last_candle.low)
        assert candle == (hourly.open[i], hourly.high[i], hourly.low[i])
        if signal.series is not None:
            signals["with"] += 1
            assert signal.series.close[-1] == hourly.close[i]
            assert len(signal.series.close) == params.window
        else:
            signals["without"] += 1
            assert signal.signal == previous  # only a change carries its window
        previous = signal.signal
        again = await state.handle(event)  # a replay: the same signal, nothing loaded
        assert again == [signal]
    assert len(fetches) == 1  # loaded once, then pushed
    assert state.counts == {"pushed": 129, "loaded": 1, "warmed": 0, "replayed": 130}
    assert signals["with"] >= 3  # the first, and every change of signal
    assert signals["without"] > 0

    # A candle that leaves a hole (a restart elsewhere): loaded again over REST.
    i = 340
    now["ms"] = int(hourly.open_time[i]) + HOUR + 5_000
    event = close_of(hourly, i, params)
    (signal,) = await state.handle(event)
    batch = compute_signal(hourly.close[: i + 1], params.band_params(), params.window)
    np.testing.assert_allclose(signal.fit, batch.fit, rtol=1e-9)
    assert state.counts["loaded"] == 2


async def test_a_first_candle_with_its_window_is_warmed_up_without_rest(hourly: Candles) -> None:
    """A stream's first candle carries the candles before it (the fetcher loaded them): the
    key starts from them, no request, and its signals equal the batch engine's."""
    params = ScanParams(interval="1h", days=3, degree=3, kstd=1.0)  # 72 candles

    async def fetch(symbol: str, interval: str, candles: int) -> Candles:
        raise AssertionError("loaded over REST")

    async def server_now() -> int:
        return int(hourly.open_time[-1]) + HOUR

    state = LiveState(fetch, server_now)
    i = 250
    first = close_of(hourly, i, params, before=hourly.slice(i - 71, i))
    for j, event in enumerate([first, close_of(hourly, i + 1, params)]):
        (signal,) = await state.handle(event)
        batch = compute_signal(hourly.close[: i + j + 1], params.band_params(), params.window)
        assert signal.signal == batch.signal
        np.testing.assert_allclose([signal.fit, signal.sigma], [batch.fit, batch.sigma], rtol=1e-9)
    assert state.counts == {"pushed": 1, "loaded": 0, "warmed": 1, "replayed": 0}
    short = close_of(hourly, i, params, before=hourly.slice(i - 10, i))  # less than a window
    with pytest.raises(AssertionError, match="loaded over REST"):
        await LiveState(fetch, server_now).handle(short)


def close_of(
    hourly: Candles, i: int, params: ScanParams, before: Candles | None = None
) -> CandleClosed:
    """The closing event of ETHUSDT's hourly candle ``i`` (with ``before``, as a stream's
    first candle carries them), through the wire's encoding."""
    event = CandleClosed(
        symbol="ETHUSDT",
        interval="1h",
        params=[params],
        **CandleClosed.columns_of(hourly.slice(i, i + 1)),
        before=CandleClosed.columns_of(before) if before is not None else None,
    )
    return decode(encode(event), CandleClosed)
