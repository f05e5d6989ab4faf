"""The operator's verbs (create, list, status, redeploy, delete, cancel-delete, whoami,
credentials, adopt) as manifest edits followed by a reconcile pass for that one tenant.

Shared by the command line and the demo UI, so both take the same path. Returns plain results;
never prints. Keys travel only in CreateResult/Credentials objects, whose repr hides them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from saas_infra import manifest as mf
from saas_infra.apply import FAILED, IN_PROGRESS, KEY_NAMES, generate_key
from saas_infra.clock import format_time
from saas_infra.diff import desired_source
from saas_infra.errors import AuthError, ConfigError, SaasInfraError
from saas_infra.plan import ActionKind
from saas_infra.railway import operations as ops
from saas_infra.railway.observed import Observed, ObservedProject
from saas_infra.reconcile import ApplyReport, Fleet, apply_pass, wait_for_gateway

CONSOLE_URL = "https://railway.com/project/{id}"
DEFAULT_GRACE_DAYS = 7


class InstanceExistsError(SaasInfraError):
    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(f"Instance already exists: {name}{detail}")
        self.hint = "choose a different name or delete the existing instance first"


class NoDeletionScheduledError(SaasInfraError):
    pass


@dataclass
class VerbResult:
    tenant: str
    report: ApplyReport | None = None
    project_id: str | None = None
    url: str | None = None
    deployment: dict | None = None
    deadline: datetime | None = None
    manifest_path: str | None = None
    credentials: dict[str, str] | None = field(default=None, repr=False)
    message: str = ""

    @property
    def console_url(self) -> str | None:
        return CONSOLE_URL.format(id=self.project_id) if self.project_id else None

    @property
    def ok(self) -> bool:
        if self.report and (self.report.failed or not self.report.converged):
            return False
        return not (self.deployment and self.deployment.get("status") in FAILED)


def manifest_path(fleet: Fleet, name: str):
    return fleet.tenants_dir / f"{name}.yaml"


def existing_manifest(fleet: Fleet, name: str):
    for suffix in (".yaml", ".yml"):
        path = fleet.tenants_dir / f"{name}{suffix}"
        if path.exists():
            return path
    return None


def require_manifest(fleet: Fleet, name: str):
    path = existing_manifest(fleet, name)
    if path is None:
        raise ConfigError(f"no tenant named {name} (no {manifest_path(fleet, name)})",
                          hint="`saas-infra list` shows the tenants")
    return path


def _pass(fleet: Fleet, name: str, progress=None) -> ApplyReport:
    return apply_pass(fleet, targets=[name], progress=progress)


def _project_of(report: ApplyReport, name: str) -> ObservedProject | None:
    live = report.observed.managed().get(name, []) if report.observed else []
    return live[0] if len(live) == 1 else None


# --- create -----------------------------------------------------------------------------------


def create(fleet: Fleet, name: str, *, repo=None, branch=None, image=None, apply=True,
           wait=True, progress=None, on_status=None) -> VerbResult:
    if existing_manifest(fleet, name):
        raise InstanceExistsError(name)
    fleet.tenants_dir.mkdir(parents=True, exist_ok=True)
    if apply:
        found = fleet.observe().managed().get(name)
        if found:
            raise InstanceExistsError(
                name, f" (project {found[0].id} on Railway has no manifest; "
                "`saas-infra adopt " + name + "` writes one)")
    path = mf.write_new_manifest(fleet.tenants_dir, name, repo=repo, branch=branch, image=image)
    result = VerbResult(name, manifest_path=str(path))
    if not apply:
        result.message = f"Wrote {path}; `saas-infra apply` will create it."
        return result
    report = _pass(fleet, name, progress)
    result.report = report
    outcome = next((o for o in report.outcomes if o.tenant == name), None)
    result.credentials = outcome.credentials if outcome else None
    project = _project_of(report, name)
    if project:
        result.project_id, result.url = project.id, project.url
    if wait and project and not report.failed:
        result.deployment = wait_for_gateway(fleet, name, on_status=on_status)
    return result


# --- delete / cancel ----------------------------------------------------------------------------


def delete(fleet: Fleet, name: str, *, force=False, grace_days=DEFAULT_GRACE_DAYS,
           progress=None) -> VerbResult:
    path = require_manifest(fleet, name)
    now = fleet.clock.now()
    tombstone = mf.set_tombstone(path, now, grace_days=grace_days, force=force)
    result = VerbResult(name, manifest_path=str(path), deadline=None if force else tombstone.deadline)
    report = _pass(fleet, name, progress)
    result.report = report
    outcome = next((o for o in report.outcomes if o.tenant == name), None)
    result.project_id = outcome.project_id if outcome else None
    if force and report.converged and not report.failed:
        path.unlink()  # the tenant is gone; git history keeps the manifest
        result.message = f"Deleted {name} now; removed {path}."
    elif not force:
        result.message = (f"{name} is scheduled for deletion at {format_time(tombstone.deadline)}; "
                          f"it keeps running until then. `saas-infra cancel-delete {name}` undoes it.")
    return result


def cancel_delete(fleet: Fleet, name: str, *, progress=None) -> VerbResult:
    path = require_manifest(fleet, name)
    if not mf.clear_tombstone(path):
        raise NoDeletionScheduledError(f"No deletion is scheduled for {name}")
    report = _pass(fleet, name, progress)
    result = VerbResult(name, report=report, manifest_path=str(path))
    project = _project_of(report, name)
    result.project_id = project.id if project else None
    result.message = f"Cancelled the scheduled deletion of {name}."
    return result


# --- redeploy -----------------------------------------------------------------------------------


def redeploy(fleet: Fleet, name: str, *, wait=True, progress=None, on_status=None) -> VerbResult:
    path = require_manifest(fleet, name)
    mf.set_redeploy(path, fleet.clock.now())
    report = _pass(fleet, name, progress)
    result = VerbResult(name, report=report, manifest_path=str(path))
    project = _project_of(report, name)
    if project:
        result.project_id, result.url = project.id, project.url
    if wait and project and not report.failed:
        result.deployment = wait_for_gateway(fleet, name, on_status=on_status)
    return result


# --- list / status ------------------------------------------------------------------------------


def _status_of(project: ObservedProject | None) -> str:
    if project is None:
        return "not created"
    gateway = project.gateway
    if gateway is None or gateway.deployment is None:
        return "provisioning"
    status = gateway.deployment.status
    if status == "SUCCESS":
        return "running"
    if status in IN_PROGRESS:
        return "deploying"
    if status in FAILED:
        return "failed"
    return status.lower()


def _left(deadline: datetime, now: datetime) -> str:
    seconds = (deadline - now).total_seconds()
    if seconds <= 0:
        return "due now"
    days, rest = divmod(int(seconds), 86400)
    hours = rest // 3600
    return f"{days}d {hours}h left" if days else f"{hours}h {rest % 3600 // 60}m left"


def instance_row(name: str, loaded, project: ObservedProject | None, now: datetime,
                 status: str | None = None) -> dict[str, Any]:
    spec = loaded.manifest if loaded else None
    deletion = spec.deletion if spec else None
    deadline = (deletion.deadline if deletion and not deletion.force else None) or (
        project.marker.delete_after if project and project.marker else None)
    state = status or _status_of(project)
    if deletion and project is None:
        state = "deleted"
    elif deadline and project is not None:
        state = f"deletion scheduled ({_left(deadline, now)})"
    source = desired_source(spec.gateway) if spec else None
    return {
        "name": name,
        "project_id": project.id if project else None,
        "status": state,
        "url": project.url if project else None,
        "created_at": format_time(project.created_at) if project and project.created_at else None,
        "deletion_scheduled_at": format_time(deletion.requested_at) if deletion else None,
        "deletion_deadline": format_time(deadline) if deadline else None,
        "console_url": CONSOLE_URL.format(id=project.id) if project else None,
        "managed": loaded is not None or bool(project and project.marker),
        "source": source,
    }


def list_instances(fleet: Fleet, *, include_unmanaged=False,
                   observed: Observed | None = None) -> list[dict[str, Any]]:
    manifests = {m.manifest.name: m for m in fleet.load()}
    observed = observed or fleet.observe()
    managed = observed.managed()
    now = fleet.clock.now()
    rows = []
    for name in sorted(set(manifests) | set(managed)):
        projects = managed.get(name, [])
        status = "duplicate" if len(projects) > 1 else None
        if name not in manifests:
            status = "orphan"
        for project in projects or [None]:
            rows.append(instance_row(name, manifests.get(name), project, now, status))
    if include_unmanaged:
        for project in observed.unmanaged():
            row = instance_row(project.name.removeprefix("luthien-"), None, project, now)
            row.update(status="unmanaged", managed=False)
            rows.append(row)
    return rows


def status(fleet: Fleet, name: str, *, health_client=None) -> dict[str, Any]:
    manifests = {m.manifest.name: m for m in fleet.load()}
    observed = fleet.observe()
    projects = observed.managed().get(name, [])
    if name not in manifests and not projects:
        raise ConfigError(f"no tenant named {name}", hint="`saas-infra list` shows the tenants")
    project = projects[0] if projects else None
    row = instance_row(name, manifests.get(name), project, fleet.clock.now(),
                       "duplicate" if len(projects) > 1 else None)
    row["services"] = [
        {
            "name": service.name,
            "deployment_id": service.deployment.id if service.deployment else None,
            "deployment_status": service.deployment.status if service.deployment else None,
            "source": service.image or (f"{service.repo}@{service.branch}" if service.repo else None),
        }
        for service in (project.services.values() if project else [])
    ]
    row["health"] = probe_health(health_client, project.url) if project and project.url else None
    plan = fleet.plan_from(list(manifests.values()), observed, targets=[name])
    row["drift"] = [
        {"kind": a.kind.value, "reason": a.reason}
        for a in plan.actions
        if a.kind in (ActionKind.SET_VARIABLES, ActionKind.UPDATE_SOURCE, ActionKind.CREATE)
    ]
    row["pending"] = [{"kind": a.kind.value, "reason": a.reason} for a in plan.actions]
    return row


def probe_health(http, url: str) -> dict[str, Any]:
    if http is None:
        return {"ok": False, "detail": "not probed"}
    try:
        response = http.get(url + "/health", timeout=5.0)
    except Exception as exc:  # any network failure is an answer here, not an error
        return {"ok": False, "detail": f"unreachable ({type(exc).__name__})"}
    return {"ok": response.status_code == 200, "detail": f"HTTP {response.status_code}"}


# --- whoami / credentials / adopt ---------------------------------------------------------------


def whoami(fleet: Fleet) -> dict[str, Any]:
    client = fleet.client
    try:
        user = ops.me(client)
    except AuthError:
        user = None
    workspaces = []
    for item in ops.token_workspaces(client):
        detail = ops.workspace(client, item["id"])
        workspaces.append({"id": item["id"], "name": item["name"],
                           "plan": detail.get("plan"), "projects": detail.get("projectCount")})
    kind = "personal" if user else "workspace"
    return {
        "kind": kind,
        "user": {k: user.get(k) for k in ("id", "name", "email", "username")} if user else None,
        "workspaces": workspaces,
    }


@dataclass
class Credentials:
    tenant: str
    project_id: str
    keys: dict[str, str] = field(repr=False)
    rotated: bool = False


def credentials(fleet: Fleet, name: str, *, rotate=False) -> Credentials:
    projects = fleet.observe().managed().get(name, [])
    if len(projects) != 1 or projects[0].gateway is None:
        raise ConfigError(f"tenant {name} has no gateway on Railway to read keys from")
    project = projects[0]
    ids = dict(project_id=project.id, environment_id=project.environment_id,
               service_id=project.gateway.id)
    if rotate:
        keys = {key: generate_key() for key in KEY_NAMES}
        ops.variables_upsert(fleet.client, variables=keys, **ids)
        ops.deploy_latest_commit(fleet.client, service_id=project.gateway.id,
                                 environment_id=project.environment_id)
        return Credentials(name, project.id, keys, rotated=True)
    values = ops.variables(fleet.client, **ids)
    return Credentials(name, project.id, {key: values.get(key) for key in KEY_NAMES})


def adopt(fleet: Fleet, name: str) -> VerbResult:
    if existing_manifest(fleet, name):
        raise InstanceExistsError(name, " (it already has a manifest)")
    projects = fleet.observe().managed().get(name, [])
    if len(projects) != 1 or projects[0].gateway is None:
        raise ConfigError(f"no single managed project with a gateway for {name} to adopt")
    gateway = projects[0].gateway
    fleet.tenants_dir.mkdir(parents=True, exist_ok=True)
    path = mf.write_new_manifest(
        fleet.tenants_dir, name,
        repo=gateway.repo if not gateway.image else None,
        branch=gateway.branch if not gateway.image else None,
        image=gateway.image,
    )
    return VerbResult(name, project_id=projects[0].id, manifest_path=str(path),
                      message=f"Wrote {path} for the project {projects[0].id}; review it, then "
                      "`saas-infra plan` shows any difference.")
