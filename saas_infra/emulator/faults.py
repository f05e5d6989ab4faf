"""Switchable faults: a thin layer in front of the emulator's core, off unless asked for.

Every draw comes from one random.Random seeded by the emulator's seed, and a draw is made only
for a switch that is on, so a run with the same seed and the same requests replays exactly.
Edge faults (5xx, resets, Cloudflare 429s) answer before Railway's core and change no state.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Faults:
    latency: float = 0.0  # seconds added to every request, through clock.sleep
    error_5xx: float = 0.0  # fraction answered 502/503/504 without executing
    reset: float = 0.0  # fraction whose connection drops without an answer, not executed
    html_429: float = 0.0  # fraction answered by a Cloudflare-style HTML 429 (no rate headers)
    cooldown_seconds: float = 0.0  # >0: "Endpoint too recently updated" on rapid re-mutation
    create_timeout: float = 0.0  # fraction of projectCreate that commit, then time out
    # A `projects` page asked for with a cursor answers hasNextPage with that same cursor again:
    # a server bug no Railway source reports, but a client that trusts paging would loop forever.
    repeat_cursor: bool = False


class ConnectionDropped(Exception):
    """The connection closes with no answer. The transport turns it into httpx.ReadError."""


class GatewayTimeout(Exception):
    """The request was executed but the answer never came. Transport: httpx.ReadTimeout."""


class FaultDice:
    """Seeded draws and a count of every fault injected, by kind."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"faults:{seed}")
        self.counts: Counter[str] = Counter()

    def roll(self, kind: str, probability: float) -> bool:
        if probability <= 0 or self.rng.random() >= probability:
            return False
        self.counts[kind] += 1
        return True

    def edge(self, faults: Faults) -> Answer | None:
        """The answer of the edge in front of Railway, or None to let the request through."""
        if self.roll("reset", faults.reset):
            raise ConnectionDropped("connection reset by the emulator (fault: reset)")
        if self.roll("error_5xx", faults.error_5xx):
            return self._server_error()
        if self.roll("html_429", faults.html_429):
            return 429, {"Content-Type": "text/html; charset=UTF-8"}, CLOUDFLARE_1015
        return None

    def _server_error(self) -> Answer:
        status = self.rng.choice((502, 503, 504))
        if self.rng.random() < 0.5:
            body = {
                "message": _REASONS[status],
                "requestId": str(uuid.UUID(int=self.rng.getrandbits(128))),
            }
            return status, {"Content-Type": "application/json"}, json.dumps(body).encode()
        page = f"<html><head><title>{status} {_REASONS[status]}</title></head>"
        page += f"<body><center><h1>{status} {_REASONS[status]}</h1></center></body></html>"
        return status, {"Content-Type": "text/html"}, page.encode()


_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}

CLOUDFLARE_1015 = (
    b"<!DOCTYPE html><html><head><title>Access denied | backboard.railway.com used Cloudflare"
    b" to restrict access</title></head><body><h1>Error 1015</h1><p>You are being rate limited"
    b"</p><p>error code: 1015</p></body></html>"
)

GATEWAY_TIMEOUT_PAGE = (
    b"<html><head><title>504 Gateway Time-out</title></head>"
    b"<body><center><h1>504 Gateway Time-out</h1></center></body></html>"
)
