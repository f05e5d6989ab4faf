"""The demo's front door, wrapped around the whole app (static files included): a Host check
against DNS rebinding, the access token (in the URL once, then an HttpOnly SameSite=Strict
cookie), a CSRF token on every state change, and strict security headers on every answer.

It never logs or echoes the access token, and compares secrets only with hmac.compare_digest.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD"})
CSRF_HEADER = "x-csrf-token"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cache-control", "no-store"),
)
NO_TOKEN = (
    "Forbidden: open the URL the demo printed when it started (it ends in ?token=...).\n"
)


def same(given: str | None, expected: str) -> bool:
    """Constant-time comparison that also copes with a missing or non-ASCII value."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """Host headers a browser sends for this server: loopback names and the bind address."""
    names = {"127.0.0.1", "localhost"}
    if host not in ("0.0.0.0", "::", ""):  # a wildcard is not a name anyone browses to
        names.add(f"[{host}]" if ":" in host else host)
    return frozenset(f"{name}:{port}".lower() for name in names)


class Guard:
    """ASGI middleware: refuse, or pass through with the security headers added."""

    def __init__(self, app: ASGIApp, *, token: str, csrf: str, hosts: Iterable[str],
                 cookie: str) -> None:
        self.app = app
        self.token = token
        self.csrf = csrf
        self.hosts = frozenset(hosts)
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            await send({"type": "websocket.close", "code": 1008})
            return
        send = _with_headers(send)
        refusal = self.refusal(Request(scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, request: Request) -> Response | None:
        if request.headers.get("host", "").lower() not in self.hosts:
            return PlainTextResponse("Bad request: unexpected Host header.\n", 400)
        if not same(request.cookies.get(self.cookie), self.token):
            return self._exchange(request)
        if request.method not in SAFE_METHODS:
            return self._cross_site(request)
        return None

    def _exchange(self, request: Request) -> Response:
        """A valid ?token= on a GET becomes the cookie, and the token leaves the address bar."""
        if request.method != "GET" or not same(request.query_params.get("token"), self.token):
            return PlainTextResponse(NO_TOKEN, 403)
        url = request.url.remove_query_params("token")
        # "//host" would be a protocol-relative redirect to another site.
        path = "/" + url.path.lstrip("/")
        response = RedirectResponse(path + (f"?{url.query}" if url.query else ""), 303)
        response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict", path="/")
        return response

    def _cross_site(self, request: Request) -> Response | None:
        origin = request.headers.get("origin")
        if origin is not None and origin.lower().removeprefix("http://") not in self.hosts:
            return PlainTextResponse("Forbidden: cross-origin request.\n", 403)
        if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
            return PlainTextResponse("Forbidden: cross-site request.\n", 403)
        if not same(request.headers.get(CSRF_HEADER), self.csrf):
            return PlainTextResponse("Forbidden: missing or wrong CSRF token.\n", 403)
        return None


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS
                        if k.encode() not in present]
            message = {**message, "headers": headers}
        await send(message)

    return sending
