"""`saas-infra doctor --live`: the throwaway project's whole life on the emulator, what it
reports, that it asks first, that no pass, list or guard takes its project for a tenant, and
that it never leaves one behind: killed after every call it makes (the next `doctor --live`, or
`doctor --cleanup` at once, removes what is left), or interrupted (Ctrl-C) at every call (the
run cleans up itself). Time is a FakeClock: deploys and workflows take no real time.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from saas_infra import lock
from saas_infra.clock import FakeClock
from saas_infra.doctor.wire import operation_name
from saas_infra.emulator import Emulator
from saas_infra.railway.observed import observe
from tests.conftest import START
from tests.doctor_lib import Dying, Killed, Refuse, Rewrite, World, client_of

STEPS = ["create", "read-back", "deploy", "variables", "redeploy", "schedule-delete",
         "cancel-delete", "delete"]


@pytest.fixture
def world(tmp_path, monkeypatch) -> World:
    return World(tmp_path, monkeypatch)


# --- a whole run ------------------------------------------------------------------------------


def test_a_live_run_exercises_every_step_and_leaves_nothing(world):
    result, data = world.live()
    assert result.exit_code == 0, result.stdout + result.stderr
    live = data["live"]
    assert [s["step"] for s in live["steps"]] == STEPS
    assert [s["status"] for s in live["steps"]] == ["ok"] * len(STEPS)
    assert live["project"].startswith("saas-infra-doctor-")
    create = live["steps"][0]["summary"]
    assert create == (f"{live['project']}: project created, Postgres created, Redis created, "
                      "gateway created, domain created")
    assert live["steps"][2]["summary"].endswith("→ SUCCESS in 6 s")
    assert data["cleanup"] == {"removed": [], "scheduled": [], "left": [], "skipped": []}
    assert world.doctor_projects() == []
    mutations = {"ProjectCreate", "TemplateDeploy", "ServiceCreate", "ServiceDomainCreate",
                 "VariableCollectionUpsert", "ServiceInstanceDeploy", "ProjectUpdate",
                 "ProjectScheduleDelete", "ProjectScheduleDeleteCancel", "ProjectDelete"}
    assert mutations <= set(world.emu.counts)
    assert data["cost"]["api_calls"] == world.emu.counts["total"]


def test_the_text_report_names_each_step_and_the_cost(world):
    result = world.invoke("doctor", "--live", "--yes")
    assert result.exit_code == 0, result.stderr
    out = result.stdout.splitlines()
    start = out.index(next(line for line in out if line.startswith("Live run on ")))
    assert [line.split()[1] for line in out[start + 1:] if line.startswith("✓ ")] == [
        *STEPS, "cleanup"]
    assert out[-1].startswith(f"Cost: {world.emu.counts['total']} API calls to Railway, ")
    assert "doctor --live: create..." in result.stderr


def test_a_failed_deploy_fails_its_step_and_the_project_is_still_removed(world):
    world.emu.fail_next_deploy("gateway")
    result, data = world.live()
    assert result.exit_code == 1
    steps = {s["step"]: s for s in data["live"]["steps"]}
    assert steps["deploy"]["status"] == "fail"
    assert "the deployment ended FAILED" in steps["deploy"]["summary"]
    assert "variables" not in steps  # the run stops at a failed step
    assert data["cleanup"]["removed"] == [
        f"{data['live']['project']} ({_project_id(data)})"]
    assert world.doctor_projects() == []


def _project_id(data) -> str:
    return data["cleanup"]["removed"][0].split("(")[1].rstrip(")")


def test_an_answer_that_differs_is_named_by_operation_field_expected_and_seen(world):
    def no_deleted_at(operation, headers, body):
        if operation == "Project" and (body.get("data") or {}).get("project"):
            body["data"]["project"]["deletedAt"] = None
        return body

    result, data = world.live(transport=Rewrite(world.emu.transport(), no_deleted_at))
    assert result.exit_code == 1
    step = data["live"]["steps"][-1]
    assert step["step"] == "schedule-delete" and step["status"] == "fail"
    assert step["differences"] == [{
        "operation": "ProjectScheduleDelete", "field": "project.deletedAt",
        "expected": "a time (how saas-infra tells a scheduled delete)", "seen": "null"}]
    assert world.doctor_projects() == []


def test_a_project_whose_only_environment_is_not_production_reads_back_as_written(world):
    """As a pass reads a project (railway/observed.py), doctor reads the first environment when
    none is named production: not every written variable reported missing."""
    def staging(operation, headers, body):
        if operation == "Project" and (body.get("data") or {}).get("project"):
            for edge in body["data"]["project"]["environments"]["edges"]:
                edge["node"]["name"] = "staging"
        return body

    result, data = world.live(transport=Rewrite(world.emu.transport(), staging))
    assert result.exit_code == 0, result.stdout + result.stderr
    read_back = data["live"]["steps"][1]
    assert (read_back["status"], read_back["differences"]) == ("ok", [])
    assert read_back["summary"].endswith("variables read back as written (listing and `variables`)")


# --- asking first -------------------------------------------------------------------------------


def test_it_asks_first_and_a_no_creates_nothing(world):
    result = world.invoke("doctor", "--live", interactive=True, input="n\n")
    assert result.exit_code == 0, result.stderr
    assert "Create the throwaway project saas-infra-doctor-" in result.stderr
    assert "Nothing created." in result.stderr
    assert world.emu.counts["ProjectCreate"] == 0


def test_a_yes_at_the_question_runs_it(world):
    result = world.invoke("doctor", "--live", interactive=True, input="y\n")
    assert result.exit_code == 0, result.stderr
    assert world.emu.counts["ProjectDelete"] == 1 and world.doctor_projects() == []


@pytest.mark.parametrize("flag", ["--live", "--cleanup"])
def test_without_a_terminal_or_under_ci_it_needs_yes_and_sends_nothing(world, flag):
    refused = world.invoke("doctor", flag)
    assert refused.exit_code == 1
    assert "without confirmation (stdin is not a terminal)" in refused.stderr
    in_ci = world.invoke("doctor", flag, interactive=True, env={"CI": "true"})
    assert in_ci.exit_code == 1
    assert "under CI it needs --yes" in in_ci.stderr
    assert world.emu.counts["total"] == 0


# --- the project is no tenant -------------------------------------------------------------------


def test_a_left_over_doctor_project_is_never_taken_for_a_tenant(world):
    calls = _calls_until(world, "ServiceDomainCreate")  # Postgres, Redis, gateway and domain made
    with pytest.raises(Killed):
        world.live(transport=Dying(world.emu.transport(), calls))
    [left] = world.doctor_projects()
    assert {s["name"] for s in left["services"]} == {"Postgres", "Redis", "gateway"}

    plan = json.loads(world.invoke("plan", "--json", "--all").stdout)
    listed = json.loads(world.invoke("list", "--all", "--json").stdout)
    assert plan["actions"] == [] and plan["findings"] == [] and plan["guards"] == []
    assert listed["instances"] == []
    assert world.invoke("apply", "--yes").exit_code == 0
    assert world.emu.counts["ProjectCreate"] == 1  # the doctor's own; apply made nothing
    client = client_of(world)
    assert observe(client, world.emu.workspace_id).complete
    assert lock.inspect(client, world.emu.workspace_id).lease is None  # apply freed the lock
    assert "saas-infra-doctor" not in json.dumps(plan) + json.dumps(listed)
    _result, data = world.live()  # the read-only checks point at it; its lease still runs
    fleet = {c["id"]: c for c in data["checks"]}["fleet"]
    assert fleet["status"] == "warn" and left["name"] in fleet["summary"]


def _calls_until(world: World, operation: str) -> int:
    """How many requests a clean run makes up to and including the first `operation` (on a
    twin of `world`: same seed, same start, so the same requests in the same order)."""
    twin = World.__new__(World)
    twin.clock = FakeClock(START)
    twin.emu = Emulator(clock=twin.clock, seed=11)
    seen = []

    class Spy(httpx.BaseTransport):
        def handle_request(self, request):
            seen.append(operation_name(request.read()))
            return twin.emu.transport().handle_request(request)

    twin.live(transport=Spy())
    return seen.index(operation) + 1


def test_a_leftover_still_within_its_lease_is_left_alone_and_named(world):
    with pytest.raises(Killed):
        world.live(transport=Dying(world.emu.transport(), _calls_until(world, "ServiceCreate")))
    [left] = world.doctor_projects()
    result, data = world.live()
    assert result.exit_code == 0, result.stdout
    [skipped] = data["cleanup"]["skipped"]
    assert skipped.startswith(f"{left['name']} ({left['id']}) of ")
    assert "(`saas-infra doctor --cleanup` removes it now)" in skipped
    assert [p["name"] for p in world.doctor_projects()] == [left["name"]]
    cleaned = world.invoke("doctor", "--cleanup", "--yes")
    assert cleaned.exit_code == 0
    assert f"deleted {left['name']} ({left['id']})" in cleaned.stdout
    assert world.doctor_projects() == []


# --- what it cannot clean, it says ----------------------------------------------------------------


def test_a_token_that_may_not_delete_at_once_schedules_the_delete_and_says_so(world):
    result, data = world.live(transport=Refuse(world.emu.transport(), "ProjectDelete"))
    assert result.exit_code == 0, result.stdout
    last = data["live"]["steps"][-1]
    assert last["status"] == "warn"
    assert "`delete --force` would fail with this token; scheduled instead" in last["summary"]
    assert world.doctor_projects(pending=False) == []
    assert len(world.doctor_projects(pending=True)) == 1


def test_what_it_could_not_clean_is_named_with_a_way_out(world):
    transport = Refuse(world.emu.transport(), "ProjectDelete", "ProjectScheduleDelete")
    result = world.invoke("doctor", "--live", "--yes", transport=transport)
    assert result.exit_code == 1
    [line] = [x for x in result.stdout.splitlines() if "NOT cleaned" in x]
    [project] = world.doctor_projects()
    assert f"NOT cleaned: {project['name']} ({project['id']}): " in line
    assert f"https://railway.com/project/{project['id']}" in line
    assert "`saas-infra doctor --cleanup`" in line


# --- killed at every step ---------------------------------------------------------------------


def _clean_run_calls() -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as root, pytest.MonkeyPatch.context() as patch:
        world = World(Path(root), patch)
        world.live()
        return world.emu.counts["total"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kill_at" in metafunc.fixturenames:
        count = _clean_run_calls()
        metafunc.parametrize("kill_at", range(1, count + 1), ids=lambda n: f"call-{n}")


def test_killed_after_this_call_the_next_live_run_leaves_no_doctor_project(world, kill_at):
    with pytest.raises(Killed):
        world.live(transport=Dying(world.emu.transport(), kill_at))
    world.clock.advance(hours=2)  # the next run, once the dead run's lease has ended
    result, _data = world.live()
    assert result.exit_code == 0, result.stdout
    assert world.doctor_projects() == []  # pending deletion or not: Railway lists both


def test_killed_after_this_call_doctor_cleanup_leaves_no_doctor_project(world, kill_at):
    with pytest.raises(Killed):
        world.live(transport=Dying(world.emu.transport(), kill_at))
    result = world.invoke("doctor", "--cleanup", "--yes", "--json")
    assert result.exit_code == 0, result.stdout
    assert world.doctor_projects() == []


def test_interrupted_at_this_call_the_run_cleans_up_itself(world, kill_at):
    transport = Dying(world.emu.transport(), kill_at, error=KeyboardInterrupt)
    result = world.invoke("doctor", "--live", "--yes", "--json", transport=transport)
    assert world.doctor_projects() == []
    if world.emu.counts["ProjectCreate"]:  # the live part had begun: it reports the interrupt
        data = json.loads(result.stdout)
        assert data["live"]["interrupted"] is True and result.exit_code == 1
        assert data["cleanup"]["left"] == []


def _statuses(status: str):
    def edit(operation, headers, body):
        if operation == "Deployments":
            for edge in body["data"]["deployments"]["edges"]:
                edge["node"]["status"] = status
        return body

    return edit


def test_a_deployment_awaiting_approval_ends_the_wait_at_once_and_says_why(world):
    world.emu.script_next_deploy("NEEDS_APPROVAL")
    result, data = world.live()
    assert result.exit_code == 1
    deploy = data["live"]["steps"][-1]
    assert deploy["step"] == "deploy" and deploy["status"] == "fail"
    assert deploy["summary"] == ("first deploy (serviceCreate with a source): NEEDS_APPROVAL in "
                                 "0 s; the deployment awaits approval in Railway (a person must "
                                 "approve it)")
    assert world.doctor_projects() == []


def test_with_a_masked_token_the_read_back_warns_and_the_run_goes_on(world):
    result, data = world.live(env={"RAILWAY_API_TOKEN": world.emu.masked_token()})
    assert result.exit_code == 0, result.stdout
    read_back = data["live"]["steps"][1]
    assert read_back["status"] == "warn" and read_back["differences"] == []
    assert read_back["summary"].startswith("masked (null) with this token: ADMIN_API_KEY, "
                                           "AUTH_MODE, CLIENT_API_KEY, DATABASE_URL")
    assert [s["status"] for s in data["live"]["steps"][2:]] == ["ok"] * 6


def test_a_variable_change_that_ships_another_commit_is_a_difference(world):
    def commit_per_deployment(operation, headers, body):
        if operation == "Deployments":
            for edge in body["data"]["deployments"]["edges"]:
                edge["node"]["meta"] = {"commitHash": edge["node"]["id"].replace("-", "")}
        return body

    result, data = world.live(transport=Rewrite(world.emu.transport(), commit_per_deployment))
    assert result.exit_code == 1
    variables = data["live"]["steps"][3]
    assert variables["step"] == "variables" and variables["status"] == "fail"
    assert variables["differences"] == [{
        "operation": "VariableCollectionUpsert", "field": "deployment.meta.commitHash",
        "expected": "the commit already running (a configuration change ships no new code)",
        "seen": "another commit"}]


def test_a_sleeping_deployment_counts_as_running(world):
    result, data = world.live(transport=Rewrite(world.emu.transport(), _statuses("SLEEPING")))
    assert result.exit_code == 0, result.stdout
    assert data["live"]["steps"][2]["summary"] == (
        "first deploy (serviceCreate with a source): SLEEPING in 0 s")


def test_a_status_progression_that_goes_backwards_is_a_difference(world):
    script = iter(["QUEUED", "DEPLOYING", "BUILDING"])  # the first deploy's first three looks

    def backwards(operation, headers, body):
        if operation == "Deployments":
            edge = body["data"]["deployments"]["edges"][0]
            edge["node"]["status"] = next(script, edge["node"]["status"])
        return body

    result, data = world.live(transport=Rewrite(world.emu.transport(), backwards))
    assert result.exit_code == 1
    deploy = data["live"]["steps"][2]
    assert deploy["status"] == "fail"
    assert deploy["differences"] == [{
        "operation": "Deployments", "field": "deployments.edges[].node.status",
        "expected": "QUEUED → INITIALIZING → BUILDING → DEPLOYING → SUCCESS, in that order",
        "seen": "BUILDING after DEPLOYING"}]
