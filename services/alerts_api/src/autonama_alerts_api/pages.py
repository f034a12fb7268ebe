"""Alert pages served from memory while nothing they show has changed.

The broadcaster's LISTEN connection hears every change the pages depend on (a
new alert, a change of current_signals, a finished scan) and bumps its
``version``. A page is cached, serialised, under the version it was read at;
the same query at the same version is answered from memory, and a client that
sends back the page's ETag gets 304. While the LISTEN connection is down the
version comes from the database instead (``queries.status.state_version``), and nothing
is cached. ETags carry a per-process nonce, so one from another process or
before a restart never matches by accident.

``CachedPagesMiddleware`` answers a repeated page (or its 304) before routing,
when reads need no token: FastAPI's parameter and dependency handling is most of
the cost of a page served from memory (measured: /v1/alerts 2,800 req/s through
the route, as many as /healthz past it). Only URLs that the route itself built
and cached are answered there, so every query was validated once. A page not in
memory whose route offers a ``FastPage`` (``GET /v1/alerts``) is built there too
when its query is valid under the route's own query model; any other query goes
to the route, which answers its 422 (measured: pages each a new query, 1,400
requests/s through the route, 2,300-2,600 past it).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi import Request, Response
from starlette.datastructures import URL
from starlette.types import ASGIApp, Receive, Scope, Send

from autonama_alerts_api.queries.status import state_version

if TYPE_CHECKING:
    from autonama_alerts_api.deps import State

__all__ = ["CachedPagesMiddleware", "FastPage", "serve_page"]


def _etag(version: str, url: str) -> str:
    query = hashlib.sha1(url.encode()).hexdigest()[:12]  # noqa: S324 - a cache key, not a secret
    return f'W/"{version}-{query}"'


def _live_version(state: State) -> str:
    return f"{state.pages.nonce}.{state.broadcaster.version}"


async def serve_page(
    state: State, request: Request, build: Callable[[], Awaitable[bytes]]
) -> Response:
    """The page at ``request``'s URL: 304 for a matching ETag, else from the cache or built."""
    route = getattr(request.scope.get("route"), "path", "unmatched")
    url = str(request.url.include_query_params())
    return await _page(state, url, request.headers.get("if-none-match", ""), route, build)


async def _page(
    state: State, url: str, if_none_match: str, route: str, build: Callable[[], Awaitable[bytes]]
) -> Response:
    live = state.broadcaster.live
    version = _live_version(state) if live else f"db.{await state_version(state.pool)}"
    etag = _etag(version, url)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in if_none_match:
        return Response(status_code=304, headers=headers)
    found = state.pages.get(url, version) if live else None
    if found is not None:
        return Response(found[0], media_type="application/json", headers=headers)
    if not live:
        return Response(await build(), media_type="application/json", headers=headers)
    key = (url, version)
    pending = state.pages.building.get(key)
    if pending is not None:
        try:
            return Response(
                await asyncio.shield(pending), media_type="application/json", headers=headers
            )
        except asyncio.CancelledError:
            if not pending.cancelled():
                raise  # this request was cancelled
            # the request building it went away: build it here
    future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    state.pages.building[key] = future
    try:
        body = await build()
    except asyncio.CancelledError:
        future.cancel()
        raise
    except Exception as e:
        future.set_exception(e)
        future.exception()  # retrieved: no "never retrieved" warning without waiters
        raise
    finally:
        if state.pages.building.get(key) is future:
            del state.pages.building[key]
    future.set_result(body)
    state.pages.put(url, version, body, route)
    return Response(body, media_type="application/json", headers=headers)


#: A page the middleware may build itself: from the state and the query's parameters (the
#: last value of each), what builds the page, or None to leave the request to its route.
FastPage = Callable[["State", dict[str, str]], Callable[[], Awaitable[bytes]] | None]


class CachedPagesMiddleware:
    """A GET of a cached page at the current version, answered before routing; and a page
    of ``fast`` (path -> ``FastPage``) with a valid query, built here (see above)."""

    def __init__(self, app: ASGIApp, fast: dict[str, FastPage] | None = None) -> None:
        self.app = app
        self.fast = fast or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = getattr(scope["app"].state, "autonama", None) if scope["type"] == "http" else None
        if (
            state is not None
            and scope["method"] == "GET"
            and state.broadcaster.live
            and state.settings.auth != "all"  # reads need a token: the route checks it
        ):
            url = str(URL(scope=scope).include_query_params())
            version = _live_version(state)
            found = state.pages.get(url, version)
            if found is not None:
                body, route = found
                scope["route"] = SimpleNamespace(path=route)  # for the request metrics
                etag = _etag(version, url)
                headers = [(b"etag", etag.encode()), (b"cache-control", b"no-cache")]
                if etag.encode() in _header(scope, b"if-none-match"):
                    await send({"type": "http.response.start", "status": 304, "headers": headers})
                    await send({"type": "http.response.body", "body": b""})
                    return
                headers += [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            page = self.fast.get(scope["path"])
            if page is not None:
                query = dict(parse_qsl(scope["query_string"].decode("latin-1"), True))
                build = page(state, query)
                if build is not None:
                    route = scope["path"]
                    none_match = _header(scope, b"if-none-match").decode("latin-1")
                    try:
                        response = await _page(state, url, none_match, route, build)
                    except Exception:  # noqa: BLE001 - the route answers it as it does (503...)
                        response = None
                    if response is not None:
                        scope["route"] = SimpleNamespace(path=route)
                        await response(scope, receive, send)
                        return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> bytes:
    return b",".join(v for k, v in scope["headers"] if k == name)
