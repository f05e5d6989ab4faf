"""What a tenant runs, as `status`, `list` and `rollout status` show it, end to end on the
in-process emulator: the version that serves is the newest deployment that went live, which a
newer build that FAILED did not replace (Railway keeps serving it); a channel tenant names its
channel, and "(pinned)" is said only of a tenant that serves its pin; the plan's `rollouts` and
`rollout status --json` name the soak left the same way. Unit checks of ObservedService.serving
and of the Version line cover the listings the emulator does not produce."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from saas_infra.emulator import Emulator
from saas_infra.railway.observed import ObservedDeployment, ObservedService
from saas_infra.reconcile import Fleet, apply_pass
from saas_infra.render.text import version_text
from saas_infra.verbs import InstanceRow, TenantStatus
from tests.test_rollout import (  # noqa: F401  (known_commits: a fixture)
    REPO,
    TENANTS,
    V1,
    V2,
    converged_channel,
    fleet_yaml,
    known_commits,
    set_fleet,
)

FAILS = "4" * 40  # its build fails: the deployment before it keeps serving


@pytest.fixture
def rolled(fleet: Fleet, emu: Emulator) -> Fleet:
    emu.set_commit_outcome(REPO, FAILS, "build_failed")
    return converged_channel(fleet, emu, fleet_yaml(V1))


def status_json(run_cli, name: str) -> dict:
    result = run_cli("status", name, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def version_line(run_cli, name: str) -> str:
    [line] = [line.strip() for line in run_cli("status", name).stdout.splitlines()
              if line.strip().startswith("Version:")]
    return line


def test_a_channel_tenant_on_the_channels_version_is_pinned_and_names_its_channel(
        rolled: Fleet, run_cli):
    assert version_line(run_cli, "alpha") == f"Version:  {V1[:12]} (pinned, channel stable)"
    listed = json.loads(run_cli("list", "--json").stdout)["instances"]
    assert [(r["name"], r["channel"], r["commit"], r["newest"]) for r in listed] == [
        (name, "stable", V1, None) for name in sorted(TENANTS)]


def test_a_failed_build_shows_the_version_that_still_serves_and_names_the_failure(
        rolled: Fleet, run_cli):
    set_fleet(rolled, fleet_yaml(FAILS))
    report = apply_pass(rolled)
    assert [o.tenant for o in report.failed] == ["delta"]  # the canary's build failed
    rolled.clock.advance(minutes=15)
    delta = status_json(run_cli, "delta")
    assert delta["deployment_status"] == "FAILED"
    assert (delta["commit"], delta["newest"], delta["channel"]) == (V1, FAILS, "stable")
    assert version_line(run_cli, "delta") == (
        f"Version:  {V1[:12]} (channel stable is at {FAILS[:12]}: rolling out); "
        f"the newest deploy of {FAILS[:12]} FAILED")
    # alpha's wave has not started: it serves V1, the channel is at FAILS; not "(pinned)"
    assert version_line(run_cli, "alpha") == (
        f"Version:  {V1[:12]} (channel stable is at {FAILS[:12]}: rolling out)")
    [channel] = json.loads(run_cli("rollout", "status", "--json").stdout)["channels"]
    assert channel["halted"] and channel["failed"] == ["delta"]  # the halt still holds
    [canary] = channel["waves"][0]["tenants"]
    assert (canary["tenant"], canary["state"], canary["failure"], canary["running"]) == (
        "delta", "failed", "build_failed", V1)
    assert {t["running"] for w in channel["waves"] for t in w["tenants"]} == {V1}


def test_the_plan_and_rollout_status_name_the_soak_left_alike(rolled: Fleet, run_cli):
    set_fleet(rolled, fleet_yaml(V2, advance="wave"))
    report = apply_pass(rolled)  # the canary's wave, then the pass stops: one wave per pass
    assert not report.failed, [o.error for o in report.failed]
    [planned] = json.loads(rolled.plan().to_json())["rollouts"]
    [status] = json.loads(run_cli("rollout", "status", "--json").stdout)["channels"]
    assert "soak_remaining" not in planned
    assert planned["soak_remaining_seconds"] is not None
    assert planned["soak_remaining_seconds"] == status["soak_remaining_seconds"] > 0


def _deployment(id: str, status: str, minute: int, commit: str) -> ObservedDeployment:
    return ObservedDeployment(id, status, datetime(2026, 11, 29, 12, minute, tzinfo=UTC),
                              commit=commit)


@pytest.mark.parametrize(("newest", "serves"), [
    ("SUCCESS", "d3"), ("SLEEPING", "d3"),  # it went live: it serves
    ("FAILED", "d2"), ("BUILDING", "d2"), ("SKIPPED", "d2"), ("NEEDS_APPROVAL", "d2"),
    ("CRASHED", None), ("REMOVED", None),  # it had replaced the one before: nothing serves
])
def test_the_serving_deployment_is_the_newest_that_went_live(newest: str, serves: str | None):
    d1 = _deployment("d1", "REMOVED", 1, V1)
    d2 = _deployment("d2", "SUCCESS", 2, V1)
    d3 = _deployment("d3", newest, 3, V2)
    gateway = ObservedService("s", "gateway", deployment=d3, history=(d3, d2, d1))
    assert (gateway.serving.id if gateway.serving else None) == serves
    assert gateway.running_commit == V2  # what a pass last deployed, unchanged


def test_nothing_is_known_to_serve_when_the_history_shows_no_success():
    failed = _deployment("d3", "FAILED", 3, V2)
    assert ObservedService("s", "gateway", deployment=failed, history=None).serving is None
    assert ObservedService("s", "gateway", deployment=failed, history=(failed,)).serving is None


def _row(**fields) -> InstanceRow:
    return InstanceRow("acme", TenantStatus.FAILED, **fields)


def test_the_version_line_says_pinned_only_of_a_tenant_serving_its_pin():
    assert version_text(_row(commit=V1, pinned=True, pin=V1)) == f"{V1[:12]} (pinned)"
    assert version_text(_row(commit=V1, pinned=True, pin=V2, newest=V2,
                             deployment_status="FAILED")) == (
        f"{V1[:12]} (pinned to {V2[:12]}); the newest deploy of {V2[:12]} FAILED")
    assert version_text(_row(pinned=True, pin=V2, newest=V2, deployment_status="CRASHED")) == (
        f"nothing serves (pinned to {V2[:12]}); the newest deploy of {V2[:12]} CRASHED")
    assert version_text(_row(commit=V1, pinned=False, source={"branch": "main"})) == (
        f"{V1[:12]} (follows main)")
    assert version_text(_row(pinned=True, pin=V2, newest=V2, deployment_status="BUILDING")) == (
        f"{V2[:12]} (pinned); deploying (BUILDING), not serving yet")
