"""compute_plan as a pure function: hand-built manifests and observed fleets in, a Plan out.

No emulator, no clock, no files: every input is built here, so each test names one rule of the
diff (which action, why, with which details) and fails when that rule breaks.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from saas_infra.diff import compute_plan
from saas_infra.errors import PlanError
from saas_infra.manifest import LoadedManifest, TenantManifest
from saas_infra.marker import Marker, parse_marker
from saas_infra.plan import (
    CHANGES,
    Action,
    ActionKind,
    CancelDelete,
    Create,
    Delete,
    DeleteMode,
    Finding,
    FindingKind,
    GatewayRef,
    HealthGate,
    Limits,
    MoveRegion,
    PassOptions,
    PlacedService,
    Plan,
    RecordFailure,
    Redeploy,
    Restore,
    Rollback,
    RolloutView,
    RolloutWave,
    ScheduleDelete,
    SetBackups,
    SetLimits,
    SetSecrets,
    Settings,
    SetVariables,
    SetVersion,
    Source,
    UpdateSettings,
    UpdateSource,
)
from saas_infra.railway.observed import (
    Observed,
    ObservedDeployment,
    ObservedProject,
    ObservedService,
    parse_project,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REPO = "LuthienResearch/luthien-proxy"
IMAGE = "ghcr.io/luthienresearch/luthien-proxy:1.2.3"
BASE_VARIABLES = {
    "AUTH_MODE": "both",
    "DATABASE_URL": "${{Postgres.DATABASE_URL}}",
    "REDIS_URL": "${{Redis.REDIS_URL}}",
}
KEYS = frozenset({"CLIENT_API_KEY", "ADMIN_API_KEY"})


NO_LIMITS = (None, None)  # the record of a gateway left to its plan's limits


def recorded(name: str, **fields) -> Marker:
    """A marker recording the default limits and backups, as a converged pass leaves it."""
    return Marker(name, limits=NO_LIMITS, backups=("daily",), **fields)


# --- builders -------------------------------------------------------------------------------


def tenant(name: str, *, gateway: dict | None = None, deletion: dict | None = None,
           redeploy: str | None = None) -> LoadedManifest:
    data: dict = {"version": 1, "name": name, "gateway": gateway or {"repo": REPO}}
    if deletion is not None:
        data["deletion"] = deletion
    if redeploy is not None:
        data["redeploy"] = {"requested_at": redeploy}
    manifest = TenantManifest.model_validate(data)
    return LoadedManifest(manifest, Path(f"tenants/{name}.yaml"), f"sha-{name}-{len(str(data))}")


def tombstone(requested_at: datetime = NOW, grace_days: int = 7, force: bool = False) -> dict:
    return {"requested_at": requested_at.isoformat(), "grace_days": grace_days, "force": force}


def gateway(*, repo: str | None = REPO, branch: str | None = "main", image: str | None = None,
            variables: dict | None = None, keys: frozenset = KEYS,
            domain: str | None = "gw.up.railway.app", sid: str = "svc-gw") -> ObservedService:
    return ObservedService(
        id=sid, name="gateway", repo=repo, branch=branch, image=image,
        variables=dict(BASE_VARIABLES if variables is None else variables),
        key_names=keys, domain=domain,
        deployment=ObservedDeployment("dep-1", "SUCCESS", NOW - timedelta(hours=1)),
    )


def project(name: str, *, pid: str | None = None, marker: Marker | None | str = "default",
            services: dict | None = None, gw: ObservedService | None = None,
            deleted_at: datetime | None = None, project_name: str | None = None) -> ObservedProject:
    if marker == "default":
        marker = Marker(tenant=name, limits=NO_LIMITS, backups=("daily",))
    if services is None:
        services = {
            "Postgres": ObservedService("svc-pg", "Postgres"),
            "Redis": ObservedService("svc-rd", "Redis"),
            "gateway": gw or gateway(),
        }
    return ObservedProject(
        id=pid or f"prj-{name}",
        name=project_name or f"luthien-{name}",
        description=marker.render() if marker else "someone's project",
        created_at=NOW - timedelta(days=30),
        deleted_at=deleted_at,
        marker=marker,
        environment_id=f"env-{name}",
        services=services,
    )


def observed(*projects: ObservedProject, complete: bool = True, problem: str | None = None):
    return Observed(tuple(projects), complete=complete, problem=problem)


def plan_for(manifests, fleet: Observed, now: datetime = NOW, **kw) -> Plan:
    return compute_plan(list(manifests), fleet, now, **kw)


def only_action(plan: Plan) -> Action:
    assert len(plan.actions) == 1, plan.actions
    return plan.actions[0]


# --- converged and create -----------------------------------------------------------------


def test_converged_tenant_has_an_empty_plan():
    plan = plan_for([tenant("acme")], observed(project("acme")))
    assert plan.empty and not plan.findings and not plan.guards
    assert plan.fingerprints == {"acme": tenant("acme").fingerprint}
    assert plan.at == "2026-11-26T12:00:00Z"


def test_new_tenant_is_created_with_source_variables_and_marker():
    manifest = tenant("acme", gateway={"repo": REPO, "branch": "dev", "auth_mode": "client_key",
                                       "variables": {"LOG_LEVEL": "debug"}})
    action = only_action(plan_for([manifest], observed()))
    assert (action.tenant, action.kind, action.project_id) == ("acme", ActionKind.CREATE, None)
    assert action.reason == "new tenant: no project on Railway"
    change = action.change
    assert isinstance(change, Create)
    assert change.missing == ("project", "Postgres", "Redis", "gateway", "domain")
    assert change.project_name == "luthien-acme"
    assert change.source == Source(repo=REPO, branch="dev")
    assert change.variables == {
        "AUTH_MODE": "client_key",
        "DATABASE_URL": "${{Postgres.DATABASE_URL}}",
        "LOG_LEVEL": "debug",
        "REDIS_URL": "${{Redis.REDIS_URL}}",
    }
    assert "GATEWAY_PORT" not in change.variables
    assert parse_marker(change.description) == Marker(tenant="acme")


def test_image_tenant_is_created_from_the_image():
    action = only_action(plan_for([tenant("acme", gateway={"image": IMAGE})], observed()))
    assert isinstance(action.change, Create) and action.change.source == Source(image=IMAGE)


def test_interrupted_create_is_finished_in_the_same_project():
    half = project("acme", services={"Postgres": ObservedService("svc-pg", "Postgres")})
    action = only_action(plan_for([tenant("acme")], observed(half)))
    assert (action.kind, action.project_id) == (ActionKind.CREATE, "prj-acme")
    assert isinstance(action.change, Create)
    assert action.change.missing == ("Redis", "gateway", "domain")
    assert action.reason == "finishing an interrupted create: missing Redis, gateway, domain"


def test_gateway_without_keys_or_domain_is_finished():
    keyless = project("acme", gw=gateway(keys=frozenset({"CLIENT_API_KEY"}), domain=None))
    action = only_action(plan_for([tenant("acme")], observed(keyless)))
    assert isinstance(action.change, Create) and action.change.missing == ("keys", "domain")


# --- updates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "live", "reason"),
    [
        ({"repo": "acme-corp/proxy"}, {}, f"gateway source {REPO}@main -> acme-corp/proxy@main"),
        ({"repo": REPO, "branch": "dev"}, {}, f"gateway source {REPO}@main -> {REPO}@dev"),
        ({"image": IMAGE}, {}, f"gateway source {REPO}@main -> {IMAGE}"),
        ({"repo": REPO}, {"repo": None, "branch": None, "image": IMAGE},
         f"gateway source {IMAGE} -> {REPO}@main"),
    ],
    ids=["repo", "branch", "to-image", "to-repo"],
)
def test_gateway_source_change_is_an_update(wanted, live, reason):
    observed_fleet = observed(project("acme", gw=gateway(**live)))
    action = only_action(plan_for([tenant("acme", gateway=wanted)], observed_fleet))
    assert action.kind is ActionKind.UPDATE_SOURCE
    assert action.reason == reason
    expected_source = Source(image=IMAGE) if "image" in wanted else Source(
        repo=wanted["repo"], branch=wanted.get("branch", "main"))
    assert action.change == UpdateSource(expected_source, GatewayRef("env-acme", "svc-gw"))


def test_branch_railway_does_not_report_is_not_drift():
    plan = plan_for([tenant("acme")], observed(project("acme", gw=gateway(branch=None))))
    assert plan.empty


def test_variables_added_changed_and_removed_in_the_manifest():
    live = gateway(variables={**BASE_VARIABLES, "LOG_LEVEL": "info", "OLD_FLAG": "1"})
    manifest = tenant("acme", gateway={"repo": REPO, "variables": {"LOG_LEVEL": "debug",
                                                                    "REGION": "eu"}})
    action = only_action(plan_for([manifest], observed(project("acme", gw=live))))
    assert action.kind is ActionKind.SET_VARIABLES
    assert action.change == SetVariables(
        values={"LOG_LEVEL": "debug", "REGION": "eu"},
        unset=("OLD_FLAG",),
        gateway=GatewayRef("env-acme", "svc-gw"),
    )
    assert action.reason == (
        "gateway variables differ from the manifest: LOG_LEVEL, REGION, -OLD_FLAG")


def test_drift_made_on_railway_is_put_back():
    live = gateway(variables={**BASE_VARIABLES, "AUTH_MODE": "passthrough", "DEBUG": "1"})
    action = only_action(plan_for([tenant("acme")], observed(project("acme", gw=live))))
    assert isinstance(action.change, SetVariables)
    assert action.change.values == {"AUTH_MODE": "both"}
    assert action.change.unset == ("DEBUG",)


def test_railway_and_generated_variables_are_never_drift():
    raw = {**BASE_VARIABLES, "CLIENT_API_KEY": "sk-1", "ADMIN_API_KEY": "sk-2",
           "RAILWAY_PUBLIC_DOMAIN": "gw.up.railway.app", "RAILWAY_DOCKERFILE_PATH": "x"}
    listed = parse_project(_listing_node("acme", raw))
    assert listed.gateway.key_names == KEYS
    assert plan_for([tenant("acme")], observed(listed)).empty
    # the same rule holds for observed data that did not go through the listing's parser
    handmade = project("acme", gw=gateway(variables={**BASE_VARIABLES,
                                                     "RAILWAY_PUBLIC_DOMAIN": "gw.up.railway.app",
                                                     "CLIENT_API_KEY": "sk-1"}))
    assert plan_for([tenant("acme")], observed(handmade)).empty


def _listing_node(name: str, variables: dict) -> dict:
    """One project as the Fleet listing returns it (the shape ops.FLEET asks for)."""
    service_ids = {"Postgres": "svc-pg", "Redis": "svc-rd", "gateway": "svc-gw"}
    config = {"services": {"svc-gw": {
        "source": {"repo": REPO, "branch": "main"},
        "variables": {k: {"value": v} for k, v in variables.items()}}}}
    instances = [{"node": {
        "id": f"inst-{sid}", "serviceId": sid, "serviceName": sname, "environmentId": "env",
        "source": {"repo": REPO, "image": None} if sname == "gateway" else {"image": "x"},
        "latestDeployment": None,
        "domains": {"serviceDomains": [{"id": "d", "domain": "gw.up.railway.app"}]
                    if sname == "gateway" else []},
    }} for sname, sid in service_ids.items()]
    return {
        "id": f"prj-{name}", "name": f"luthien-{name}", "description": recorded(name).render(),
        "createdAt": "2026-10-01T00:00:00Z", "deletedAt": None,
        "services": {"edges": [{"node": {"id": sid, "name": sname}}
                               for sname, sid in service_ids.items()]},
        "environments": {"edges": [{"node": {
            "id": "env", "name": "production", "config": config,
            "serviceInstances": {"edges": instances}}}]},
    }


# --- redeploy --------------------------------------------------------------------------------


def test_redeploy_request_not_yet_honoured_is_a_redeploy():
    manifest = tenant("acme", redeploy="2026-11-26T10:00:00Z")
    action = only_action(plan_for([manifest], observed(project("acme"))))
    assert action.kind is ActionKind.REDEPLOY
    assert action.reason == "redeploy requested at 2026-11-26T10:00:00Z"
    assert isinstance(action.change, Redeploy)
    assert action.change.gateway == GatewayRef("env-acme", "svc-gw")
    assert parse_marker(action.change.description).redeploy == "2026-11-26T10:00:00Z"


def test_redeploy_already_honoured_is_not_repeated():
    marker = recorded("acme", redeploy="2026-11-26T10:00:00Z")
    manifest = tenant("acme", redeploy="2026-11-26T10:00:00Z")
    assert plan_for([manifest], observed(project("acme", marker=marker))).empty


def test_redeploy_of_a_new_tenant_is_part_of_its_create():
    plan = plan_for([tenant("acme", redeploy="2026-11-26T10:00:00Z")], observed())
    assert [a.kind for a in plan.actions] == [ActionKind.CREATE]
    change = plan.actions[0].change
    assert isinstance(change, Create) and "redeploy=2026-11-26T10:00:00Z" in change.description


# --- deletion --------------------------------------------------------------------------------


def test_tombstone_before_its_deadline_schedules_the_deletion():
    manifest = tenant("acme", deletion=tombstone(grace_days=7))
    action = only_action(plan_for([manifest], observed(project("acme"))))
    assert action.kind is ActionKind.SCHEDULE_DELETE
    assert isinstance(action.change, ScheduleDelete)
    assert action.change.deadline == "2026-12-03T12:00:00Z"
    assert parse_marker(action.change.description).delete_after == NOW + timedelta(days=7)
    assert action.reason == (
        "deletion scheduled for 2026-12-03T12:00:00Z; the tenant keeps running until then")


def test_deadline_already_on_railway_needs_nothing_until_it_passes():
    marker = recorded("acme", delete_after=NOW + timedelta(days=7))
    fleet = observed(project("acme", marker=marker))
    manifest = tenant("acme", deletion=tombstone(grace_days=7))
    just_before = NOW + timedelta(days=7) - timedelta(seconds=1)
    assert plan_for([manifest], fleet, just_before).empty


@pytest.mark.parametrize(
    ("offset", "reason_tail"),
    [(timedelta(0), "passed (0h ago)"), (timedelta(days=1, hours=3), "passed (1d 3h ago)")],
    ids=["exactly-at", "after"],
)
def test_deadline_passes_exactly_at_requested_at_plus_grace(offset, reason_tail):
    marker = recorded("acme", delete_after=NOW + timedelta(days=7))
    manifest = tenant("acme", deletion=tombstone(grace_days=7))
    at = NOW + timedelta(days=7) + offset
    action = only_action(plan_for([manifest], observed(project("acme", marker=marker)), at))
    assert (action.kind, action.project_id) == (ActionKind.DELETE, "prj-acme")
    assert action.change == Delete(DeleteMode.SCHEDULED, "luthien-acme")
    assert action.reason == f"deletion deadline 2026-12-03T12:00:00Z {reason_tail}"


def test_zero_grace_is_announced_on_railway_before_it_deletes():
    manifest = tenant("acme", deletion=tombstone(grace_days=0))
    first = only_action(plan_for([manifest], observed(project("acme"))))
    assert first.kind is ActionKind.SCHEDULE_DELETE
    announced = project("acme", marker=Marker("acme", delete_after=manifest.manifest.deletion.deadline))
    action = only_action(plan_for([manifest], observed(announced)))
    assert action.change == Delete(DeleteMode.SCHEDULED, "luthien-acme")


def test_a_deadline_long_past_but_never_announced_is_announced_not_deleted():
    manifest = tenant("acme", deletion=tombstone(requested_at=NOW - timedelta(days=400), grace_days=7))
    plan = plan_for([manifest], observed(project("acme")))
    assert [a.kind for a in plan.actions] == [ActionKind.SCHEDULE_DELETE]
    assert not plan.destructive


def test_force_deletes_now():
    manifest = tenant("acme", deletion=tombstone(grace_days=7, force=True))
    action = only_action(plan_for([manifest], observed(project("acme"))))
    assert action.kind is ActionKind.DELETE
    assert action.change == Delete(DeleteMode.NOW, "luthien-acme")
    assert action.reason == "tombstone with force: deleting now"
    assert plan_for([manifest], observed(project("acme"))).destructive


def test_tombstone_removed_cancels_the_deletion_on_railway():
    marker = recorded("acme", delete_after=NOW + timedelta(days=7))
    action = only_action(plan_for([tenant("acme")], observed(project("acme", marker=marker))))
    assert action.kind is ActionKind.CANCEL_DELETE
    assert action.reason == "tombstone removed from the manifest"
    assert action.change == CancelDelete(recorded("acme").render())


def test_project_pending_deletion_without_tombstone_is_restored_and_unmarked():
    marker = recorded("acme", delete_after=NOW - timedelta(days=1))
    pending = project("acme", marker=marker, deleted_at=NOW - timedelta(hours=2))
    plan = plan_for([tenant("acme")], observed(pending))
    assert [a.kind for a in plan.actions] == [ActionKind.RESTORE, ActionKind.CANCEL_DELETE]
    assert {a.project_id for a in plan.actions} == {"prj-acme"}
    assert "scheduled delete" in plan.actions[0].reason
    assert plan.actions[1].change == CancelDelete(recorded("acme").render())


@pytest.mark.parametrize("grace_days", [0, 7], ids=["due", "not-due"])
def test_tombstoned_tenant_that_is_gone_is_not_created_again(grace_days):
    manifest = tenant("acme", deletion=tombstone(NOW - timedelta(days=1), grace_days=grace_days))
    assert plan_for([manifest], observed()).empty


def test_tombstoned_tenant_pending_deletion_after_its_deadline_is_left_alone():
    manifest = tenant("acme", deletion=tombstone(NOW - timedelta(days=8), grace_days=7))
    pending = project("acme", deleted_at=NOW - timedelta(hours=1))
    assert plan_for([manifest], observed(pending)).empty


def test_pending_deletion_before_the_manifests_deadline_is_restored_until_then():
    manifest = tenant("acme", deletion=tombstone(NOW - timedelta(days=1), grace_days=7))
    pending = project("acme", deleted_at=NOW - timedelta(hours=1))
    plan = plan_for([manifest], observed(pending))
    assert [a.kind for a in plan.actions] == [ActionKind.RESTORE, ActionKind.SCHEDULE_DELETE]
    change = plan.actions[1].change
    assert isinstance(change, ScheduleDelete) and change.deadline == "2026-12-02T12:00:00Z"


def test_forced_tombstone_of_a_tenant_that_is_gone_is_a_no_op():
    manifest = tenant("acme", deletion=tombstone(force=True))
    assert plan_for([manifest], observed()).empty


# --- findings --------------------------------------------------------------------------------


def test_managed_project_without_a_manifest_is_an_orphan_never_deleted():
    plan = plan_for([tenant("acme")], observed(project("acme"), project("initech")))
    assert plan.empty and not plan.destructive
    assert plan.findings == (Finding(FindingKind.ORPHAN, plan.findings[0].reason, tenant="initech",
                                     project_id="prj-initech", project_name="luthien-initech"),)
    assert "never deleted" in plan.findings[0].reason


def test_luthien_project_without_the_marker_is_unmanaged_and_untouched():
    stranger = project("acme", marker=None, pid="prj-stranger")
    other = project("x", marker=None, pid="prj-other", project_name="website")
    plan = plan_for([], observed(stranger, other))
    assert plan.empty and not plan.guards
    assert [(f.kind, f.project_id) for f in plan.findings] == [
        (FindingKind.UNMANAGED, "prj-stranger")]


def test_unmanaged_namesake_blocks_the_tenant_instead_of_a_second_project():
    stranger = project("acme", marker=None, pid="prj-stranger")
    plan = plan_for([tenant("acme")], observed(stranger))
    assert plan.actions == ()
    blocked = [f for f in plan.findings if f.kind is FindingKind.BLOCKED]
    assert [(f.tenant, f.project_id) for f in blocked] == [("acme", "prj-stranger")]
    assert "without the saas-infra marker" in blocked[0].reason


def test_two_managed_projects_for_one_tenant_block_it():
    drifted = gateway(variables={**BASE_VARIABLES, "DEBUG": "1"})
    one, two = project("acme", pid="prj-1", gw=drifted), project("acme", pid="prj-2")
    plan = plan_for([tenant("acme"), tenant("globex")], observed(one, two))
    assert [(a.tenant, a.kind) for a in plan.actions] == [("globex", ActionKind.CREATE)]
    kinds = [(f.kind, f.project_id) for f in plan.findings]
    assert kinds == [(FindingKind.DUPLICATE, "prj-1"), (FindingKind.DUPLICATE, "prj-2"),
                     (FindingKind.BLOCKED, None)]
    assert all(f.tenant == "acme" for f in plan.findings)
    assert "prj-1, prj-2" in plan.findings[0].reason


def test_duplicate_blocks_even_a_due_deletion():
    due = tenant("acme", deletion=tombstone(NOW - timedelta(days=30), force=True))
    plan = plan_for([due], observed(project("acme", pid="prj-1"), project("acme", pid="prj-2")))
    assert plan.empty and not plan.destructive


# --- order and targets -------------------------------------------------------------------------


def _busy_fleet():
    manifests = [
        tenant("zeta"),
        tenant("acme", gateway={"image": IMAGE, "variables": {"LOG_LEVEL": "debug"}},
               redeploy="2026-11-26T10:00:00Z", deletion=tombstone(grace_days=7)),
        tenant("mid"),
    ]
    fleet = observed(project("acme"), project("mid", gw=gateway(branch="old")), project("orphan"))
    return manifests, fleet


def test_actions_come_by_tenant_name_then_in_apply_order():
    manifests, fleet = _busy_fleet()
    plan = plan_for(manifests, fleet)
    assert [(a.tenant, a.kind.value) for a in plan.actions] == [
        ("acme", "set-variables"),
        ("acme", "update-source"),
        ("acme", "redeploy"),
        ("acme", "schedule-delete"),
        ("mid", "update-source"),
        ("zeta", "create"),
    ]


def test_plan_does_not_depend_on_input_order():
    manifests, fleet = _busy_fleet()
    first = plan_for(manifests, fleet)
    for seed in range(5):
        shuffled_manifests = random.Random(seed).sample(manifests, len(manifests))
        projects = random.Random(seed).sample(fleet.projects, len(fleet.projects))
        again = plan_for(shuffled_manifests, observed(*projects))
        assert again == first
        assert again.to_json() == first.to_json()


def test_targets_limit_actions_findings_and_fingerprints():
    manifests, fleet = _busy_fleet()
    plan = plan_for(manifests, fleet, targets=["zeta", "mid", "zeta"])
    assert plan.targets == ("mid", "zeta")
    assert plan.tenants() == ["mid", "zeta"]
    assert set(plan.fingerprints) == {"mid", "zeta"}
    assert not plan.findings  # the orphan is outside the targets
    assert [f.tenant for f in plan_for(manifests, fleet, targets=["orphan"]).findings] == [
        "orphan"]


# --- guards ------------------------------------------------------------------------------------


def test_no_manifests_while_railway_holds_managed_tenants_trips_a_guard():
    plan = plan_for([], observed(project("acme"), project("globex")))
    assert [g.name for g in plan.guards] == ["empty-desired-state"]
    assert "Railway holds 2 managed tenants" in plan.guards[0].message


def test_no_manifests_and_no_managed_tenants_is_fine():
    assert not plan_for([], observed(project("x", marker=None))).guards


def test_incomplete_listing_trips_a_guard():
    fleet = observed(project("acme"), complete=False, problem="listing failed part-way: HTTP 502")
    plan = plan_for([tenant("acme")], fleet)
    assert [g.name for g in plan.guards] == ["incomplete-listing"]
    assert "listing failed part-way: HTTP 502" in plan.guards[0].message


def _due(names):
    old = tombstone(NOW - timedelta(days=10), grace_days=7)
    marker_deadline = NOW - timedelta(days=3)
    manifests = [tenant(n, deletion=old) for n in names]
    fleet = observed(*(project(n, marker=Marker(n, delete_after=marker_deadline)) for n in names))
    return manifests, fleet


def test_more_deletions_than_the_limit_trip_a_guard():
    manifests, fleet = _due(["a", "b", "c", "d"])
    plan = plan_for(manifests, fleet, max_deletions=3)
    assert [g.name for g in plan.guards] == ["max-deletions"]
    assert plan.guards[0].message == (
        "4 deletions in one pass exceed --max-deletions 3: a, b, c, d")


def test_deletions_up_to_the_limit_pass():
    manifests, fleet = _due(["a", "b", "c"])
    plan = plan_for(manifests, fleet, max_deletions=3)
    assert not plan.guards
    assert [a.kind for a in plan.actions] == [ActionKind.DELETE] * 3


# --- serialisation -----------------------------------------------------------------------------


def test_plan_json_round_trip_keeps_everything():
    manifests, fleet = _busy_fleet()
    plan = plan_for(manifests, fleet, targets=["acme", "mid"], workspace_id="ws-1")
    stale_guard = plan_for([], observed(project("acme")))
    for original in (plan, stale_guard):
        again = Plan.from_json(original.to_json())
        assert again == original
        assert again.to_json() == original.to_json()
    assert Plan.from_json(plan.to_json()).actions[0].kind is ActionKind.SET_VARIABLES


@pytest.mark.parametrize(
    "text",
    [
        "not json at all",
        "",
        "[]",
        "null",
        "42",
        '{"format": "2", "at": "2026-11-26T12:00:00Z"}',
        '{"format": 2}',
        '{"format": 2, "at": "x", "actions": [{"tenant": "a", "kind": "explode", "reason": ""}]}',
        '{"format": 2, "at": "x", "actions": [{"tenant": "a"}]}',
        '{"format": 2, "at": "x", "actions": [7]}',
        '{"format": 2, "at": "x", "findings": [{"kind": "orphan", "surprise": 1, "reason": ""}]}',
        '{"format": 2, "at": "x", "guards": [{"name": "g"}]}',
        # a change that does not fit its kind's fields: wrong type, missing, unknown, bad enum
        '{"format": 2, "at": "x", "actions": [{"tenant": "a", "kind": "delete", "reason": "",'
        ' "change": {"mode": "now", "project_name": 7}}]}',
        '{"format": 2, "at": "x", "actions": [{"tenant": "a", "kind": "delete", "reason": "",'
        ' "change": {"mode": "now"}}]}',
        '{"format": 2, "at": "x", "actions": [{"tenant": "a", "kind": "restore", "reason": "",'
        ' "change": {"mode": "now"}}]}',
        '{"format": 2, "at": "x", "actions": [{"tenant": "a", "kind": "delete", "reason": "",'
        ' "change": {"mode": "later", "project_name": "luthien-a"}}]}',
        '{"format": 2, "at": "x", "actions": [{"tenant": "a", "kind": "set-variables",'
        ' "reason": "", "change": {"values": {"A": 1}, "unset": [],'
        ' "gateway": {"service_id": "s"}}}]}',
        '{"format": 2, "at": "x", "actions": [{"tenant": "a", "kind": "set-variables",'
        ' "reason": "", "change": {"values": {}, "unset": "A", "gateway": {"service_id": "s"}}}]}',
    ],
)
def test_garbage_is_a_plan_error(text):
    with pytest.raises(PlanError):
        Plan.from_json(text)


def test_every_action_kind_has_one_change_class_that_survives_a_saved_plan():
    changes = [
        Create("luthien-a", "[saas-infra tenant=a]", Source(image=IMAGE), {"A": "1"}, ("keys",),
               {"ANTHROPIC_API_KEY": "LUTHIEN_ANTHROPIC_API_KEY"}),
        UpdateSource(Source(repo=REPO, branch="dev"), GatewayRef(None, "svc")),
        SetVariables({"A": "1"}, ("B",), GatewayRef("env", "svc")),
        UpdateSettings(Settings(healthcheck_path="/health", sleep=False, replicas=2,
                                region="us-west2"), GatewayRef("env", "svc")),
        SetSecrets({"API_TOKEN": "CI_TOKEN"}, GatewayRef("env", "svc"), resync=True),
        MoveRegion("europe-west4-drams3a", (PlacedService("Postgres", "pg", "us-west2"),
                                            PlacedService("Redis", "rd", None, write=False)),
                   "env", confirmed=True),
        SetLimits(Limits(2.0, None), "[saas-infra tenant=a limits=2/plan]",
                  GatewayRef("env", "svc"), deploy=False),
        SetBackups(("DAILY", "WEEKLY"), "[saas-infra tenant=a backups=daily+weekly]", "svc-pg",
                   "env", "vol-1"),
        Redeploy("[saas-infra tenant=a]", GatewayRef("env", "svc"), commit="a" * 40),
        SetVersion(Source(repo=REPO, branch="main", commit="b" * 40), True,
                   GatewayRef("env", "svc")),
        SetVersion(Source(repo=REPO, branch="main", commit="b" * 40), True,
                   GatewayRef("env", "svc"),
                   gate=HealthGate("stable", "b" * 40, "/health", 300, "https://a.example",
                                   rollback=True, wave=2)),
        Rollback("b" * 40, GatewayRef("env", "svc")),
        ScheduleDelete("[saas-infra tenant=a]", "2026-12-03T12:00:00Z"),
        CancelDelete("[saas-infra tenant=a]"),
        RecordFailure("[saas-infra tenant=a]"),
        Restore(),
        Delete(DeleteMode.NOW, "luthien-a"),
    ]
    assert sorted({c.kind for c in changes}) == sorted(ActionKind)
    assert set(CHANGES) == set(ActionKind)
    rollouts = (RolloutView("stable", "b" * 40, (RolloutWave(1, healthy=("a",)),
                                                 RolloutWave(2, old=("c",), starting=("b",))),
                            halted=False, soak_remaining_seconds=None),)
    plan = Plan(at="x", actions=tuple(Action("a", "why", c, "prj") for c in changes),
                rollouts=rollouts, deep=True)
    again = Plan.from_json(plan.to_json())
    assert again == plan and not again.edited


def _saved(*changes, deep=False) -> Plan:
    return Plan.from_json(Plan(at="x", actions=tuple(Action("a", "why", c, "prj") for c in changes),
                               deep=deep).to_json())


RESYNC = SetSecrets({"API_TOKEN": "CI_TOKEN"}, GatewayRef("env", "svc"), resync=True)
MOVE = MoveRegion("europe-west4-drams3a", (PlacedService("Postgres", "pg", "us-west2"),), "env")


def test_a_saved_plan_carries_the_options_its_actions_record():
    assert PassOptions.from_plan(_saved(MOVE)) == PassOptions()
    assert PassOptions.from_plan(_saved(RESYNC, replace(MOVE, confirmed=True), deep=True)) == \
        PassOptions(resync_secrets=True, allow_region_move=True, deep=True)


def test_applying_a_saved_plan_adds_a_resync_or_deep_read_but_confirms_only_its_moves():
    asked = PassOptions(resync_secrets=True, allow_region_move=True, deep=True)
    assert asked.with_saved(_saved(MOVE)) == PassOptions(resync_secrets=True, deep=True)
    assert PassOptions().with_saved(_saved(RESYNC, deep=True)) == \
        PassOptions(resync_secrets=True, deep=True)
    assert PassOptions().with_saved(_saved(replace(MOVE, confirmed=True))) == \
        PassOptions(allow_region_move=True)


def test_the_recheck_after_a_pass_compares_secrets_by_name_again():
    asked = PassOptions(resync_secrets=True, allow_region_move=True, deep=True)
    assert asked.for_recheck() == PassOptions(allow_region_move=True, deep=True)


def test_a_plan_saved_by_an_older_version_is_refused_with_what_to_do():
    old = json.dumps({"format": 1, "at": "2026-11-26T12:00:00Z", "actions": [
        {"tenant": "a", "kind": "delete", "reason": "", "project_id": "prj-a",
         "details": {"mode": "now", "project_name": "luthien-a"}}]})
    with pytest.raises(PlanError) as caught:
        Plan.from_json(old)
    assert str(caught.value) == (
        "the saved plan was made by an older saas-infra (plan format 1; this version reads "
        "only format 2)")


def test_a_plan_saved_by_a_newer_version_is_refused():
    with pytest.raises(PlanError, match="made by a newer saas-infra .plan format 3"):
        Plan.from_json('{"format": 3, "at": "2026-11-26T12:00:00Z"}')
