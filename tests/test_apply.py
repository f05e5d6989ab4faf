"""Apply against the emulator: after every kind of change the next plan is empty, Railway holds
exactly one project per tenant with exactly its three services, and the guards stop a pass
before anything is deleted. Crash-at-every-call tests live in tests/test_crash*.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from saas_infra.errors import ApiError, GuardError, StalePlanError
from saas_infra.lock import CONTROL_PROJECT
from saas_infra.manifest import clear_tombstone, set_gateway_source, set_redeploy, set_tombstone
from saas_infra.marker import parse_marker
from saas_infra.plan import ActionKind, DeleteMode, Plan
from saas_infra.railway import operations as ops
from saas_infra.reconcile import Fleet, apply_pass

REPO = "LuthienResearch/luthien-proxy"
IMAGE = "ghcr.io/luthienresearch/luthien-proxy@sha256:" + "ab" * 32
SERVICES = ["Postgres", "Redis", "gateway"]


# --- helpers ---------------------------------------------------------------------------------


def projects(emu) -> list[dict]:
    """Every project but the fleet lock's control project (made by the first acting pass)."""
    return [p for p in emu.snapshot()["projects"] if p["name"] != CONTROL_PROJECT]


def railway(emu) -> dict:
    """The emulator's state without deployment statuses, which move on with the clock."""
    state = emu.snapshot()
    for project in state["projects"]:
        for service in project["services"]:
            service["deployments"] = [d["id"] for d in service["deployments"]]
    return state


def tenant_of(project: dict) -> str | None:
    marker = parse_marker(project["description"])
    return marker.tenant if marker else None


def project_of(emu, tenant: str) -> dict:
    [found] = [p for p in projects(emu) if tenant_of(p) == tenant]
    return found


def gateway_of(emu, tenant: str) -> dict:
    [gateway] = [s for s in project_of(emu, tenant)["services"] if s["name"] == "gateway"]
    return gateway


def assert_fleet_shape(emu, tenants: list[str]) -> None:
    """Exactly one project per tenant, each with exactly Postgres, Redis and gateway."""
    listed = projects(emu)
    assert sorted(tenant_of(p) for p in listed) == sorted(tenants)
    for project in listed:
        assert project["name"] == "luthien-" + tenant_of(project)
        assert sorted(s["name"] for s in project["services"]) == SERVICES


def converge(fleet: Fleet, **kw):
    report = apply_pass(fleet, **kw)
    assert report.failed == [], [o.error for o in report.failed]
    assert report.converged, report.after.actions
    assert fleet.plan().empty
    return report


def manifest_text(name: str, *, gateway: str, extra: str = "") -> str:
    return f"version: 1\nname: {name}\ngateway:\n{gateway}{extra}"


def write_manifest(tenants_dir: Path, name: str, gateway: str, extra: str = "") -> Path:
    path = tenants_dir / f"{name}.yaml"
    path.write_text(manifest_text(name, gateway=gateway, extra=extra))
    return path


def kinds(plan) -> list[tuple[str, str]]:
    return [(a.tenant, a.kind.value) for a in plan.actions]


@pytest.fixture
def acme(fleet, write_tenant, emu) -> Path:
    """A converged tenant `acme` building from the default repo's main branch."""
    path = write_tenant("acme")
    converge(fleet)
    return path


# --- create ----------------------------------------------------------------------------------


def test_create_converges_with_one_project_and_three_services(fleet, write_tenant, emu):
    write_tenant("acme")
    write_tenant("globex", image=IMAGE)
    report = converge(fleet)
    assert sorted(kinds(report.plan)) == [("acme", "create"), ("globex", "create")]
    assert_fleet_shape(emu, ["acme", "globex"])
    assert gateway_of(emu, "acme")["source"] == {"repo": REPO, "branch": "main", "image": None}
    assert gateway_of(emu, "globex")["source"] == {"repo": None, "branch": None, "image": IMAGE}


def test_create_fills_every_template_variable_the_emulator_would_leave_empty(
    fleet, write_tenant, emu
):
    # Railway's CLI fills each template variable's value itself; the emulator, like Railway as far
    # as anyone documents, does not fall back to defaultValue. A config sent untouched would give
    # a Postgres without a password and a gateway whose DATABASE_URL renders empty.
    write_tenant("acme")
    converge(fleet)
    services = {s["name"]: s for s in project_of(emu, "acme")["services"]}
    postgres, redis = services["Postgres"]["variables"], services["Redis"]["variables"]
    assert len(postgres["POSTGRES_PASSWORD"]) == 32 and "secret" not in postgres["POSTGRES_PASSWORD"]
    assert postgres["DATABASE_URL"].startswith("postgresql://${{PGUSER}}:")
    assert postgres["PGPORT"] == "5432"
    assert len(redis["REDIS_PASSWORD"]) == 32
    assert all(value for value in postgres.values()) and all(value for value in redis.values())


def test_gateway_gets_its_variables_and_settings_before_its_only_deploy(fleet, write_tenant, emu):
    write_tenant("acme")
    converge(fleet)
    gateway = gateway_of(emu, "acme")
    # Created empty (an empty service does not deploy), its settings written, then its source
    # connected: that connect is its one deployment, and it runs with the settings.
    assert len(gateway["deployments"]) == 1
    assert emu.counts["ServiceInstanceRedeploy"] == 0
    assert emu.counts["ServiceConnect"] == 1
    deployed = fleet.observe().tenant_project("acme").gateway.deployed
    assert deployed is not None and deployed.healthcheck_path == "/health"
    assert emu.counts["VariableCollectionUpsert"] == 0  # all given on serviceCreate
    assert emu.counts["ServiceInstanceDeploy"] == 0
    variables = gateway["variables"]
    assert variables["DATABASE_URL"] == "${{Postgres.DATABASE_URL}}"
    assert variables["REDIS_URL"] == "${{Redis.REDIS_URL}}"
    assert variables["AUTH_MODE"] == "both"
    assert variables["CLIENT_API_KEY"].startswith("sk-")
    assert variables["ADMIN_API_KEY"].startswith("sk-")
    assert variables["CLIENT_API_KEY"] != variables["ADMIN_API_KEY"]
    assert "GATEWAY_PORT" not in variables and "PORT" not in variables
    assert gateway["domains"][0].endswith(".up.railway.app")


def test_credentials_are_returned_once_and_kept_out_of_the_report(fleet, write_tenant, emu):
    write_tenant("acme")
    [outcome] = converge(fleet).outcomes
    stored = gateway_of(emu, "acme")["variables"]
    assert outcome.credentials == {k: stored[k] for k in ("CLIENT_API_KEY", "ADMIN_API_KEY")}
    assert stored["CLIENT_API_KEY"] not in repr(outcome) + str(outcome.to_dict())


# --- updates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "source"),
    [
        ({"repo": "acme-corp/luthien-fork"}, {"repo": "acme-corp/luthien-fork", "branch": "main"}),
        ({"repo": REPO, "branch": "release"}, {"repo": REPO, "branch": "release"}),
        ({"image": IMAGE}, {"repo": None, "branch": None, "image": IMAGE}),
    ],
    ids=["repo", "branch", "image"],
)
def test_gateway_source_change_converges_with_one_new_deploy(fleet, acme, emu, change, source):
    before = len(gateway_of(emu, "acme")["deployments"])
    set_gateway_source(acme, **change)
    report = converge(fleet)
    assert kinds(report.plan) == [("acme", "update-source")]
    gateway = gateway_of(emu, "acme")
    assert {k: gateway["source"][k] for k in source} == source
    assert len(gateway["deployments"]) == before + 1
    assert_fleet_shape(emu, ["acme"])


def test_image_back_to_repo_converges(fleet, write_tenant, emu):
    path = write_tenant("acme", image=IMAGE)
    converge(fleet)
    set_gateway_source(path, repo=REPO, branch="main")
    converge(fleet)
    assert gateway_of(emu, "acme")["source"] == {"repo": REPO, "branch": "main", "image": None}


@pytest.mark.parametrize(
    ("first", "then", "expected"),
    [
        ("", "    LOG_LEVEL: debug\n", {"LOG_LEVEL": "debug"}),
        ("    LOG_LEVEL: info\n", "    LOG_LEVEL: debug\n    REGION: eu\n",
         {"LOG_LEVEL": "debug", "REGION": "eu"}),
        ("    LOG_LEVEL: info\n    REGION: eu\n", "    REGION: eu\n", {"REGION": "eu"}),
        ("    LOG_LEVEL: info\n", "", {}),
    ],
    ids=["add", "change-and-add", "remove-one", "remove-all"],
)
def test_extra_variables_converge_with_one_new_deploy(fleet, tenants_dir, emu, first, then,
                                                      expected):
    source = f"  repo: {REPO}\n"
    write_manifest(tenants_dir, "acme", source + ("  variables:\n" + first if first else ""))
    converge(fleet)
    before = len(gateway_of(emu, "acme")["deployments"])
    write_manifest(tenants_dir, "acme", source + ("  variables:\n" + then if then else ""))
    report = converge(fleet)
    assert kinds(report.plan) == [("acme", "set-variables")]
    variables = gateway_of(emu, "acme")["variables"]
    extras = {k: v for k, v in variables.items()
              if k not in ("DATABASE_URL", "REDIS_URL", "AUTH_MODE", "CLIENT_API_KEY",
                           "ADMIN_API_KEY")}
    assert extras == expected
    assert len(gateway_of(emu, "acme")["deployments"]) == before + 1
    assert_fleet_shape(emu, ["acme"])


def test_auth_mode_change_is_applied(fleet, tenants_dir, emu):
    write_manifest(tenants_dir, "acme", f"  repo: {REPO}\n")
    converge(fleet)
    write_manifest(tenants_dir, "acme", f"  repo: {REPO}\n  auth_mode: client_key\n")
    converge(fleet)
    assert gateway_of(emu, "acme")["variables"]["AUTH_MODE"] == "client_key"


def test_drift_made_by_hand_on_railway_is_reverted(fleet, client, tenants_dir, emu):
    write_manifest(tenants_dir, "acme", f"  repo: {REPO}\n  variables:\n    LOG_LEVEL: info\n")
    converge(fleet)
    keys_before = {k: gateway_of(emu, "acme")["variables"][k]
                   for k in ("CLIENT_API_KEY", "ADMIN_API_KEY")}
    [live] = fleet.observe().managed()["acme"]
    ids = {"project_id": live.id, "environment_id": live.environment_id,
           "service_id": live.gateway.id}
    ops.variables_upsert(client, **ids, variables={"LOG_LEVEL": "trace", "HAND_MADE": "1"})
    ops.variables_upsert(client, **ids, variables={"AUTH_MODE": "passthrough"})
    plan = fleet.plan()
    assert kinds(plan) == [("acme", "set-variables")]
    assert plan.actions[0].change.unset == ("HAND_MADE",)
    converge(fleet)
    variables = gateway_of(emu, "acme")["variables"]
    assert variables["LOG_LEVEL"] == "info" and variables["AUTH_MODE"] == "both"
    assert "HAND_MADE" not in variables
    assert {k: variables[k] for k in keys_before} == keys_before  # keys are never rotated


def test_source_changed_by_hand_on_railway_is_reverted(fleet, client, acme, emu):
    [live] = fleet.observe().managed()["acme"]
    ops.service_connect(client, live.gateway.id, image=IMAGE)
    assert kinds(fleet.plan()) == [("acme", "update-source")]
    converge(fleet)
    assert gateway_of(emu, "acme")["source"] == {"repo": REPO, "branch": "main", "image": None}


def test_redeploy_request_deploys_the_newest_commit(fleet, acme, emu, clock):
    before = len(gateway_of(emu, "acme")["deployments"])
    first = gateway_of(emu, "acme")["deployments"][-1]["commitHash"]
    newest = emu.push_commit(REPO, "main")
    assert newest != first
    clock.advance(60)
    set_redeploy(acme, clock.now())
    report = converge(fleet)
    assert kinds(report.plan) == [("acme", "redeploy")]
    deployments = gateway_of(emu, "acme")["deployments"]
    assert len(deployments) == before + 1
    assert deployments[-1]["commitHash"] == newest
    assert_fleet_shape(emu, ["acme"])


# --- deletion --------------------------------------------------------------------------------


def test_schedule_delete_writes_the_deadline_and_the_tenant_keeps_running(fleet, acme, emu,
                                                                          clock):
    tombstone = set_tombstone(acme, clock.now(), grace_days=7)
    report = converge(fleet)
    assert kinds(report.plan) == [("acme", "schedule-delete")]
    project = project_of(emu, "acme")
    assert parse_marker(project["description"]).delete_after == tombstone.deadline
    assert project["deletedAt"] is None
    assert emu.counts["ProjectScheduleDelete"] == 0
    clock.advance(days=6)  # still before the deadline: nothing to do, the gateway runs
    assert fleet.plan().empty
    assert gateway_of(emu, "acme")["deployments"][-1]["status"] == "SUCCESS"
    assert_fleet_shape(emu, ["acme"])


def test_cancel_delete_removes_the_deadline(fleet, acme, emu, clock):
    set_tombstone(acme, clock.now())
    converge(fleet)
    clear_tombstone(acme)
    report = converge(fleet)
    assert kinds(report.plan) == [("acme", "cancel-delete")]
    assert parse_marker(project_of(emu, "acme")["description"]).delete_after is None
    assert_fleet_shape(emu, ["acme"])


def test_passed_deadline_schedules_railways_delete_not_an_immediate_one(fleet, acme, emu, clock):
    set_tombstone(acme, clock.now(), grace_days=7)
    converge(fleet)
    clock.advance(days=7, seconds=1)
    report = converge(fleet)
    assert kinds(report.plan) == [("acme", "delete")]
    assert report.plan.actions[0].change.mode is DeleteMode.SCHEDULED
    assert emu.counts["ProjectScheduleDelete"] == 1
    project = project_of(emu, "acme")
    assert project["deletedAt"] is not None  # still listed: Railway can restore it for 48 h
    assert_fleet_shape(emu, ["acme"])


def test_force_deletes_now(fleet, acme, emu, clock, write_tenant):
    write_tenant("globex")
    converge(fleet)
    set_tombstone(acme, clock.now(), force=True)
    report = converge(fleet)
    assert kinds(report.plan) == [("acme", "delete")]
    assert report.plan.actions[0].change.mode is DeleteMode.NOW
    assert emu.counts["ProjectScheduleDelete"] == 0
    assert_fleet_shape(emu, ["globex"])  # gone at once, not pending deletion


def test_tombstone_removed_after_railways_scheduled_delete_restores(fleet, acme, emu, clock):
    set_tombstone(acme, clock.now(), grace_days=1)
    converge(fleet)
    clock.advance(days=2)
    converge(fleet)
    assert project_of(emu, "acme")["deletedAt"] is not None
    clear_tombstone(acme)
    report = converge(fleet)
    assert kinds(report.plan)[0] == ("acme", "restore")
    project = project_of(emu, "acme")
    assert project["deletedAt"] is None
    assert parse_marker(project["description"]).delete_after is None
    assert_fleet_shape(emu, ["acme"])


# --- failures, saved plans and guards --------------------------------------------------------


class FailingFor:
    """A client that refuses the projectCreate of one project name, as Railway might."""

    def __init__(self, client, project_name: str) -> None:
        self.client, self.project_name = client, project_name

    def execute(self, operation, variables=None):
        wanted = (variables or {}).get("input", {}).get("name")
        if operation is ops.PROJECT_CREATE and wanted == self.project_name:
            raise ApiError("You have reached the project limit", operation=operation.name)
        return self.client.execute(operation, variables)


def test_failing_tenant_does_not_stop_the_others(client, clock, tenants_dir, write_tenant, emu):
    for name in ("acme", "globex", "initech"):
        write_tenant(name)
    fleet = Fleet(client=FailingFor(client, "luthien-globex"), clock=clock,
                  tenants_dir=tenants_dir)
    report = apply_pass(fleet)
    assert {o.tenant: o.ok for o in report.outcomes} == {
        "acme": True, "globex": False, "initech": True}
    assert "project limit" in report.failed[0].error
    assert not report.converged
    assert kinds(report.after) == [("globex", "create")]
    assert_fleet_shape(emu, ["acme", "initech"])


class BuggyFor:
    """A client whose answer for one project's create trips a bug in our code (a KeyError),
    not an error Railway reports."""

    def __init__(self, client, project_name: str) -> None:
        self.client, self.project_name = client, project_name

    def execute(self, operation, variables=None):
        wanted = (variables or {}).get("input", {}).get("name")
        if operation is ops.PROJECT_CREATE and wanted == self.project_name:
            return {}["projectCreate"]
        return self.client.execute(operation, variables)


def test_one_tenants_bug_is_logged_with_its_traceback_and_costs_the_others_nothing(
        client, clock, tenants_dir, write_tenant, emu, caplog):
    for name in ("acme", "globex", "initech"):
        write_tenant(name)
    fleet = Fleet(client=BuggyFor(client, "luthien-globex"), clock=clock, tenants_dir=tenants_dir)

    with caplog.at_level(logging.ERROR, logger="saas_infra.apply"):
        report = apply_pass(fleet)

    assert {o.tenant: o.ok for o in report.outcomes} == {
        "acme": True, "globex": False, "initech": True}
    assert report.failed[0].error == "unexpected KeyError: 'projectCreate'"
    assert_fleet_shape(emu, ["acme", "initech"])
    [record] = [r for r in caplog.records if r.name == "saas_infra.apply"]
    assert record.getMessage() == "tenant globex: unexpected error during apply"
    assert record.exc_info and record.exc_info[0] is KeyError
    assert 'return {}["projectCreate"]' in caplog.text  # the traceback, down to the bug


class ShortListing:
    """A client to which Railway reports more projects than its listing returns."""

    def __init__(self, client) -> None:
        self.client = client

    def execute(self, operation, variables=None):
        data = self.client.execute(operation, variables)
        if operation is ops.WORKSPACE_PROJECT_COUNT:
            data["workspace"]["projectCount"] += 5
        return data


def _doomed_fleet(fleet, write_tenant, clock, names):
    paths = [write_tenant(n) for n in names]
    converge(fleet)
    for path in paths:
        set_tombstone(path, clock.now(), grace_days=0)
    announced = apply_pass(fleet)  # a deadline is written on Railway before it can delete
    assert {a.kind for a in announced.plan.actions} == {ActionKind.SCHEDULE_DELETE}
    return paths


def test_max_deletions_guard_stops_the_pass_and_nothing_is_deleted(fleet, write_tenant, emu,
                                                                    clock):
    _doomed_fleet(fleet, write_tenant, clock, ["a", "b", "c", "d"])
    before = railway(emu)
    with pytest.raises(GuardError, match="4 deletions in one pass exceed --max-deletions 3"):
        apply_pass(fleet)
    assert railway(emu) == before
    assert emu.counts["ProjectScheduleDelete"] == 0
    fleet.max_deletions = 4
    converge(fleet)
    assert all(p["deletedAt"] for p in projects(emu))


def test_short_listing_guard_stops_the_pass(client, clock, tenants_dir, write_tenant, fleet, emu):
    _doomed_fleet(fleet, write_tenant, clock, ["acme"])
    before = railway(emu)
    short = Fleet(client=ShortListing(client), clock=clock, tenants_dir=tenants_dir)
    with pytest.raises(GuardError, match="listing is incomplete"):
        apply_pass(short)
    assert railway(emu) == before


@pytest.mark.parametrize("how", ["emptied", "removed"])
def test_empty_tenants_folder_guard_stops_the_pass(fleet, acme, tenants_dir, emu, how):
    acme.unlink()
    if how == "removed":
        tenants_dir.rmdir()
    before = railway(emu)
    with pytest.raises(GuardError, match="no tenant manifests, but Railway holds 1 managed"):
        apply_pass(fleet)
    assert railway(emu) == before


def test_stale_saved_plan_is_refused_and_a_fresh_one_applies(fleet, write_tenant, emu):
    write_tenant("acme")
    saved = fleet.plan().to_json()
    write_tenant("globex")
    with pytest.raises(StalePlanError, match="tenants changed since it was made: globex"):
        apply_pass(fleet, plan=Plan.from_json(saved))
    assert projects(emu) == []
    fresh = Plan.from_json(fleet.plan().to_json())
    converge(fleet, plan=fresh)
    assert_fleet_shape(emu, ["acme", "globex"])


def test_saved_plan_applied_twice_makes_no_duplicate(fleet, write_tenant, emu):
    write_tenant("acme")
    saved = fleet.plan().to_json()
    converge(fleet, plan=Plan.from_json(saved))
    with pytest.raises(StalePlanError, match="Railway changed since it was made for acme"):
        apply_pass(fleet, plan=Plan.from_json(saved))
    assert_fleet_shape(emu, ["acme"])


def test_targeted_apply_touches_only_its_targets(fleet, write_tenant, emu):
    write_tenant("acme")
    write_tenant("globex")
    report = apply_pass(fleet, targets=["globex"])
    assert report.converged and not report.failed
    assert kinds(report.plan) == [("globex", "create")]
    assert_fleet_shape(emu, ["globex"])
    assert fleet.plan(targets=["globex"]).empty
    assert [(a.tenant, a.kind) for a in fleet.plan().actions] == [("acme", ActionKind.CREATE)]
