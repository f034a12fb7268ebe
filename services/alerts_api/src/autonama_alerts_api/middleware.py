"""Pure ASGI middleware (no BaseHTTPMiddleware: streams pass through): request metrics, and
the base of every middleware that looks at a response's start (status and headers)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MetricsMiddleware", "ResponseStartMiddleware"]


class ResponseStartMiddleware:
    """Passes every HTTP response's start message through ``on_start`` (the body is not
    touched); other traffic (lifespan) passes as it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def on_start(self, scope: Scope, message: Message, started: float) -> Message:
        """The start message to send, for a request that came in at ``started``
        (``time.perf_counter``)."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def at_start(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = self.on_start(scope, message, started)
            await send(message)

        await self.app(scope, receive, at_start)


class MetricsMiddleware(ResponseStartMiddleware):
    """Counts each request by method, route and status, and times it to its first byte."""

    def on_start(self, scope: Scope, message: Message, started: float) -> Message:
        state = getattr(scope["app"].state, "autonama", None)
        if state is not None:
            route = getattr(scope.get("route"), "path", "unmatched")
            m = state.metrics
            m.requests.labels(scope["method"], route, str(message["status"])).inc()
            m.latency.labels(route).observe(time.perf_counter() - started)
        return message
