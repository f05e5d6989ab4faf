"""Crash at every step: for each Railway call a verb makes, the process dies right after it (the
call took effect, its answer is lost, nothing after it runs). A fresh pass must then converge on
its own: one project, exactly Postgres/Redis/gateway, keys, domain, the manifest's variables,
source and marker, no variable change left undeployed, nothing deleted by mistake, empty plan.

The test ids are `<scenario>-<n>`; n runs over every call a clean run of that scenario makes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from saas_infra import manifest as mf
from saas_infra import verbs
from saas_infra.clock import FakeClock
from saas_infra.emulator import Emulator
from saas_infra.plan import ActionKind
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.reconcile import Fleet, apply_pass
from tests.chaos_checks import DeploySpy, deletion_violations, fleet_violations, live_by_tenant
from tests.conftest import START

TENANT = "acme"
REPO = "LuthienResearch/luthien-proxy"
PIN_A, PIN_B = "a" * 40, "b" * 40  # commits of the repo on no branch: a pin need not be a head
# The next pass is the next scheduled one (cron, CI): by then the dead pass's fleet-lock lease
# has run out, as it would on Railway. Small next to any deletion grace period.
NEXT_PASS_HOURS = 1


class Killed(BaseException):
    """The process died. A BaseException, so no `except Exception` in saas-infra can swallow it."""


class DyingTransport(httpx.BaseTransport):
    """Forwards requests to the emulator; after the `die_after`-th one takes effect, dies. A dead
    process sends nothing more (not even a `finally:` clean-up), so later calls die unsent."""

    def __init__(self, inner: httpx.BaseTransport, spy: DeploySpy, die_after: int | None) -> None:
        self.inner, self.spy, self.die_after = inner, spy, die_after
        self.calls = 0  # forwarded to Railway

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.die_after is not None and self.calls >= self.die_after:
            raise Killed(f"dead since call {self.calls}")
        self.calls += 1
        response = self.inner.handle_request(request)
        response.read()
        self.spy.record(request.content, response.status_code, response.content)
        if self.calls == self.die_after:
            raise Killed(f"killed right after call {self.calls}")
        return response


def converge(fleet: Fleet) -> None:
    """The next pass converges. A deadline that had passed before Railway showed it is announced
    by that pass and deleted, by design, by the one after: then that one must finish the job."""
    for attempt in (1, 2):
        report = apply_pass(fleet)
        assert not report.failed, [o.error for o in report.failed]
        assert report.converged, report.after.actions
        left = fleet.plan()
        if left.empty:
            return
        assert attempt == 1 and {a.kind for a in left.actions} == {ActionKind.DELETE}, left


class World:
    """One emulated Railway and one tenants folder; fleets on it share the clock and the spy."""

    def __init__(self, root: Path) -> None:
        self.clock = FakeClock(START)
        self.emu = Emulator(clock=self.clock, seed=7)
        self.spy = DeploySpy()
        self.tenants = root / "tenants"
        self.tenants.mkdir()
        for sha in (PIN_A, PIN_B):
            self.emu.set_commit_outcome(REPO, sha, "success")

    def fleet(self, die_after: int | None = None) -> tuple[Fleet, DyingTransport]:
        transport = DyingTransport(self.emu.transport(), self.spy, die_after)
        client = RailwayClient(
            self.emu.account_token,
            transport=transport,
            retry=RetryPolicy(sleep=self.clock.sleep),
            pacer=Pacer.unlimited(clock=self.clock),
            clock=self.clock,
        )
        return Fleet(client=client, clock=self.clock, tenants_dir=self.tenants), transport

    def manifest_path(self) -> Path:
        return self.tenants / f"{TENANT}.yaml"

    def manifests(self) -> list:
        return [m.manifest for m in mf.load_tenants(self.tenants)]


# --- scenarios: a set-up made without faults, then the act that gets killed ----------------------


def _created(world: World) -> None:
    fleet, _ = world.fleet()
    assert verbs.create(fleet, TENANT, wait=False).ok


def _created_with_variables(world: World) -> None:
    mf.write_new_manifest(world.tenants, TENANT, variables={"LOG_LEVEL": "info", "FEATURE": "on"})
    assert apply_pass(world.fleet()[0]).converged


def _created_pinned(world: World) -> None:
    fleet, _ = world.fleet()
    assert verbs.create(fleet, TENANT, commit=PIN_A, wait=False).ok


def _pin(commit: str | None):
    def act(fleet: Fleet):
        mf.set_gateway_commit(fleet.tenants_dir / f"{TENANT}.yaml", commit)
        return apply_pass(fleet)
    return act


def _scheduled(world: World) -> None:
    _created(world)
    verbs.delete(world.fleet()[0], TENANT)


def _railway_deleting(world: World) -> None:
    """Deadline passed and the passes handed the project to Railway's own scheduled delete."""
    _created(world)
    mf.set_tombstone(world.manifest_path(), world.clock.now() - timedelta(days=8), grace_days=7)
    converge(world.fleet()[0])
    [tenant] = [p for p in world.emu.snapshot()["projects"] if p["name"] == f"luthien-{TENANT}"]
    assert tenant["deletedAt"] is not None


def _cancel_then_delete(fleet: Fleet):
    """A cancel and a new delete (deadline ahead) merged before any pass ran: the project in
    Railway's scheduled delete must come back, or Railway removes it 48 h on, days early."""
    path = fleet.tenants_dir / f"{TENANT}.yaml"
    mf.clear_tombstone(path)
    return verbs.delete(fleet, TENANT)


def _set_variables(fleet: Fleet, variables: dict[str, str]) -> None:
    path = fleet.tenants_dir / f"{TENANT}.yaml"
    spec = mf.load_tenant_file(path).manifest
    gateway = spec.gateway.model_copy(update={"variables": variables})
    path.write_text(mf.render_manifest(spec.model_copy(update={"gateway": gateway})))


def _edit_variables(fleet: Fleet):
    _set_variables(fleet, {"LOG_LEVEL": "debug", "FEATURE": "on"})  # one value changed
    return apply_pass(fleet)


def _drop_variable(fleet: Fleet):
    _set_variables(fleet, {"LOG_LEVEL": "debug"})  # one changed, one removed
    return apply_pass(fleet)


def _edit_source(fleet: Fleet):
    _set_variables(fleet, {"LOG_LEVEL": "debug", "REGION": "eu"})
    mf.set_gateway_source(fleet.tenants_dir / f"{TENANT}.yaml",
                          image="ghcr.io/luthienresearch/luthien-proxy:2.0.0")
    return apply_pass(fleet)


def _expire(fleet: Fleet):
    path = fleet.tenants_dir / f"{TENANT}.yaml"
    mf.set_tombstone(path, fleet.clock.now() - timedelta(days=8), grace_days=7)
    return apply_pass(fleet)


@dataclass(frozen=True)
class Scenario:
    setup: Callable[[World], None] | None
    act: Callable[[Fleet], object]


SCENARIOS = {
    "create": Scenario(None, lambda f: verbs.create(f, TENANT)),
    "redeploy": Scenario(_created, lambda f: verbs.redeploy(f, TENANT)),
    "delete-force": Scenario(_created, lambda f: verbs.delete(f, TENANT, force=True)),
    "delete": Scenario(_created, lambda f: verbs.delete(f, TENANT)),
    "cancel-delete": Scenario(_scheduled, lambda f: verbs.cancel_delete(f, TENANT)),
    "cancel-railway-delete": Scenario(_railway_deleting,
                                      lambda f: verbs.cancel_delete(f, TENANT)),
    "force-delete-while-railway-deletes": Scenario(
        _railway_deleting, lambda f: verbs.delete(f, TENANT, force=True)),
    "delete-again-while-railway-deletes": Scenario(_railway_deleting, _cancel_then_delete),
    "edit-variables": Scenario(_created_with_variables, _edit_variables),
    "drop-variable": Scenario(_created_with_variables, _drop_variable),
    "edit-source": Scenario(_created_with_variables, _edit_source),
    "deadline-passed": Scenario(_created, _expire),
    "create-pinned": Scenario(None, lambda f: verbs.create(f, TENANT, commit=PIN_A)),
    "pin": Scenario(_created, _pin(PIN_A)),
    "pin-bump": Scenario(_created_pinned, _pin(PIN_B)),
    "unpin": Scenario(_created_pinned, _pin(None)),
    "redeploy-pinned": Scenario(_created_pinned, lambda f: verbs.redeploy(f, TENANT)),
}


def clean_calls(name: str, root: Path) -> int:
    """How many Railway calls the scenario's act makes when nothing goes wrong."""
    world = World(root)
    scenario = SCENARIOS[name]
    if scenario.setup:
        scenario.setup(world)
    fleet, transport = world.fleet()
    scenario.act(fleet)
    return transport.calls


def kill_points(metafunc: pytest.Metafunc, fixture: str, scenarios: Iterable[str],
                clean_calls: Callable[[str, Path], int]) -> None:
    """Parametrize `fixture` with (scenario, N) for every Railway call N a clean run of the
    scenario makes: the pass is killed right after that call."""
    if fixture not in metafunc.fixturenames:
        return
    import tempfile

    cases = []
    for name in scenarios:
        with tempfile.TemporaryDirectory() as root:
            count = clean_calls(name, Path(root))
        cases += [pytest.param((name, n), id=f"{name}-{n}") for n in range(1, count + 1)]
    metafunc.parametrize(fixture, cases)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    kill_points(metafunc, "case", SCENARIOS, clean_calls)


# --- the matrix -----------------------------------------------------------------------------------


def test_next_pass_converges_after_a_crash_at_this_call(case, tmp_path: Path) -> None:
    name, n = case
    world = World(tmp_path)
    scenario = SCENARIOS[name]
    if scenario.setup:
        scenario.setup(world)
    before = {p["id"]: t for t, ps in live_by_tenant(world.emu.snapshot()).items() for p in ps}
    deploys_before = _gateway_deploys(world)

    dying, transport = world.fleet(die_after=n)
    with pytest.raises(Killed):
        scenario.act(dying)
    assert transport.calls == n

    world.clock.advance(hours=NEXT_PASS_HOURS)
    fleet, _ = world.fleet()
    converge(fleet)

    snapshot, manifests, now = world.emu.snapshot(), world.manifests(), world.clock.now()
    assert fleet_violations(snapshot, manifests, now, spy=world.spy) == []
    assert deletion_violations(before, snapshot, manifests, now) == []
    _assert_intent_honoured(name, world, snapshot, deploys_before)


def _assert_intent_honoured(name: str, world: World, snapshot: dict, deploys_before: int) -> None:
    """What the manifest says now (the edit may or may not have happened before the crash) is
    what Railway shows: the tombstone's kind of deletion, or a live project."""
    projects = [p for p in snapshot["projects"] if p["name"] == f"luthien-{TENANT}"]
    path = world.manifest_path()
    spec = mf.load_tenant_file(path).manifest if path.exists() else None
    if spec is None:
        assert projects == [], "no manifest (never written, or removed by a finished delete)"
    elif spec.deletion and spec.deletion.force:
        assert projects == [], "a forced delete removes the project at once"
    elif spec.deletion and world.clock.now() >= spec.deletion.deadline:
        assert [p["deletedAt"] is not None for p in projects] == [True], (
            "a passed deadline goes through Railway's scheduled delete")
    else:
        assert [p["deletedAt"] for p in projects] == [None]
    if name.startswith("redeploy") and spec.redeploy:
        assert _gateway_deploys(world) > deploys_before, "the redeploy never happened"
    if spec is not None and projects and projects[0]["deletedAt"] is None:
        _assert_version(spec, projects[0])


def _assert_version(spec: mf.TenantManifest, project: dict) -> None:
    """A pinned gateway runs its pin and has no trigger; a branch follower has its trigger."""
    [gateway] = [s for s in project["services"] if s["name"] == "gateway"]
    if spec.gateway.commit:
        assert gateway["triggers"] == [], "a push would deploy a pinned gateway"
        assert gateway["deployments"][-1].get("commitHash") == spec.gateway.commit
    elif spec.gateway.repo:
        assert [t["branch"] for t in gateway["triggers"]] == [spec.gateway.branch]


def _gateway_deploys(world: World) -> int:
    return sum(
        len(service["deployments"])
        for project in world.emu.snapshot()["projects"]
        for service in project["services"]
        if service["name"] == "gateway"
    )


def test_every_scenario_makes_calls_and_converges_untouched(tmp_path: Path) -> None:
    """The baseline the matrix kills: each scenario alone converges, with no violation."""
    for name, scenario in SCENARIOS.items():
        (tmp_path / name).mkdir()
        world = World(tmp_path / name)
        if scenario.setup:
            scenario.setup(world)
        fleet, transport = world.fleet()
        result = scenario.act(fleet)
        assert transport.calls > 0
        ok = result.ok if hasattr(result, "ok") else result.converged and not result.failed
        assert ok, f"{name}: the act itself did not converge"
        if not fleet.plan().empty:
            converge(fleet)  # a passed deadline the act announced: the next pass deletes
        snapshot = world.emu.snapshot()
        assert fleet_violations(snapshot, world.manifests(), world.clock.now(),
                                spy=world.spy) == [], name
