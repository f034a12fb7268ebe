"""The live market: Binance's kline websocket streams, every closed candle published once, in
order, with no gap.

``LiveFeed`` reads combined streams (``<ws_url>/stream?streams=btcusdt@kline_1m/...``, at
most ``MAX_STREAMS`` per connection, connections opened one after another within Binance's
rate of new connections) with the ``websockets`` library, which answers the server's pings.
A connection names its first ``URL_STREAMS`` streams in its URL (1,024 names would make a
20 KB request line, which servers refuse) and ``SUBSCRIBE``s the others, a message of
``SUBSCRIBE_STREAMS`` at a time, within Binance's 5 messages a second.
A connection is closed and opened again before Binance's 24-hour cut, and after any drop
with backoff. On every (re)connection each stream first catches up over REST
(``BinanceSource.fetch``: the cache, then what is missing, within the weight budget), so
candles that closed while no frame could arrive are published before live ones.

For each stream it keeps the trailing window and the open time of the last candle
published: a closing frame (``k.x``) of that candle or an older one (a duplicate, a late
or reordered frame) changes nothing; one that leaves a hole (a skipped frame) fetches the
hole over REST first, in a task of its own so that the holes of many streams (a stall of
the exchange) are filled together, not one after another; that stream's next frames wait
for it, in the order they came. Each closed candle becomes one ``CandleClosed`` event (the
candle and its key's parameter sets, keyed by symbol) on the ``klines`` topic: the analyzer
that owns the symbol moves each key's window on by that candle (``engine.live``), the
ingestor stores the signal (idempotent by key and candle) and raises the alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import websockets

from autonama_shared.engine.candles import Candles
from autonama_shared.engine.intervals import interval_ms
from autonama_shared.errors import AutonamaError, TemporaryError
from autonama_shared.lifecycle import Backoff, wait_for_any
from autonama_shared.messaging.events import CandleClosed, ScanParams
from autonama_shared.sources.live_frames import (
    CONNECT_SPACING_SECONDS,
    SUBSCRIBE_SPACING_SECONDS,
    SUBSCRIBE_STREAMS,
    SUBSCRIBE_TIMEOUT_SECONDS,
    URL_STREAMS,
    answer_of,
    closed_candle,
    up_to_date,
)
from autonama_shared.sources.watches import (
    MAX_STREAMS,
    Key,
    WatchParams,
    WatchSettings,
    WatchSpec,
    plan_of,
    scan_id_of,
)

__all__ = [
    "MAX_STREAMS",
    "LiveFeed",
    "WatchParams",
    "WatchSettings",
    "WatchSpec",
    "plan_of",
    "scan_id_of",
]

log = logging.getLogger("autonama.live")

#: Sends a batch (event, key) and returns the broker's acknowledgement to await: batches
#: are sent in order without waiting for each ack (the idempotent producer keeps a key's
#: order), so a minute's hundreds of closes go out in one burst, not one round trip each.
Publish = Callable[[CandleClosed, bytes], Awaitable["asyncio.Future[Any]"]]
#: The last ``n`` closed candles of (symbol, interval) over REST (``BinanceSource.fetch``).
Fetch = Callable[[str, str, int], Awaitable[Candles]]


@dataclass
class _Stream:
    symbol: str
    interval: str
    window: Candles
    params: list[ScanParams]
    published: int | None = None  # open time of the last candle published
    size: int = 0  # candles in the window: the longest of its parameter sets


@dataclass
class LiveFeed:
    """Follows the streams of ``plan`` until stopped (see the module docstring)."""

    plan: dict[Key, list[ScanParams]]
    settings: WatchSettings
    fetch: Fetch
    publish: Publish
    #: Re-reads the exchange's clock (its "now" in ms) before a catch-up, so that a candle
    #: whose closing frame just came counts as closed over REST too; and a stream whose
    #: last closed candle is already published is not fetched at all (a reconnection within
    #: a candle costs no request weight).
    sync_clock: Callable[[], Awaitable[int]] | None = None
    #: The last candle published per stream, carried from a feed this one replaces or
    #: read back from where ``on_published`` recorded it.
    published: dict[str, int] = field(default_factory=dict)
    #: Told each candle published (after the broker's acknowledgement), to record it.
    on_published: Callable[[str, int], Awaitable[object]] | None = None
    streams: dict[str, _Stream] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for (symbol, interval), params in self.plan.items():
            name = f"{symbol.lower()}@kline_{interval}"
            self.streams[name] = _Stream(
                symbol,
                interval,
                Candles.empty(symbol, interval),
                params,
                self.published.get(name),
                max(p.window for p in params),
            )
        self._locks = {name: asyncio.Lock() for name in self.streams}
        self._pending: set[asyncio.Future[None]] = set()
        self._failure: TemporaryError | None = None
        self._holes: set[asyncio.Future[None]] = set()
        self._hole_failure: Exception | None = None
        self._clock: asyncio.Future[int] | None = None  # a clock read in flight

    async def run(self, stop: asyncio.Event) -> None:
        """Every connection until ``stop``; each reconnects by itself."""
        names = list(self.streams)
        size = self.settings.streams_per_connection
        groups = [names[i : i + size] for i in range(0, len(names), size)]
        try:
            async with asyncio.TaskGroup() as tasks:
                for i, group in enumerate(groups):
                    delay = i * CONNECT_SPACING_SECONDS
                    tasks.create_task(self._connection(group, stop, delay=delay))
        finally:
            for hole in list(self._holes):
                hole.cancel()
            await asyncio.gather(*self._holes, return_exceptions=True)

    async def _connection(self, names: list[str], stop: asyncio.Event, delay: float) -> None:
        await wait_for_any(delay, stop)
        url = f"{self.settings.ws_url.rstrip('/')}/stream?streams={'/'.join(names[:URL_STREAMS])}"
        backoff = Backoff(f"live: {len(names)} streams", logger=log)
        while not stop.is_set():
            try:
                async with websockets.connect(url, max_size=2**20, open_timeout=10) as ws:
                    await self._subscribe(ws, names[URL_STREAMS:])
                    log.info("live: connected, %d streams", len(names))
                    await self.catch_up(names)
                    self._check_sent()
                    backoff.succeeded()
                    await self._read(ws, stop)
            except (OSError, TimeoutError, websockets.WebSocketException) as e:
                await backoff.failed(stop, e)
            except AutonamaError as e:  # REST catch-up failed (Binance away): retry it
                await backoff.failed(stop, e)

    async def _subscribe(self, ws: Any, names: Sequence[str]) -> None:
        """SUBSCRIBE ``names`` on ``ws``, ``SUBSCRIBE_STREAMS`` a message, each answered before
        the next; frames of the streams already there are handled as they come meanwhile."""
        for ident, start in enumerate(range(0, len(names), SUBSCRIBE_STREAMS), start=1):
            if ident > 1:
                await asyncio.sleep(SUBSCRIBE_SPACING_SECONDS)
            part = list(names[start : start + SUBSCRIBE_STREAMS])
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": part, "id": ident}))
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                while True:
                    raw = await ws.recv()
                    answer = answer_of(raw)
                    if answer is None:
                        await self.on_message(raw)
                    elif answer.get("id") == ident:
                        break
            if answer.get("error") is not None or answer.get("result") is not None:
                raise TemporaryError(
                    f"live: Binance refused to subscribe {len(part)} streams "
                    f"({part[0]} ...): {answer.get('error') or answer.get('result')}"
                )

    async def _read(self, ws: Any, stop: asyncio.Event) -> None:
        """Frames until ``stop`` (which closes the connection) or the time to reconnect before
        Binance's cut. A frame costs a read, not a task and a wait as it did (a boundary's
        1,200 frames are read one after another)."""
        deadline = time.monotonic() + self.settings.max_connection_seconds

        async def close_at_stop() -> None:
            await stop.wait()
            await ws.close()

        closer = asyncio.ensure_future(close_at_stop())
        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    async with asyncio.timeout(left):
                        raw = await ws.recv()
                except TimeoutError:
                    break
                except websockets.ConnectionClosed:
                    if stop.is_set():
                        return
                    raise
                await self.on_message(raw)
                self._check_holes()
                self._check_sent()
            log.info("live: reconnecting before Binance's 24 h limit")
        finally:
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer

    async def on_message(self, raw: str | bytes) -> None:
        """One frame: a closed candle is published (after any hole is filled)."""
        try:
            frame = json.loads(raw)
            closed = closed_candle(frame)
        except (ValueError, KeyError, TypeError) as e:
            log.warning("live: a frame that is not a kline was ignored: %s", e)
            return
        if closed is None:
            return
        symbol, interval, row = closed
        name = f"{symbol.lower()}@kline_{interval}"
        stream = self.streams.get(name)
        if stream is None:
            return
        lock = self._locks[name]
        await lock.acquire()  # a stream's frames in the order they came (FIFO)
        handed_over = False  # to the task that fills a hole, which releases it
        try:
            t, step = int(row[0]), interval_ms(interval)
            if stream.published is None or t <= stream.published:
                # a duplicate, late or reordered frame
                return
            candle = Candles.from_rows(symbol, interval, [row])
            if t > stream.published + step:  # a hole: a frame never came
                log.info(
                    "live: %s: %d candle(s) before this one never came: fetched over REST",
                    name,
                    (t - stream.published) // step - 1,
                )
                hole = asyncio.ensure_future(self._fill(stream, candle, lock))
                handed_over = True  # released once the hole and this candle are out
                self._holes.add(hole)
                hole.add_done_callback(self._holes.discard)
                return
            await self._advance(stream, candle)
        finally:
            if not handed_over:
                lock.release()

    async def _fill(self, stream: _Stream, candle: Candles, lock: asyncio.Lock) -> None:
        """The hole before ``candle`` over REST, then ``candle``; ``lock`` is released after.
        A failure (Binance away) is raised by the connection's loop, which reconnects."""
        try:
            await self._sync()
            await self._catch_up(stream)
            if int(candle.open_time[0]) > (stream.published or 0):
                await self._advance(stream, candle)
        except Exception as e:  # noqa: BLE001 - raised where the connection handles it
            if self._hole_failure is None:
                self._hole_failure = e
        finally:
            lock.release()

    def _check_holes(self) -> None:
        failure, self._hole_failure = self._hole_failure, None
        if failure is not None:
            raise failure

    async def settled(self) -> None:
        """Until the holes being filled are (tests; a reconnection waits on the locks)."""
        while self._holes:
            await asyncio.gather(*self._holes, return_exceptions=True)
        self._check_holes()

    async def catch_up(self, names: Sequence[str]) -> None:
        """Every stream of ``names`` up to its last closed candle over REST, several at a
        time (the source bounds its own concurrency and weight): a reconnection of 400
        streams takes a second, not a request after another."""
        now = await self._sync()

        async def one(name: str) -> None:
            async with self._locks[name]:
                stream = self.streams[name]
                if not (len(stream.window) and up_to_date(stream.interval, stream.published, now)):
                    await self._catch_up(stream)

        # gather, not a task group: the first failure (Binance away) is raised as it is.
        await asyncio.gather(*(one(name) for name in names))

    async def _sync(self) -> int | None:
        """The exchange's clock, read now (holes filled together share one read in flight)."""
        if self.sync_clock is None:
            return None
        if self._clock is None or self._clock.done():
            self._clock = asyncio.ensure_future(self.sync_clock())
        return await asyncio.shield(self._clock)

    async def _catch_up(self, stream: _Stream) -> None:
        fetched = await self.fetch(stream.symbol, stream.interval, stream.size)
        if stream.published is None:
            # The first time: the window as it stands, and its latest candle published with
            # the candles before it (the analyzers warm the keys up from them, not over REST).
            stream.window = fetched
            if len(fetched):
                await self._send(stream, fetched, with_before=True)
            return
        if not len(stream.window):
            # Replacing a feed that published up to ``published``: the candles after it.
            stream.window = fetched.slice(0, int((fetched.open_time <= stream.published).sum()))
        newer = fetched.open_time > stream.published
        if not newer.any():
            return
        for i in np.flatnonzero(newer):
            await self._advance(stream, fetched.slice(int(i), int(i) + 1))

    async def _advance(self, stream: _Stream, candle: Candles) -> None:
        stream.window = stream.window.merge(candle).tail(stream.size)
        await self._send(stream, stream.window)

    async def _send(self, stream: _Stream, window: Candles, with_before: bool = False) -> None:
        before = window.slice(0, len(window) - 1) if with_before and len(window) > 1 else None
        event = CandleClosed(
            symbol=stream.symbol,
            interval=stream.interval,
            params=stream.params,
            **CandleClosed.columns_of(window.tail(1)),
            before=CandleClosed.columns_of(before) if before is not None else None,
        )
        acks = [await self.publish(event, stream.symbol.encode())]
        stream.published = window.last_open_time
        if stream.published is not None:
            name = f"{stream.symbol.lower()}@kline_{stream.interval}"
            task = asyncio.ensure_future(self._acknowledged(name, stream.published, acks))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _acknowledged(self, name: str, open_time: int, acks: list[Any]) -> None:
        """Once the broker has the candle's batches: recorded as published (what a restart
        starts after). A failed send makes the feed start again from what was recorded."""
        try:
            await asyncio.gather(*acks)
            if open_time > self.published.get(name, -1):
                self.published[name] = open_time
            if self.on_published is not None:
                await self.on_published(name, open_time)
        except Exception as e:  # noqa: BLE001 - any failure: resend from what is recorded
            if self._failure is None:
                self._failure = TemporaryError(f"live: a batch of {name} was not sent: {e}")

    def _check_sent(self) -> None:
        """Raise a failed send; every stream then starts again after what was recorded."""
        failure, self._failure = self._failure, None
        if failure is not None:
            for name, stream in self.streams.items():
                stream.published = self.published.get(name)
                stream.window = Candles.empty(stream.symbol, stream.interval)
            raise failure
