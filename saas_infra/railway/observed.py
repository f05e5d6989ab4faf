"""The fleet as Railway has it: parsed from the paginated `Fleet` listing into plain frozen data.

Observation costs one request per page of projects, never one per tenant. Secrets are dropped
here: of the gateway's secret-looking variables (the generated keys, operators' own) nothing
survives but whether the generated keys are present. A value Railway does not return (masked
for a token that may not decrypt it, or sealed) is unknown, never missing: its name still counts;
a key read back empty is missing. A project is read in its production environment, else its
first (environment_of, service_variables): doctor reads the config through the same functions.
Nothing here decides what to do about what it sees; that is diff.py's job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from saas_infra.clock import parse_time
from saas_infra.errors import (
    ApiError,
    IncompleteListingError,
    ProblemProcessingError,
    QueryValidationError,
    RailwayError,
)
from saas_infra.marker import Marker, parse_marker
from saas_infra.railway import operations as ops
from saas_infra.tenancy import (
    GATEWAY,
    KEY_NAMES,
    POSTGRES,
    PROJECT_PREFIX,
    RAILWAY_PREFIX,
    RUNNING,
    looks_secret,
)

RAILWAY_RESTORE_WINDOW = timedelta(hours=48)  # how long Railway keeps a scheduled delete
# A deployment in one of these had replaced the ones before it (it went live first), so no
# older one serves (the emulator's gateway.py models the same; railwayapp/docs
# content/docs/deployments/reference.md, "Singleton deploys").
_NEVER_SERVED = frozenset({"CRASHED", "REMOVING", "REMOVED"})


@dataclass(frozen=True)
class ObservedDeployment:
    id: str
    status: str
    created_at: datetime | None
    url: str | None = None
    commit: str | None = None
    image: str | None = None  # what an image deployment runs, as its source named it
    status_updated_at: datetime | None = None  # when it reached its status (statusUpdatedAt)

    @property
    def version(self) -> str | None:
        """What it runs: its commit, else its image."""
        return self.commit or self.image

    @property
    def since(self) -> datetime | None:
        return self.status_updated_at or self.created_at


@dataclass(frozen=True)
class ObservedSettings:
    """A service's deploy settings in Railway's terms, Railway's defaults filled in: as set now
    (the instance's fields and the config's placement), or as a deployment was queued with
    (its meta.serviceManifest.deploy). Settings apply from the next deployment, so the two
    differ between a settings update and the redeploy that follows it."""

    healthcheck_path: str | None = None
    healthcheck_timeout: int | None = None
    restart_policy: str = "ON_FAILURE"
    restart_max_retries: int = 10
    sleep: bool = False
    replicas: int = 1
    region: str | None = None  # where the replicas run (the region holding most of them)
    regions: tuple[str, ...] = ()  # every region of its multiRegionConfig, sorted; () when unset


@dataclass(frozen=True)
class ObservedService:
    id: str
    name: str
    repo: str | None = None
    branch: str | None = None
    image: str | None = None
    variables: dict[str, str] = field(default_factory=dict)  # non-secret, raw (unrendered)
    key_names: frozenset[str] = frozenset()  # which generated keys are present (by name)
    unreadable_keys: frozenset[str] = frozenset()  # keys present whose values were not returned
    unknown: frozenset[str] = frozenset()  # non-secret names whose values Railway did not return
    # The operators' and the manifests' secrets present (by name; their values are never kept).
    secret_names: frozenset[str] = frozenset()
    sealed: frozenset[str] = frozenset()  # names Railway reports sealed (values never returned)
    masked: bool = False  # Railway returned every value that is not sealed as null
    deployment: ObservedDeployment | None = None
    domain: str | None = None
    settings: ObservedSettings | None = None  # None: the listing did not carry them
    deployed: ObservedSettings | None = None  # what the latest deployment runs with, if known
    # Its GitHub deployment triggers' ids in the environment: with one, every push to the
    # branch deploys it (a pinned gateway must have none). None: not listed (unknown).
    triggers: tuple[str, ...] | None = None
    # Its newest deployments in the environment, newest first (the listing's last few; None:
    # not listed): what a rollout reads failures and rollbacks from.
    history: tuple[ObservedDeployment, ...] | None = None

    @property
    def running_commit(self) -> str | None:
        """The commit of its latest deployment (Railway's meta.commitHash), if it names one:
        what a pass last deployed, which `serving` may not be (its build failed)."""
        return self.deployment.commit if self.deployment else None

    @property
    def serving(self) -> ObservedDeployment | None:
        """The deployment that serves: the newest that went live (SUCCESS, SLEEPING). A newer
        one still in progress, waiting, skipped or FAILED (a build or Railway's health check)
        never replaced it, so Railway keeps serving it; a CRASHED or removed one had replaced
        it, so nothing serves. None: nothing serves, or the listing shows no deployment that
        succeeded (the history holds only the environment's newest few)."""
        latest = self.deployment
        newest = [latest] if latest is not None else []
        newest += [d for d in self.history or () if latest is None or d.id != latest.id]
        for deployment in newest:
            if deployment.status in RUNNING:
                return deployment
            if deployment.status in _NEVER_SERVED:
                return None
        return None


@dataclass(frozen=True)
class DeepRead:
    """What Railway shows only per service, read by `plan --deep` (2 calls a tenant): the
    gateway's limits as serviceInstanceLimits reports them (the plan's maximum merged into a
    limit not set) and the Postgres volume's backup schedule kinds (None: no volume found)."""

    vcpus: float | None
    memory_gb: float | None
    backups: tuple[str, ...] | None


@dataclass(frozen=True)
class ObservedProject:
    id: str
    name: str
    description: str | None
    created_at: datetime | None
    deleted_at: datetime | None
    marker: Marker | None
    environment_id: str | None
    services: dict[str, ObservedService] = field(default_factory=dict)
    # The environment's volume instances: {service id: volume instance id}; None: not listed.
    volumes: dict[str, str] | None = None
    deep: DeepRead | None = None  # set by read_deep (plan --deep) only

    @property
    def postgres_volume(self) -> str | None:
        """The Postgres service's volume instance id, if the listing showed one."""
        postgres = self.services.get(POSTGRES)
        return (self.volumes or {}).get(postgres.id) if postgres else None

    @property
    def tenant(self) -> str | None:
        return self.marker.tenant if self.marker else None

    @property
    def pending_deletion(self) -> bool:
        return self.deleted_at is not None

    @property
    def gateway(self) -> ObservedService | None:
        return self.services.get(GATEWAY)

    @property
    def url(self) -> str | None:
        gateway = self.gateway
        return f"https://{gateway.domain}" if gateway and gateway.domain else None


@dataclass(frozen=True)
class Observed:
    """Every project the workspace lists (those pending deletion included, with deleted_at),
    and whether the listing finished."""

    projects: tuple[ObservedProject, ...]
    complete: bool = True
    problem: str | None = None  # why the listing is not complete
    # What its completeness was checked against: "projectCount", or "workspace listing" when
    # that field failed or was null; None when not checked.
    checked_against: str | None = None

    def managed(self) -> dict[str, list[ObservedProject]]:
        """Live (not pending deletion) managed projects, grouped by tenant name."""
        result: dict[str, list[ObservedProject]] = {}
        for project in self.projects:
            if project.marker and not project.pending_deletion:
                result.setdefault(project.marker.tenant, []).append(project)
        return result

    def pending(self) -> dict[str, list[ObservedProject]]:
        result: dict[str, list[ObservedProject]] = {}
        for project in self.projects:
            if project.marker and project.pending_deletion:
                result.setdefault(project.marker.tenant, []).append(project)
        return result

    def tenant_project(self, tenant: str) -> ObservedProject | None:
        """The tenant's live project: the one way to find it. None when Railway holds none, or
        several (a duplicate, which only a person may resolve)."""
        live = self.managed().get(tenant, [])
        return live[0] if len(live) == 1 else None

    def unmanaged(self) -> list[ObservedProject]:
        return [
            p
            for p in self.projects
            if p.marker is None and p.name.startswith(PROJECT_PREFIX) and not p.pending_deletion
        ]


def observe(
    client: ops.Executor,
    workspace_id: str | None,
    *,
    page_size: int = 50,
    check_count: bool = True,
    max_pages: int = ops.MAX_PAGES,
) -> Observed:
    """List the fleet. A page that fails after some succeeded, a listing that repeats itself or
    never ends, or one shorter than what Railway says the workspace holds gives an incomplete
    Observed (the safety guard refuses to act on it) instead of half a picture passed as whole.

    What the workspace holds is its projectCount, a field no Railway client uses: when it fails
    or is null, the ids of the workspace's own project listing (the one Railway's CLI reads)
    stand in for it. Either is read before the fleet listing, so projects created meanwhile
    (another pass's) cannot make it look short; one deleted meanwhile can, so a short listing is
    taken again once before it counts. Whether projectCount counts projects pending deletion is
    unknown: when the answer decides (the count lies between the live projects listed and all
    of them), the workspace listing settles it."""
    check = bool(check_count and workspace_id)
    problem = None
    for _ in range(2):
        expected, problem = (_expected(client, workspace_id) if check and workspace_id
                             else (None, None))
        projects, failure = _list(client, workspace_id, page_size, max_pages)
        if workspace_id and not (failure or problem) and _ambiguous(expected, projects):
            expected, problem = _workspace_listing(client, workspace_id)
        if failure or problem:
            return Observed(projects, complete=False, problem=failure or problem)
        problem = _shortfall(expected, projects)
        if problem is None:
            return Observed(projects, checked_against=_CHECKS.get(type(expected)))
    return Observed(projects, complete=False, problem=problem)


_CHECKS = {int: "projectCount", dict: "workspace listing"}


def reported_project_count(client: ops.Executor, workspace_id: str) -> int | None:
    """Railway's projectCount, or None when the field fails or is null: no Railway client uses
    it, so its loss must never stop a pass. Auth and transport failures still raise."""
    try:
        count = ops.workspace_project_count(client, workspace_id)
    except (ApiError, QueryValidationError, ProblemProcessingError):
        return None
    return count if type(count) is int else None


Expected = int | dict[str, bool] | None  # projectCount, or {id: pending deletion}, or unchecked


def _expected(client: ops.Executor, workspace_id: str) -> tuple[Expected, str | None]:
    """(what the listing must hold at least, or why that cannot be known)."""
    count = reported_project_count(client, workspace_id)
    if count is not None:
        return count, None
    return _workspace_listing(client, workspace_id)


def _workspace_listing(client: ops.Executor, workspace_id: str) -> tuple[Expected, str | None]:
    try:
        return ops.workspace_project_ids(client, workspace_id), None
    except IncompleteListingError as exc:
        return None, f"Railway's workspace listing is incomplete: {exc}"


def _ambiguous(expected: Expected, projects: tuple[ObservedProject, ...]) -> bool:
    """Whether projectCount leaves the listing's completeness open: more than the live projects
    listed, no more than all of them. Counting pending deletions, Railway says it is whole;
    counting live projects only, it says a live one is missing. No source says which."""
    if not isinstance(expected, int):
        return False
    live = sum(1 for p in projects if not p.pending_deletion)
    return live < expected <= len(projects)


def _list(client: ops.Executor, workspace_id: str | None, page_size: int,
          max_pages: int) -> tuple[tuple[ObservedProject, ...], str | None]:
    """(projects listed, why the listing is incomplete or None). A first page that fails raises."""
    projects: list[ObservedProject] = []
    try:
        for page in ops.fleet_pages(client, workspace_id, page_size, max_pages):
            projects.extend(parse_project(node) for node in page)
    except IncompleteListingError as exc:
        return tuple(projects), f"the listing cannot be trusted: {exc}"
    except RailwayError as exc:
        if not projects:
            raise
        return tuple(projects), f"listing failed part-way: {exc}"
    return tuple(projects), None


def _shortfall(expected: Expected, projects: tuple[ObservedProject, ...]) -> str | None:
    """Why the listing holds less than expected, or None. A count is compared with everything
    listed (an ambiguous one was replaced by the workspace listing first). Of the workspace
    listing's ids only live ones must be in the fleet listing: whether that lists projects
    pending deletion is not documented, and demanding them would trip the guard for the 48 hours
    after every scheduled delete."""
    if isinstance(expected, int) and len(projects) < expected:
        return f"Railway reports {expected} projects but the listing returned {len(projects)}"
    if isinstance(expected, dict):
        listed = {p.id for p in projects}
        missing = [pid for pid, pending in expected.items() if not pending and pid not in listed]
        if missing:
            return (f"Railway's workspace listing holds {len(missing)} projects the fleet "
                    "listing lacks")
    return None


def parse_project(node: dict) -> ObservedProject:
    environment = environment_of(node)
    config = _config(environment)
    service_configs = config.get("services") or {}
    variables = _variables_of(config)
    instances = {}
    triggers: dict[str, list[str]] | None = None
    volumes: dict[str, str] | None = None
    history = _history(environment)
    if environment:
        listed_volumes = environment.get("volumeInstances")
        if listed_volumes is not None:
            volumes = {edge["node"].get("serviceId") or "": edge["node"]["id"]
                       for edge in listed_volumes.get("edges", [])}
        for edge in (environment.get("serviceInstances") or {}).get("edges", []):
            instances[edge["node"]["serviceId"]] = edge["node"]
        listed = environment.get("deploymentTriggers")
        if listed is not None:
            triggers = {}
            for edge in listed.get("edges", []):
                trigger = edge["node"]
                triggers.setdefault(trigger.get("serviceId") or "", []).append(trigger["id"])
    services = {}
    for edge in (node.get("services") or {}).get("edges", []):
        service = edge["node"]
        services[service["name"]] = _service(
            service, instances.get(service["id"]), service_configs.get(service["id"]) or {},
            variables.get(service["id"], {}),
            None if triggers is None else tuple(triggers.get(service["id"], ())),
            None if history is None else tuple(history.get(service["id"], ())),
        )
    return ObservedProject(
        id=node["id"],
        name=node["name"],
        description=node.get("description"),
        created_at=_time(node.get("createdAt")),
        deleted_at=_time(node.get("deletedAt")),
        marker=parse_marker(node.get("description")),
        environment_id=environment["id"] if environment else None,
        services=services,
        volumes=volumes,
    )


@dataclass(frozen=True)
class VariableSpec:
    """One variable of a service's environment config as Railway listed it."""

    value: str | None  # None: not returned (masked for this token, or sealed)
    sealed: bool = False


def environment_of(node: dict) -> dict | None:
    """The environment saas-infra reads a project in: production, else the first listed."""
    environments = [e["node"] for e in (node.get("environments") or {}).get("edges", [])]
    for environment in environments:
        if environment.get("name") == "production":
            return environment
    return environments[0] if environments else None


def service_variables(node: dict) -> dict[str, dict[str, VariableSpec]]:
    """{service id: {variable name: spec}} of the project's environment config (environment_of):
    the one reading of that config, for a pass and for doctor alike."""
    return _variables_of(_config(environment_of(node)))


def _config(environment: dict | None) -> dict[str, Any]:
    return (_json(environment.get("config")) if environment else None) or {}


def _variables_of(config: dict[str, Any]) -> dict[str, dict[str, VariableSpec]]:
    return {service_id: _specs((entry or {}).get("variables") or {})
            for service_id, entry in (config.get("services") or {}).items()}


def _specs(variables: dict[str, Any]) -> dict[str, VariableSpec]:
    specs = {}
    for name, raw in variables.items():
        spec = raw if isinstance(raw, dict) else {"value": raw}
        value = spec.get("value")
        specs[name] = VariableSpec(None if value is None else str(value),
                                   bool(spec.get("isSealed")))
    return specs


def _history(environment: dict | None) -> dict[str, list[ObservedDeployment]] | None:
    """{service id: its deployments listed, newest first}; None when the listing has none."""
    listed = (environment or {}).get("deployments")
    if listed is None:
        return None
    found: dict[str, list[ObservedDeployment]] = {}
    for edge in listed.get("edges", []):
        deployment = _deployment(edge["node"])
        if deployment is not None:
            found.setdefault(edge["node"].get("serviceId") or "", []).append(deployment)
    epoch = datetime.min.replace(tzinfo=UTC)
    for deployments in found.values():  # the order Railway lists them in is not documented
        deployments.sort(key=lambda d: d.created_at or epoch, reverse=True)
    return found


def _service(service: dict, instance: dict | None, config: dict,
             specs: dict[str, VariableSpec],
             triggers: tuple[str, ...] | None = None,
             history: tuple[ObservedDeployment, ...] | None = None) -> ObservedService:
    source = (instance or {}).get("source") or {}
    config_source = config.get("source") or {}
    sealed = frozenset(name for name, spec in specs.items() if spec.sealed)
    values = {name: spec.value for name, spec in specs.items()}
    open_values = [value for name, value in values.items() if name not in sealed]
    is_gateway = service["name"] == GATEWAY
    # Secrets (the generated keys, operators' own) never leave this function.
    managed = [name for name in values if is_gateway and _manageable(name)]
    domains = ((instance or {}).get("domains") or {}).get("serviceDomains") or []
    return ObservedService(
        id=service["id"],
        name=service["name"],
        repo=source.get("repo") or config_source.get("repo"),
        branch=config_source.get("branch"),
        image=source.get("image") or config_source.get("image"),
        variables={name: value for name in managed if (value := values[name]) is not None},
        # A key is there by name unless Railway shows it empty: an unreadable one (None) is
        # unknown and counts, a readable "" is known to be no key and is made again.
        key_names=frozenset(name for name in KEY_NAMES if name in values and values[name] != ""),
        unreadable_keys=frozenset(name for name in KEY_NAMES
                                  if name in values and values[name] is None),
        unknown=frozenset(name for name in managed if values[name] is None),
        # Present by name like a key: unreadable (None) counts, a value shown empty does not.
        secret_names=frozenset(name for name in values if is_gateway and _secret(name)
                               and values[name] != ""),
        sealed=sealed,
        masked=bool(open_values) and all(value is None for value in open_values),
        deployment=_deployment((instance or {}).get("latestDeployment")),
        domain=domains[0]["domain"] if domains else None,
        triggers=triggers,
        history=history,
        settings=_settings(instance, config.get("deploy") or {}),
        deployed=_deployed((instance or {}).get("latestDeployment")),
    )


def _settings(instance: dict | None, deploy: dict[str, Any]) -> ObservedSettings | None:
    """The settings as set now: the instance's fields (operations.INSTANCE_SETTINGS) and the
    config's placement (ServiceInstance.numReplicas and region are legacy: operations.py)."""
    if instance is None or "restartPolicyType" not in instance:
        return None
    return _settings_of({**deploy, **{k: v for k, v in instance.items() if k in _SETTINGS}})


def _deployed(node: dict | None) -> ObservedSettings | None:
    meta = _json((node or {}).get("meta")) or {}
    manifest = meta.get("serviceManifest")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("deploy"), dict):
        return None  # unknown: never a reason to redeploy
    return _settings_of(manifest["deploy"])


_SETTINGS = ("healthcheckPath", "healthcheckTimeout", "restartPolicyType",
             "restartPolicyMaxRetries", "sleepApplication")


def _settings_of(deploy: dict[str, Any]) -> ObservedSettings:
    """Railway's defaults (docs integrations/api/manage-services.md) fill what is unset."""
    placement = deploy.get("multiRegionConfig") or {}
    counts = {name: int((spec or {}).get("numReplicas") or 0) for name, spec in placement.items()
              if spec is not None}
    replicas = sum(counts.values()) if counts else int(deploy.get("numReplicas") or 1)
    region = min(counts, key=lambda name: (-counts[name], name)) if counts else None
    timeout = deploy.get("healthcheckTimeout")
    retries = deploy.get("restartPolicyMaxRetries")
    return ObservedSettings(
        healthcheck_path=deploy.get("healthcheckPath") or None,
        healthcheck_timeout=int(timeout) if timeout is not None else None,
        restart_policy=deploy.get("restartPolicyType") or "ON_FAILURE",
        restart_max_retries=int(retries) if retries is not None else 10,
        sleep=bool(deploy.get("sleepApplication")),
        replicas=replicas,
        region=region,
        regions=tuple(sorted(counts)),
    )


def _manageable(name: str) -> bool:
    """A gateway variable the manifest may hold: not a key, not Railway's, not secret-looking."""
    return (name not in KEY_NAMES and not name.startswith(RAILWAY_PREFIX)
            and not looks_secret(name))


def _secret(name: str) -> bool:
    """A secret-looking gateway variable other than the generated keys and Railway's own."""
    return (name not in KEY_NAMES and not name.startswith(RAILWAY_PREFIX)
            and looks_secret(name))


def _deployment(node: dict | None) -> ObservedDeployment | None:
    if not node:
        return None
    meta = _json(node.get("meta")) or {}
    return ObservedDeployment(
        id=node["id"],
        status=node["status"],
        created_at=_time(node.get("createdAt")),
        url=node.get("staticUrl") or node.get("url"),
        commit=meta.get("commitHash"),
        image=meta.get("image"),
        status_updated_at=_time(node.get("statusUpdatedAt")),
    )


def _json(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def read_deep(client: ops.Executor, project: ObservedProject) -> ObservedProject:
    """The project with what Railway shows only per service read for real (`plan --deep`): the
    gateway's limits (serviceInstanceLimits, 1 call) and the Postgres volume's backup schedules
    (volumeInstanceBackupScheduleList, 1 call; its volume instance came in the fleet listing)."""
    gateway, environment_id = project.gateway, project.environment_id
    if gateway is None or environment_id is None:
        return project
    limits = ops.service_instance_limits(client, service_id=gateway.id,
                                         environment_id=environment_id)
    volume = project.postgres_volume
    kinds = None
    if volume is not None:
        schedules = ops.volume_backup_schedules(client, volume_instance_id=volume)
        kinds = tuple(sorted({str(s["kind"]).upper() for s in schedules}))
    deep = DeepRead(_float(limits.get("vCPUs")), _float(limits.get("memoryGB")), kinds)
    return replace(project, deep=deep)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
