"""Request metrics as a pure ASGI middleware (no BaseHTTPMiddleware: streams pass through)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MetricsMiddleware"]


class MetricsMiddleware:
    """Counts each request by method, route and status, and times it to its first byte."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def measured(message: Message) -> None:
            if message["type"] == "http.response.start":
                state = getattr(scope["app"].state, "autonama", None)
                if state is not None:
                    route = getattr(scope.get("route"), "path", "unmatched")
                    m = state.metrics
                    m.requests.labels(scope["method"], route, str(message["status"])).inc()
                    m.latency.labels(route).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, measured)
