"""A channel that pins an image rolls out exactly as one that pins a commit, end to end on the
in-process emulator: the new image (a source change, serviceConnect) reaches only the wave that
may start, through its health gate; a crashing image halts after the canary, which is rolled
back, and no other tenant gets it; a redeploy of a tenant the rollout has not reached keeps the
image it runs; a new tenant mid-rollout is created on the image the others ran before."""

from __future__ import annotations

import json

import pytest

from saas_infra.emulator import Emulator
from saas_infra.plan import ActionKind, Create, Plan, Redeploy, UpdateSource
from saas_infra.reconcile import Fleet, apply_pass
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
    for name in ("gamma", "delta"):  # delta: rolled back, its source still names BAD
        assert run_cli("redeploy", name, "--no-apply").exit_code == 0
    plan = halted.plan()
    by_tenant = {a.tenant: a for a in plan.actions if isinstance(a.change, Redeploy)}
    assert set(by_tenant) == {"gamma", "delta"}
    assert by_tenant["delta"].change.image == I1
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
