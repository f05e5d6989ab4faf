"""How a rollout's halt survives, end to end on the in-process emulator: the failure is recorded
in the failed tenant's project marker (`failed=VERSION@TIME:HOW`), so a halt outlives the
newest deployments the fleet listing shows (11 later deployments in the tenant's environment),
holds for a deployment Railway calls SUCCESS whose health path fails the gate, is forgiven by a
resume (and the record cleared once the version runs healthily), and holds when the pass died
between the gate's failure and the marker write (the next pass reads the deployment history,
records the failure and rolls back)."""

from __future__ import annotations

import httpx
import pytest

from saas_infra.emulator import Emulator
from saas_infra.marker import parse_marker
from saas_infra.plan import ActionKind
from saas_infra.railway import operations as ops
from saas_infra.railway.observed import parse_project
from saas_infra.reconcile import Fleet, apply_pass
from tests.test_rollout import (  # noqa: F401  (known_commits: a fixture)
    BAD,
    REPO,
    SETTLE_MINUTES,
    TENANTS,
    V1,
    V2,
    converged_channel,
    deployed,
    fleet_yaml,
    known_commits,
    running,
    set_fleet,
)

LISTED = ops.HISTORY  # the environment's newest deployments the fleet listing carries


@pytest.fixture
def rolled(fleet: Fleet, emu: Emulator) -> Fleet:
    """Four tenants of channel stable on V1 (delta the canary); the gate probes the emulator."""
    return converged_channel(fleet, emu, fleet_yaml(V1))


class Killed(BaseException):
    """The process died. A BaseException, so no `except Exception` in saas-infra swallows it."""


def project_of(emu: Emulator, tenant: str) -> dict:
    [project] = [p for p in emu.snapshot()["projects"]
                 if p["name"] == f"luthien-{tenant}" and p["deletedAt"] is None]
    return project


def recorded(emu: Emulator, tenant: str):
    marker = parse_marker(project_of(emu, tenant)["description"])
    assert marker is not None
    return marker.failed


def redeploy_databases(fleet: Fleet, emu: Emulator, tenant: str, times: int) -> None:
    """`times` later deployments in the tenant's environment: Postgres and Redis redeployed, as
    an operator or a settings change would, none of them the gateway's."""
    project = parse_project(ops.project(fleet.client, project_of(emu, tenant)["id"]))
    assert project.environment_id is not None
    for n in range(times):
        service = project.services["Postgres" if n % 2 else "Redis"]
        ops.redeploy(fleet.client, service_id=service.id, environment_id=project.environment_id)
        fleet.clock.advance(minutes=5)


def gateway_listed(fleet: Fleet, tenant: str) -> list[str | None]:
    """The gateway's deployments in the fleet listing (the newest few of the environment's)."""
    project = fleet.observe().tenant_project(tenant)
    assert project is not None and project.gateway is not None
    return [d.version for d in project.gateway.history or ()]


class BrokenHealthPath(httpx.BaseTransport):
    """The gateways as the gate's probe reaches them, while `broken`: their /health answers 503
    though Railway's own check (another path, or none) passed and reports SUCCESS."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.broken = inner, True

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.broken and request.url.path == "/health":
            return httpx.Response(503, json={"status": "unhealthy"})
        return self.inner.handle_request(request)


def break_health_path(fleet: Fleet, emu: Emulator) -> BrokenHealthPath:
    probed = BrokenHealthPath(emu.transport())
    fleet.health = lambda: httpx.Client(transport=probed)
    fleet.__dict__.pop("_health", None)  # the client an earlier pass made
    return probed


def deploys_of_the_version(plan) -> list[str]:
    return [a.tenant for a in plan.actions
            if a.kind is ActionKind.SET_VERSION and a.change.deploy]


def test_a_halt_survives_more_later_deployments_than_the_listing_shows(rolled: Fleet,
                                                                       emu: Emulator):
    set_fleet(rolled, fleet_yaml(BAD))
    [failed] = apply_pass(rolled).failed
    assert failed.tenant == "delta"
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert running(emu, "delta") == V1  # rolled back
    record = recorded(emu, "delta")
    assert record is not None and record.of(BAD) and record.how == "crashed"
    redeploy_databases(rolled, emu, "delta", LISTED + 1)
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert BAD not in gateway_listed(rolled, "delta")  # the crash is out of the listing's view
    before = {t: deployed(emu, t) for t in TENANTS}
    plan = rolled.plan()
    assert plan.rollouts[0].halted and not deploys_of_the_version(plan)
    assert any("delta (crashed, rolled back)" in w for w in plan.warnings)
    later = apply_pass(rolled)
    assert later.halted and not later.converged
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert {t: deployed(emu, t) for t in TENANTS} == before  # nobody deployed on its own


@pytest.mark.parametrize("on_failure", ["rollback", "hold"])
def test_a_success_whose_health_path_fails_halts_and_stays_halted(rolled: Fleet, emu: Emulator,
                                                                 on_failure: str):
    break_health_path(rolled, emu)  # BAD reaches SUCCESS; its /health answers 503
    emu.set_commit_outcome(REPO, BAD, "success")
    set_fleet(rolled, fleet_yaml(BAD, on_failure=on_failure))
    [failed] = apply_pass(rolled).failed
    assert failed.tenant == "delta" and "answered 503" in (failed.error or "")
    steps = [(s.name, s.result) for s in failed.steps]
    recorded_at = steps.index(("marker", "failure recorded"))
    assert steps[recorded_at - 1] == ("health", "failed")  # written first, before any rollback
    assert (("rollback", "requested") in steps[recorded_at:]) == (on_failure == "rollback")
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    record = recorded(emu, "delta")
    assert record is not None and record.of(BAD) and record.how == "unhealthy"
    assert running(emu, "delta") == (V1 if on_failure == "rollback" else BAD)
    assert "FAILED" not in {d["status"] for d in
                            next(s for s in project_of(emu, "delta")["services"]
                                 if s["name"] == "gateway")["deployments"]}
    before = {t: deployed(emu, t) for t in TENANTS}
    for _ in range(2):  # later passes: the halt is read back from the marker
        plan = rolled.plan()
        assert plan.rollouts[0].halted and not plan.actions
        assert any("delta (health check did not answer 200" in w for w in plan.warnings)
        assert apply_pass(rolled).halted
        rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert {t: deployed(emu, t) for t in TENANTS} == before


def test_a_resume_forgives_the_record_which_the_pass_clears_once_the_version_succeeds(
        rolled: Fleet, emu: Emulator, run_cli, runtime):
    emu.set_commit_outcome(REPO, BAD, "success")
    probed = break_health_path(rolled, emu)
    set_fleet(rolled, fleet_yaml(BAD))
    apply_pass(rolled)
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert recorded(emu, "delta") is not None and running(emu, "delta") == V1
    probed.broken = False  # fixed outside the code
    runtime.clock = rolled.clock
    assert run_cli("rollout", "resume", "stable").exit_code == 0
    plan = rolled.plan()
    assert deploys_of_the_version(plan) == ["delta"] and not plan.rollouts[0].halted
    report = apply_pass(rolled)
    assert not report.failed, [o.error for o in report.failed]
    assert {running(emu, t) for t in TENANTS} == {BAD}
    assert recorded(emu, "delta") is None  # cleared by the pass, once delta ran BAD healthily
    cleared = [a for a in report.plan.actions if a.kind is ActionKind.RECORD_FAILURE]
    assert [a.tenant for a in cleared] == ["delta"] and "no longer halts" in cleared[0].reason
    marker = parse_marker(project_of(emu, "delta")["description"])
    assert marker is not None and marker.tenant == "delta"
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert rolled.plan().empty


def test_a_pass_killed_between_the_gate_failure_and_the_record_still_halts(
        rolled: Fleet, emu: Emulator, monkeypatch):
    writes = ops.project_set_description

    def dies_at_the_record(client, project_id: str, description: str) -> None:
        marker = parse_marker(description)
        if marker is not None and marker.failed is not None:
            raise Killed("died before the failure record was written")
        writes(client, project_id, description)

    set_fleet(rolled, fleet_yaml(BAD))
    monkeypatch.setattr(ops, "project_set_description", dies_at_the_record)
    with pytest.raises(Killed):
        apply_pass(rolled)
    monkeypatch.setattr(ops, "project_set_description", writes)
    rolled.clock.advance(hours=1)  # the next scheduled pass: the dead pass's lock lease is over
    assert recorded(emu, "delta") is None and running(emu, "delta") == BAD  # not rolled back
    plan = rolled.plan()  # the crash still shows in the deployment history
    assert plan.rollouts[0].halted and not deploys_of_the_version(plan)
    kinds = [(a.tenant, a.kind) for a in plan.actions]
    assert kinds == [("delta", ActionKind.RECORD_FAILURE), ("delta", ActionKind.ROLLBACK)]
    report = apply_pass(rolled)
    assert not report.failed and report.halted
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert running(emu, "delta") == V1
    record = recorded(emu, "delta")
    assert record is not None and record.of(BAD) and record.how == "crashed"
    redeploy_databases(rolled, emu, "delta", LISTED + 1)  # and it outlives that history now
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    plan = rolled.plan()
    assert plan.rollouts[0].halted and not plan.actions
