"""What every request passes before anything reads it.

- The body limit is FastAPI's own (``FastAPI(max_body_size=BODY_LIMIT)``, Starlette's
  ``RequestBodyLimitMiddleware`` outside every route): a ``Content-Length`` over the limit
  gets 413 at the first read, before the body is parsed and before a token is checked; a
  body sent without one (chunked) is counted as it arrives and cut off at the limit.
- ``SecurityHeaders``: no page of this app can be framed (``frame-ancestors 'none'``,
  ``X-Frame-Options``: a framed dashboard's buttons would act with its stored token), no
  response is sniffed into another type, no address leaks in a Referer.
- The Host allow-list is Starlette's ``TrustedHostMiddleware`` (``create_app``): a page
  that rebinds its own name to 127.0.0.1 is refused, so it cannot drive the API.
"""

from __future__ import annotations

from starlette.types import Message, Scope

from autonama_alerts_api.middleware import ResponseStartMiddleware

__all__ = ["BODY_LIMIT", "SecurityHeaders"]

#: The largest request body any route takes (the largest, a scan of 500 symbols, is ~10 KB).
BODY_LIMIT = 64 * 1024


#: Every response; HTML pages add their own Content-Security-Policy with the same
#: ``frame-ancestors 'none'`` (routes/dashboard.py).
_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_FRAMES = (b"content-security-policy", b"frame-ancestors 'none'")


class SecurityHeaders(ResponseStartMiddleware):
    def on_start(self, scope: Scope, message: Message, started: float) -> Message:
        headers = list(message.get("headers", []))
        names = {k.lower() for k, _ in headers}
        headers += [h for h in _HEADERS if h[0] not in names]
        if _FRAMES[0] not in names:
            headers.append(_FRAMES)
        return {**message, "headers": headers}
