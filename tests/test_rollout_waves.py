"""A rollout's wave at scale: every tenant of a wave deploys before the wave's health gate
waits, so a wave takes one deploy time whatever its size and the pass's concurrency; the gate
reads the fleet listing once per look for the whole wave (a query per tenant only when that is
cheaper); and a pinned tenant the plan saw without GitHub triggers is not asked for them again.
(scripts/bench.py (f) measures the same at 1,000 tenants.)"""

from __future__ import annotations

import httpx
import pytest

from saas_infra.emulator import Emulator
from saas_infra.reconcile import Fleet, apply_pass
from tests.test_rollout import REPO, V1, V2, running, set_fleet

NAMES = [f"t{i:02d}" for i in range(12)]  # waves of 1, 5 and 6 tenants


def fleet_yaml(version: str) -> str:
    return f"""\
version: 1
defaults:
  channel: stable
  gateway: {{repo: {REPO}}}
channels:
  stable: {{commit: '{version}'}}
rollout:
  waves: [1, "50%", "100%"]
  health: {{path: /health, timeout: 5m}}
  soak: 10m
  on_failure: rollback
  advance: all
"""


@pytest.fixture
def twelve(fleet: Fleet, emu: Emulator) -> Fleet:
    for sha in (V1, V2):
        emu.set_commit_outcome(REPO, sha, "success")
    fleet.health = lambda: httpx.Client(transport=emu.transport())
    set_fleet(fleet, fleet_yaml(V1))
    for name in NAMES:
        (fleet.tenants_dir / f"{name}.yaml").write_text(f"version: 1\nname: {name}\n")
    assert not apply_pass(fleet).failed
    fleet.clock.advance(minutes=15)
    assert fleet.plan().empty
    return fleet


def new_deployments(emu: Emulator, before: set[str]) -> dict[str, float]:
    """Tenant -> when its deployment of this pass was created (emulator time)."""
    names = {p.id: p.name.removeprefix("luthien-") for p in emu.state.projects.values()}
    return {names[d.project_id]: d.created for key, d in emu.state.deployments.items()
            if key not in before}


def test_a_wave_deploys_all_its_tenants_before_its_gate_waits(twelve: Fleet, emu: Emulator):
    """With two workers, a gate per tenant deployed a wave's tenants two at a time, one deploy
    time apart; the wave's gate sees them all deployed at the same moment."""
    twelve.concurrency = 2
    set_fleet(twelve, fleet_yaml(V2))
    before = set(emu.state.deployments)
    report = apply_pass(twelve)
    assert not report.failed, [o.error for o in report.failed]
    assert {running(emu, name) for name in NAMES} == {V2}
    created = new_deployments(emu, before)
    assert sorted(created) == NAMES  # each tenant deployed once
    second, third = NAMES[1:6], NAMES[6:]
    assert len({created[n] for n in second}) == 1, {n: created[n] for n in second}
    assert len({created[n] for n in third}) == 1, {n: created[n] for n in third}


def test_a_wave_gate_reads_the_listing_not_each_tenants_deployments(twelve: Fleet,
                                                                    emu: Emulator):
    """A gate per tenant asked each of the 12 for its deployments at least once; now only the
    canary (a wave of one, cheaper than a listing) is asked, the waves of 5 and 6 are seen in
    the fleet listing (one page here) at each look."""
    set_fleet(twelve, fleet_yaml(V2))
    history, listing = emu.counts["DeploymentHistory"], emu.counts["Fleet"]
    report = apply_pass(twelve)
    assert not report.failed
    assert 1 <= emu.counts["DeploymentHistory"] - history <= 2
    assert emu.counts["Fleet"] > listing
    assert {running(emu, name) for name in NAMES} == {V2}


def test_a_pin_without_triggers_is_not_asked_for_them_again(twelve: Fleet, emu: Emulator):
    set_fleet(twelve, fleet_yaml(V2))
    before = emu.counts["DeploymentTriggers"]
    report = apply_pass(twelve)
    assert not report.failed
    assert emu.counts["DeploymentTriggers"] == before
    steps = [s for o in report.outcomes for s in o.steps if s.name == "trigger"]
    assert len(steps) == len(NAMES) and {s.result for s in steps} == {"none"}


def test_a_lock_lost_while_a_wave_gate_waits_fails_its_tenants_and_stops_the_pass(
        twelve: Fleet, emu: Emulator, client, clock):
    """The gate checks the fleet lock between looks: once another pass holds it, the tenants
    still waiting fail with the loss (the pass's report keeps them) and no wave starts."""
    from tests.test_lock import LOST, take_over

    set_fleet(twelve, fleet_yaml(V2))
    taken = []

    def progress(tenant, step, state):
        if (tenant, step, state) == ("t00", "deploy", "requested") and not taken:
            taken.append(take_over(client, emu, clock))

    report = apply_pass(twelve, progress=progress)
    assert report.lost == LOST and not report.converged
    assert [(o.tenant, o.ok, o.error) for o in report.outcomes] == [("t00", False, LOST)]
    assert running(emu, "t00") == V2  # its deploy was requested before the loss
    assert {running(emu, name) for name in NAMES[1:]} == {V1}
