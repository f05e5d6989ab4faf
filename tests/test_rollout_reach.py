"""What a rollout has not reached stays on its old version, end to end on the in-process
emulator: a redeploy of a channel tenant the rollout has not reached (its wave has not started,
or the rollout is halted) redeploys the version it runs, never the channel's new one; a new
tenant of a channel whose rollout is under way or halted is created on the version the channel's
tenants ran before it, then joins the rollout in its wave; and a gate that times out (the
deployment still DEPLOYING) halts the rollout for every later pass, plan, apply and
`rollout status` alike."""

from __future__ import annotations

import json

import pytest

from saas_infra.emulator import Emulator
from saas_infra.plan import ActionKind, Create, Redeploy
from saas_infra.reconcile import Fleet, apply_pass
from saas_infra.render import plan_markdown, plan_text
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

SLOW = "4" * 40  # its deployment stays DEPLOYING past a short gate (Railway's own check hangs)


@pytest.fixture(autouse=True)
def slow_commit(emu: Emulator) -> None:
    emu.set_commit_outcome(REPO, SLOW, "unhealthy")


@pytest.fixture
def rolled(fleet: Fleet, emu: Emulator) -> Fleet:
    """Four tenants of channel stable on V1 (delta the canary); the gate probes the emulator."""
    return converged_channel(fleet, emu, fleet_yaml(V1))


@pytest.fixture
def halted(rolled: Fleet, emu: Emulator) -> Fleet:
    """stable bumped to BAD: the canary delta crashed and went back to V1; the rollout halted."""
    set_fleet(rolled, fleet_yaml(BAD))
    [failed] = apply_pass(rolled).failed
    assert failed.tenant == "delta"
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert {running(emu, t) for t in TENANTS} == {V1}
    return rolled


def gateway_status(emu: Emulator, tenant: str) -> str:
    [project] = [p for p in emu.snapshot()["projects"]
                 if p["name"] == f"luthien-{tenant}" and p["deletedAt"] is None]
    [service] = [s for s in project["services"] if s["name"] == "gateway"]
    return service["deployments"][-1]["status"]


def test_a_redeploy_of_a_tenant_a_halted_rollout_has_not_reached_redeploys_its_running_version(
        halted: Fleet, emu: Emulator, run_cli):
    before = deployed(emu, "gamma")
    result = run_cli("redeploy", "gamma", "--no-wait")  # exits 1: the rollout stays halted
    assert "gamma: deploy requested" in result.output, result.output
    halted.clock.advance(minutes=SETTLE_MINUTES)
    assert deployed(emu, "gamma") == [*before, V1]  # redeployed, on what it ran
    assert halted.observe().tenant_project("gamma").marker.redeploy is not None  # done


def test_a_redeploy_plan_says_it_keeps_the_running_version_while_the_rollout_has_not_reached_it(
        rolled: Fleet, emu: Emulator, run_cli):
    set_fleet(rolled, fleet_yaml(V2, advance="wave"))
    apply_pass(rolled)  # the canary delta on V2; alpha, beta, gamma wait for their waves
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert [running(emu, t) for t in TENANTS] == [V1, V1, V2, V1]
    for name in ("gamma", "delta"):
        assert run_cli("redeploy", name, "--no-apply").exit_code == 0
    plan = rolled.plan()
    by_tenant = {a.tenant: a for a in plan.actions if isinstance(a.change, Redeploy)}
    assert by_tenant["gamma"].change.commit == V1  # wave 3 has not started: what it runs
    assert "of the commit it runs, 111111111111" in by_tenant["gamma"].reason
    assert "waits for wave 3" in by_tenant["gamma"].reason
    assert by_tenant["delta"].change.commit == V2  # reached: the channel's version, as before
    before = deployed(emu, "gamma")
    apply_pass(rolled)  # the redeploys, and wave 2 (alpha): its soak is over
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert [running(emu, t) for t in TENANTS] == [V2, V1, V2, V1]
    assert deployed(emu, "gamma") == [*before, V1]


def test_a_new_tenant_of_a_halted_channel_is_created_on_the_old_version(halted: Fleet,
                                                                        emu: Emulator):
    (halted.tenants_dir / "epsilon.yaml").write_text("version: 1\nname: epsilon\n")
    plan = halted.plan()
    [create] = [a for a in plan.actions if a.kind is ActionKind.CREATE]
    assert create.tenant == "epsilon" and isinstance(create.change, Create)
    assert create.change.source.commit == V1
    assert "111111111111" in create.reason and "halted" in create.reason
    text = "\n".join(line for line, _ in plan_text(plan))
    # the rollout view names it as new, on the version it is created on, never as old
    [wave] = [line for line in text.splitlines() if line.startswith("  wave ") and "epsilon" in line]
    assert wave.endswith("; new (created on 111111111111): epsilon"), wave
    assert "old version: epsilon" not in text and "epsilon," not in wave
    markdown = plan_markdown(plan)
    assert "| old version | new |" in markdown
    assert "| `epsilon` (created on 111111111111) |" in markdown
    report = apply_pass(halted)
    assert report.halted and not [o for o in report.failed if o.tenant == "epsilon"]
    halted.clock.advance(minutes=SETTLE_MINUTES)
    assert running(emu, "epsilon") == V1 and BAD not in deployed(emu, "epsilon")
    later = halted.plan()  # still halted: nobody, epsilon included, gets BAD
    assert later.rollouts[0].halted
    assert not [a for a in later.actions if a.kind is ActionKind.SET_VERSION and a.change.deploy]


def test_a_new_tenant_of_a_channel_mid_rollout_starts_old_and_joins_its_wave(rolled: Fleet,
                                                                           emu: Emulator):
    set_fleet(rolled, fleet_yaml(V2, advance="wave"))
    apply_pass(rolled)  # wave 1 (delta) on V2
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    (rolled.tenants_dir / "epsilon.yaml").write_text("version: 1\nname: epsilon\n")
    plan = rolled.plan()
    [create] = [a for a in plan.actions if a.kind is ActionKind.CREATE]
    assert create.change.source.commit == V1 and "in progress" in create.reason
    apply_pass(rolled)
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert running(emu, "epsilon") == V1
    [view] = rolled.plan().rollouts
    last = view.waves[-1]
    assert "epsilon" in last.old + last.starting  # by name, in the last wave
    # Every later wave (epsilon by name in the last) then goes to V2 through its gate.
    for _ in range(4):
        report = apply_pass(rolled)
        assert not report.failed, [o.error for o in report.failed]
        rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert {running(emu, t) for t in (*TENANTS, "epsilon")} == {V2}
    assert deployed(emu, "epsilon")[-1] == V2 and V1 in deployed(emu, "epsilon")


def test_a_new_tenant_of_a_channel_whose_rollout_is_done_is_created_on_its_version(
        rolled: Fleet, emu: Emulator):
    set_fleet(rolled, fleet_yaml(V2))
    assert not apply_pass(rolled).failed
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    (rolled.tenants_dir / "epsilon.yaml").write_text("version: 1\nname: epsilon\n")
    [create] = [a for a in rolled.plan().actions if a.kind is ActionKind.CREATE]
    assert create.change.source.commit == V2


@pytest.mark.parametrize("on_failure", ["rollback", "hold"])
def test_a_gate_timeout_halts_every_later_pass(rolled: Fleet, emu: Emulator, run_cli,
                                               on_failure: str):
    # Railway's own health check on SLOW hangs for 300 s; the gate gives up after 60.
    set_fleet(rolled, fleet_yaml(SLOW, timeout="1m", on_failure=on_failure))
    report = apply_pass(rolled)
    [failed] = report.failed
    assert failed.tenant == "delta" and report.halted and not report.converged
    assert "timed out" in (failed.error or "") or "within" in (failed.error or ""), failed.error
    statuses = []
    for _ in range(2):  # while SLOW still deploys (held), and after Railway gave up on it
        statuses.append(gateway_status(emu, "delta"))
        plan = rolled.plan()
        assert plan.rollouts[0].halted
        assert any("channel stable: halted: delta (" in w for w in plan.warnings), plan.warnings
        assert not [a for a in plan.actions
                    if a.kind is ActionKind.SET_VERSION and a.change.deploy]
        applied = run_cli("apply", "--yes")
        assert applied.exit_code != 0, applied.output
        assert "halted" in applied.output
        assert "Nothing to do" not in applied.output
        status = run_cli("rollout", "status", "stable")
        assert "HALTED" in status.stdout and "in progress" not in status.stdout
        [channel] = json.loads(run_cli("rollout", "status", "--json").stdout)["channels"]
        assert channel["halted"] and channel["failed"] == ["delta"]
        rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert [running(emu, t) for t in ("alpha", "beta", "gamma")] == [V1, V1, V1]
    if on_failure == "hold":  # the case a marker-less build saw as "in progress"
        assert statuses[0] in ("BUILDING", "DEPLOYING"), statuses
