"""serve_page: one build for concurrent requests of a page not yet in memory; the middleware's
fast path: a valid query built before routing, anything else left to the route."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from autonama_alerts_api.page_cache import PageCache
from autonama_alerts_api.pages import CachedPagesMiddleware, serve_page


def state() -> Any:
    return SimpleNamespace(broadcaster=SimpleNamespace(live=True, version=7), pages=PageCache())


def request(path: str = "/v1/alerts/summary") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": b"",
            "headers": [],
            "server": ("testserver", 80),
            "scheme": "http",
        }
    )


async def test_concurrent_requests_wait_for_one_build() -> None:
    s, builds = state(), []

    async def build() -> bytes:
        builds.append(1)
        await asyncio.sleep(0.05)
        return b'{"n": 1}'

    responses = await asyncio.gather(*(serve_page(s, request(), build) for _ in range(20)))
    assert len(builds) == 1
    assert {r.body for r in responses} == {b'{"n": 1}'}
    assert len({r.headers["etag"] for r in responses}) == 1
    assert s.pages.building == {}
    await serve_page(s, request(), build)  # from memory now
    assert len(builds) == 1
    s.broadcaster.version = 8  # something changed: built again, once
    await asyncio.gather(*(serve_page(s, request(), build) for _ in range(5)))
    assert len(builds) == 2


async def test_a_failed_build_fails_its_waiters_and_is_not_kept() -> None:
    s, builds = state(), []

    async def build() -> bytes:
        builds.append(1)
        await asyncio.sleep(0.02)
        raise ConnectionResetError("the database went away")

    results = await asyncio.gather(
        *(serve_page(s, request(), build) for _ in range(5)), return_exceptions=True
    )
    assert len(builds) == 1
    assert all(isinstance(r, ConnectionResetError) for r in results)
    assert s.pages.building == {}
    with pytest.raises(ConnectionResetError):
        await serve_page(s, request(), build)
    assert len(builds) == 2  # tried again, not served from a failure


async def test_a_waiter_builds_when_the_builder_is_cancelled() -> None:
    s, builds = state(), []

    async def build() -> bytes:
        builds.append(1)
        await asyncio.sleep(0.05)
        return b"{}"

    first = asyncio.create_task(serve_page(s, request(), build))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(serve_page(s, request(), build))
    await asyncio.sleep(0.01)
    first.cancel()  # its client went away
    response = await second
    assert response.body == b"{}"
    assert len(builds) == 2
    with pytest.raises(asyncio.CancelledError):
        await first


class Inner:
    """The app behind the middleware: records what reached routing."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"] + "?" + scope["query_string"].decode())
        await send({"type": "http.response.start", "status": 422, "headers": []})
        await send({"type": "http.response.body", "body": b"routed"})


async def call(app: Any, s: Any, path: str, query: str, *headers: tuple[bytes, bytes]) -> Any:
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query.encode(),
        "headers": list(headers),
        "server": ("testserver", 80),
        "scheme": "http",
        "app": SimpleNamespace(state=SimpleNamespace(autonama=s)),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    await app(scope, receive, send)
    headers = dict(sent[0].get("headers", []))
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:]), scope


def broken(_: Any, query: dict[str, str]) -> Any:
    async def build() -> bytes:
        raise ConnectionRefusedError("the database is restarting")

    return build


async def test_the_fast_path_builds_valid_queries_and_routes_the_rest() -> None:
    s, builds, inner = state(), [], Inner()
    s.settings = SimpleNamespace(auth="write")

    def page(_: Any, query: dict[str, str]) -> Any:
        if query.get("limit") not in {"1", "2"}:
            return None  # the route refuses it

        async def build() -> bytes:
            builds.append(query)
            return b'{"limit": ' + query["limit"].encode() + b"}"

        return build

    app = CachedPagesMiddleware(inner, fast={"/v1/alerts": page})
    status, headers, body, scope = await call(app, s, "/v1/alerts", "limit=2&limit=1")
    assert (status, body) == (200, b'{"limit": 1}')  # the last value, as Starlette reads it
    assert scope["route"].path == "/v1/alerts"  # counted under its route
    assert inner.paths == []
    etag = headers[b"etag"]
    again = await call(app, s, "/v1/alerts", "limit=2&limit=1")
    assert again[:3] == (200, headers, body)
    assert len(builds) == 1  # the second from memory
    assert (await call(app, s, "/v1/alerts", "limit=2&limit=1", (b"if-none-match", etag)))[0] == 304
    assert (await call(app, s, "/v1/alerts", "limit=0"))[:3:2] == (422, b"routed")
    assert (await call(app, s, "/v1/alerts/summary", "limit=1"))[2] == b"routed"
    failing = CachedPagesMiddleware(inner, fast={"/v1/alerts": broken})
    # the database went away before the LISTEN connection noticed: the route answers (503)
    assert (await call(failing, s, "/v1/alerts", "limit=9"))[:3:2] == (422, b"routed")
    s.settings.auth = "all"  # reads need a token: only the route checks them
    assert (await call(app, s, "/v1/alerts", "limit=2"))[2] == b"routed"
    s.settings.auth, s.broadcaster.live = "write", False  # nothing cached without LISTEN
    assert (await call(app, s, "/v1/alerts", "limit=2"))[2] == b"routed"
    assert inner.paths == [
        "/v1/alerts?limit=0",
        "/v1/alerts/summary?limit=1",
        "/v1/alerts?limit=9",
        "/v1/alerts?limit=2",
        "/v1/alerts?limit=2",
    ]
    assert len(builds) == 1
