"""Deletion over time, with an injected clock: the grace period, the scheduled pass from cron,
`plan --at`, and Railway's own 48-hour scheduled delete.

Every request is recorded, so "no later pass touches it" is checked against the tenant's
project id itself (the first pass also makes the fleet lock's control project).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx
import pytest

from saas_infra.clock import format_time, parse_time

PROJECT_MUTATIONS = ("ProjectCreate", "ProjectUpdate", "ProjectDelete", "ProjectScheduleDelete",
                     "ProjectScheduleDeleteCancel")


class Recorder(httpx.BaseTransport):
    """An httpx transport in front of the emulator that keeps every GraphQL mutation it sends."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.mutations: list[tuple[str, str]] = []  # (operation name, variables as JSON)

    def handle_request(self, request):
        payload = json.loads(request.read() or b"{}")
        if payload.get("query", "").lstrip().startswith("mutation"):
            self.mutations.append((payload["operationName"], json.dumps(payload["variables"])))
        return self.inner.handle_request(request)

    def touching(self, project_id: str) -> list[str]:
        return [name for name, variables in self.mutations if project_id in variables]


@pytest.fixture
def recorder(emu, runtime) -> Recorder:
    runtime.transport = Recorder(emu.transport())
    return runtime.transport


@pytest.fixture
def doomed(run_cli, emu, recorder) -> dict:
    """acme, created and then deleted with the default 7-day grace period."""
    assert run_cli("create", "acme").exit_code == 0
    deleted = run_cli("delete", "acme", "--yes", "--json")
    assert deleted.exit_code == 0, deleted.stderr
    data = json.loads(deleted.stdout)
    return {"project_id": data["project_id"], "deadline": parse_time(data["deletion"]["deadline"])}


def project(emu, project_id: str) -> dict | None:
    return next((p for p in emu.snapshot()["projects"] if p["id"] == project_id), None)


def advance_to(clock, moment) -> None:
    clock.advance((moment - clock.now()).total_seconds())


def test_the_deadline_is_seven_days_after_the_request(doomed, clock):
    assert doomed["deadline"] - clock.now() <= timedelta(days=7)
    assert doomed["deadline"] - clock.now() > timedelta(days=7) - timedelta(minutes=1)


def test_still_running_on_day_six(doomed, run_cli, emu, clock, recorder):
    advance_to(clock, doomed["deadline"] - timedelta(days=1))
    before = list(recorder.mutations)

    applied = run_cli("apply", "--yes")
    listed = json.loads(run_cli("list", "--json").stdout)["instances"]
    health = json.loads(run_cli("status", "acme", "--json").stdout)["health"]

    assert applied.exit_code == 0, applied.stderr
    assert applied.stderr == ""  # no branch warning for a tenant whose deletion is scheduled
    assert applied.stdout == "Nothing to do: Railway matches the manifests.\n"
    assert recorder.touching(doomed["project_id"]) == [
        name for name, variables in before if doomed["project_id"] in variables]
    assert project(emu, doomed["project_id"])["deletedAt"] is None
    assert [r["name"] for r in listed] == ["acme"]
    assert listed[0]["status"] == "deletion_scheduled"  # the time left is a field of its own
    assert 23 * 3600 + 50 * 60 <= listed[0]["time_left_seconds"] <= 24 * 3600
    assert listed[0]["deletion_deadline"] == format_time(doomed["deadline"])
    table = run_cli("list").stdout.splitlines()[1]
    assert re.search(r"deletion scheduled \(23h 5\dm left\)", table)
    assert health == {"ok": True, "detail": "HTTP 200"}


def test_plan_at_shows_what_a_pass_at_that_time_would_do(doomed, run_cli, emu):
    deadline = doomed["deadline"]
    mutations = sum(emu.counts[name] for name in PROJECT_MUTATIONS)

    before = run_cli("plan", "--at", format_time(deadline - timedelta(seconds=1)))
    after = run_cli("plan", "--at", format_time(deadline + timedelta(hours=3)),
                    "--detailed-exitcode")

    assert (before.exit_code, before.stdout) == (0, "Plan: no changes.\n")
    assert after.exit_code == 2
    assert after.stdout == (
        f"  - acme  delete           deletion deadline {format_time(deadline)} passed (3h ago)\n"
        "Plan: 1 deletion.\n")
    assert sum(emu.counts[name] for name in PROJECT_MUTATIONS) == mutations  # plans change nothing


def test_the_first_pass_after_the_deadline_hands_it_to_railways_scheduled_delete(
        doomed, run_cli, emu, clock, recorder):
    advance_to(clock, doomed["deadline"] + timedelta(minutes=5))
    touched = len(recorder.touching(doomed["project_id"]))

    applied = run_cli("apply", "--yes")

    assert applied.exit_code == 0, applied.stderr
    assert applied.stdout.splitlines()[-2:] == [  # after the plan it ran, and a verdict last
        "  ok     acme: project scheduled on Railway", "Applied 1 change to 1 tenant; converged."]
    assert recorder.touching(doomed["project_id"])[touched:] == ["ProjectScheduleDelete"]
    deleted_at = project(emu, doomed["project_id"])["deletedAt"]  # Railway can still undo it
    until = format_time(parse_time(deleted_at) + timedelta(hours=48))
    listed = json.loads(run_cli("list", "--json").stdout)["instances"]
    assert [(r["status"], r["restorable_until"]) for r in listed] == [("deleted", until)]
    table = run_cli("list").stdout.splitlines()[1]
    assert f"deleted (Railway can restore it until {until})" in table


def test_no_later_pass_touches_it_again(doomed, run_cli, emu, clock, recorder):
    advance_to(clock, doomed["deadline"] + timedelta(hours=1))
    assert run_cli("apply", "--yes").exit_code == 0
    touched = recorder.touching(doomed["project_id"])
    # ProjectCreate also made the fleet lock's control project once; these two never serve it
    counts = {name: emu.counts[name] for name in ("ProjectScheduleDelete",
                                                  "ProjectScheduleDeleteCancel")}

    for hours in (1, 24, 47, 49, 24 * 30):  # within Railway's 48 hours, and after it reaped it
        clock.advance(hours=hours)
        again = run_cli("apply", "--yes")
        assert again.exit_code == 0, again.stderr
        assert (again.stdout, again.stderr) == (
            "Nothing to do: Railway matches the manifests.\n", "")

    assert recorder.touching(doomed["project_id"]) == touched
    assert {name: emu.counts[name] for name in counts} == counts
    assert project(emu, doomed["project_id"]) is None  # Railway reaped it after 48 hours
    assert json.loads(run_cli("list", "--json").stdout)["instances"][0]["status"] == "deleted"


def test_cancel_delete_within_railways_48_hours_restores_the_project(
        doomed, run_cli, emu, clock):
    advance_to(clock, doomed["deadline"] + timedelta(hours=1))
    assert run_cli("apply", "--yes").exit_code == 0
    clock.advance(hours=20)

    result = run_cli("cancel-delete", "acme")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Restored acme from Railway's scheduled delete; it keeps running.\n"
    assert project(emu, doomed["project_id"])["deletedAt"] is None
    assert json.loads(run_cli("list", "--json").stdout)["instances"][0]["status"] == "running"


def test_cancel_delete_after_railway_removed_it_refuses(doomed, run_cli, clock, tenants_dir):
    advance_to(clock, doomed["deadline"] + timedelta(hours=1))
    assert run_cli("apply", "--yes").exit_code == 0
    clock.advance(hours=49)
    before = (tenants_dir / "acme.yaml").read_text()

    result = run_cli("cancel-delete", "acme")

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "Error: acme is already deleted on Railway; there is no deletion left to cancel")
    assert (tenants_dir / "acme.yaml").read_text() == before  # no silent new, empty tenant
