"""A local stand-in for Binance's spot REST API, serving real candles from ../shared/data.

Binance cannot be reached from the project's machines, so tests (and the
benchmarks) talk to this server through the real python-binance client. It
speaks the parts of the API that Autonama uses, in Binance's exact JSON:

- ``GET /api/v3/ping``, ``/api/v3/time`` (a simulated clock: ``now_ms``),
- ``GET /api/v3/klines`` (symbol, interval, startTime, endTime, limit <= 1000;
  the still-open candle is the last one, as on Binance),
- ``GET /api/v3/exchangeInfo`` and ``/api/v3/ticker/24hr`` (all symbols),
- the ``X-MBX-USED-WEIGHT-1M`` header, with a per-minute count,
- injectable faults: 429 / 418 with ``Retry-After``, 5xx, a timeout.

It runs on 127.0.0.1 in a thread of its own (``serve()``), so both async tests
and the CLI in a subprocess can use it. Every request is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from aiohttp import web

INTERVAL_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
WEIGHTS = {"/api/v3/klines": 2, "/api/v3/exchangeInfo": 20, "/api/v3/ticker/24hr": 80}


@dataclass
class Fault:
    """Answer the next ``count`` requests whose path starts with ``path`` with this fault."""

    path: str
    status: int  # 429, 418, 500, 503, or 0 for "hang past the client's timeout"
    retry_after: int | None = None
    count: int = 1
    symbol: str | None = None


@dataclass
class Recorded:
    path: str
    params: dict[str, str]
    status: int
    at: float


@dataclass
class StandIn:
    klines: dict[tuple[str, str], np.ndarray]  # (symbol, interval) -> rows [t, o, h, l, c, v]
    now_ms: int
    extra_symbols: dict[str, float] = field(default_factory=dict)  # symbol -> quote volume
    faults: list[Fault] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    used_weight_floor: int = 0  # pretend other clients on this IP used this much
    hang_seconds: float = 30.0
    latency_seconds: float = 0.0  # added to every answer, to make overlap observable
    in_flight: int = 0
    max_in_flight: int = 0
    _minute: int = -1
    _used: int = 0
    url: str = ""

    # -- knobs used by tests ----------------------------------------------------------

    def advance(self, ms: int) -> None:
        self.now_ms += ms

    def klines_requests(self, symbol: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.path == "/api/v3/klines" and (symbol is None or r.params.get("symbol") == symbol)
        ]

    # -- the API --------------------------------------------------------------------

    def _weight_header(self, weight: int) -> dict[str, str]:
        minute = int(time.time() // 60)
        if minute != self._minute:
            self._minute, self._used = minute, 0
        self._used += weight
        return {"X-MBX-USED-WEIGHT-1M": str(max(self._used, self.used_weight_floor))}

    def _fault_for(self, path: str, symbol: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and path.startswith(fault.path) and fault.symbol in (None, symbol):
                fault.count -= 1
                return fault
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_seconds:
                await asyncio.sleep(self.latency_seconds)
            return await self._handle(request)
        finally:
            self.in_flight -= 1

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        params = dict(request.query)
        headers = self._weight_header(WEIGHTS.get(path, 1))
        fault = self._fault_for(path, params.get("symbol"))
        if fault is not None:
            if fault.status == 0:
                await asyncio.sleep(self.hang_seconds)
                status = 504
            else:
                status = fault.status
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            self.requests.append(Recorded(path, params, status, time.time()))
            return web.json_response(
                {"code": -1003, "msg": f"stand-in fault {status}"}, status=status, headers=headers
            )
        try:
            body, status = self._route(path, params)
        except _ApiError as e:
            body, status = {"code": e.code, "msg": e.msg}, 400
        self.requests.append(Recorded(path, params, status, time.time()))
        return web.json_response(body, status=status, headers=headers)

    def _route(self, path: str, params: dict[str, str]) -> tuple[Any, int]:
        if path == "/api/v3/ping":
            return {}, 200
        if path == "/api/v3/time":
            return {"serverTime": self.now_ms}, 200
        if path == "/api/v3/klines":
            return self._klines(params), 200
        if path == "/api/v3/exchangeInfo":
            return self._exchange_info(), 200
        if path == "/api/v3/ticker/24hr":
            return self._tickers(), 200
        return {"code": -1, "msg": f"not served by the stand-in: {path}"}, 404

    def _klines(self, params: dict[str, str]) -> list[list[Any]]:
        symbol, interval = params.get("symbol", ""), params.get("interval", "")
        if interval not in INTERVAL_MS:
            raise _ApiError(-1120, "Invalid interval.")
        rows = self.klines.get((symbol, interval))
        if rows is None:
            raise _ApiError(-1121, "Invalid symbol.")
        limit = int(params.get("limit", 500))
        if not 1 <= limit <= 1000:
            raise _ApiError(-1130, "Invalid limit.")
        step = INTERVAL_MS[interval]
        visible = rows[rows[:, 0] <= self.now_ms]  # closed ones and the open one
        current = self.now_ms // step * step
        if len(visible) and visible[-1, 0] < current:
            # The data ends before "now": the open candle is flat at the last close.
            last = visible[-1]
            open_row = [current, last[4], last[4], last[4], last[4], 0.0]
            visible = np.vstack([visible, open_row])
        if "startTime" in params:
            visible = visible[visible[:, 0] >= int(params["startTime"])]
        if "endTime" in params:
            visible = visible[visible[:, 0] <= int(params["endTime"])]
        page = visible[:limit] if "startTime" in params else visible[-limit:]
        return [
            [
                int(r[0]),
                _s(r[1]),
                _s(r[2]),
                _s(r[3]),
                _s(r[4]),
                _s(r[5]),
                int(r[0]) + step - 1,
                _s(r[4] * r[5]),
                100,
                _s(r[5] / 2),
                _s(r[4] * r[5] / 2),
                "0",
            ]
            for r in page
        ]

    def _symbols(self) -> list[str]:
        return sorted({s for s, _ in self.klines} | set(self.extra_symbols))

    def _exchange_info(self) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms,
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                }
            ],
            "symbols": [
                {
                    "symbol": s,
                    "status": "BREAK" if s.startswith("HALT") else "TRADING",
                    "baseAsset": s.removesuffix("USDT"),
                    "quoteAsset": "USDT" if s.endswith("USDT") else s[-3:],
                    "isSpotTradingAllowed": True,
                }
                for s in self._symbols()
            ],
        }

    def _tickers(self) -> list[dict[str, Any]]:
        out = []
        for s in self._symbols():
            if s in self.extra_symbols:
                volume = self.extra_symbols[s]
            else:
                rows = self.klines.get((s, "1d"))
                if rows is None:
                    rows = next(r for (sym, _), r in self.klines.items() if sym == s)
                closed = rows[rows[:, 0] + 86_400_000 <= self.now_ms]
                volume = float(closed[-1, 4] * closed[-1, 5]) if len(closed) else 0.0
            out.append({"symbol": s, "quoteVolume": _s(volume), "lastPrice": "1"})
        return out


class _ApiError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        self.code, self.msg = code, msg


def _s(x: float) -> str:
    return f"{float(x):.8f}"


def load_klines(
    folder: Path, intervals: tuple[str, ...] | None = None
) -> dict[tuple[str, str], np.ndarray]:
    """``folder/<interval>/<SYMBOL>.csv`` (../shared/data/klines/<period>) as arrays."""
    out = {}
    for csv in sorted(folder.glob("*/*.csv")):
        interval = csv.parent.name
        if intervals is not None and interval not in intervals:
            continue
        frame = pd.read_csv(csv)
        out[(csv.stem, interval)] = frame[
            ["open_time", "open", "high", "low", "close", "volume"]
        ].to_numpy(dtype=np.float64)
    return out


def default_now(klines: dict[tuple[str, str], np.ndarray]) -> int:
    """Six hours after the earliest end of the series: every candle of every file up to
    there is closed, and none is missing before "now"."""
    ends = [int(rows[-1, 0]) + INTERVAL_MS[interval] for (_, interval), rows in klines.items()]
    return min(ends) + 6 * 3_600_000


@contextmanager
def serve(standin: StandIn) -> Iterator[StandIn]:
    """Run the stand-in on 127.0.0.1 (a free port) in a thread; ``standin.url`` is its base URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner_box: dict[str, web.AppRunner] = {}

    async def start() -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", standin.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        standin.url = f"http://127.0.0.1:{port}"
        runner_box["runner"] = runner
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="binance-standin", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the Binance stand-in did not start")
    try:
        yield standin
    finally:
        asyncio.run_coroutine_threadsafe(runner_box["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def main() -> None:
    """``python -m tests.support.binance_standin DATA_DIR [PORT]``: serve until interrupted."""
    import sys

    folder = Path(sys.argv[1])
    klines = load_klines(folder)
    standin = StandIn(klines, default_now(klines))
    with serve(standin), contextlib.suppress(KeyboardInterrupt):
        print(standin.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
