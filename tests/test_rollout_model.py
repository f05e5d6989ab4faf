"""rollout.py: a channel's rollout state derived from the manifests, the fleet file and the
observed fleet alone (order, waves, tenant states, halts, resumes, soak)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from saas_infra.manifest import LoadedManifest
from saas_infra.manifest.loader import parse_fleet
from saas_infra.marker import FailureRecord, Marker, failure_record
from saas_infra.railway.observed import (
    Observed,
    ObservedDeployment,
    ObservedProject,
    ObservedService,
)
from saas_infra.rollout import Failure, State, derive, order, wave_bounds
from saas_infra.tenancy import GATEWAY

NEW = "b" * 40
OLD = "a" * 40
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def fleet_file(rollout: str = "", resume: str = ""):
    text = (f"version: 1\ndefaults:\n  channel: stable\n  gateway: {{repo: o/r}}\n"
            f"channels:\n  stable:\n    commit: '{NEW}'\n{resume}{rollout}")
    loaded, problems = parse_fleet(text.encode(), "fleet.yaml", Path("fleet.yaml"))
    assert not problems, problems
    assert loaded is not None
    return loaded.fleet


ROLLOUT = """rollout:
  waves: [1, "50%", "100%"]
  canary: [zed]
  soak: 10m
"""


def manifests(*names: str) -> list[LoadedManifest]:
    from saas_infra.manifest.models import TenantManifest

    return [LoadedManifest(TenantManifest.model_validate(
        {"version": 1, "name": n, "channel": "stable",
         "gateway": {"repo": "o/r", "commit": NEW}}), Path(f"{n}.yaml"), "x", channel="stable")
        for n in names]


def dep(i: str, commit: str, status: str, at: datetime) -> ObservedDeployment:
    return ObservedDeployment(i, status, at, commit=commit, status_updated_at=at)


def project(name: str, *history: ObservedDeployment) -> ObservedProject:
    gateway = ObservedService(f"s-{name}", GATEWAY, repo="o/r",
                              deployment=history[0] if history else None, history=history)
    return ObservedProject(f"p-{name}", f"luthien-{name}", None, T0, None, Marker(name), "e",
                           {GATEWAY: gateway})


def observed(*projects: ObservedProject) -> Observed:
    return Observed(tuple(projects))


def test_order_puts_the_canary_first_then_names():
    assert order(["b", "zed", "a"], ["zed", "nobody"]) == ["zed", "a", "b"]


def test_wave_bounds_are_cumulative_and_reach_everyone():
    assert wave_bounds([1, "50%", "100%"], 4) == [1, 2, 4]
    assert wave_bounds([1, "10%", "100%"], 3) == [1, 3]  # a wave that adds nobody is left out
    assert wave_bounds([5, "100%"], 2) == [2]


def test_a_bumped_channel_starts_with_the_canary_wave():
    names = ["a", "b", "c", "zed"]
    seen = observed(*(project(n, dep(f"d-{n}", OLD, "SUCCESS", T0)) for n in names))
    [rollout] = derive(manifests(*names), fleet_file(ROLLOUT), seen, T0)
    assert [[t.name for t in w.tenants] for w in rollout.waves] == [["zed"], ["a"], ["b", "c"]]
    assert rollout.next_wave == 0 and rollout.starting == ["zed"]
    assert not rollout.halted and not rollout.done


def test_the_next_wave_waits_for_the_soak_then_starts():
    names = ["a", "b", "c", "zed"]
    healthy_at = T0 + timedelta(minutes=1)
    seen = observed(project("zed", dep("n", NEW, "SUCCESS", healthy_at)),
                    *(project(n, dep(f"d-{n}", OLD, "SUCCESS", T0)) for n in names[:3]))
    [soaking] = derive(manifests(*names), fleet_file(ROLLOUT), seen, T0 + timedelta(minutes=5))
    assert soaking.next_wave is None and soaking.soak_remaining == timedelta(minutes=6)
    [ready] = derive(manifests(*names), fleet_file(ROLLOUT), seen, T0 + timedelta(minutes=11))
    assert ready.next_wave == 1 and ready.starting == ["a"]


def test_a_crash_halts_and_stays_halted_after_a_rollback():
    crashed = dep("n", NEW, "CRASHED", T0 + timedelta(minutes=1))
    back = dep("r", OLD, "SUCCESS", T0 + timedelta(minutes=2))
    seen = observed(project("zed", back, crashed), project("a", dep("o", OLD, "SUCCESS", T0)))
    [rollout] = derive(manifests("a", "zed"), fleet_file(ROLLOUT), seen, T0 + timedelta(hours=1))
    zed = rollout.tenant("zed")
    assert zed is not None and zed.state is State.FAILED and zed.failure is Failure.CRASHED
    assert zed.rolled_back
    assert rollout.halted and rollout.next_wave is None
    assert rollout.reason is not None and "zed" in rollout.reason
    assert "saas-infra rollout resume stable" in rollout.reason


def test_a_resume_forgives_earlier_failures_of_that_version_only():
    crashed = dep("n", NEW, "CRASHED", T0 + timedelta(minutes=1))
    back = dep("r", OLD, "SUCCESS", T0 + timedelta(minutes=2))
    seen = observed(project("zed", back, crashed), project("a", dep("o", OLD, "SUCCESS", T0)))
    at = (T0 + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    resumed = f"    resume: {{commit: '{NEW}', at: '{at}'}}\n"
    [rollout] = derive(manifests("a", "zed"), fleet_file(ROLLOUT, resumed), seen, T0)
    assert not rollout.halted and rollout.starting == ["zed"]
    other = f"    resume: {{commit: '{OLD}', at: '{at}'}}\n"
    [still] = derive(manifests("a", "zed"), fleet_file(ROLLOUT, other), seen, T0)
    assert still.halted
    early = (T0 + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = f"    resume: {{commit: '{NEW}', at: '{early}'}}\n"
    [again] = derive(manifests("a", "zed"), fleet_file(ROLLOUT, before), seen, T0)
    assert again.halted  # the crash came after that resume


def test_max_failed_tolerates_that_many_failures():
    tolerant = ROLLOUT + "  max_failed: 1\n"
    seen = observed(project("zed", dep("n", NEW, "FAILED", T0)),
                    project("a", dep("o", OLD, "SUCCESS", T0)))
    [rollout] = derive(manifests("a", "zed"), fleet_file(tolerant), seen, T0 + timedelta(hours=1))
    assert not rollout.halted and rollout.starting == ["a"]
    assert rollout.tenant("zed").failure is Failure.BUILD_FAILED  # type: ignore[union-attr]


def test_in_progress_and_probed_unhealthy_states():
    seen = observed(project("zed", dep("n", NEW, "DEPLOYING", T0)),
                    project("a", dep("o", NEW, "SUCCESS", T0)))
    [rollout] = derive(manifests("a", "zed"), fleet_file(ROLLOUT), seen, T0, unhealthy={"a"})
    assert rollout.tenant("zed").state is State.IN_PROGRESS  # type: ignore[union-attr]
    assert rollout.tenant("a").failure is Failure.UNHEALTHY  # type: ignore[union-attr]


def test_without_a_rollout_section_every_tenant_is_one_wave_and_nothing_halts():
    seen = observed(project("zed", dep("n", NEW, "CRASHED", T0)),
                    project("a", dep("o", OLD, "SUCCESS", T0)))
    [rollout] = derive(manifests("a", "zed"), fleet_file(), seen, T0)
    assert len(rollout.waves) == 1 and not rollout.halted and rollout.starting == ["a"]


def marked(name: str, record: FailureRecord | None, *history: ObservedDeployment
           ) -> ObservedProject:
    return replace(project(name, *history), marker=Marker(name, failed=record))


def test_the_marker_record_halts_where_the_history_shows_no_failure():
    # Rolled back long ago: the failed deployment is out of the listing's view, or Railway
    # called it SUCCESS while the gate's health path failed; the marker holds the failure.
    record = failure_record(NEW, T0 + timedelta(minutes=1), "unhealthy")
    seen = observed(marked("zed", record, dep("r", OLD, "SUCCESS", T0 + timedelta(minutes=2))),
                    project("a", dep("o", OLD, "SUCCESS", T0)))
    [rollout] = derive(manifests("a", "zed"), fleet_file(ROLLOUT), seen, T0 + timedelta(days=9))
    zed = rollout.tenant("zed")
    assert zed is not None and zed.state is State.FAILED and zed.failure is Failure.UNHEALTHY
    assert zed.rolled_back and not zed.clear_record and zed.to_record is None
    assert rollout.halted and rollout.starting == []
    held = observed(marked("zed", record, dep("n", NEW, "SUCCESS", T0)),  # on_failure: hold
                    project("a", dep("o", OLD, "SUCCESS", T0)))
    [still] = derive(manifests("a", "zed"), fleet_file(ROLLOUT), held, T0 + timedelta(days=9))
    assert still.halted and not still.tenants[0].rolled_back


def test_a_resume_forgives_the_record_and_a_healthy_tenant_has_it_cleared():
    record = failure_record(NEW, T0 + timedelta(minutes=1), "crashed")
    at = (T0 + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    resumed = f"    resume: {{commit: '{NEW}', at: '{at}'}}\n"
    back = marked("zed", record, dep("r", OLD, "SUCCESS", T0 + timedelta(minutes=2)))
    seen = observed(back, project("a", dep("o", OLD, "SUCCESS", T0)))
    [rollout] = derive(manifests("a", "zed"), fleet_file(ROLLOUT, resumed), seen, T0)
    assert not rollout.halted and rollout.starting == ["zed"]
    assert not rollout.tenants[0].clear_record  # not healthy on the version yet: kept
    healthy = observed(marked("zed", record, dep("n", NEW, "SUCCESS", T0 + timedelta(minutes=4))),
                       project("a", dep("o", OLD, "SUCCESS", T0)))
    [later] = derive(manifests("a", "zed"), fleet_file(ROLLOUT, resumed), healthy, T0)
    assert later.tenants[0].state is State.HEALTHY and later.tenants[0].clear_record
    other = failure_record(OLD, T0, "crashed")  # another version's record: irrelevant
    moved = observed(marked("zed", other, dep("n", NEW, "SUCCESS", T0 + timedelta(minutes=4))),
                     project("a", dep("o", OLD, "SUCCESS", T0)))
    [changed] = derive(manifests("a", "zed"), fleet_file(ROLLOUT), moved, T0)
    assert not changed.halted and changed.tenants[0].clear_record


def test_a_failure_only_the_history_shows_is_to_be_recorded():
    crashed = dep("n", NEW, "CRASHED", T0 + timedelta(minutes=1))
    seen = observed(project("zed", crashed), project("a", dep("o", OLD, "SUCCESS", T0)))
    [rollout] = derive(manifests("a", "zed"), fleet_file(ROLLOUT), seen, T0)
    assert rollout.halted
    assert rollout.tenants[0].to_record == failure_record(NEW, T0 + timedelta(minutes=1),
                                                           "crashed")
    written = marked("zed", rollout.tenants[0].to_record, crashed)
    [again] = derive(manifests("a", "zed"), fleet_file(ROLLOUT),
                     observed(written, project("a", dep("o", OLD, "SUCCESS", T0))), T0)
    assert again.halted and again.tenants[0].to_record is None  # recorded: nothing to write
    [unsectioned] = derive(manifests("a", "zed"), fleet_file(), seen, T0)
    assert unsectioned.tenants[0].to_record is None  # without a rollout nothing halts
