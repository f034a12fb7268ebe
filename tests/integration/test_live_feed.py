"""The live feed's connections at the size of an exchange: 1,100 streams against the
websocket stand-in, which holds Binance's limits (a request line over 8 KB refused, at most
1,024 streams a connection, at most 5 messages a second from the client or the connection
is closed). No broker or database: what the feed publishes is collected as it is sent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autonama_shared.messaging.events import CandleClosed
from autonama_shared.sources import live
from autonama_shared.sources.binance import BinanceSettings, BinanceSource
from autonama_shared.sources.live import LiveFeed
from autonama_shared.sources.watches import MAX_STREAMS, WatchParams, WatchSettings
from tests.support.binance_standin import StandIn, load_klines, serve
from tests.support.ws_standin import KlineStreams

HOUR = 3_600_000
SYMBOLS = 1_100  # two connections: 1,024 streams and 76


@pytest.fixture(scope="module")
def many(shared_data: Path) -> dict[tuple[str, str], np.ndarray]:
    """Real hourly candles of a few symbols, each relabelled as many symbols."""
    real = load_klines(shared_data / "klines" / "until-2022-10", intervals=("1h",))
    bases = sorted(real)
    end = min(int(real[b][-1, 0]) for b in bases)
    out = {}
    for i in range(SYMBOLS):
        symbol, interval = bases[i % len(bases)]
        rows = real[(symbol, interval)]
        out[(f"{symbol.removesuffix('USDT')}{i:04d}USDT", interval)] = rows[rows[:, 0] <= end]
    return out


@pytest.fixture
def rest(many: dict[tuple[str, str], np.ndarray]) -> Iterator[StandIn]:
    end = min(int(rows[-1, 0]) for rows in many.values())
    with serve(StandIn(dict(many), end - 50 * HOUR + 30 * 60_000)) as standin:
        yield standin


@pytest.fixture
async def streams(rest: StandIn) -> AsyncIterator[KlineStreams]:
    async with KlineStreams(rest, "1h") as ws:
        yield ws


@pytest.mark.slow
async def test_an_exchange_of_streams_is_subscribed_within_binance_limits_and_resubscribed(
    rest: StandIn, streams: KlineStreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Smaller messages than the default, so that the first connection sends ten of them:
    # sent without spacing, the stand-in closes it as Binance would.
    monkeypatch.setattr(live, "SUBSCRIBE_STREAMS", 100)
    monkeypatch.setattr(live, "CONNECT_SPACING_SECONDS", 0.1)
    settings = WatchSettings(params=[WatchParams(degree=2, kstd=2.0, days=1)], ws_url=streams.url)
    plan = {key: settings.scan_params("1h") for key in sorted(rest.klines)}
    names = {f"{symbol.lower()}@kline_1h" for symbol, _ in plan}
    sent: list[CandleClosed] = []

    async def publish(event: CandleClosed, key: bytes) -> asyncio.Future[Any]:
        assert key == event.symbol.encode()
        sent.append(event)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    binance = BinanceSettings(base_url=rest.url, max_weight_per_minute=6_000)
    async with BinanceSource(binance) as source:
        feed = LiveFeed(
            plan,
            settings,
            source.fetch,
            publish,
            sync_clock=lambda: source.server_now_ms(max_age=0.0),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(stop))
        try:
            await until(lambda: len(sent) == SYMBOLS, "every stream caught up")
            await streams.wait_for_connections(2)
            subscribed = list(streams.connections.values())
            assert sorted(len(s) for s in subscribed) == [SYMBOLS - MAX_STREAMS, MAX_STREAMS]
            assert {s for c in subscribed for s in c} == names
            assert streams.rate_closes == 0
            assert streams.subscribes == 10  # 924 streams after the URL's 100, 100 a message

            first = {e.symbol: int(e.open_time[-1]) for e in sent}
            await streams.tick()
            await until(lambda: len(sent) == 2 * SYMBOLS, "a close of every stream")
            for e in sent[SYMBOLS:]:
                assert int(e.open_time[-1]) == first[e.symbol] + HOUR, e.symbol

            fetched = len(rest.klines_requests())
            assert fetched >= SYMBOLS  # the warm-up: every stream's window over REST
            await streams.drop()  # both connections open again and subscribe again
            await until(lambda: streams.subscribes == 20, "subscribed again")
            await streams.wait_for_connections(2)
            # No candle closed while they were away: the catch-up asked Binance for nothing
            # (1,100 requests at each drop would spend the IP's weight in two drops).
            assert len(rest.klines_requests()) == fetched
            await streams.tick()
            await until(lambda: len(sent) == 3 * SYMBOLS, "a close of every stream again")
            assert streams.rate_closes == 0
            published = [(e.symbol, int(e.open_time[-1])) for e in sent]
            assert len(set(published)) == len(published)  # nothing published twice

            # Away while a candle closes: every stream catches that candle up over REST,
            # then the live one.
            await streams.drop()
            await streams.tick(send=False)
            await until(lambda: streams.subscribes == 30, "subscribed a third time")
            await streams.wait_for_connections(2)
            await until(lambda: len(sent) == 4 * SYMBOLS, "the missed close of every stream")
            assert len(rest.klines_requests()) >= fetched + SYMBOLS
            await streams.tick()
            await until(lambda: len(sent) == 5 * SYMBOLS, "then the live close")
            published = [(e.symbol, int(e.open_time[-1])) for e in sent]
            assert len(set(published)) == len(published)
            assert streams.rate_closes == 0
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)


async def until(condition: Any, what: str, within: float = 60.0) -> None:
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s: {what}")
