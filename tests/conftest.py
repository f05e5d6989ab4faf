"""Shared fixtures: a fake clock, an in-process Railway emulator, a client and a fleet on it, and
a CLI runner wired to them. Nothing here reaches the network or sleeps for real."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from saas_infra.cli import Runtime, cli
from saas_infra.clock import FakeClock
from saas_infra.emulator import Emulator
from saas_infra.lock import CONTROL_PROJECT
from saas_infra.manifest import write_new_manifest
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.reconcile import Fleet

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def follows_warning(*tenants: str, branch: str = "main") -> str:
    """The warning a plan gives about tenants that follow a branch (every push deploys them)."""
    one = len(tenants) == 1
    names = ", ".join(f"{t} on {branch}" for t in tenants)
    return (f"{len(tenants)} tenant{'' if one else 's'} ({names}) follow{'s' if one else ''} a "
            f"branch: every push to {'its branch deploys it' if one else 'their branch deploys them'}"
            " at once, untested; to "
            "release deliberately, follow a release channel of fleet.yaml (channel: NAME) or pin "
            "a version (gateway.commit: a full commit SHA).")


def fleet_projects(emu: Emulator) -> list[dict]:
    """The emulator's projects but the fleet lock's control project, which the first pass that
    takes the lock makes once per workspace (saas_infra/lock.py)."""
    return [p for p in emu.snapshot()["projects"] if p["name"] != CONTROL_PROJECT]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    return Emulator(clock=clock, seed=1)


@pytest.fixture
def client(emu: Emulator, clock: FakeClock):
    with RailwayClient(
        emu.account_token,
        transport=emu.transport(),
        retry=RetryPolicy(sleep=clock.sleep),
        pacer=Pacer.unlimited(clock=clock),
        clock=clock,
    ) as railway:
        yield railway


@pytest.fixture
def tenants_dir(tmp_path: Path, monkeypatch) -> Path:
    """An empty tenants/ folder, with the working directory beside it."""
    monkeypatch.chdir(tmp_path)
    directory = tmp_path / "tenants"
    directory.mkdir()
    return directory


@pytest.fixture
def write_tenant(tenants_dir: Path):
    def write(name: str, **source) -> Path:
        return write_new_manifest(tenants_dir, name, **source)

    return write


@pytest.fixture
def fleet(client, clock: FakeClock, tenants_dir: Path) -> Fleet:
    return Fleet(client=client, clock=clock, tenants_dir=tenants_dir)


@pytest.fixture
def runtime(emu: Emulator, clock: FakeClock) -> Runtime:
    return Runtime(
        env={"RAILWAY_TOKEN": emu.account_token, "NO_COLOR": "1"},
        clock=clock,
        transport=emu.transport(),
        retry=RetryPolicy(sleep=clock.sleep),
        stdin_interactive=False,
    )


@pytest.fixture
def run_cli(runtime: Runtime, tenants_dir: Path):
    """run_cli("plan", "--json") -> click Result with .exit_code, .stdout, .stderr."""

    def run(*args: str, input: str | None = None, env: dict | None = None):
        runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "200", **(env or {})})
        # Settings read the runtime's env, not os.environ: give it `env` too (None unsets).
        base = runtime.env
        merged = {**base, **(env or {})}
        runtime.env = {k: v for k, v in merged.items() if v is not None}
        try:
            return runner.invoke(cli, list(args), obj=runtime, input=input, catch_exceptions=False)
        finally:
            runtime.env = base

    return run
