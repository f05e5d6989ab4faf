"""A channel that pins an image rolls out exactly as one that pins a commit, end to end on the
in-process emulator: the new image (a source change, serviceConnect) reaches only the wave that
may start, through its health gate; a crashing image halts after the canary, which is rolled
back (its source set back to the image it runs, so no later deploy takes the failed one, and a
pass killed before that is repaired by the next), and no other tenant gets it; a redeploy of a
tenant the rollout has not reached keeps the image it runs; a new tenant mid-rollout is created
on the image the others ran before."""

from __future__ import annotations

import json

import httpx
import pytest

from saas_infra.emulator import Emulator
from saas_infra.plan import ActionKind, Create, Plan, Redeploy, UpdateSource
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.reconcile import Fleet, apply_pass
from tests.test_crash_matrix import NEXT_PASS_HOURS, Killed
from tests.test_rollout import SETTLE_MINUTES, TENANTS, converged_channel, set_fleet

REGISTRY = "ghcr.io/luthienresearch/luthien-proxy@sha256:"
I1, I2, BAD = REGISTRY + "a" * 64, REGISTRY + "b" * 64, REGISTRY + "c" * 64


def fleet_yaml(image: str, *, advance: str = "all", on_failure: str = "rollback") -> str:
    return f"""\
version: 1
defaults:
  channel: stable
  gateway: {{}}
channels:
  stable:
    image: '{image}'
rollout:
  waves: [1, "50%", "100%"]
  canary: [delta]
  health: {{path: /health, timeout: 5m}}
  soak: 10m
  max_failed: 0
  on_failure: {on_failure}
  advance: {advance}
"""


@pytest.fixture(autouse=True)
def known_images(emu: Emulator) -> None:
    for image in (I1, I2):
        emu.set_image_outcome(image, "success")
    emu.set_image_outcome(BAD, "crashes")


def _gateway(emu: Emulator, tenant: str) -> dict:
    [project] = [p for p in emu.snapshot()["projects"]
                 if p["name"] == f"luthien-{tenant}" and p["deletedAt"] is None]
    [service] = [s for s in project["services"] if s["name"] == "gateway"]
    return service


def images(emu: Emulator, tenant: str) -> list[str | None]:
    """The image of each of the tenant's gateway deployments, oldest first."""
    return [d.get("image") for d in _gateway(emu, tenant)["deployments"]]


def running(emu: Emulator, tenant: str) -> str | None:
    return images(emu, tenant)[-1]


def source_image(emu: Emulator, tenant: str) -> str | None:
    """The image the gateway's source names: what Railway deploys it from."""
    return _gateway(emu, tenant)["source"]["image"]


@pytest.fixture
def rolled(fleet: Fleet, emu: Emulator) -> Fleet:
    """Four tenants of the image channel stable, all on I1 (delta the canary)."""
    converged_channel(fleet, emu, fleet_yaml(I1))
    assert {running(emu, t) for t in TENANTS} == {I1}
    return fleet


@pytest.fixture
def halted(rolled: Fleet, emu: Emulator) -> Fleet:
    """stable bumped to BAD: the canary delta crashed and went back to I1; the rollout halted."""
    set_fleet(rolled, fleet_yaml(BAD))
    report = apply_pass(rolled)
    [failed] = report.failed
    assert failed.tenant == "delta" and report.halted
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    return rolled


def test_a_bumped_image_channel_plans_only_the_canary_s_image_change_gated(rolled: Fleet):
    set_fleet(rolled, fleet_yaml(I2))
    plan = rolled.plan()
    [action] = plan.actions
    assert action.tenant == "delta" and isinstance(action.change, UpdateSource)
    assert action.change.source.image == I2
    assert action.change.gate is not None and action.change.gate.version == I2
    assert action.change.gate.rollback and "wave 1 of 3" in action.reason
    assert Plan.from_json(plan.to_json()).actions == plan.actions  # a saved plan keeps the gate
    [view] = plan.rollouts
    assert [w.starting for w in view.waves] == [("delta",), (), ()]
    assert [w.old for w in view.waves] == [(), ("alpha",), ("beta", "gamma")]


def test_a_bumped_image_channel_rolls_out_wave_by_wave_and_ends_on_the_new_image(
        rolled: Fleet, emu: Emulator):
    set_fleet(rolled, fleet_yaml(I2, advance="wave"))
    first = apply_pass(rolled)
    assert not first.failed, [o.error for o in first.failed]
    steps = {o.tenant: [(s.name, s.result) for s in o.steps] for o in first.outcomes}
    assert ("health", "passed") in steps["delta"]
    assert [running(emu, t) for t in TENANTS] == [I1, I1, I2, I1]
    assert rolled.plan().empty  # soaking: nothing starts yet
    rolled.clock.advance(minutes=11)
    second = apply_pass(rolled)
    assert [a.tenant for a in second.plan.actions] == ["alpha"]
    assert [running(emu, t) for t in TENANTS] == [I2, I1, I2, I1]
    rolled.clock.advance(minutes=11)
    third = apply_pass(rolled)
    assert [a.tenant for a in third.plan.actions] == ["beta", "gamma"]
    assert not third.failed and third.converged
    assert {running(emu, t) for t in TENANTS} == {I2}
    for name in TENANTS:  # each deployed the new image once, after the old
        assert images(emu, name)[-2:] == [I1, I2] and images(emu, name).count(I2) == 1
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert rolled.plan().empty


def test_a_crashing_image_halts_after_the_canary_which_is_rolled_back(
        halted: Fleet, emu: Emulator, run_cli, runtime):
    assert [running(emu, t) for t in TENANTS] == [I1, I1, I1, I1]  # delta rolled back
    for name in ("alpha", "beta", "gamma"):
        assert BAD not in images(emu, name)
    assert images(emu, "delta")[-2:] == [BAD, I1]
    plan = halted.plan()  # a later pass: the halt is read back from Railway and the marker
    assert plan.rollouts[0].halted
    assert any("delta (crashed, rolled back)" in w for w in plan.warnings), plan.warnings
    assert not [a for a in plan.actions if a.kind in (ActionKind.UPDATE_SOURCE,
                                                      ActionKind.SET_VERSION)]
    assert apply_pass(halted).halted
    halted.clock.advance(minutes=SETTLE_MINUTES)
    for name in ("alpha", "beta", "gamma"):
        assert BAD not in images(emu, name)
    runtime.clock = halted.clock
    status = run_cli("rollout", "status", "stable")
    assert "HALTED" in status.stdout and "delta (crashed, rolled back)" in status.stdout
    [channel] = json.loads(run_cli("rollout", "status", "--json").stdout)["channels"]
    assert channel["halted"] and channel["failed"] == ["delta"]
    assert channel["version"] == BAD


def test_a_resumed_image_rollout_continues(halted: Fleet, emu: Emulator, run_cli, runtime):
    emu.set_image_outcome(BAD, "success")  # the cause was fixed outside the code
    runtime.clock = halted.clock
    assert run_cli("rollout", "resume", "stable").exit_code == 0
    report = apply_pass(halted)
    assert not report.failed, [o.error for o in report.failed]
    assert {running(emu, t) for t in TENANTS} == {BAD}


def test_a_redeploy_of_an_image_tenant_the_rollout_has_not_reached_keeps_its_image(
        halted: Fleet, emu: Emulator, run_cli):
    for name in ("gamma", "delta"):  # delta: rolled back, its source set back to I1
        assert run_cli("redeploy", name, "--no-apply").exit_code == 0
    plan = halted.plan()
    by_tenant = {a.tenant: a for a in plan.actions if isinstance(a.change, Redeploy)}
    assert set(by_tenant) == {"gamma", "delta"}
    assert by_tenant["delta"].change.image is None  # its source names the image it runs
    assert "of the image it runs" in by_tenant["delta"].reason
    before = {t: images(emu, t) for t in ("gamma", "delta")}
    apply_pass(halted)
    halted.clock.advance(minutes=SETTLE_MINUTES)
    for name in ("gamma", "delta"):
        assert images(emu, name) == [*before[name], I1]
        assert halted.observe().tenant_project(name).marker.redeploy is not None  # done
    assert halted.plan().rollouts[0].halted


def test_a_new_tenant_of_an_image_channel_mid_rollout_starts_on_the_old_image(
        rolled: Fleet, emu: Emulator):
    set_fleet(rolled, fleet_yaml(I2, advance="wave"))
    apply_pass(rolled)  # wave 1 (delta) on I2
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    (rolled.tenants_dir / "epsilon.yaml").write_text("version: 1\nname: epsilon\n")
    [create] = [a for a in rolled.plan().actions if a.kind is ActionKind.CREATE]
    assert isinstance(create.change, Create) and create.change.source.image == I1
    apply_pass(rolled)
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert images(emu, "epsilon") == [I1]
    for _ in range(4):
        report = apply_pass(rolled)
        assert not report.failed, [o.error for o in report.failed]
        rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert {running(emu, t) for t in (*TENANTS, "epsilon")} == {I2}


def test_a_rolled_back_image_canary_s_source_names_the_image_it_runs(halted: Fleet, emu: Emulator):
    assert running(emu, "delta") == I1
    assert source_image(emu, "delta") == I1  # not BAD, which its update-source had connected
    assert not [a for a in halted.plan().actions if a.tenant == "delta"]  # nothing to repair
    assert images(emu, "delta")[-2:] == [BAD, I1]


def test_a_variable_change_on_a_rolled_back_image_canary_deploys_the_old_image(
        halted: Fleet, emu: Emulator):
    (halted.tenants_dir / "delta.yaml").write_text(
        "version: 1\nname: delta\ngateway:\n  variables:\n    LOG_LEVEL: debug\n")
    [action] = halted.plan().actions
    assert action.tenant == "delta" and action.kind is ActionKind.SET_VARIABLES
    before = images(emu, "delta")
    report = apply_pass(halted)
    assert not report.failed, [o.error for o in report.failed]
    halted.clock.advance(minutes=SETTLE_MINUTES)
    assert images(emu, "delta") == [*before, I1]  # deployed from its source: the old image
    assert _gateway(emu, "delta")["deployments"][-1]["status"] == "SUCCESS"
    assert halted.plan().rollouts[0].halted
    for name in TENANTS:
        assert images(emu, name).count(BAD) == (1 if name == "delta" else 0)


class _DiesAfterRollback(httpx.BaseTransport):
    """Forwards to the emulator; the process dies right after its deploymentRollback."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.dead = inner, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.dead:
            raise Killed("dead")
        response = self.inner.handle_request(request)
        response.read()
        if b"deploymentRollback" in request.content:
            self.dead = True
            raise Killed("killed right after the rollback")
        return response


def test_a_pass_killed_between_rollback_and_source_reset_is_repaired_without_a_deploy(
        rolled: Fleet, emu: Emulator):
    set_fleet(rolled, fleet_yaml(BAD))
    client = RailwayClient(emu.account_token, transport=_DiesAfterRollback(emu.transport()),
                           retry=RetryPolicy(sleep=rolled.clock.sleep),
                           pacer=Pacer.unlimited(clock=rolled.clock), clock=rolled.clock)
    dying = Fleet(client=client, clock=rolled.clock, tenants_dir=rolled.tenants_dir)
    dying.health = rolled.health
    with pytest.raises(Killed):
        apply_pass(dying)
    rolled.clock.advance(hours=NEXT_PASS_HOURS)  # the dead pass's fleet lock has expired
    assert images(emu, "delta")[-2:] == [BAD, I1] and source_image(emu, "delta") == BAD
    plan = rolled.plan()
    assert plan.rollouts[0].halted
    [reset] = plan.actions
    assert reset.tenant == "delta" and isinstance(reset.change, UpdateSource)
    assert reset.change.source.image == I1 and not reset.change.deploy
    assert Plan.from_json(plan.to_json()).actions == plan.actions
    before = images(emu, "delta")
    report = apply_pass(rolled)
    assert not report.failed, [o.error for o in report.failed]
    assert images(emu, "delta") == before  # no deployment: the source is only set back
    assert source_image(emu, "delta") == I1
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert rolled.plan().empty
    (rolled.tenants_dir / "delta.yaml").write_text(  # and a later deploy takes the old image
        "version: 1\nname: delta\ngateway:\n  variables:\n    LOG_LEVEL: debug\n")
    apply_pass(rolled)
    assert images(emu, "delta") == [*before, I1]


def test_a_failed_image_tenant_within_max_failed_is_not_redeployed_the_failed_image(
        rolled: Fleet, emu: Emulator):
    """A rollout that tolerates a failure goes on past its rolled-back canary, whose source then
    differs from the channel's image: that is no reason to connect the failed image again."""
    set_fleet(rolled, fleet_yaml(BAD, advance="wave").replace("max_failed: 0", "max_failed: 1"))
    report = apply_pass(rolled)
    [failed] = report.failed
    assert failed.tenant == "delta" and not report.halted
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert source_image(emu, "delta") == I1
    plan = rolled.plan()
    assert not [a for a in plan.actions if a.tenant == "delta"], plan.actions
    assert [a.tenant for a in plan.actions] == ["alpha"]  # the next wave, gated
