"""Crash at every step of a rollout (in the style of test_crash_matrix.py): a channel bumped on
four tenants (canary delta, waves of 1, 1 and 2) is rolled out by passes that die right after
their n-th Railway call (it took effect, its answer is lost, nothing after it runs), for every n
a clean rollout makes, with `advance: all` (one pass) and `advance: wave` (a pass per wave). The
next scheduled passes must continue it: every tenant ends on the new commit with no trigger,
no tenant is deployed twice, no tenant of a wave is deployed before the wave before it was
healthy and soaked, and a crashing version's halt is never lost: it stays halted with the
canary rolled back and nobody else touched.

The test ids are `<scenario>-<n>`; n runs over every call of a clean run of that scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from saas_infra.clock import FakeClock
from saas_infra.emulator import Emulator
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.reconcile import Fleet, apply_pass
from saas_infra.rollout import ChannelRollout
from tests.chaos_checks import DeploySpy
from tests.conftest import START
from tests.test_crash_matrix import NEXT_PASS_HOURS, DyingTransport, Killed, kill_points
from tests.test_rollout import BAD, REPO, TENANTS, V1, V2, fleet_yaml

SOAK_MINUTES = 10  # fleet_yaml's soak
WAVES = [["delta"], ["alpha"], ["beta", "gamma"]]  # canary first, then by name
MAX_PASSES = 6  # a rollout of three waves needs at most this many passes to end


class World:
    """One emulated Railway, a tenants folder and fleet.yaml; fleets on it share the clock."""

    def __init__(self, root: Path) -> None:
        self.clock = FakeClock(START)
        self.emu = Emulator(clock=self.clock, seed=11)
        self.spy = DeploySpy()
        self.root = root
        self.tenants = root / "tenants"
        self.tenants.mkdir()
        for sha in (V1, V2):
            self.emu.set_commit_outcome(REPO, sha, "success")
        self.emu.set_commit_outcome(REPO, BAD, "crashes")

    def fleet(self, die_after: int | None = None) -> tuple[Fleet, DyingTransport]:
        transport = DyingTransport(self.emu.transport(), self.spy, die_after)
        client = RailwayClient(self.emu.account_token, transport=transport,
                               retry=RetryPolicy(sleep=self.clock.sleep),
                               pacer=Pacer.unlimited(clock=self.clock), clock=self.clock)
        fleet = Fleet(client=client, clock=self.clock, tenants_dir=self.tenants)
        fleet.health = lambda: httpx.Client(transport=self.emu.transport())
        return fleet, transport

    def set_fleet(self, text: str) -> None:
        (self.root / "fleet.yaml").write_text(text)

    def rollout(self) -> ChannelRollout:
        fleet, _ = self.fleet()
        [rollout] = fleet.rollouts(fleet.load(), fleet.observe())
        return rollout

    def gateways(self) -> dict[str, dict]:
        found = {}
        for project in self.emu.snapshot()["projects"]:
            if project["deletedAt"] is None and project["name"].startswith("luthien-"):
                [gateway] = [s for s in project["services"] if s["name"] == "gateway"]
                found[project["name"].removeprefix("luthien-")] = gateway
        return found

    def deployments_of(self, version: str) -> dict[str, list]:
        """Tenant -> its deployments (emulator state) of `version`, oldest first."""
        names = {p.id: p.name.removeprefix("luthien-") for p in self.emu.state.projects.values()}
        found: dict[str, list] = {}
        for deployment in self.emu.state.deployments.values():
            if deployment.meta.get("commitHash") == version:
                found.setdefault(names[deployment.project_id], []).append(deployment)
        return {t: sorted(ds, key=lambda d: d.created) for t, ds in found.items()}


def on_v1(world: World) -> None:
    """Four tenants of channel stable running V1, settled."""
    world.set_fleet(fleet_yaml(V1))
    for name in TENANTS:
        (world.tenants / f"{name}.yaml").write_text(f"version: 1\nname: {name}\n")
    report = apply_pass(world.fleet()[0])
    assert not report.failed, [o.error for o in report.failed]
    world.clock.advance(minutes=15)


def passes(fleet: Fleet, clock: FakeClock, count: int = MAX_PASSES) -> None:
    """Scheduled passes, a soak apart, until the rollout has nothing left to do."""
    for _ in range(count):
        apply_pass(fleet)
        clock.advance(minutes=SOAK_MINUTES + 1)
        [rollout] = fleet.rollouts(fleet.load(), fleet.observe())
        if rollout.done or rollout.halted:
            return


@dataclass(frozen=True)
class Scenario:
    version: str  # the channel's new version
    advance: str  # all: one pass; wave: a pass per wave

    def act(self, world: World, fleet: Fleet) -> None:
        world.set_fleet(fleet_yaml(self.version, advance=self.advance))
        if self.advance == "all":
            apply_pass(fleet)
        else:
            passes(fleet, world.clock)


SCENARIOS = {
    "all": Scenario(V2, "all"),
    "wave": Scenario(V2, "wave"),
    "crash-all": Scenario(BAD, "all"),
    "crash-wave": Scenario(BAD, "wave"),
}


def clean_calls(name: str, root: Path) -> int:
    world = World(root)
    on_v1(world)
    fleet, transport = world.fleet()
    SCENARIOS[name].act(world, fleet)
    return transport.calls


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    kill_points(metafunc, "rollout_case", SCENARIOS, clean_calls)


# --- what a finished rollout must look like ------------------------------------------------------


def violations_done(world: World) -> list[str]:
    """Every tenant on V2 (SUCCESS, no trigger), each deployed once, waves in order and soaked."""
    problems = []
    for name, gateway in world.gateways().items():
        latest = gateway["deployments"][-1]
        if latest.get("commitHash") != V2 or latest["status"] != "SUCCESS":
            problems.append(f"{name} runs {latest.get('commitHash')} ({latest['status']})")
        if gateway["triggers"]:
            problems.append(f"{name} has a trigger: a push would deploy it")
    deployed = world.deployments_of(V2)
    problems += [f"{name} deployed {len(ds)} times" for name, ds in deployed.items()
                 if len(ds) > 1]
    return problems + wave_order(deployed)


def wave_order(deployed: dict[str, list]) -> list[str]:
    """No tenant of a wave deployed before every tenant of the wave before it was healthy
    (its deployment done) and soaked."""
    problems = []
    soak = SOAK_MINUTES * 60
    for earlier, later in zip(WAVES, WAVES[1:], strict=False):
        if not all(name in deployed for name in earlier):
            problems += [f"{name} of a later wave deployed while {earlier} was not"
                         for name in later if name in deployed]
            continue
        healthy = max(deployed[n][0].created + deployed[n][0].duration for n in earlier)
        problems += [f"{name} deployed {healthy + soak - deployed[name][0].created:.0f} s before "
                     f"wave {earlier} was healthy and soaked"
                     for name in later if name in deployed
                     and deployed[name][0].created < healthy + soak]
    return problems


def violations_halted(world: World) -> list[str]:
    """Halted after the canary: delta crashed on BAD and is back on V1, no one else has BAD."""
    rollout = world.rollout()
    problems = [] if rollout.halted else [f"the rollout is not halted: {rollout.reason}"]
    bad = world.deployments_of(BAD)
    if sorted(bad) != ["delta"] or len(bad["delta"]) != 1:
        problems.append(f"BAD deployed to {[(t, len(ds)) for t, ds in bad.items()]}")
    latest = world.gateways()["delta"]["deployments"][-1]
    if latest.get("commitHash") != V1 or latest["status"] != "SUCCESS":
        problems.append(f"delta not rolled back: runs {latest.get('commitHash')} "
                        f"({latest['status']})")
    return problems


# --- the matrix -------------------------------------------------------------------------------


def test_a_new_pass_continues_a_rollout_killed_at_this_call(rollout_case, tmp_path: Path):
    name, n = rollout_case
    scenario = SCENARIOS[name]
    world = World(tmp_path)
    on_v1(world)

    dying, transport = world.fleet(die_after=n)
    with pytest.raises(Killed):
        scenario.act(world, dying)
    assert transport.calls == n

    world.clock.advance(hours=NEXT_PASS_HOURS)  # the dead pass's lock lease has run out
    fleet, _ = world.fleet()
    if scenario.version == V2:
        passes(fleet, world.clock, 1 if scenario.advance == "all" else MAX_PASSES)
        assert world.rollout().done, world.rollout().reason
        assert violations_done(world) == []
    else:
        passes(fleet, world.clock)
        assert violations_halted(world) == []
        count = len(world.emu.state.deployments)
        passes(fleet, world.clock, 2)  # a halt holds: later passes deploy nothing
        assert len(world.emu.state.deployments) == count
        assert violations_halted(world) == []


def test_each_scenario_ends_as_expected_when_nothing_dies(tmp_path: Path):
    """The baseline the matrix kills, and a check that the checks can fail."""
    for name, scenario in SCENARIOS.items():
        (tmp_path / name).mkdir()
        world = World(tmp_path / name)
        on_v1(world)
        fleet, transport = world.fleet()
        scenario.act(world, fleet)
        assert transport.calls > 0
        world.clock.advance(minutes=15)  # a rollback requested last has finished
        if scenario.version == V2:
            assert world.rollout().done, name
            assert violations_done(world) == [], name
        else:
            assert violations_halted(world) == [], name
    # Deploying wave 3 at once on a fresh world breaks the wave order, and is seen.
    assert wave_order({"delta": [_Dep(0, 60)], "alpha": [_Dep(100, 60)]}) != []
    assert wave_order({"delta": [_Dep(0, 60)], "alpha": [_Dep(700, 60)]}) == []


@dataclass
class _Dep:
    created: float
    duration: float

