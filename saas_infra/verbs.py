"""The operator's verbs (create, list, status, redeploy, delete, cancel-delete, whoami,
credentials, adopt) as manifest edits followed by a reconcile pass for that one tenant.

Shared by the command line and the demo UI, so both take the same path. Returns typed results
(dataclasses, a closed TenantStatus, times as datetimes); never prints and holds no wording: the
render layer (saas_infra/render/) and the demo's templates say it. Keys travel only in
VerbResult/Credentials objects, whose repr hides them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from saas_infra import lock as fleet_lock
from saas_infra import manifest as mf
from saas_infra.apply import TenantOutcome, generate_key
from saas_infra.clock import format_time, parse_time
from saas_infra.diff import desired_secrets, desired_source, placed_in
from saas_infra.errors import ConfigError, LockLostError, ManifestProblem, SaasInfraError
from saas_infra.manifest.loader import SUFFIXES, display_path, validation_problems
from saas_infra.manifest.models import MAX_GRACE_DAYS
from saas_infra.plan import ActionKind
from saas_infra.railway import operations as ops
from saas_infra.railway.observed import (
    RAILWAY_RESTORE_WINDOW,
    Observed,
    ObservedDeployment,
    ObservedProject,
    ObservedService,
    ObservedSettings,
    read_deep,
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
    SERVICES,
    SKIPPED,
    project_name,
    tenant_of_project_name,
)

Progress = Callable[[str, str, str], None]  # a pass's steps: (tenant, step, state)
OnStatus = Callable[[str], None]  # each status of the deployment waited for

CONSOLE_URL = "https://railway.com/project/{id}"
DEFAULT_GRACE_DAYS = mf.DEFAULT_GRACE_DAYS
# Gateway variables saas-infra writes itself: adopt leaves them out of the manifest it writes.
_SET_BY_SAAS_INFRA = ("DATABASE_URL", "REDIS_URL", "AUTH_MODE")
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


class TenantStatus(StrEnum):
    """A tenant's state, closed: the original tool's identifiers where it had one. Details that
    used to ride in the status text (asleep, time left, until when Railway can restore it) are
    fields of their own; the render layer words them."""

    RUNNING = "running"
    DEPLOYING = "deploying"
    PROVISIONING = "provisioning"
    AWAITING_APPROVAL = "awaiting_approval"
    FAILED = "failed"
    REMOVED = "removed"
    DELETION_SCHEDULED = "deletion_scheduled"
    DELETED = "deleted"
    NOT_CREATED = "not_created"
    ORPHAN = "orphan"
    DUPLICATE = "duplicate"
    UNMANAGED = "unmanaged"
    INVALID_MANIFEST = "invalid_manifest"
    UNKNOWN = "unknown"  # a deployment status saas-infra does not know (deployment_status has it)


class UnreadableKey(StrEnum):
    """Why Railway did not give a key's value."""

    SEALED = "sealed"
    MASKED = "masked"
    NOT_RETURNED = "not_returned"
    NOT_SET = "not_set"


@dataclass(frozen=True)
class Deployment:
    """A gateway deployment as Railway reported it: `status` is Railway's own word."""

    id: str
    status: str
    created_at: datetime | None = None
    commit: str | None = None

    @classmethod
    def from_railway(cls, data: dict[str, Any]) -> Deployment:
        meta = data.get("meta") or {}
        meta = json.loads(meta) if isinstance(meta, str) else meta
        created = data.get("createdAt")
        return cls(data["id"], data["status"], parse_time(created) if created else None,
                   meta.get("commitHash"))


@dataclass(frozen=True)
class PendingChange:
    kind: ActionKind
    reason: str


@dataclass
class VerbResult:
    tenant: str
    at: datetime | None = None  # when the verb ran: what deadlines are measured from
    report: ApplyReport | None = None
    project_id: str | None = None
    url: str | None = None
    deployment: Deployment | None = None
    waited: float | None = None  # seconds spent waiting for the deployment to settle
    deadline: datetime | None = None
    deletion: mf.Tombstone | None = None
    unchanged: bool = False  # the manifest already said this (a second `delete`)
    restored: bool = False  # cancel-delete undid Railway's own scheduled delete
    manifest_path: str | None = None
    pending: list[PendingChange] = field(default_factory=list)  # what a pass would still do
    left_out: list[str] = field(default_factory=list)  # adopt: variables a manifest may not hold
    not_returned: list[str] = field(default_factory=list)  # adopt: values Railway withheld
    wait_error: str | None = None  # waiting for the deployment failed (create keeps its keys)
    credentials: dict[str, str] | None = field(default=None, repr=False)

    @property
    def applied(self) -> bool:
        return self.report is not None

    @property
    def finished(self) -> bool:
        """The pass ran and converged (nothing failed, nothing left to do)."""
        return self.report is not None and not self.report.failed and self.report.converged

    @property
    def console_url(self) -> str | None:
        return CONSOLE_URL.format(id=self.project_id) if self.project_id else None

    @property
    def deploy_failed(self) -> bool:
        return self.deployment is not None and self.deployment.status in FAILED

    @property
    def awaiting_approval(self) -> bool:
        return self.deployment is not None and self.deployment.status == AWAITING_APPROVAL

    @property
    def deploy_removed(self) -> bool:
        return self.deployment is not None and self.deployment.status in REMOVED

    @property
    def deploy_stopped(self) -> bool:
        """The deployment waited for will not run by itself, other than a failure: it awaits
        approval in Railway, or someone removed it."""
        return self.awaiting_approval or self.deploy_removed

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
        raise InputError("name", f"invalid tenant name: {detail}",
                         hint=f"names are {NAME_RULES}") from None


def check_source(repo: str | None = None, branch: str | None = None,
                 image: str | None = None, commit: str | None = None) -> None:
    """A new tenant's gateway source, checked by the manifest's own rules before anything is
    written; the error names the option (--repo, --branch, --commit, --image) rather than a
    file."""
    if image and commit:
        raise InputError("commit", "--commit cannot be combined with --image",
                         hint="an image pins itself by its @sha256: digest; a commit pins a repo")
    if image and (repo or branch):
        raise InputError("image", "--image cannot be combined with --repo or --branch",
                         hint="a gateway deploys either a GitHub repo (and branch) or an image")
    given = {"repo": repo, "branch": branch, "image": image, "commit": commit}
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


def _pass(fleet: Fleet, name: str, path: Path, progress: Progress | None = None, note: str = "",
          observed: Observed | None = None) -> ApplyReport:
    """A pass for this tenant alone. If it cannot run, the edit stays and the error says so."""
    try:
        return apply_pass(fleet, targets=[name], progress=progress, observed=observed)
    except SaasInfraError as exc:
        _add_hint(exc, f"the manifest {display_path(path)} keeps the change; "
                  f"`saas-infra apply --target {name}` runs the pass again{note}")
        raise


def _add_hint(exc: SaasInfraError, note: str) -> None:
    exc.hint = f"{exc.hint}; {note}" if exc.hint else note


def _outcome(report: ApplyReport, name: str) -> TenantOutcome | None:
    return next((o for o in report.outcomes if o.tenant == name), None)


def _project_of(report: ApplyReport, name: str) -> ObservedProject | None:
    return report.observed.tenant_project(name) if report.observed else None


def _wait(fleet: Fleet, result: VerbResult, on_status: OnStatus | None) -> None:
    started = fleet.clock.monotonic()
    try:
        result.deployment = Deployment.from_railway(wait_for_gateway(
            fleet, result.tenant, on_status=on_status,
            project=_project_of(result.report, result.tenant) if result.report else None))
    except SaasInfraError as exc:
        _add_hint(exc, f"`saas-infra status {result.tenant}` shows the deployment")
        raise
    result.waited = fleet.clock.monotonic() - started


# --- create -----------------------------------------------------------------------------------


def create(fleet: Fleet, name: str, *, repo: str | None = None, branch: str | None = None,
           image: str | None = None, commit: str | None = None, apply: bool = True,
           wait: bool = True,
           progress: Progress | None = None, on_status: OnStatus | None = None) -> VerbResult:
    check_tenant_name(name)
    check_source(repo, branch, image, commit)
    if existing_manifest(fleet, name):
        raise InstanceExistsError(name)
    check_manifests(fleet)
    observed = None
    if apply:
        observed = fleet.observe()
        _refuse_taken(observed, name)
    path = mf.write_created_manifest(fleet.tenants_dir, name, repo=repo, branch=branch,
                                     commit=commit, image=image, fleet_file=fleet.fleet_file)
    result = VerbResult(name, fleet.clock.now(), manifest_path=display_path(path))
    if not apply:
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
        until = restorable_until(pending[0])
        shown = f" until {format_time(until)}" if until else ""
        raise InstanceExistsError(name, f" (Railway holds project {pending[0].id} in its "
                                  f"scheduled delete{shown})")
    for project in observed.unmanaged():
        if project.name == project_name(name):
            raise InstanceExistsError(name, f" (project {project.id} named {project.name} "
                                      "exists on Railway and saas-infra does not manage it)")


def restorable_until(project: ObservedProject) -> datetime | None:
    """Until when Railway can restore a project in its scheduled delete."""
    if project.deleted_at is None:
        return None
    return project.deleted_at + RAILWAY_RESTORE_WINDOW


# --- delete / cancel ----------------------------------------------------------------------------


def delete(fleet: Fleet, name: str, *, force: bool = False, grace_days: int = DEFAULT_GRACE_DAYS,
           apply: bool = True, progress: Progress | None = None) -> VerbResult:
    path = _editable(fleet, name)
    before = mf.load_tenant_file(path, fleet.fleet_file).manifest.deletion
    tombstone = mf.set_tombstone(path, fleet.clock.now(), grace_days=grace_days, force=force,
                                 fleet_file=fleet.fleet_file)
    deadline = None if tombstone.force else tombstone.deadline
    result = VerbResult(name, fleet.clock.now(), manifest_path=display_path(path),
                        deletion=tombstone, deadline=deadline, unchanged=before == tombstone)
    if apply:
        result.report = _pass(fleet, name, path, progress)
        outcome = _outcome(result.report, name)
        project = _project_of(result.report, name)
        result.project_id = (outcome.project_id if outcome else None) or (
            project.id if project else None)
        result.url = project.url if project else None
        if tombstone.force and result.ok:
            path.unlink()  # the tenant is gone; git history keeps the manifest
    result.at = fleet.clock.now()  # after the pass: the time left is told from now
    return result


def cancel_delete(fleet: Fleet, name: str, *, apply: bool = True,
                  progress: Progress | None = None) -> VerbResult:
    path = _editable(fleet, name)
    deletion = mf.load_tenant_file(path, fleet.fleet_file).manifest.deletion
    if deletion is None:
        raise NoDeletionScheduledError(name)
    observed = _refuse_gone(fleet, name, deletion) if apply else None
    mf.clear_tombstone(path, fleet_file=fleet.fleet_file)
    result = VerbResult(name, fleet.clock.now(), manifest_path=display_path(path))
    if not apply:
        return result
    report = result.report = _pass(fleet, name, path, progress, observed=observed)
    outcome = _outcome(report, name)
    result.restored = outcome is not None and any(
        s.name == "project" and s.result == "restored" for s in outcome.steps)
    project = _project_of(report, name)
    if project:
        result.project_id, result.url = project.id, project.url
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


def redeploy(fleet: Fleet, name: str, *, wait: bool = True, apply: bool = True,
             progress: Progress | None = None, on_status: OnStatus | None = None) -> VerbResult:
    path = _editable(fleet, name)
    requested = mf.set_redeploy(path, _redeploy_stamp(fleet, path), fleet_file=fleet.fleet_file).requested_at
    result = VerbResult(name, fleet.clock.now(), manifest_path=display_path(path))
    if not apply:
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


def _started(project: ObservedProject, since: datetime) -> Deployment | None:
    """The gateway deployment the pass started, from the listing it made afterwards; None when
    Railway does not list one that new yet (never an older deployment mistaken for it)."""
    gateway = project.gateway
    deployment = gateway.deployment if gateway else None
    if deployment is None or deployment.created_at is None or deployment.created_at < since:
        return None
    return Deployment(deployment.id, deployment.status, deployment.created_at, deployment.commit)


def _redeploy_stamp(fleet: Fleet, path: Path) -> datetime:
    # Manifests hold whole seconds; a request equal to the last one would look already done.
    now = fleet.clock.now().replace(microsecond=0)
    previous = mf.load_tenant_file(path, fleet.fleet_file).manifest.redeploy
    if previous is not None and now <= previous.requested_at:
        return previous.requested_at + timedelta(seconds=1)
    return now


# --- list / status ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretState:
    from_env: str  # the environment variable a pass reads the value from
    on_railway: bool | None  # whether Railway has the name; None: no gateway to look at


@dataclass
class InstanceRow:
    """One tenant (or one of its projects) as `list` shows it: state and times as data."""

    name: str
    status: TenantStatus
    project_id: str | None = None
    url: str | None = None
    created_at: datetime | None = None
    deletion_scheduled_at: datetime | None = None
    deletion_deadline: datetime | None = None
    time_left: timedelta | None = None  # until the deadline, from the moment of the listing
    restorable_until: datetime | None = None  # deleted, and Railway can still restore it
    deployment_status: str | None = None  # Railway's word for the gateway's newest deployment
    asleep: bool = False  # running, and Railway put the gateway to sleep (SLEEPING)
    managed: bool = True
    source: dict[str, str] | None = None  # the manifest's gateway source (repo/branch or image)
    # What the gateway serves: its newest deployment that went live (ObservedService.serving),
    # which a newer failed or unfinished deployment did not replace (meta.commitHash).
    commit: str | None = None
    image: str | None = None  # or, for an image source, the image it serves
    # The version of its newest deployment, when that is not what it serves (it failed, or is
    # still under way); None otherwise.
    newest: str | None = None
    pinned: bool | None = None  # the manifest pins a commit or image; None without a manifest
    pin: str | None = None  # the commit or image it is pinned to (a channel's: its version)
    channel: str | None = None  # the release channel whose version it runs (None: none)
    # The manifest's gateway secrets by name: NAME -> (the variable it is read from, whether
    # Railway has NAME). Never a value.
    secrets: dict[str, SecretState] = field(default_factory=dict)
    # The gateway's deploy settings as set on Railway now (Railway's defaults filled in); None
    # when the listing did not carry them (no gateway, or an older listing).
    settings: dict[str, Any] | None = None
    region: str | None = None  # the manifest's region (None: none asked for, or no manifest)
    # Where each service runs as Railway shows it (its placement, else its latest deployment's;
    # None: unknown), from the fleet listing.
    regions: dict[str, str | None] = field(default_factory=dict)
    # What the last pass recorded in the marker of what Railway shows only per service: the
    # gateway's limits ({"vcpus", "memory_gb"}, None for the plan's) and the Postgres backup
    # schedule kinds; None: not recorded (no project, or a marker of an earlier version).
    resources: dict[str, float | None] | None = None
    backups: list[str] | None = None

    @property
    def console_url(self) -> str | None:
        return CONSOLE_URL.format(id=self.project_id) if self.project_id else None


def _status_of(project: ObservedProject | None) -> TenantStatus:
    if project is None:
        return TenantStatus.NOT_CREATED
    gateway = project.gateway
    if gateway is None or gateway.deployment is None:
        return TenantStatus.PROVISIONING
    status = gateway.deployment.status
    if status in RUNNING or status == SKIPPED:  # a skipped deploy leaves the last one running
        return TenantStatus.RUNNING
    if status in IN_PROGRESS:
        return TenantStatus.DEPLOYING
    if status == AWAITING_APPROVAL:
        return TenantStatus.AWAITING_APPROVAL
    if status in FAILED:
        return TenantStatus.FAILED
    if status in REMOVED:
        return TenantStatus.REMOVED
    return TenantStatus.UNKNOWN


def instance_row(name: str, loaded: mf.LoadedManifest | None, project: ObservedProject | None,
                 now: datetime, status: TenantStatus | None = None,
                 pending: ObservedProject | None = None) -> InstanceRow:
    spec = loaded.manifest if loaded else None
    deletion = spec.deletion if spec else None
    deadline = (deletion.deadline if deletion and not deletion.force else None) or (
        project.marker.delete_after if project and project.marker else None)
    state = status or _status_of(project)
    if project is None and pending is not None:
        state = TenantStatus.DELETED
    elif deletion and project is None:
        state = TenantStatus.DELETED if deletion.is_due(now) else TenantStatus.NOT_CREATED
    elif deadline and project is not None and status is None:
        state = TenantStatus.DELETION_SCHEDULED
    shown = project or pending
    gateway = project.gateway if project else None
    marker = project.marker if project else None
    deployment = gateway.deployment if gateway else None
    serving = gateway.serving if gateway else None
    return InstanceRow(
        name=name,
        status=state,
        project_id=shown.id if shown else None,
        url=project.url if project else None,
        created_at=shown.created_at if shown else None,
        deletion_scheduled_at=deletion.requested_at if deletion else None,
        deletion_deadline=deadline,
        time_left=max(deadline - now, timedelta(0)) if deadline else None,
        restorable_until=restorable_until(pending) if project is None and pending else None,
        deployment_status=deployment.status if deployment else None,
        asleep=deployment is not None and deployment.status == "SLEEPING",
        managed=loaded is not None or bool(shown and shown.marker),
        source=desired_source(spec.gateway).to_dict() if spec else None,
        commit=serving.commit if serving else None,
        image=serving.image if serving else None,
        newest=_newest(deployment, serving),
        pinned=spec.gateway.pinned if spec else None,
        pin=(spec.gateway.commit or spec.gateway.image) if spec else None,
        channel=loaded.channel if loaded else None,
        secrets={name: SecretState(var, name in gateway.secret_names if gateway else None)
                 for name, var in desired_secrets(spec.gateway).items()} if spec else {},
        settings=_settings_shown(gateway.settings) if gateway and gateway.settings else None,
        region=spec.region if spec else None,
        regions=_regions_of(project),
        resources=_limits_shown(marker.limits) if marker and marker.limits else None,
        backups=list(marker.backups) if marker and marker.backups is not None else None,
    )


def _newest(latest: ObservedDeployment | None, serving: ObservedDeployment | None) -> str | None:
    """The newest deployment's version when it is not the one that serves."""
    if latest is None or (serving is not None and latest.id == serving.id):
        return None
    return latest.version


def _regions_of(project: ObservedProject | None) -> dict[str, str | None]:
    """Each tenant service's region, in the order a tenant's services are listed."""
    if project is None:
        return {}
    return {name: placed_in(service.settings) or placed_in(service.deployed)
            for name in SERVICES if (service := project.services.get(name)) is not None}


def _limits_shown(limits: tuple[float | None, float | None]) -> dict[str, float | None]:
    return {"vcpus": limits[0], "memory_gb": limits[1]}


def _settings_shown(settings: ObservedSettings) -> dict[str, Any]:
    """The settings in the manifest's terms (`healthcheck`, `restart`, `sleep`, `replicas`)."""
    return {
        "healthcheck": {"path": settings.healthcheck_path, "timeout": settings.healthcheck_timeout},
        "restart": {"policy": settings.restart_policy.lower(),
                    "max_retries": settings.restart_max_retries},
        "sleep": settings.sleep,
        "replicas": settings.replicas,
    }


def list_instances(fleet: Fleet, *, include_unmanaged: bool = False,
                   observed: Observed | None = None) -> list[InstanceRow]:
    return list_view(fleet, include_unmanaged=include_unmanaged, observed=observed)[0]


def list_view(fleet: Fleet, *, include_unmanaged: bool = False, observed: Observed | None = None
              ) -> tuple[list[InstanceRow], list[ManifestProblem]]:
    """The rows of `list`, and the problems of manifests that could not be read: a broken file
    is shown as its tenant's status, and does not hide the rest of the fleet."""
    loaded, problems = fleet.read()
    manifests = {m.manifest.name: m for m in loaded}
    broken = _broken_tenants(problems, fleet.tenants_dir) - set(manifests)
    observed = observed or fleet.observe()
    managed, pending = observed.managed(), observed.pending()
    now = fleet.clock.now()
    rows = []
    for name in sorted(set(manifests) | set(managed) | broken):
        projects = managed.get(name, [])
        status = TenantStatus.DUPLICATE if len(projects) > 1 else None
        if name in broken:
            status = TenantStatus.INVALID_MANIFEST
        elif name not in manifests:
            status = TenantStatus.ORPHAN
        gone = None if projects else next(iter(pending.get(name) or []), None)
        for project in projects or [None]:  # type: ignore[list-item]  # a row with no project
            rows.append(instance_row(name, manifests.get(name), project, now, status, gone))
    if include_unmanaged:
        for project in sorted(observed.unmanaged(), key=lambda p: p.name):
            row = instance_row(tenant_of_project_name(project.name) or project.name, None,
                               project, now, TenantStatus.UNMANAGED)
            row.managed = False
            rows.append(row)
    return rows, problems


def _broken_tenants(problems: list[ManifestProblem], tenants_dir: Path) -> set[str]:
    # only the manifests' own files name tenants (fleet.yaml, beside them, names none)
    folder = tenants_dir.resolve()
    return {Path(p.file).stem for p in problems
            if Path(p.file).suffix in SUFFIXES and Path(p.file).resolve().parent == folder}


@dataclass(frozen=True)
class ServiceRow:
    name: str
    deployment_id: str | None
    deployment_status: str | None  # Railway's own word
    source: str | None  # an image, or repo@branch


@dataclass(frozen=True)
class Health:
    """The gateway's /health answer: an HTTP status, or why there is none."""

    ok: bool
    http_status: int | None = None
    error: str | None = None  # the exception's type when the gateway could not be reached
    probed: bool = True


@dataclass
class TenantDetail:
    """`status NAME`: the tenant's row, its services, health, drift and pending changes."""

    row: InstanceRow
    services: list[ServiceRow] = field(default_factory=list)
    health: Health | None = None
    drift: list[PendingChange] = field(default_factory=list)  # Railway differs from the manifest
    pending: list[PendingChange] = field(default_factory=list)  # everything a pass would do
    warnings: list[str] = field(default_factory=list)
    manifest_problems: list[str] = field(default_factory=list)
    storage: Storage | None = None  # limits and backups as Railway shows them (3 calls)


@dataclass(frozen=True)
class Storage:
    """What Railway shows of a tenant only per service, read by `status`: the gateway's limits
    as serviceInstanceLimits reports them, the Postgres volume's backup schedule kinds and its
    newest backup (volumeInstanceBackupList)."""

    resources: dict[str, float | None] | None
    backups: list[str] | None  # None: no Postgres volume found
    newest_backup: datetime | None = None
    backup_count: int = 0


def status(fleet: Fleet, name: str, *, health_client: httpx.Client | None = None
           ) -> TenantDetail:
    check_tenant_name(name)
    loaded, problems = fleet.read()
    manifests = {m.manifest.name: m for m in loaded}
    invalid = name not in manifests and name in _broken_tenants(problems, fleet.tenants_dir)
    observed = fleet.observe()
    projects = observed.managed().get(name, [])
    gone = next(iter(observed.pending().get(name) or []), None)
    if name not in manifests and not projects and not invalid:
        raise ConfigError(f"no tenant named {name}", hint="`saas-infra list` shows the tenants")
    project = projects[0] if projects else None
    marks = TenantStatus.DUPLICATE if len(projects) > 1 else (
        TenantStatus.ORPHAN if name not in manifests else None)
    row = instance_row(name, manifests.get(name), project, fleet.clock.now(),
                       TenantStatus.INVALID_MANIFEST if invalid else marks, gone)
    detail = TenantDetail(
        row, services=[_service_row(s) for s in (project.services.values() if project else [])],
        health=probe_health(health_client, project.url) if project and project.url else None,
        manifest_problems=[str(p) for p in problems])
    if project is not None:
        detail.storage = storage_of(fleet.client, project)
    if invalid:  # what the manifest wants is unknown, so what would change is too
        return detail
    plan = fleet.plan_from(list(manifests.values()), observed, targets=[name])
    detail.pending = [PendingChange(a.kind, a.reason) for a in plan.actions]
    detail.drift = [p for p in detail.pending if p.kind in DRIFT]
    detail.warnings = list(plan.warnings)
    return detail


def storage_of(client: ops.Executor, project: ObservedProject) -> Storage | None:
    """The tenant's limits, backup schedule and newest backup on Railway: read_deep's 2 calls
    and volumeInstanceBackupList (kept backups in no order: the newest is the latest createdAt)."""
    deep = read_deep(client, project).deep
    if deep is None:
        return None
    kinds = [k.lower() for k in deep.backups] if deep.backups is not None else None
    volume = project.postgres_volume
    kept = ops.volume_backups(client, volume_instance_id=volume) if volume else []
    times = [parse_time(b["createdAt"]) for b in kept if b.get("createdAt")]
    return Storage(_limits_shown((deep.vcpus, deep.memory_gb)), kinds,
                   max(times) if times else None, len(kept))


DRIFT = (ActionKind.SET_VARIABLES, ActionKind.SET_SECRETS,  # kinds that mean Railway differs
         ActionKind.UPDATE_SOURCE, ActionKind.UPDATE_SETTINGS, ActionKind.SET_VERSION,
         ActionKind.MOVE_REGION, ActionKind.SET_LIMITS, ActionKind.SET_BACKUPS)


def _service_row(service: ObservedService) -> ServiceRow:
    deployment = service.deployment
    return ServiceRow(
        name=service.name,
        deployment_id=deployment.id if deployment else None,
        deployment_status=deployment.status if deployment else None,
        source=service.image or (f"{service.repo}@{service.branch}" if service.repo else None),
    )


def probe_health(http: httpx.Client | None, url: str) -> Health:
    if http is None:
        return Health(ok=False, probed=False)
    try:
        response = http.get(url + "/health", timeout=5.0)
    except Exception as exc:  # noqa: BLE001 - any network failure is an answer here, not an error
        return Health(ok=False, error=type(exc).__name__)
    return Health(ok=response.status_code == 200, http_status=response.status_code)


# --- whoami / credentials / adopt ---------------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceRow:
    id: str
    name: str | None
    plan: str | None
    projects: int | None  # as Railway reports the count; None when it does not


@dataclass
class Identity:
    """whoami: the token's kind and user, the workspaces it reaches, and the one a pass would
    manage. When none can be chosen, `workspace_problem` (and `workspace_hint`) say why;
    `workspace_configured` whether RAILWAY_WORKSPACE_ID was set (a wrong one is an error, a
    missing one only a warning)."""

    kind: str
    user: dict[str, Any] | None
    workspaces: list[WorkspaceRow]
    workspace: dict[str, Any] | None  # id, name, source (how it was chosen)
    workspace_problem: str | None
    workspace_hint: str | None
    workspace_configured: bool


def whoami(fleet: Fleet) -> Identity:
    """The token's identity, chosen as every pass chooses the workspace (railway/workspaces.py)."""
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
        assert fleet.chosen is not None
        chosen = {"id": fleet.chosen.id, "name": fleet.chosen.name, "source": fleet.chosen.source}
    except ConfigError as exc:
        problem = exc
    listed = list(identity.workspaces)
    if chosen and all(item["id"] != chosen["id"] for item in listed):
        listed.append(chosen)  # reached, though not listed
    return Identity(
        kind=identity.kind,
        user=identity.user,
        workspaces=[_workspace_row(client, item) for item in listed],
        workspace=chosen,
        workspace_problem=str(problem) if problem else None,
        workspace_hint=problem.hint if problem else None,
        workspace_configured=configured,
    )


def _workspace_row(client: ops.Executor, item: dict[str, Any]) -> WorkspaceRow:
    plan = item.get("plan") or ops.workspace(client, item["id"]).get("plan")
    return WorkspaceRow(item["id"], item.get("name"), plan,
                        reported_project_count(client, item["id"]))


@dataclass
class Credentials:
    tenant: str
    project_id: str
    keys: dict[str, str | None] = field(repr=False)
    rotated: bool = False
    unreadable: dict[str, UnreadableKey] = field(default_factory=dict)  # key -> why not shown
    lost: str | None = None  # the fleet lock was lost while rotating (the new keys are set)


def credentials(fleet: Fleet, name: str, *, rotate: bool = False) -> Credentials:
    check_tenant_name(name)
    observed = fleet.observe()
    project = observed.tenant_project(name)
    if project is None or project.gateway is None:
        raise ConfigError(f"tenant {name} has no gateway on Railway to read keys from",
                          hint="`saas-infra list` shows the tenants")
    gateway = project.gateway
    ids: dict[str, Any] = {"project_id": project.id, "environment_id": project.environment_id,
                           "service_id": gateway.id}
    if rotate:
        new = {key: generate_key() for key in KEY_NAMES}
        # A writer like any pass: under the fleet lock, so no pass acts on this tenant meanwhile.
        try:
            with fleet_lock.hold(fleet, observed):
                # One call that writes and deploys: a separate deploy could be lost to a crash,
                # and nothing would ever deploy the new keys.
                ops.variables_upsert(fleet.client, variables=new, skip_deploys=False, **ids)
        except LockLostError as exc:  # on release, the keys set: nobody else has them
            return Credentials(name, project.id, dict(new), rotated=True, lost=str(exc))
        return Credentials(name, project.id, dict(new), rotated=True)
    values = ops.variables(fleet.client, **ids)
    keys: dict[str, str | None] = {key: values.get(key) or None for key in KEY_NAMES}
    unreadable = {key: _unreadable_key(gateway, key)
                  for key, value in keys.items() if value is None}
    return Credentials(name, project.id, keys, unreadable=unreadable)


def _unreadable_key(gateway: ObservedService, key: str) -> UnreadableKey:
    """Why Railway did not give a key's value: sealed, masked, or simply not there."""
    if key in gateway.sealed:
        return UnreadableKey.SEALED
    if gateway.masked:
        return UnreadableKey.MASKED
    if key in gateway.key_names:
        return UnreadableKey.NOT_RETURNED
    return UnreadableKey.NOT_SET


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
    return VerbResult(name, fleet.clock.now(), project_id=project.id, url=project.url,
                      manifest_path=display_path(path), deletion=tombstone,
                      deadline=tombstone.deadline if tombstone else None,
                      pending=[PendingChange(a.kind, a.reason) for a in plan.actions],
                      left_out=left_out, not_returned=sorted(gateway.unknown))


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
    return mf.Tombstone(requested_at=deadline - timedelta(days=grace), grace_days=grace,
                        force=False)


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
