"""The emulator's world as plain data: dataclasses in dicts keyed by id, and their JSON form.

Only data and (de)serialisation live here: no clock, no GraphQL, no locking (core.py holds the
lock). Times are epoch seconds (floats) so that life cycles are plain arithmetic; the resolvers
format them as RFC 3339 on the way out.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


@dataclass
class User:
    id: str
    name: str
    email: str
    username: str
    created: float


@dataclass
class Workspace:
    id: str
    name: str
    plan: str
    created: float


@dataclass
class Grant:
    """What a bearer token may reach. kind: "account" (can call `me`) or "workspace". A grant
    without `decrypt` reads every variable value masked as null (its owner may not see them)."""

    kind: str
    workspace_ids: list[str]
    decrypt: bool = True


@dataclass
class Project:
    id: str
    name: str
    description: str | None
    workspace_id: str
    created: float
    updated: float
    serial: int  # creation order; breaks ties between equal timestamps
    deleted: float | None = None  # set by projectScheduleDelete; reaped 48 h later
    is_public: bool = False
    pr_deploys: bool = False
    environment_ids: list[str] = field(default_factory=list)
    service_ids: list[str] = field(default_factory=list)

    @property
    def project_id(self) -> str:
        return self.id


@dataclass
class Environment:
    id: str
    name: str
    project_id: str
    created: float
    shared_variables: dict[str, str] = field(default_factory=dict)


@dataclass
class Service:
    id: str
    name: str
    project_id: str
    created: float
    updated: float
    template_id: str | None = None
    template_service_id: str | None = None
    icon: str | None = None


@dataclass
class Instance:
    """A service in one environment: its source, raw variables, domains and deployments."""

    id: str
    service_id: str
    environment_id: str
    project_id: str
    created: float
    repo: str | None = None
    branch: str | None = None
    image: str | None = None
    start_command: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    sealed: list[str] = field(default_factory=list)  # names whose values are never returned
    domains: list[str] = field(default_factory=list)  # host names, keys of State.domains
    deployment_ids: list[str] = field(default_factory=list)  # oldest first
    # Settings as Railway's environment config spells them (camelCase `deploy` keys); only
    # what was set explicitly is stored, defaults are filled on read (instances.py).
    deploy: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)  # vCPUs / memoryGB overrides
    volume_instance_id: str | None = None  # Railway mounts at most one volume per service
    trigger_id: str | None = None  # its deployment trigger, a key of State.triggers (triggers.py)


@dataclass
class Deployment:
    id: str
    project_id: str
    environment_id: str
    service_id: str
    created: float
    duration: float  # seconds from QUEUED to SUCCESS
    meta: dict[str, Any]
    fail: str | None = None  # "FAILED" or "CRASHED" when injected
    # Another status a test control asked for: WAITING, NEEDS_APPROVAL, SKIPPED, SLEEPING or
    # REMOVING (lifecycle.py says what each does).
    scripted: str | None = None
    started: float | None = None  # when QUEUED begins, if not at `created` (CI, an approval)
    manifest: dict[str, Any] | None = None  # the deploy settings it was queued with
    # The service variables it was queued with: what a rollback to it restores (rollbacks.py).
    variables: dict[str, str] | None = None
    unhealthy: bool = False  # its app answers the health path 503 (commits.py, `unhealthy`)
    # Seconds Railway's own health check waits before failing it (an unhealthy version on an
    # instance with a healthcheckPath): DEPLOYING that long more, then FAILED.
    gate: float | None = None


@dataclass
class Domain:
    id: str
    domain: str
    project_id: str
    environment_id: str
    service_id: str
    created: float
    target_port: int | None = None


@dataclass
class Workflow:
    id: str
    project_id: str
    created: float
    environment_id: str | None = None


@dataclass
class Volume:
    id: str
    name: str
    project_id: str
    created: float


@dataclass
class VolumeInstance:
    """A volume in one environment: where its data lives, its backup schedules and the backups
    kept from schedules since removed (live schedules' backups are computed on read)."""

    id: str
    volume_id: str
    project_id: str
    environment_id: str
    service_id: str | None
    mount_path: str
    size_mb: int
    used_mb: float
    region: str  # where the data is; while migrating, the region it leaves
    created: float
    migration: dict[str, Any] | None = None  # {"to": region, "start": t, "end": t}
    schedules: list[dict[str, Any]] = field(default_factory=list)  # {"id", "kind", "created"}
    backups: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Trigger:
    """A deployment trigger: a push to `branch` of `repository` deploys the service in the
    environment (triggers.py). `enabled` is the dashboard's autodeploy switch, which the API
    cannot see."""

    id: str
    project_id: str
    environment_id: str
    service_id: str
    repository: str
    branch: str
    provider: str = "github"
    check_suites: bool = False  # "Wait for CI"
    root_directory: str | None = None
    enabled: bool = True


def instance_key(service_id: str, environment_id: str) -> str:
    return f"{service_id}:{environment_id}"


@dataclass
class State:
    user: User
    workspaces: dict[str, Workspace]
    tokens: dict[str, Grant]
    projects: dict[str, Project] = field(default_factory=dict)  # insertion = creation order
    environments: dict[str, Environment] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)  # key: instance_key()
    deployments: dict[str, Deployment] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)  # key: host name
    workflows: dict[str, Workflow] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)
    volume_instances: dict[str, VolumeInstance] = field(default_factory=dict)
    heads: dict[str, list[str]] = field(default_factory=dict)  # "repo@branch" -> shas, oldest first
    triggers: dict[str, Trigger] = field(default_factory=dict)
    # Commits a test control or a push made known: "repo@sha" (repo lower-cased) -> {"repo",
    # "sha", "outcome", "message", "author"} (commits.py); images' outcomes by reference.
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    gone: dict[str, str] = field(default_factory=dict)  # removed id -> its workspace id
    # Projects removed for good (reaped after the grace, or projectDelete): Railway still lists
    # them with includeDeleted: true, long after (railwayapp/cli src/commands/usage.rs), so they
    # are kept forever, without their services and environments.
    removed_projects: dict[str, Project] = field(default_factory=dict)
    pending_failures: list[dict[str, Any]] = field(default_factory=list)
    next_serial: int = 0
    trigger_serial: int = 0  # trigger ids come from it, not from the id generator (triggers.py)
    # False in a state saved before triggers were modelled: its repo services get theirs on load.
    triggers_modelled: bool = False
    rng_state: list[Any] | None = None


# Tables of State that hold dataclass records, and the record type of each.
_TABLES: dict[str, type] = {
    "workspaces": Workspace,
    "tokens": Grant,
    "projects": Project,
    "removed_projects": Project,
    "environments": Environment,
    "services": Service,
    "instances": Instance,
    "deployments": Deployment,
    "triggers": Trigger,
    "domains": Domain,
    "workflows": Workflow,
    "volumes": Volume,
    "volume_instances": VolumeInstance,
}


def to_json(state: State) -> str:
    # vars() rather than dataclasses.asdict: no deep copy, which matters for big fleets.
    data = {f.name: getattr(state, f.name) for f in fields(state)}
    data["version"] = FORMAT_VERSION
    return json.dumps(data, default=vars, separators=(",", ":"))


def from_json(text: str) -> State:
    data = json.loads(text)
    if data.pop("version", None) != FORMAT_VERSION:
        raise ValueError("emulator state file has an unknown format version")
    data["user"] = User(**data["user"])
    for name, record in _TABLES.items():
        data[name] = {key: record(**value) for key, value in data.get(name, {}).items()}
    return State(**data)


def write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
