"""A local stand-in for Binance's kline websocket streams (the ``websockets`` library), in
step with the REST stand-in: both serve the same real candles and agree on "now" (the
REST stand-in's simulated clock, which ``tick`` moves one interval at a time).

``GET /stream?streams=btcusdt@kline_1h/...`` sends Binance's combined-stream frames: for
each candle an update (``k.x`` false) and its closing frame (``k.x`` true). More streams
come by ``{"method": "SUBSCRIBE", "params": [...], "id": n}`` messages, answered
``{"result": null, "id": n}``, with Binance's limits: at most ``MAX_STREAMS`` streams a
connection (more is answered with an error) and at most 5 messages a second from the client
(more closes the connection with 1008, as Binance does). The request line, URL included,
is refused over 8 KB (the ``websockets`` server's limit; Binance documents none, common
servers sit at 4-8 KB). Faults for the
tests: ``tick(skip=...)`` never sends some closing frames, ``duplicate`` sends them twice,
``reverse`` sends the closes of several candles newest first, ``drop()`` cuts every
connection, and ``send=False`` stalls (the clock moves, nothing is sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from autonama_shared.sources.watches import MAX_STREAMS
from tests.support.binance_standin import INTERVAL_MS, StandIn, _s

#: Binance: at most 5 incoming messages a second on a connection.
MESSAGES_PER_SECOND = 5


@dataclass
class KlineStreams:
    rest: StandIn
    interval: str
    url: str = ""
    connections: dict[ServerConnection, list[str]] = field(default_factory=dict)
    connects: int = 0
    #: SUBSCRIBE messages answered, and connections closed for sending too many.
    subscribes: int = 0
    rate_closes: int = 0
    _server: Server | None = None

    async def start(self) -> KlineStreams:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> KlineStreams:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, connection: ServerConnection) -> None:
        request = connection.request
        path = request.path if request is not None else ""
        streams = parse_qs(urlsplit(path).query).get("streams", [""])[0].split("/")
        self.connections[connection] = [s for s in streams if s]
        self.connects += 1
        received: deque[float] = deque()
        try:
            async for message in _until_closed(connection):
                now = time.monotonic()
                received.append(now)
                while received and received[0] <= now - 1.0:
                    received.popleft()
                if len(received) > MESSAGES_PER_SECOND:
                    self.rate_closes += 1
                    await connection.close(code=1008, reason="Too many requests")
                    return
                await connection.send(json.dumps(self._answer(connection, message)))
        finally:
            self.connections.pop(connection, None)

    def _answer(self, connection: ServerConnection, message: str | bytes) -> dict[str, Any]:
        try:
            request = json.loads(message)
            method, ident = request["method"], request["id"]
        except (ValueError, KeyError, TypeError):
            return {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}
        if method != "SUBSCRIBE":
            return {"error": {"code": 2, "msg": f"unknown variant {method}"}, "id": ident}
        streams = self.connections[connection]
        new = [s for s in request.get("params", []) if s not in streams]
        if len(streams) + len(new) > MAX_STREAMS:
            return {"error": {"code": 2, "msg": "Too many streams"}, "id": ident}
        streams.extend(new)
        self.subscribes += 1
        return {"result": None, "id": ident}

    async def wait_for_connections(self, count: int = 1, within: float = 30.0) -> None:
        for _ in range(int(within / 0.05)):  # connections come in on the server's own tasks
            if len(self.connections) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.connections)} of {count} connections in {within} s")

    def _frame(self, stream: str, row: Any, closed: bool) -> str:
        symbol, interval = _parts(stream)
        step = INTERVAL_MS[interval]
        t = int(row[0])
        k = {
            "t": t,
            "T": t + step - 1,
            "s": symbol,
            "i": interval,
            "f": 1,
            "L": 2,
            "o": _s(row[1]),
            "c": _s(row[4]),
            "h": _s(row[2]),
            "l": _s(row[3]),
            "v": _s(row[5]),
            "n": 100,
            "x": closed,
            "q": _s(row[4] * row[5]),
            "V": "0",
            "Q": "0",
            "B": "0",
        }
        data = {"e": "kline", "E": self.rest.now_ms, "s": symbol, "k": k}
        return json.dumps({"stream": stream, "data": data})

    def _row(self, stream: str, open_time: int) -> Any:
        rows = self.rest.klines.get(_parts(stream))
        if rows is None:
            return None
        found = rows[rows[:, 0] == open_time]
        return found[0] if len(found) else None

    async def tick(
        self,
        candles: int = 1,
        *,
        skip: frozenset[str] | set[str] = frozenset(),
        duplicate: bool = False,
        reverse: bool = False,
        send: bool = True,
    ) -> list[int]:
        """Close ``candles`` candles of ``interval`` (the clock moves that many intervals)
        and send the frames of every candle that closed meanwhile, of each stream's own
        interval (a 4h stream's every fourth 1h tick), oldest first (or newest first:
        ``reverse``); returns the open times of ``interval``'s candles closed."""
        step = INTERVAL_MS[self.interval]
        before = self.rest.now_ms
        closed = []
        for _ in range(candles):
            self.rest.advance(step)
            closed.append(self.rest.now_ms // step * step - step)
        if not send:
            return closed
        for connection, streams in list(self.connections.items()):
            due = sorted(
                (
                    (open_time, stream)
                    for stream in streams
                    for open_time in _closed_between(stream, before, self.rest.now_ms)
                ),
                key=lambda pair: pair[0],
                reverse=reverse,
            )
            for open_time, stream in due:
                row = self._row(stream, open_time)
                if row is None:
                    continue
                await connection.send(self._frame(stream, row, closed=False))
                if stream.split("@", 1)[0].upper() in skip:
                    continue
                for _ in range(2 if duplicate else 1):
                    await connection.send(self._frame(stream, row, closed=True))
        return closed

    async def drop(self) -> None:
        """Cut every connection (the client must reconnect and catch up)."""
        for connection in list(self.connections):
            await connection.close(code=1011, reason="stand-in drop")


def _closed_between(stream: str, before: int, after: int) -> range:
    """Open times of ``stream``'s candles that closed after ``before``, up to ``after``."""
    step = INTERVAL_MS[_parts(stream)[1]]
    return range(((before - step) // step + 1) * step, after - step + 1, step)


def _parts(stream: str) -> tuple[str, str]:
    """("BTCUSDT", "1h") of "btcusdt@kline_1h"."""
    symbol, kind = stream.split("@", 1)
    return symbol.upper(), kind.removeprefix("kline_")


async def _until_closed(connection: ServerConnection) -> AsyncIterator[str | bytes]:
    """The client's messages until the connection closes, however it closes."""
    with contextlib.suppress(ConnectionClosed):
        async for message in connection:
            yield message
