"""The emulator over real HTTP, on the standard library's ThreadingHTTPServer.

`serve()` blocks until KeyboardInterrupt (the `saas-infra emulator` command); `start_in_thread()`
runs one on a free loopback port for tests. Nothing here prints: messages go to a callback.
A Host header naming a service domain (`*.up.railway.app`) reaches that gateway's /health, as
does GET /_emulator/gateway/<domain>/health. The test controls (controls.py: /github/push,
/_emulator/...) answer here without credentials: they are not Railway endpoints, and this server
must never be reachable from other machines.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from .faults import GATEWAY_TIMEOUT_PAGE, ConnectionDropped, GatewayTimeout

if TYPE_CHECKING:
    from .core import Emulator

Log = Callable[[str], None]


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, emulator: Emulator, address: tuple[str, int], log: Log | None = None
    ) -> None:
        self.emulator = emulator
        self.log = log
        super().__init__(address, _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serve_forever (from another thread) and close the socket."""
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorHTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint
    # Headers and body go out as two writes; with Nagle on, the body waits for the client's
    # delayed ACK of the headers: 40 ms added to every request on Linux loopback.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = f"http://{self.headers.get('Host') or 'localhost'}{self.path}"
        try:
            status, headers, content = self.server.emulator.handle(
                self.command, url, dict(self.headers.items()), body
            )
        except ConnectionDropped:
            self._reset()
            return
        except GatewayTimeout:
            # The work is committed; answer as an edge proxy does when the origin is too slow.
            status, headers, content = 504, {"Content-Type": "text/html"}, GATEWAY_TIMEOUT_PAGE
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def _reset(self) -> None:
        """Close with a TCP RST and no answer, as a dropped upstream connection looks."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    def log_message(self, format: str, *args: object) -> None:
        if self.server.log is not None:
            self.server.log(format % args)


def make_server(
    emulator: Emulator, host: str = "127.0.0.1", port: int = 8787, log: Log | None = None
) -> EmulatorHTTPServer:
    return EmulatorHTTPServer(emulator, (host, port), log)


def serve(
    emulator: Emulator,
    host: str = "127.0.0.1",
    port: int = 8787,
    *,
    on_ready: Callable[[str], None] | None = None,
    log: Log | None = None,
) -> None:
    """Serve POST /graphql/v2 until KeyboardInterrupt. `on_ready(base_url)` once listening."""
    server = make_server(emulator, host, port, log)
    try:
        if on_ready is not None:
            on_ready(server.base_url)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def start_in_thread(
    emulator: Emulator, host: str = "127.0.0.1", port: int = 0
) -> tuple[EmulatorHTTPServer, str]:
    """A server on a daemon thread; returns it and its base URL (append /graphql/v2).
    Call server.stop() when done."""
    server = make_server(emulator, host, port)
    thread = threading.Thread(target=server.serve_forever, name="railway-emulator", daemon=True)
    thread.start()
    return server, server.base_url
