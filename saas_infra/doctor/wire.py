"""What doctor sees of its own traffic, at two levels, without changing any of it.

Wire is an httpx transport wrapped around the real one: it counts requests, keeps the latest
X-RateLimit-* headers, notes whether each operation was sent with credentials, and hands every
exchange to a Recorder (`--record`). Tap wraps the client: it keeps each operation's variables
and answer so doctor can compare them with what saas-infra expects. The client under test is
the client saas-infra runs; neither layer prints or logs what it holds (answers carry secrets).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from saas_infra.errors import SaasInfraError
from saas_infra.railway.operations import Operation


class Wire(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, recorder=None) -> None:
        self.inner = inner
        self.recorder = recorder  # record.Recorder or None
        self.requests = 0
        self.rate_headers: dict[str, str] = {}  # of the latest answer that carried them
        self.credentials: dict[str, bool] = {}  # operation -> the latest was sent with a token
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        operation = operation_name(request.read())
        with self._lock:
            self.requests += 1
            self.credentials[operation] = "authorization" in request.headers
        response = self.inner.handle_request(request)
        response.read()
        rate = {k.lower(): v for k, v in response.headers.items()
                if k.lower().startswith("x-ratelimit-")}
        with self._lock:
            if rate:
                self.rate_headers = rate
        if self.recorder is not None:
            self.recorder.add(request, response)
        return response

    def close(self) -> None:
        self.inner.close()


def operation_name(body: bytes) -> str:
    try:
        name = json.loads(body or b"{}").get("operationName")
    except (ValueError, AttributeError):
        return "<unknown>"
    return name if isinstance(name, str) else "<anonymous>"


@dataclass
class Call:
    """One operation as the client saw it: its answer's data, or the error it became."""

    operation: Operation
    variables: dict[str, Any] = field(repr=False)
    data: dict | None = field(default=None, repr=False)
    error: SaasInfraError | None = None

    @property
    def name(self) -> str:
        return self.operation.name


class Tap:
    """An Executor (see railway.operations) around the client that keeps every call."""

    def __init__(self, client) -> None:
        self.client = client
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def execute(self, operation: Operation, variables: dict[str, Any] | None = None) -> dict:
        call = Call(operation, dict(variables or {}))
        try:
            call.data = self.client.execute(operation, variables)
        except SaasInfraError as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                self.calls.append(call)
        return call.data

    def since(self, index: int) -> list[Call]:
        with self._lock:
            return list(self.calls[index:])

    def mark(self) -> int:
        with self._lock:
            return len(self.calls)
