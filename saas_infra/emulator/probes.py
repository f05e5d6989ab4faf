"""For clients of `saas-infra emulator`: how to probe an emulated gateway over HTTP.

The emulator's domains (`*.up.railway.app`) exist only inside it, so a probe of
https://<domain>/<path> must go to the emulator's own port, never to the internet. The rule:

    GraphQL endpoint   http://HOST:PORT/graphql/v2
    gateway URL        https://<domain>/<path>
    probe it at        http://HOST:PORT/_emulator/gateway/<domain>/<path>

`GET http://HOST:PORT/_emulator` answers {"emulator": "saas-infra", "gateway": "<that rule, with
{domain} and {path}>", ...}: a client that is not sure its endpoint is the emulator asks there
(Railway answers 404). Nothing here is Railway's: Railway's gateways are reached directly.

probe_url() applies the rule; GatewayRouting is an httpx transport that applies it to every
*.up.railway.app request and passes any other request to the inner transport unchanged.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from .gateway import GATEWAY_SUFFIX

GATEWAY_ROUTE = "/_emulator/gateway/"
DESCRIBE_PATH = "/_emulator"  # answers {"emulator": "saas-infra", "gateway": ...}
GRAPHQL_PATH = "/graphql/v2"


def emulator_base(api_url: str) -> str:
    """http://HOST:PORT from the emulator's GraphQL endpoint URL."""
    parts = urlsplit(api_url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {api_url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def probe_url(api_url: str, public_url: str) -> str:
    """Where to probe `public_url` (https://<domain>/<path>) on the emulator serving `api_url`.
    Any other URL is returned unchanged."""
    parts = urlsplit(public_url)
    host = (parts.hostname or "").lower()
    if not host.endswith(GATEWAY_SUFFIX):
        return public_url
    query = f"?{parts.query}" if parts.query else ""
    return f"{emulator_base(api_url)}{GATEWAY_ROUTE}{host}{parts.path or '/'}{query}"


class GatewayRouting(httpx.BaseTransport):
    """Sends requests for emulated gateways to the emulator at `api_url`, others to `inner`."""

    def __init__(self, api_url: str, inner: httpx.BaseTransport | None = None) -> None:
        self.api_url = api_url
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = probe_url(self.api_url, str(request.url))
        if target != str(request.url):
            request = httpx.Request(
                request.method,
                target,
                headers=[(k, v) for k, v in request.headers.raw if k.lower() != b"host"],
                content=request.read(),
            )
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
