"""The composition root: what the outside world gives a run (environment, clock, transport) and
the parts built from it (settings, console, Railway client, sandbox emulator, fleet).

The command line, the demo and `doctor` build their parts here and nowhere else. Tests pass their
own Runtime (a fake clock, an emulator transport). Nothing here reads a test switch from the
environment: a time-scaled clock is given by an emulator or test entry point, never chosen here.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from saas_infra.clock import Clock, SystemClock
from saas_infra.console import Console
from saas_infra.settings import DEFAULT_API_URL, Settings

if TYPE_CHECKING:
    import httpx

    from saas_infra.emulator import Emulator
    from saas_infra.railway import RailwayClient
    from saas_infra.reconcile import Fleet

SANDBOX_API_URL = "http://sandbox.saas-infra.invalid/graphql/v2"
SANDBOX_HOLDER = "sandbox.holder"  # beside sandbox.lock: who holds it, for those who wait


@dataclass
class Runtime:
    """What the outside world gives a run. Tests pass their own (fake clock, emulator transport)."""

    env: Mapping[str, str] | None = None
    clock: Clock = field(default_factory=SystemClock)
    transport: Any = None  # an httpx transport; None = the network
    retry: Any = None  # a RetryPolicy; None = the default, sleeping on `clock`
    emulator_options: dict[str, Any] = field(default_factory=dict)  # Emulator(...) for --sandbox
    stdin_interactive: bool | None = None
    sandbox_holder: str | None = None  # who holds the sandbox, for those waiting [the command]

    def environ(self) -> Mapping[str, str]:
        return os.environ if self.env is None else self.env

    def settings(self, **overrides: Any) -> Settings:
        return Settings.from_env(self.environ(), **overrides)

    def console(self) -> Console:
        """A console on this moment's stdout and stderr (a test runner swaps them per command)."""
        return Console()

    @property
    def interactive(self) -> bool:
        """Whether a person can answer a question on stdin."""
        if self.stdin_interactive is not None:
            return self.stdin_interactive
        return sys.stdin.isatty()

    def client(self, settings: Settings, on_retry: Callable[..., None] | None = None,
               wrap: Callable[[Any], Any] | None = None) -> RailwayClient:
        """The Railway client; `wrap(transport)`, when given, wraps its transport (doctor)."""
        from saas_infra.railway import Pacer, RailwayClient, RetryPolicy

        token: Any
        if settings.sandbox:
            emulator = self.sandbox_emulator(settings)
            token, api_url = emulator.account_token, SANDBOX_API_URL
            transport = emulator.transport()
            pacer = Pacer.for_plan("PRO", clock=self.clock)
        else:
            token, api_url, transport = settings.require_token(), settings.api_url, self.transport
            pacer = Pacer.for_plan(settings.plan_name, clock=self.clock)
        retry = self.retry or RetryPolicy(sleep=self.clock.sleep)
        transport = wrap(transport) if wrap else transport
        return RailwayClient(
            token, api_url=api_url, transport=transport, retry=retry, pacer=pacer, clock=self.clock,
            on_retry=on_retry,
        )

    def sandbox_emulator(self, settings: Settings) -> Emulator:
        from saas_infra.emulator import Emulator

        settings.sandbox_dir.mkdir(parents=True, exist_ok=True)
        ignore = settings.sandbox_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
        state = settings.sandbox_dir / "emulator.json"
        self._hold_sandbox(settings)
        if not hasattr(self, "_emulator"):
            self._emulator = Emulator(clock=self.clock, state_file=state, **self.emulator_options)
        return self._emulator

    def _hold_sandbox(self, settings: Settings) -> None:
        """One sandbox command at a time, until the command ends: each rewrites the state file.
        A command that has to wait says at once for whom (the demo holds it while it runs)."""
        from saas_infra.errors import LockHeldError
        from saas_infra.lock import lock_sandbox
        from saas_infra.render import text

        held = getattr(self, "_sandbox_lock", None)
        ctx = click.get_current_context(silent=True)
        if (held is not None and held.is_locked) or ctx is None:
            return
        directory = settings.sandbox_dir
        try:
            lock = lock_sandbox(directory, timeout=0)
        except LockHeldError:
            self.console().message(text.sandbox_wait(sandbox_holder(directory),
                                                     settings.lock_timeout))
            lock = lock_sandbox(directory, settings.lock_timeout)
        self._sandbox_lock = lock
        holder = directory / SANDBOX_HOLDER
        holder.write_text(json.dumps({"holder": self.sandbox_holder or f"`{ctx.command_path}`",
                                      "pid": os.getpid()}))

        def release() -> None:
            holder.unlink(missing_ok=True)  # first: the next holder writes its own once it has it
            lock.release()

        ctx.call_on_close(release)

    def health_client(self, settings: Settings) -> httpx.Client:
        """An HTTP client for probing gateways' /health: the emulator's in the sandbox; when
        RAILWAY_API_URL is a `saas-infra emulator`, one that sends its *.up.railway.app
        gateways to it (they exist nowhere else, and must never be probed on the internet)."""
        import httpx

        if settings.sandbox:
            return httpx.Client(transport=self.sandbox_emulator(settings).transport())
        inner = self.transport or httpx.HTTPTransport()
        if settings.api_url != DEFAULT_API_URL and _is_emulator(settings.api_url, inner):
            from saas_infra.emulator.probes import GatewayRouting

            return httpx.Client(transport=GatewayRouting(settings.api_url, inner))
        return httpx.Client(transport=inner)

    def fleet(self, settings: Settings, on_retry: Callable[..., None] | None = None) -> Fleet:
        from saas_infra.reconcile import Fleet

        return Fleet(
            client=self.client(settings, on_retry),
            clock=self.clock,
            tenants_dir=settings.tenants_dir,
            fleet_file=settings.fleet_file,
            workspace_id=settings.workspace_id,
            concurrency=settings.concurrency,
            max_deletions=settings.max_deletions,
            lock_timeout=settings.lock_timeout,
            env=self.environ(),
            health=lambda: self.health_client(settings),
        )

    def manifests_only(self, settings: Settings, warn: Callable[[str], None] | None = None
                       ) -> Fleet:
        """A fleet with no client, for edits that run no pass (--no-apply): needs no token."""
        from saas_infra.reconcile import Fleet

        return Fleet(client=None, clock=self.clock,  # type: ignore[arg-type]  # never called
                     tenants_dir=settings.tenants_dir, fleet_file=settings.fleet_file,
                     warn=warn)


def _is_emulator(api_url: str, transport: Any) -> bool:
    """Whether the GraphQL endpoint `api_url` is served by `saas-infra emulator`: it answers
    `GET /_emulator` with {"emulator": "saas-infra"} (Railway answers 404). Asked only of an
    endpoint that is not Railway's own."""
    import httpx

    from saas_infra.emulator.probes import DESCRIBE_PATH, emulator_base

    try:
        base = emulator_base(api_url)
        # Not closed: closing a client closes its transport, which the probes go on to use.
        answer = httpx.Client(transport=transport).get(base + DESCRIBE_PATH, timeout=5.0)
        return answer.status_code == 200 and answer.json().get("emulator") == "saas-infra"
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def sandbox_holder(directory: Path) -> tuple[str, int] | None:
    """(who, pid) holding the sandbox, as its holder wrote it; None when that is not known."""
    try:
        data = json.loads((directory / SANDBOX_HOLDER).read_text())
        return str(data["holder"]), int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (the emulator and the demo warn otherwise)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def url_host(host: str) -> str:
    """`host` as a client puts it in a URL: a wildcard address is reached through loopback."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
