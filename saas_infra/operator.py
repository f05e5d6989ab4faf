"""The operator's verbs (create, list, status, redeploy, delete, cancel-delete, whoami,
credentials, adopt) as manifest edits followed by a reconcile pass for that one tenant.

Shared by the command line and the demo UI, so both take the same path. Returns plain results;
never prints. Keys travel only in VerbResult/Credentials objects, whose repr hides them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from saas_infra import lock as fleet_lock
from saas_infra import manifest as mf
from saas_infra.apply import generate_key
from saas_infra.clock import format_time
from saas_infra.diff import VALUES_ACCESS, desired_source
from saas_infra.errors import ConfigError, ManifestProblem, SaasInfraError
from saas_infra.manifest.loader import SUFFIXES, display_path, validation_problems
from saas_infra.manifest.models import MAX_GRACE_DAYS
from saas_infra.plan import ActionKind
from saas_infra.railway import operations as ops
from saas_infra.railway.observed import (
    RAILWAY_RESTORE_WINDOW,
    Observed,
    ObservedProject,
    reported_project_count,
)
from saas_infra.railway.workspaces import WORKSPACE_TOKEN, TokenIdentity, token_identity
from saas_infra.reconcile import ApplyReport, Fleet, apply_pass, wait_for_gateway
from saas_infra.tenancy import (
    AWAITING_APPROVAL,
    FAILED,
    IN_PROGRESS,
    KEY_NAMES,
    REMOVED,
    RUNNING,
    SKIPPED,
    project_name,
    tenant_of_project_name,
)

CONSOLE_URL = "https://railway.com/project/{id}"
DEFAULT_GRACE_DAYS = mf.DEFAULT_GRACE_DAYS
# Gateway variables saas-infra writes itself: adopt leaves them out of the manifest it writes.
_SET_BY_SAAS_INFRA = ("DATABASE_URL", "REDIS_URL", "AUTH_MODE")
INVALID_MANIFEST = "invalid manifest"  # the status of a tenant whose file cannot be read
NAME_RULES = ("lowercase letters, digits and hyphens; starts with a letter, does not end with a "
              "hyphen; at most 63 characters")


class InputError(ConfigError):
    """A bad value given to a verb; `field` names it (name, repo, branch, image), so the command
    line can name its flag and the demo its form field."""

    def __init__(self, field: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.field = field


class InstanceExistsError(SaasInfraError):
    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(f"Instance already exists: {name}{detail}")
        self.hint = "choose a different name or delete the existing instance first"


class NoDeletionScheduledError(SaasInfraError):
    def __init__(self, name: str) -> None:
        super().__init__(f"No deletion is scheduled for {name}")
        self.hint = "`saas-infra list` shows which tenants are scheduled for deletion"


@dataclass
class VerbResult:
    tenant: str
    report: ApplyReport | None = None
    project_id: str | None = None
    url: str | None = None
    deployment: dict | None = None
    waited: float | None = None  # seconds spent waiting for the deployment to settle
    deadline: datetime | None = None
    deletion: mf.Tombstone | None = None
    unchanged: bool = False  # the manifest already said this (a second `delete`)
    restored: bool = False  # cancel-delete undid Railway's own scheduled delete
    manifest_path: str | None = None
    pending: list[dict] = field(default_factory=list)  # what a pass would still do (adopt)
    wait_error: str | None = None  # waiting for the deployment failed (create keeps its keys)
    credentials: dict[str, str] | None = field(default=None, repr=False)
    message: str = ""

    @property
    def applied(self) -> bool:
        return self.report is not None

    @property
    def console_url(self) -> str | None:
        return CONSOLE_URL.format(id=self.project_id) if self.project_id else None

    @property
    def deploy_failed(self) -> bool:
        return bool(self.deployment) and self.deployment.get("status") in FAILED

    @property
    def deploy_stopped(self) -> str | None:
        """Why the deployment waited for will not run by itself, other than a failure: it
        awaits approval in Railway, or someone removed it."""
        status = (self.deployment or {}).get("status")
        if status == AWAITING_APPROVAL:
            return (f"the gateway deployment {self.deployment['id']} awaits approval in Railway: "
                    f"approve it in the Railway console ({self.console_url}); "
                    f"`saas-infra status {self.tenant}` follows it")
        if status in REMOVED:
            return (f"the gateway deployment {self.deployment['id']} was removed on Railway "
                    f"({status}); `saas-infra redeploy {self.tenant}` deploys it again")
        return None

    @property
    def ok(self) -> bool:
        if self.report and (self.report.failed or not self.report.converged):
            return False
        return not self.deploy_failed and self.wait_error is None and not self.deploy_stopped


# --- shared steps -------------------------------------------------------------------------------


def check_tenant_name(name: str) -> str:
    """Names become file names and Railway project names: refuse a bad one before anything."""
    try:
        return mf.check_name(name)
    except ValueError as exc:
        detail = str(exc) if name and f"'{name}'" in str(exc) else f"'{name}' {exc}"
        raise InputError("name", f"invalid instance name: {detail}",
                         hint=f"names are {NAME_RULES}") from None


def check_source(repo=None, branch=None, image=None) -> None:
    """A new tenant's gateway source, checked by the manifest's own rules before anything is
    written; the error names the option (--repo, --branch, --image) rather than a file."""
    if image and (repo or branch):
        raise InputError("image", "--image cannot be combined with --repo or --branch",
                         hint="a gateway deploys either a GitHub repo (and branch) or an image")
    given = {"repo": repo, "branch": branch, "image": image}
    if not repo and not image:
        given["repo"] = mf.DEFAULT_REPO
    try:
        mf.GatewaySpec.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        problem = validation_problems(exc, "")[0]
        field = problem.field.partition(".")[0] or ("image" if image else "repo")
        raise InputError(field, f"--{field}: {problem.message}") from None


def check_manifests(fleet: Fleet) -> None:
    """Every manifest must be valid before a verb writes one: a pass would stop on a broken file
    after the edit, leaving a change behind that nothing applied."""
    fleet.load()


def manifest_path(fleet: Fleet, name: str) -> Path:
    return fleet.tenants_dir / f"{name}.yaml"


def existing_manifest(fleet: Fleet, name: str) -> Path | None:
    for suffix in (".yaml", ".yml"):
        path = fleet.tenants_dir / f"{name}{suffix}"
        if path.exists():
            return path
    return None


def require_manifest(fleet: Fleet, name: str) -> Path:
    check_tenant_name(name)
    path = existing_manifest(fleet, name)
    if path is None:
        raise ConfigError(f"no tenant named {name} (no {manifest_path(fleet, name)})",
                          hint="`saas-infra list` shows the tenants")
    return path


def _editable(fleet: Fleet, name: str) -> Path:
    """The tenant's manifest, once every manifest has been checked (see check_manifests)."""
    path = require_manifest(fleet, name)
    check_manifests(fleet)
    return path


def _pass(fleet: Fleet, name: str, path: Path, progress=None, note: str = "",
          observed=None) -> ApplyReport:
    """A pass for this tenant alone. If it cannot run, the edit stays and the error says so."""
    try:
        return apply_pass(fleet, targets=[name], progress=progress, observed=observed)
    except SaasInfraError as exc:
        _add_hint(exc, f"the manifest {display_path(path)} keeps the change; "
                  f"`saas-infra apply --target {name}` runs the pass again{note}")
        raise


def _add_hint(exc: SaasInfraError, note: str) -> None:
    exc.hint = f"{exc.hint}; {note}" if exc.hint else note


def _outcome(report: ApplyReport, name: str):
    return next((o for o in report.outcomes if o.tenant == name), None)


def _project_of(report: ApplyReport, name: str) -> ObservedProject | None:
    return report.observed.tenant_project(name) if report.observed else None


def _wait(fleet: Fleet, result: VerbResult, on_status) -> None:
    started = fleet.clock.monotonic()
    try:
        result.deployment = wait_for_gateway(
            fleet, result.tenant, on_status=on_status,
            project=_project_of(result.report, result.tenant) if result.report else None)
    except SaasInfraError as exc:
        _add_hint(exc, f"`saas-infra status {result.tenant}` shows the deployment")
        raise
    result.waited = fleet.clock.monotonic() - started


# --- create -----------------------------------------------------------------------------------


def create(fleet: Fleet, name: str, *, repo=None, branch=None, image=None, apply=True,
           wait=True, progress=None, on_status=None) -> VerbResult:
    check_tenant_name(name)
    check_source(repo, branch, image)
    if existing_manifest(fleet, name):
        raise InstanceExistsError(name)
    check_manifests(fleet)
    observed = None
    if apply:
        observed = fleet.observe()
        _refuse_taken(observed, name)
    path = mf.write_new_manifest(fleet.tenants_dir, name, repo=repo, branch=branch, image=image)
    result = VerbResult(name, manifest_path=display_path(path))
    if not apply:
        result.message = (f"Wrote {result.manifest_path}; nothing was sent to Railway. "
                          f"The next pass (`saas-infra apply`) creates {name}.")
        return result
    report = result.report = _pass(fleet, name, path, progress, observed=observed, note=(
        f"; `saas-infra credentials {name}` reads any keys it already made"))
    outcome = _outcome(report, name)
    result.credentials = outcome.credentials if outcome else None
    project = _project_of(report, name)
    if project:
        result.project_id, result.url = project.id, project.url
    if wait and project and not report.failed:
        try:
            _wait(fleet, result, on_status)
        except SaasInfraError as exc:  # the keys made above must still reach the operator
            result.wait_error = f"{exc}; {exc.hint}" if exc.hint else str(exc)
    return result


def _refuse_taken(observed: Observed, name: str) -> None:
    """Refuse a name Railway already holds, in any form, before writing anything."""
    managed = observed.managed().get(name)
    if managed:
        raise InstanceExistsError(name, f" (project {managed[0].id} on Railway carries its "
                                  f"marker but has no manifest; `saas-infra adopt {name}` "
                                  "writes one)")
    pending = observed.pending().get(name)
    if pending:
        until = _restorable_until(pending[0])
        raise InstanceExistsError(name, f" (Railway holds project {pending[0].id} in its "
                                  f"scheduled delete{' until ' + until if until else ''})")
    for project in observed.unmanaged():
        if project.name == project_name(name):
            raise InstanceExistsError(name, f" (project {project.id} named {project.name} "
                                      "exists on Railway and saas-infra does not manage it)")


def _restorable_until(project: ObservedProject) -> str | None:
    if project.deleted_at is None:
        return None
    return format_time(project.deleted_at + RAILWAY_RESTORE_WINDOW)


# --- delete / cancel ----------------------------------------------------------------------------


def delete(fleet: Fleet, name: str, *, force=False, grace_days=DEFAULT_GRACE_DAYS, apply=True,
           progress=None) -> VerbResult:
    path = _editable(fleet, name)
    before = mf.load_tenant_file(path).manifest.deletion
    tombstone = mf.set_tombstone(path, fleet.clock.now(), grace_days=grace_days, force=force)
    result = VerbResult(name, manifest_path=display_path(path), deletion=tombstone,
                        deadline=None if tombstone.force else tombstone.deadline,
                        unchanged=before == tombstone)
    if apply:
        result.report = _pass(fleet, name, path, progress)
        outcome = _outcome(result.report, name)
        project = _project_of(result.report, name)
        result.project_id = (outcome.project_id if outcome else None) or (
            project.id if project else None)
        result.url = project.url if project else None
        if tombstone.force and result.ok:
            path.unlink()  # the tenant is gone; git history keeps the manifest
    result.message = _delete_message(result, fleet.clock.now())
    return result


def _delete_message(result: VerbResult, now: datetime) -> str:
    name, shown = result.tenant, result.manifest_path
    if result.deletion.force:
        if not result.applied:
            return f"Wrote a forced tombstone to {shown}; the next pass deletes {name} at once."
        if not result.ok:
            return (f"Deleting {name} did not finish; the tombstone stays in {shown} and the "
                    "next pass tries again.")
        gone = f"project {result.project_id}" if result.project_id else "nothing on Railway"
        return f"Deleted {name} now ({gone}); removed {shown}."
    deadline = format_time(result.deadline)
    when = f"at {deadline} ({time_left(result.deadline, now)})"
    undo = f"`saas-infra cancel-delete {name}` undoes it."
    if result.unchanged:
        return f"{name} was already scheduled for deletion {when}; the deadline stays. {undo}"
    if not result.applied:
        return (f"Wrote the tombstone to {shown}: deletion {when}; the next pass marks it on "
                f"Railway. {undo}")
    return f"{name} is scheduled for deletion {when}; it keeps running until then. {undo}"


def cancel_delete(fleet: Fleet, name: str, *, apply=True, progress=None) -> VerbResult:
    path = _editable(fleet, name)
    deletion = mf.load_tenant_file(path).manifest.deletion
    if deletion is None:
        raise NoDeletionScheduledError(name)
    observed = _refuse_gone(fleet, name, deletion) if apply else None
    mf.clear_tombstone(path)
    result = VerbResult(name, manifest_path=display_path(path))
    if not apply:
        result.message = (f"Removed the tombstone from {result.manifest_path}; the next pass "
                          f"takes the mark off Railway.")
        return result
    report = result.report = _pass(fleet, name, path, progress, observed=observed)
    outcome = _outcome(report, name)
    result.restored = bool(outcome) and any(
        s.name == "project" and s.result == "restored" for s in outcome.steps)
    project = _project_of(report, name)
    if project:
        result.project_id, result.url = project.id, project.url
    result.message = (f"Restored {name} from Railway's scheduled delete; it keeps running."
                      if result.restored else
                      f"Cancelled the scheduled deletion of {name}; it keeps running.")
    return result


def _refuse_gone(fleet: Fleet, name: str, deletion: mf.Tombstone) -> Observed:
    """Removing the tombstone of a tenant Railway no longer holds would create a new, empty one.
    Returns the listing it looked at, which serves as the pass's first look."""
    observed = fleet.observe()
    if observed.managed().get(name) or observed.pending().get(name):
        return observed
    if deletion.is_due(fleet.clock.now()):
        raise ConfigError(
            f"{name} is already deleted on Railway; there is no deletion left to cancel",
            hint=f"to start {name} again as a new, empty tenant, remove its tombstone by hand "
            f"or run `saas-infra create {name}` after removing its manifest",
        )
    return observed


# --- redeploy -----------------------------------------------------------------------------------


def redeploy(fleet: Fleet, name: str, *, wait=True, apply=True, progress=None,
             on_status=None) -> VerbResult:
    path = _editable(fleet, name)
    requested = mf.set_redeploy(path, _redeploy_stamp(fleet, path)).requested_at
    result = VerbResult(name, manifest_path=display_path(path))
    if not apply:
        result.message = (f"Wrote a redeploy request to {result.manifest_path}; the next pass "
                          "deploys the newest commit.")
        return result
    report = result.report = _pass(fleet, name, path, progress)
    project = _project_of(report, name)
    if project:
        result.project_id, result.url = project.id, project.url
    if wait and project and not report.failed:
        _wait(fleet, result, on_status)
    elif project and not report.failed:
        result.deployment = _started(project, since=requested)
    return result


def _started(project: ObservedProject, since: datetime) -> dict | None:
    """The gateway deployment the pass started, from the listing it made afterwards; None when
    Railway does not list one that new yet (never an older deployment mistaken for it)."""
    gateway = project.gateway
    deployment = gateway.deployment if gateway else None
    if deployment is None or deployment.created_at is None or deployment.created_at < since:
        return None
    return {"id": deployment.id, "status": deployment.status,
            "createdAt": format_time(deployment.created_at),
            "meta": {"commitHash": deployment.commit}}


def _redeploy_stamp(fleet: Fleet, path: Path) -> datetime:
    # Manifests hold whole seconds; a request equal to the last one would look already done.
    now = fleet.clock.now().replace(microsecond=0)
    previous = mf.load_tenant_file(path).manifest.redeploy
    if previous is not None and now <= previous.requested_at:
        return previous.requested_at + timedelta(seconds=1)
    return now


# --- list / status ------------------------------------------------------------------------------


def _status_of(project: ObservedProject | None) -> str:
    if project is None:
        return "not created"
    gateway = project.gateway
    if gateway is None or gateway.deployment is None:
        return "provisioning"
    status = gateway.deployment.status
    if status == "SLEEPING":
        return "running (asleep)"
    if status in RUNNING or status == SKIPPED:  # a skipped deploy leaves the last one running
        return "running"
    if status in IN_PROGRESS:
        return "deploying"
    if status == AWAITING_APPROVAL:
        return "awaiting approval"
    if status in FAILED:
        return "failed"
    if status in REMOVED:
        return "removed"
    return status.lower()


def time_left(deadline: datetime, now: datetime) -> str:
    seconds = (deadline - now).total_seconds()
    if seconds <= 0:
        return "due now"
    days, rest = divmod(int(seconds), 86400)
    hours = rest // 3600
    return f"{days}d {hours}h left" if days else f"{hours}h {rest % 3600 // 60}m left"


def instance_row(name: str, loaded, project: ObservedProject | None, now: datetime,
                 status: str | None = None, pending: ObservedProject | None = None) -> dict:
    spec = loaded.manifest if loaded else None
    deletion = spec.deletion if spec else None
    deadline = (deletion.deadline if deletion and not deletion.force else None) or (
        project.marker.delete_after if project and project.marker else None)
    state = status or _status_of(project)
    if project is None and pending is not None:
        until = _restorable_until(pending)
        state = f"deleted (Railway can restore it until {until})" if until else "deleted"
    elif deletion and project is None:
        state = "deleted" if deletion.is_due(now) else "not created"
    elif deadline and project is not None and status is None:
        state = f"deletion scheduled ({time_left(deadline, now)})"
    shown = project or pending
    return {
        "name": name,
        "project_id": shown.id if shown else None,
        "status": state,
        "url": project.url if project else None,
        "created_at": format_time(shown.created_at) if shown and shown.created_at else None,
        "deletion_scheduled_at": format_time(deletion.requested_at) if deletion else None,
        "deletion_deadline": format_time(deadline) if deadline else None,
        "console_url": CONSOLE_URL.format(id=shown.id) if shown else None,
        "managed": loaded is not None or bool(shown and shown.marker),
        "source": desired_source(spec.gateway).to_dict() if spec else None,
    }


def list_instances(fleet: Fleet, *, include_unmanaged=False,
                   observed: Observed | None = None) -> list[dict[str, Any]]:
    return list_view(fleet, include_unmanaged=include_unmanaged, observed=observed)[0]


def list_view(fleet: Fleet, *, include_unmanaged=False, observed: Observed | None = None
              ) -> tuple[list[dict[str, Any]], list[ManifestProblem]]:
    """The rows of `list`, and the problems of manifests that could not be read: a broken file
    is shown as its tenant's status, and does not hide the rest of the fleet."""
    loaded, problems = fleet.read()
    manifests = {m.manifest.name: m for m in loaded}
    broken = _broken_tenants(problems) - set(manifests)
    observed = observed or fleet.observe()
    managed, pending = observed.managed(), observed.pending()
    now = fleet.clock.now()
    rows = []
    for name in sorted(set(manifests) | set(managed) | broken):
        projects = managed.get(name, [])
        status = "duplicate" if len(projects) > 1 else None
        if name in broken:
            status = INVALID_MANIFEST
        elif name not in manifests:
            status = "orphan"
        gone = None if projects else (pending.get(name) or [None])[0]
        for project in projects or [None]:
            rows.append(instance_row(name, manifests.get(name), project, now, status, gone))
    if include_unmanaged:
        for project in sorted(observed.unmanaged(), key=lambda p: p.name):
            row = instance_row(tenant_of_project_name(project.name) or project.name, None, project, now)
            row.update(status="unmanaged", managed=False)
            rows.append(row)
    return rows, problems


def _broken_tenants(problems: list[ManifestProblem]) -> set[str]:
    return {Path(p.file).stem for p in problems if Path(p.file).suffix in SUFFIXES}


def status(fleet: Fleet, name: str, *, health_client=None) -> dict[str, Any]:
    check_tenant_name(name)
    loaded, problems = fleet.read()
    manifests = {m.manifest.name: m for m in loaded}
    invalid = name not in manifests and name in _broken_tenants(problems)
    observed = fleet.observe()
    projects = observed.managed().get(name, [])
    gone = (observed.pending().get(name) or [None])[0]
    if name not in manifests and not projects and not invalid:
        raise ConfigError(f"no tenant named {name}", hint="`saas-infra list` shows the tenants")
    project = projects[0] if projects else None
    marks = "duplicate" if len(projects) > 1 else ("orphan" if name not in manifests else None)
    row = instance_row(name, manifests.get(name), project, fleet.clock.now(),
                       INVALID_MANIFEST if invalid else marks, gone)
    row["services"] = [_service_row(s) for s in (project.services.values() if project else [])]
    row["health"] = probe_health(health_client, project.url) if project and project.url else None
    row["manifest_problems"] = [str(p) for p in problems]
    if invalid:  # what the manifest wants is unknown, so what would change is too
        row["drift"] = row["pending"] = []
        return row
    plan = fleet.plan_from(list(manifests.values()), observed, targets=[name])
    row["drift"] = [
        {"kind": a.kind.value, "reason": a.reason}
        for a in plan.actions
        if a.kind in (ActionKind.SET_VARIABLES, ActionKind.UPDATE_SOURCE)  # Railway differs
    ]
    row["pending"] = [{"kind": a.kind.value, "reason": a.reason} for a in plan.actions]
    row["warnings"] = list(plan.warnings)
    return row


def _service_row(service) -> dict[str, Any]:
    deployment = service.deployment
    return {
        "name": service.name,
        "deployment_id": deployment.id if deployment else None,
        "deployment_status": deployment.status if deployment else None,
        "source": service.image or (f"{service.repo}@{service.branch}" if service.repo else None),
    }


def probe_health(http, url: str) -> dict[str, Any]:
    if http is None:
        return {"ok": False, "detail": "not probed"}
    try:
        response = http.get(url + "/health", timeout=5.0)
    except Exception as exc:  # noqa: BLE001 - any network failure is an answer here, not an error
        return {"ok": False, "detail": f"unreachable ({type(exc).__name__})"}
    return {"ok": response.status_code == 200, "detail": f"HTTP {response.status_code}"}


# --- whoami / credentials / adopt ---------------------------------------------------------------


def whoami(fleet: Fleet) -> dict[str, Any]:
    """The token's kind and user, the workspaces it reaches, and the one a pass would manage,
    chosen as every pass chooses it (railway/workspaces.py). When none can be chosen,
    `workspace_problem` (and `workspace_hint`) say why; `workspace_configured` whether
    RAILWAY_WORKSPACE_ID was set (a wrong one is an error, a missing one only a warning)."""
    client = fleet.client
    configured = bool(fleet.workspace_id)  # before workspace() fills it in
    try:
        identity = token_identity(client)
    except ConfigError:
        if not configured:
            raise
        # A workspace token whose workspaces Railway would not list: the configured one is
        # still checked below, with the query Railway documents.
        identity = TokenIdentity(WORKSPACE_TOKEN, None, ())
    chosen, problem = None, None
    try:
        fleet.workspace()
        chosen = {"id": fleet.chosen.id, "name": fleet.chosen.name, "source": fleet.chosen.source}
    except ConfigError as exc:
        problem = exc
    listed = list(identity.workspaces)
    if chosen and all(item["id"] != chosen["id"] for item in listed):
        listed.append(chosen)  # reached, though not listed
    workspaces = [_workspace_row(client, item) for item in listed]
    return {
        "kind": identity.kind,
        "user": identity.user,
        "workspaces": workspaces,
        "workspace": chosen,
        "workspace_problem": str(problem) if problem else None,
        "workspace_hint": problem.hint if problem else None,
        "workspace_configured": configured,
    }


def _workspace_row(client, item: dict) -> dict[str, Any]:
    plan = item.get("plan") or ops.workspace(client, item["id"]).get("plan")
    return {"id": item["id"], "name": item.get("name"), "plan": plan,
            "projects": reported_project_count(client, item["id"])}


@dataclass
class Credentials:
    tenant: str
    project_id: str
    keys: dict[str, str | None] = field(repr=False)
    rotated: bool = False
    unreadable: dict[str, str] = field(default_factory=dict)  # key name -> why it is not shown


def credentials(fleet: Fleet, name: str, *, rotate=False) -> Credentials:
    check_tenant_name(name)
    observed = fleet.observe()
    project = observed.tenant_project(name)
    if project is None or project.gateway is None:
        raise ConfigError(f"tenant {name} has no gateway on Railway to read keys from",
                          hint="`saas-infra list` shows the tenants")
    ids = {"project_id": project.id, "environment_id": project.environment_id,
           "service_id": project.gateway.id}
    if rotate:
        keys = {key: generate_key() for key in KEY_NAMES}
        # A writer like any pass: under the fleet lock, so no pass acts on this tenant meanwhile.
        with fleet_lock.hold(fleet, observed):
            # One call that writes and deploys: a separate deploy could be lost to a crash, and
            # nothing would ever deploy the new keys.
            ops.variables_upsert(fleet.client, variables=keys, skip_deploys=False, **ids)
        return Credentials(name, project.id, keys, rotated=True)
    values = ops.variables(fleet.client, **ids)
    keys = {key: values.get(key) or None for key in KEY_NAMES}
    unreadable = {key: _unreadable_key(project.gateway, key, name)
                  for key, value in keys.items() if value is None}
    return Credentials(name, project.id, keys, unreadable=unreadable)


def _unreadable_key(gateway, key: str, name: str) -> str:
    """Why Railway did not give a key's value: sealed, masked, or simply not there."""
    rotate = f"`saas-infra credentials {name} --rotate` sets new keys (clients of the old ones break)"
    if key in gateway.sealed:
        return f"{key} is sealed on Railway, which never returns a sealed value; {rotate}"
    if gateway.masked:
        return (f"Railway masked the value of {key}: this token may not read the tenant's "
                f"variable values; reading them needs {VALUES_ACCESS}")
    if key in gateway.key_names:
        return f"Railway did not return the value of {key} (sealed, or not readable by this token)"
    return f"{key} is not set on Railway; the next `saas-infra apply` generates it"


def adopt(fleet: Fleet, name: str) -> VerbResult:
    check_tenant_name(name)
    path = existing_manifest(fleet, name)
    if path:
        raise ConfigError(f"{name} is already managed ({display_path(path)}); nothing to adopt",
                          hint=f"`saas-infra status {name}` shows it")
    check_manifests(fleet)
    observed = fleet.observe()
    project = observed.tenant_project(name)
    if project is None or project.gateway is None:
        raise ConfigError(f"no single managed project with a gateway for {name} to adopt",
                          hint="`saas-infra list` shows orphans")
    gateway = project.gateway
    auth_mode, variables, left_out = adoptable_variables(gateway.variables)
    tombstone = adopted_tombstone(project, fleet.clock.now())
    path = mf.write_new_manifest(
        fleet.tenants_dir, name, repo=None if gateway.image else gateway.repo,
        branch=None if gateway.image else gateway.branch, image=gateway.image,
        auth_mode=auth_mode, variables=variables, deletion=tombstone)
    plan = fleet.plan_from(fleet.load(), observed, targets=[name])
    result = VerbResult(name, project_id=project.id, url=project.url,
                        manifest_path=display_path(path), deletion=tombstone,
                        deadline=tombstone.deadline if tombstone else None,
                        pending=[{"kind": a.kind.value, "reason": a.reason} for a in plan.actions])
    result.message = _adopt_message(result, left_out, sorted(gateway.unknown))
    return result


def adopted_tombstone(project: ObservedProject, now: datetime) -> mf.Tombstone | None:
    """The deletion Railway's marker announces, as a tombstone with that very deadline: without
    it, the next pass would cancel the deletion. The request time is not on Railway; the default
    grace period is assumed when it fits, else the days left (a request never lies ahead)."""
    deadline = project.marker.delete_after if project.marker else None
    if deadline is None:
        return None
    days_left = math.ceil((deadline - now).total_seconds() / 86400)
    grace = DEFAULT_GRACE_DAYS if days_left <= DEFAULT_GRACE_DAYS else days_left
    grace = max(0, min(grace, MAX_GRACE_DAYS))
    return mf.Tombstone(requested_at=deadline - timedelta(days=grace), grace_days=grace)


def adoptable_variables(variables: dict[str, str]) -> tuple[str | None, dict[str, str], list[str]]:
    """(auth_mode, extra variables a manifest may hold, names it may not) of a live gateway."""
    auth_mode, left_out = variables.get("AUTH_MODE"), []
    if auth_mode is not None and auth_mode not in mf.AUTH_MODES:
        auth_mode, left_out = None, ["AUTH_MODE"]
    extra: dict[str, str] = {}
    for key, value in sorted(variables.items()):
        if key in _SET_BY_SAAS_INFRA or mf.set_on_railway(key):
            continue  # operators' secrets stay on Railway, where the reconciler leaves them be
        try:  # the manifest's own rules decide: no secrets, no reserved names
            mf.GatewaySpec.model_validate({"repo": mf.DEFAULT_REPO, "variables": {key: value}})
        except ValidationError:
            left_out.append(key)
            continue
        extra[key] = value
    return auth_mode, extra, left_out


def _adopt_message(result: VerbResult, left_out: list[str], unknown: list[str]) -> str:
    text = f"Wrote {result.manifest_path} for the project {result.project_id}."
    if result.deadline:
        text += (f" It carries the deletion Railway announces for {format_time(result.deadline)}"
                 f" (`saas-infra cancel-delete {result.tenant}` cancels it).")
    if left_out:
        text += (f" Not carried over (a manifest may not hold them): {', '.join(left_out)};"
                 " the next pass would change them on Railway.")
    if unknown:
        text += (f" Not carried over (Railway did not return their values): "
                 f"{', '.join(unknown)}; passes leave them as they are on Railway.")
    if result.pending:
        kinds = ", ".join(p["kind"] for p in result.pending)
        return text + f" Review it: `saas-infra plan --target {result.tenant}` still shows {kinds}."
    return text + " `saas-infra plan` shows no changes for it."
