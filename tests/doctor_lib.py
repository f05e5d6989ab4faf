"""What the doctor tests share: an emulated world whose every CLI run is a new process, and
transports that kill, interrupt, refuse or rewrite Railway's answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from click.testing import CliRunner

from saas_infra.cli import Runtime, cli
from saas_infra.clock import FakeClock
from saas_infra.doctor.wire import operation_name
from saas_infra.emulator import Emulator
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from tests.conftest import START


class Killed(BaseException):
    """The process died: nothing after it runs, not even a `finally:` clean-up's requests."""


class Dying(httpx.BaseTransport):
    """Forwards to the emulator; after the n-th request takes effect, raises `error` (Killed:
    every later request dies too; KeyboardInterrupt: once, as a Ctrl-C does)."""

    def __init__(self, inner: httpx.BaseTransport, n: int | None, error=Killed) -> None:
        self.inner, self.n, self.error, self.calls, self.fired = inner, n, error, 0, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.fired and self.error is Killed:
            raise Killed("dead")
        self.calls += 1
        response = self.inner.handle_request(request)
        response.read()
        if self.calls == self.n:
            self.fired = True
            raise self.error()
        return response


class World:
    """One emulated Railway and one working folder; every invocation is a new process."""

    def __init__(self, root: Path, monkeypatch) -> None:
        self.clock = FakeClock(START)
        self.emu = Emulator(clock=self.clock, seed=11)
        (root / "tenants").mkdir()
        monkeypatch.chdir(root)

    def invoke(self, *args: str, transport=None, interactive=False, input=None, env=None):
        env = {"RAILWAY_API_TOKEN": self.emu.account_token, "SAAS_INFRA_RAILWAY_PLAN": "PRO",
               "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
        runtime = Runtime(env=env, clock=self.clock, transport=transport or self.emu.transport(),
                          retry=RetryPolicy(sleep=self.clock.sleep), stdin_interactive=interactive)
        return CliRunner(env=env).invoke(cli, list(args), obj=runtime, input=input,
                                         catch_exceptions=False)

    def live(self, *args: str, **kw):
        result = self.invoke("doctor", "--live", "--yes", "--json", *args, **kw)
        return result, json.loads(result.stdout)

    def doctor_projects(self, *, pending: bool | None = None) -> list[dict]:
        found = [p for p in self.emu.snapshot()["projects"]
                 if p["name"].startswith("saas-infra-doctor-")]
        if pending is None:
            return found
        return [p for p in found if (p["deletedAt"] is not None) == pending]


def client_of(world: World):
    """A plain client on the world's emulator (set-ups and checks, not the run under test)."""
    return RailwayClient(world.emu.account_token, transport=world.emu.transport(),
                         retry=RetryPolicy(sleep=world.clock.sleep),
                         pacer=Pacer.unlimited(clock=world.clock), clock=world.clock)


class Rewrite(httpx.BaseTransport):
    """Railway's answers, changed by `edit(operation, request headers, body) -> body`."""

    def __init__(self, inner: httpx.BaseTransport, edit: Callable) -> None:
        self.inner, self.edit = inner, edit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = json.loads(response.read())
        operation = json.loads(request.read()).get("operationName")
        changed = self.edit(operation, request.headers, body)
        return httpx.Response(response.status_code, headers=response.headers,
                              content=json.dumps(changed).encode(), request=request)


class Refuse(httpx.BaseTransport):
    """Railway refusing `operations` ("Not Authorized", as for a token that may not do them):
    the request never takes effect."""

    def __init__(self, inner: httpx.BaseTransport, *operations: str) -> None:
        self.inner, self.operations = inner, operations

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if operation_name(request.read()) in self.operations:
            body = {"data": None, "errors": [{"message": "Not Authorized",
                                              "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
            return httpx.Response(200, json=body, request=request)
        return self.inner.handle_request(request)
