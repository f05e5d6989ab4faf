"""An httpx transport that hands requests to an Emulator in-process: no socket, no thread.

Give it to any httpx.Client (`httpx.Client(transport=emu.transport())`); any host works for the
GraphQL endpoint, and https://<service domain>/health reaches the emulated gateways. The
connection faults surface as the httpx errors a real network would raise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from .faults import ConnectionDropped, GatewayTimeout

if TYPE_CHECKING:
    from .core import Emulator


class EmulatorTransport(httpx.BaseTransport):
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        headers = {key: value for key, value in request.headers.items()}
        try:
            status, answer_headers, content = self.emulator.handle(
                request.method, str(request.url), headers, body
            )
        except ConnectionDropped as exc:
            raise httpx.ReadError(str(exc), request=request) from None
        except GatewayTimeout as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from None
        return httpx.Response(status, headers=answer_headers, content=content, request=request)
