"""The plan: inert, serialisable data that says what a reconcile pass will do and why.

A Plan is made by diff.py and read by apply.py; nothing in here calls Railway, reads files or
looks at a clock. Fields named `reason` exist only to explain and never steer apply. Symbols and
colours for actions belong to render.py.

Each action carries one change: a frozen dataclass per ActionKind, holding what apply needs and
only that. A new kind of action is a new ActionKind, its change class here (added to `Change`),
a `match` arm in apply.py and its symbol in render.py; saving and reading plans follow from the
class's typed fields.
"""

from __future__ import annotations

import hashlib
import json
import types
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from enum import Enum, StrEnum
from typing import Any, ClassVar, TypeAlias, Union, get_args, get_origin, get_type_hints

from saas_infra.errors import PlanError

# The saved plan's format. 2: each action's change is typed (`change`, no longer `details`).
PLAN_FORMAT = 2


class ActionKind(StrEnum):
    CREATE = "create"  # a new tenant, or the rest of one whose create was interrupted
    UPDATE_SOURCE = "update-source"  # the gateway's repo/branch/image
    SET_VARIABLES = "set-variables"  # the gateway's variables (manifest edit or drift on Railway)
    UPDATE_SETTINGS = "update-settings"  # the gateway's deploy settings, then a redeploy
    SET_SECRETS = "set-secrets"  # the gateway's secrets, read from the pass's environment
    MOVE_REGION = "move-region"  # the databases to another region: their volumes' data migrates
    SET_LIMITS = "set-limits"  # the gateway's resource limits, a redeploy, then the marker's record
    SET_BACKUPS = "set-backups"  # the Postgres volume's backup schedule, then the marker's record
    REDEPLOY = "redeploy"  # a redeploy requested in the manifest
    SET_VERSION = "set-version"  # a pinned commit (no push trigger) or a followed branch
    ROLLBACK = "rollback"  # a tenant whose new version failed goes back to its last good one
    SCHEDULE_DELETE = "schedule-delete"  # write the deletion deadline on Railway
    CANCEL_DELETE = "cancel-delete"  # remove the deadline from Railway
    RECORD_FAILURE = "record-failure"  # the marker's rollout failure record: written or dropped
    RESTORE = "restore"  # undo Railway's own scheduled delete (tombstone removed in time)
    DELETE = "delete"  # the deadline has passed, or the tombstone says force

    @property
    def destructive(self) -> bool:
        return self is ActionKind.DELETE


class DeleteMode(StrEnum):
    NOW = "now"  # projectDelete: final
    SCHEDULED = "scheduled"  # Railway's scheduled delete: restorable for 48 hours


# --- what each kind of action changes ----------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where the gateway's code comes from: an image, or a repository and its branch (and the
    commit it is pinned to, if it is)."""

    repo: str | None = None
    branch: str | None = None
    image: str | None = None
    commit: str | None = None

    def describe(self) -> str:
        if self.commit:
            return f"{self.repo}@{short_sha(self.commit)}"
        return self.image or f"{self.repo}@{self.branch or '?'}"

    def to_dict(self) -> dict[str, str]:
        """The fields that are set: {"image"} or {"repo", "branch"}."""
        return {k: v for k, v in _encode(self).items() if v is not None}


def short_sha(commit: str) -> str:
    """A commit as people read it (the full SHA stays in the data)."""
    return commit[:12]


@dataclass(frozen=True)
class GatewayRef:
    """The gateway service a change acts on, as observed when planning (apply looks it up
    itself when a create earlier in the pass made it)."""

    environment_id: str | None
    service_id: str
    # Its GitHub deployment triggers' ids as listed (None: not known): a pin need not read
    # them again when there were none.
    triggers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Settings:
    """The gateway's deploy settings in Railway's terms; a field left None is not written.
    `region` only says where `replicas` go (multiRegionConfig needs one)."""

    healthcheck_path: str | None = None  # healthcheckPath
    healthcheck_timeout: int | None = None  # healthcheckTimeout, seconds
    restart_policy: str | None = None  # restartPolicyType: ON_FAILURE, ALWAYS, NEVER
    restart_max_retries: int | None = None  # restartPolicyMaxRetries
    sleep: bool | None = None  # sleepApplication
    replicas: int | None = None  # multiRegionConfig {region: {numReplicas}}
    region: str | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self) if f.name != "region")

    def to_input(self) -> dict[str, Any]:
        """serviceInstanceUpdate's input: only the fields to write."""
        given = {
            "healthcheckPath": self.healthcheck_path,
            "healthcheckTimeout": self.healthcheck_timeout,
            "restartPolicyType": self.restart_policy,
            "restartPolicyMaxRetries": self.restart_max_retries,
            "sleepApplication": self.sleep,
        }
        payload: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if self.replicas is not None and self.region is not None:
            payload["multiRegionConfig"] = {self.region: {"numReplicas": self.replicas}}
        return payload


@dataclass(frozen=True)
class Limits:
    """The gateway's resource limits per replica in Railway's terms (serviceInstanceLimitsUpdate
    vCPUs, memoryGB); None: no limit set, the plan's maximum."""

    vcpus: float | None = None
    memory_gb: float | None = None

    def as_tuple(self) -> tuple[float | None, float | None]:
        return (self.vcpus, self.memory_gb)

    def describe(self) -> str:
        shown = [f"{v:g}" if v is not None else "plan's" for v in self.as_tuple()]
        return f"{shown[0]} vCPU / {shown[1]} GB"


@dataclass(frozen=True)
class Create:
    """A new tenant, or the rest of one whose create was interrupted; each step adopts what
    it finds."""

    kind: ClassVar[ActionKind] = ActionKind.CREATE
    project_name: str
    description: str  # the project's marker
    source: Source
    variables: dict[str, str]  # the gateway's, generated keys excepted
    missing: tuple[str, ...] = ()  # what Railway lacks: project, services, keys, domain
    # The gateway's secrets: NAME -> the environment variable apply reads its value from.
    secrets: dict[str, str] = field(default_factory=dict)
    # A new gateway's deploy settings, written (then redeployed) right after its create.
    settings: Settings = field(default_factory=Settings)
    # Where new database services are placed (their template deploy); None: Railway's default.
    region: str | None = None
    # What Railway shows only per service, written by this create: a new gateway's limits
    # (before its first deploy), a new Postgres volume's backup schedule; None: not by this
    # action (set-limits / set-backups do it for services that exist).
    limits: Limits | None = None
    backups: tuple[str, ...] | None = None  # Railway's kinds: DAILY, WEEKLY, MONTHLY
    # The marker once those are written (it records them); None: `description` stays.
    recorded: str | None = None


@dataclass(frozen=True)
class UpdateSource:
    """Connect the gateway to `source` (serviceConnect, which deploys it). For a channel that
    pins an image, this is how a new image reaches a tenant: in its rollout's wave, gated.
    Without `deploy`, an image is only assigned (serviceInstanceUpdate): a rolled-back
    tenant's source set back to the image it runs, so no later deploy takes the failed one."""

    kind: ClassVar[ActionKind] = ActionKind.UPDATE_SOURCE
    source: Source
    gateway: GatewayRef
    gate: HealthGate | None = None  # a rollout's wave: wait for health before it is done
    deploy: bool = True


@dataclass(frozen=True)
class SetVariables:
    kind: ClassVar[ActionKind] = ActionKind.SET_VARIABLES
    values: dict[str, str]  # to write (one write, one deploy)
    unset: tuple[str, ...]  # to delete
    gateway: GatewayRef


@dataclass(frozen=True)
class UpdateSettings:
    """Write the settings that differ (none: they are written but not yet deployed), then
    redeploy the running version: Railway applies settings from the next deployment."""

    kind: ClassVar[ActionKind] = ActionKind.UPDATE_SETTINGS
    settings: Settings
    gateway: GatewayRef


@dataclass(frozen=True)
class SetSecrets:
    """Secrets by reference: NAME -> the environment variable apply reads the value from when it
    runs. A plan never holds a secret's value, so a saved plan, its JSON and its Markdown
    cannot leak one."""

    kind: ClassVar[ActionKind] = ActionKind.SET_SECRETS
    secrets: dict[str, str]
    gateway: GatewayRef
    resync: bool = False  # rewriting names present on Railway (`--resync-secrets`)


@dataclass(frozen=True)
class PlacedService:
    """A database service to place in the action's region: its placement written when Railway
    has another (`write`), then a redeploy, from which Railway moves it and its volume."""

    name: str  # Postgres, Redis
    service_id: str
    region: str | None  # where it runs now, as observed (None: Railway shows no placement)
    write: bool = True  # False: placed already but not deployed there yet (a pass died)


@dataclass(frozen=True)
class MoveRegion:
    """Move the tenant's databases to `region`. Each holds a volume, so Railway migrates its data
    and the tenant is offline meanwhile: apply refuses it unless `confirmed` (the operator's
    --allow-region-move, recorded in the plan and in a saved plan)."""

    kind: ClassVar[ActionKind] = ActionKind.MOVE_REGION
    region: str
    services: tuple[PlacedService, ...]
    environment_id: str | None
    confirmed: bool = False


@dataclass(frozen=True)
class SetLimits:
    """Write the gateway's resource limits (both fields; None resets one to the plan's), redeploy
    the running version unless a later action deploys (limits apply from the next deployment),
    then write `description`, the marker that records them: a pass that dies before the marker
    leaves the old record, so the next pass writes them again."""

    kind: ClassVar[ActionKind] = ActionKind.SET_LIMITS
    limits: Limits
    description: str
    gateway: GatewayRef
    # False only when nothing is known to change: no record yet and no limit set (the upgrade
    # of a fleet whose marks hold no record must not redeploy every tenant).
    deploy: bool = True


@dataclass(frozen=True)
class SetBackups:
    """Replace the Postgres volume's backup schedules with `kinds` (Railway's: DAILY, WEEKLY,
    MONTHLY; none turns them off), then write `description`, the marker that records them.
    `volume_instance_id` as the fleet listing showed it; None: apply looks it up."""

    kind: ClassVar[ActionKind] = ActionKind.SET_BACKUPS
    kinds: tuple[str, ...]
    description: str
    postgres_service_id: str
    environment_id: str | None
    volume_instance_id: str | None = None


@dataclass(frozen=True)
class Redeploy:
    kind: ClassVar[ActionKind] = ActionKind.REDEPLOY
    description: str  # the marker that records the request as done
    gateway: GatewayRef
    commit: str | None = None  # a pinned gateway redeploys its pin, not the branch's head
    # An image gateway a rollout has not reached, whose source names another image than the one
    # it runs (rolled back): the source goes back to this image (serviceConnect deploys it).
    image: str | None = None


@dataclass(frozen=True)
class HealthGate:
    """A rollout's gate on one tenant's deploy: its deployment reaches SUCCESS on the version
    and `url` + `path` answers 200, within `timeout` seconds; else the tenant failed (and, with
    `rollback`, goes back to its last good deployment)."""

    channel: str
    version: str
    path: str
    timeout: int
    url: str | None = None  # the gateway's https://domain, when it has one
    rollback: bool = False
    wave: int = 1


@dataclass(frozen=True)
class SetVersion:
    """What version the gateway runs, and whether a push deploys it. A pinned commit: its GitHub
    deployment triggers are deleted and, when `deploy`, exactly that commit is deployed. A
    pinned image: when `deploy`, the source's image is deployed again (`latestCommit`, which
    pulls the configured image). Following a branch: when `deploy`, the branch's newest commit
    is deployed, then its trigger is created if it has none (deploy first: a crash in between
    leaves the trigger missing, which the next plan sees, never an undeployed variable change).
    """

    kind: ClassVar[ActionKind] = ActionKind.SET_VERSION
    source: Source  # repo and branch (and the pinned commit, if any), or the image
    deploy: bool  # whether this action deploys (the gateway runs another version)
    gateway: GatewayRef
    gate: HealthGate | None = None  # a rollout's wave: wait for health before it is done


@dataclass(frozen=True)
class Rollback:
    """Back to the newest deployment that can be rolled back to (canRollback) and runs another
    version than `failed` (deploymentRollback): a rollout's tenant whose new version failed."""

    kind: ClassVar[ActionKind] = ActionKind.ROLLBACK
    failed: str  # the version that failed (a commit or an image)
    gateway: GatewayRef


@dataclass(frozen=True)
class ScheduleDelete:
    kind: ClassVar[ActionKind] = ActionKind.SCHEDULE_DELETE
    description: str  # the marker carrying the deadline
    deadline: str  # RFC 3339


@dataclass(frozen=True)
class CancelDelete:
    kind: ClassVar[ActionKind] = ActionKind.CANCEL_DELETE
    description: str  # the marker without a deadline


@dataclass(frozen=True)
class RecordFailure:
    """The marker with the rollout failure that the deployment history shows but the marker
    lacks (a pass died before its gate wrote it), or without a record that no longer halts
    (another version's, or one a resume forgave, on a tenant running its version healthily)."""

    kind: ClassVar[ActionKind] = ActionKind.RECORD_FAILURE
    description: str  # the marker as it is to be


@dataclass(frozen=True)
class Restore:
    kind: ClassVar[ActionKind] = ActionKind.RESTORE


@dataclass(frozen=True)
class Delete:
    kind: ClassVar[ActionKind] = ActionKind.DELETE
    mode: DeleteMode
    project_name: str


Change: TypeAlias = (
    Create | UpdateSource | SetVariables | SetSecrets | UpdateSettings | MoveRegion | SetLimits
    | SetBackups | Redeploy | SetVersion | Rollback | ScheduleDelete | CancelDelete | RecordFailure
    | Restore | Delete
)
CHANGES: dict[ActionKind, type[Change]] = {cls.kind: cls for cls in get_args(Change)}


class FindingKind(StrEnum):
    ORPHAN = "orphan"  # managed project with no manifest: reported, never deleted
    UNMANAGED = "unmanaged"  # luthien-* project without the marker: never changed
    DUPLICATE = "duplicate"  # two managed projects for one tenant
    BLOCKED = "blocked"  # a tenant that will not be touched until a person acts


@dataclass(frozen=True)
class Action:
    tenant: str
    reason: str  # for people only
    change: Change  # what apply needs, and only that
    project_id: str | None = None

    @property
    def kind(self) -> ActionKind:
        return self.change.kind

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "kind": self.kind.value, "reason": self.reason,
                "project_id": self.project_id, "change": _encode(self.change)}

    @classmethod
    def from_dict(cls, data: Any) -> Action:
        if not isinstance(data, dict):
            raise ValueError(f"an action is an object, not {type(data).__name__}")
        kind = ActionKind(data["kind"])
        return cls(
            tenant=_decode(str, data["tenant"], "tenant"),
            reason=_decode(str, data["reason"], "reason"),
            change=_decode(CHANGES[kind], data.get("change", {}), f"{kind.value} change"),
            project_id=_decode(str | None, data.get("project_id"), "project_id"),
        )


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    reason: str
    tenant: str | None = None
    project_id: str | None = None
    project_name: str | None = None


@dataclass(frozen=True)
class RolloutWave:
    """One wave of a channel's rollout as the plan saw it: its tenants by state."""

    wave: int  # 1-based
    old: tuple[str, ...] = ()
    in_progress: tuple[str, ...] = ()
    healthy: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    starting: tuple[str, ...] = ()  # deployed by this plan


@dataclass(frozen=True)
class RolloutView:
    """A channel whose version is not yet on every tenant: for people, and for apply to know
    whether to go on with the next wave (`advance`) after `soak_remaining_seconds`."""

    channel: str
    version: str
    waves: tuple[RolloutWave, ...]
    advance: str = "all"
    halted: bool = False
    reason: str | None = None  # why halted, or why no wave starts now
    soak_remaining_seconds: int | None = None  # before the next wave may start
    resume_command: str | None = None

    @property
    def starting(self) -> tuple[str, ...]:
        return tuple(name for wave in self.waves for name in wave.starting)


@dataclass(frozen=True)
class Guard:
    """A safety guard that tripped: the pass must not run (exit code 3)."""

    name: str
    message: str


@dataclass(frozen=True)
class Plan:
    at: str  # the `now` the plan was computed for (RFC 3339)
    actions: tuple[Action, ...] = ()
    findings: tuple[Finding, ...] = ()
    guards: tuple[Guard, ...] = ()
    # For people only, never steering apply: what the plan could not check (values Railway
    # masked or sealed), said once for the whole plan.
    warnings: tuple[str, ...] = ()
    fingerprints: dict[str, str] = field(default_factory=dict)  # tenant -> manifest sha256
    targets: tuple[str, ...] = ()  # empty = the whole fleet
    workspace_id: str | None = None
    # Made with `--deep`: the per-service settings were read on Railway, not taken from the
    # marker's record. A saved deep plan is checked against a deep plan.
    deep: bool = False
    # Read back from a file whose checksum is missing or wrong: if it no longer matches a fresh
    # plan, an edit is the likelier cause than a change on Railway. Never saved itself.
    edited: bool = field(default=False, compare=False)
    # Channels whose rollout is under way (rollout.py), wave by wave. For people, and for apply
    # to go on wave after wave; never steering which actions run (those are `actions`).
    rollouts: tuple[RolloutView, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.actions

    @property
    def destructive(self) -> bool:
        return any(a.kind.destructive for a in self.actions)

    def for_tenant(self, tenant: str) -> list[Action]:
        return [a for a in self.actions if a.tenant == tenant]

    def tenants(self) -> list[str]:
        return list(dict.fromkeys(a.tenant for a in self.actions))

    def counts(self) -> dict[str, int]:
        counts = {kind.value: 0 for kind in ActionKind}
        for action in self.actions:
            counts[action.kind.value] += 1
        for kind in FindingKind:
            counts[kind.value] = sum(1 for f in self.findings if f.kind is kind)
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "at": self.at,
            "actions": [a.to_dict() for a in self.actions],
            "findings": [_encode(f, keep_none=True) for f in self.findings],
            "guards": [_encode(g) for g in self.guards],
            "warnings": list(self.warnings),
            "fingerprints": dict(self.fingerprints),
            "targets": list(self.targets),
            "workspace_id": self.workspace_id,
            **({"deep": True} if self.deep else {}),
            **({"rollouts": [_encode(r) for r in self.rollouts]} if self.rollouts else {}),
        }

    def to_json(self) -> str:
        """The plan as `plan --out` saves it, with a checksum of its content."""
        data = json.loads(json.dumps(self.to_dict(), default=str))
        data["checksum"] = _checksum(data)
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        if not isinstance(data, dict):  # a JSON list or number must not escape as AttributeError
            raise PlanError(f"not a saas-infra plan (a JSON {type(data).__name__}, not an object)")
        _check_format(data.get("format"))
        try:
            return cls(
                at=data["at"],
                actions=tuple(Action.from_dict(a) for a in data.get("actions", [])),
                findings=tuple(
                    Finding(**{**f, "kind": FindingKind(f["kind"])}) for f in data.get("findings", [])
                ),
                guards=tuple(Guard(**g) for g in data.get("guards", [])),
                warnings=tuple(str(w) for w in data.get("warnings", [])),
                fingerprints=dict(data.get("fingerprints", {})),
                targets=tuple(data.get("targets", ())),
                workspace_id=data.get("workspace_id"),
                deep=data.get("deep") is True,
                edited=data.get("checksum") != _checksum(data),
                rollouts=tuple(_decode(RolloutView, r, "rollout")
                               for r in data.get("rollouts", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"the saved plan is malformed: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> Plan:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            what = exc.msg.removesuffix(" at").removesuffix(" starting").lower()
            raise PlanError(f"the saved plan is not valid JSON: {what} at line {exc.lineno}, "
                            f"column {exc.colno} (cut short, or edited?)") from None


@dataclass(frozen=True)
class PassOptions:
    """The operator's choices for one pass (the flags of `plan` and `apply`), handed down as one
    value from the command line to diff. A new choice is a field here, its flag in
    cli/reconciler.py and the code that reads it; what a saved plan or a re-check makes of it
    is said once, below."""

    # Rewrite the gateway secrets Railway already has too (`--resync-secrets`); otherwise
    # secrets are compared by name only. A plan records it in its set-secrets' `resync`.
    resync_secrets: bool = False
    # Plan database moves to the manifest's region as confirmed (`--allow-region-move`); apply
    # runs only confirmed moves. A plan records it in its move-region's `confirmed`.
    allow_region_move: bool = False
    # Read the per-service settings (limits, backups) on Railway (`--deep`) instead of trusting
    # the marker's record alone. A plan records it in its own `deep`.
    deep: bool = False

    @classmethod
    def from_plan(cls, plan: Plan) -> PassOptions:
        """The choices a saved plan was made with, as its actions and fields record them."""
        return cls(
            resync_secrets=any(isinstance(a.change, SetSecrets) and a.change.resync
                               for a in plan.actions),
            allow_region_move=any(isinstance(a.change, MoveRegion) and a.change.confirmed
                                  for a in plan.actions),
            deep=plan.deep,
        )

    def with_saved(self, plan: Plan) -> PassOptions:
        """The choices for applying the saved `plan` (whose moves the caller has confirmed
        already if these options allow it): a resync and a deep read are the plan's or asked
        now; the moves are confirmed exactly as the plan confirms them."""
        saved = PassOptions.from_plan(plan)
        return replace(saved, resync_secrets=self.resync_secrets or saved.resync_secrets,
                       deep=self.deep or saved.deep)

    def for_recheck(self) -> PassOptions:
        """The choices of the re-plans that check a pass converged: secrets compared by name
        again, since a plan that rewrites them all is never empty."""
        return replace(self, resync_secrets=False)


def _checksum(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_format(found: object) -> None:
    if found == PLAN_FORMAT:
        return
    if isinstance(found, int) and not isinstance(found, bool) and 0 < found < PLAN_FORMAT:
        raise PlanError(f"the saved plan was made by an older saas-infra (plan format {found}; "
                        f"this version reads only format {PLAN_FORMAT})")
    if isinstance(found, int) and not isinstance(found, bool) and found > PLAN_FORMAT:
        raise PlanError(f"the saved plan was made by a newer saas-infra (plan format {found}; "
                        f"this version reads only format {PLAN_FORMAT}); apply it with that "
                        "version")
    raise PlanError(f"not a saas-infra plan (format {found!r})")


# --- typed (de)serialisation: the change classes' fields say what a saved plan holds ------------


def _encode(value: Any, *, keep_none: bool = False) -> Any:
    """Plain JSON data; a dataclass's unset (None) fields are left out unless keep_none."""
    if is_dataclass(value) and not isinstance(value, type):
        encoded = {f.name: _encode(getattr(value, f.name), keep_none=keep_none)
                   for f in fields(value)}
        return {k: v for k, v in encoded.items() if keep_none or v is not None}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(kind: Any, value: Any, where: str) -> Any:
    """`value` read back as `kind` (a field's type), refusing anything else: a hand-edited
    plan must fail here, not in the middle of apply."""
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        [inner] = [a for a in args if a is not type(None)]
        return _decode(inner, value, where)
    if origin is tuple:
        _expect(value, list, where)
        return tuple(_decode(args[0], v, f"{where}[]") for v in value)
    if origin is dict:
        _expect(value, dict, where)
        return {_decode(args[0], k, where): _decode(args[1], v, f"{where}.{k}")
                for k, v in value.items()}
    if is_dataclass(kind) and isinstance(kind, type):
        return _decode_fields(kind, value, where)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(value)
    if kind in (str, int, bool):
        _expect(value, kind, where)
        return value
    if kind is float:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        _expect(value, float, where)
        return value
    raise TypeError(f"{where}: no rule to read {kind!r}")


def _decode_fields(cls: type, value: Any, where: str) -> Any:
    _expect(value, dict, where)
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"{where}: unexpected field {unknown[0]!r}")
    kwargs = {}
    for name, spec in known.items():
        if name in value:
            kwargs[name] = _decode(hints[name], value[name], f"{where}.{name}")
        elif spec.default is MISSING and spec.default_factory is MISSING:
            if type(None) not in get_args(hints[name]):
                raise ValueError(f"{where}: missing field {name!r}")
            kwargs[name] = None
    return cls(**kwargs)


def _expect(value: Any, kind: type, where: str) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{where} must be {kind.__name__}, not {type(value).__name__}")
