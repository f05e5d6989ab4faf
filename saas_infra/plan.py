"""The plan: inert, serialisable data that says what a reconcile pass will do and why.

A Plan is made by diff.py and read by apply.py; nothing in here calls Railway, reads files or
looks at a clock. Fields named `reason` exist only to explain and never steer apply. Symbols and
colours for actions belong to render.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from saas_infra.errors import PlanError

PLAN_FORMAT = 1


class ActionKind(StrEnum):
    CREATE = "create"  # a new tenant, or the rest of one whose create was interrupted
    UPDATE_SOURCE = "update-source"  # the gateway's repo/branch/image
    SET_VARIABLES = "set-variables"  # the gateway's variables (manifest edit or drift on Railway)
    REDEPLOY = "redeploy"  # a redeploy requested in the manifest
    SCHEDULE_DELETE = "schedule-delete"  # write the deletion deadline on Railway
    CANCEL_DELETE = "cancel-delete"  # remove the deadline from Railway
    RESTORE = "restore"  # undo Railway's own scheduled delete (tombstone removed in time)
    DELETE = "delete"  # the deadline has passed, or the tombstone says force

    @property
    def destructive(self) -> bool:
        return self is ActionKind.DELETE


class FindingKind(StrEnum):
    ORPHAN = "orphan"  # managed project with no manifest: reported, never deleted
    UNMANAGED = "unmanaged"  # luthien-* project without the marker: never changed
    DUPLICATE = "duplicate"  # two managed projects for one tenant
    BLOCKED = "blocked"  # a tenant that will not be touched until a person acts


@dataclass(frozen=True)
class Action:
    tenant: str
    kind: ActionKind
    reason: str  # for people only
    project_id: str | None = None
    # What apply needs, and only that: source, variables to set / unset, deadline, mode...
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    reason: str
    tenant: str | None = None
    project_id: str | None = None
    project_name: str | None = None


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
    # Read back from a file whose checksum is missing or wrong: if it no longer matches a fresh
    # plan, an edit is the likelier cause than a change on Railway. Never saved itself.
    edited: bool = field(default=False, compare=False)

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
        data = asdict(self)
        del data["edited"]
        data["format"] = PLAN_FORMAT
        return data

    def to_json(self) -> str:
        """The plan as `plan --out` saves it, with a checksum of its content."""
        data = json.loads(json.dumps(self.to_dict(), default=str))
        data["checksum"] = _checksum(data)
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        if not isinstance(data, dict):  # a JSON list or number must not escape as AttributeError
            raise PlanError(f"not a saas-infra plan (a JSON {type(data).__name__}, not an object)")
        if data.get("format") != PLAN_FORMAT:
            raise PlanError(f"not a saas-infra plan (format {data.get('format')!r})")
        try:
            return cls(
                at=data["at"],
                actions=tuple(
                    Action(**{**a, "kind": ActionKind(a["kind"])}) for a in data.get("actions", [])
                ),
                findings=tuple(
                    Finding(**{**f, "kind": FindingKind(f["kind"])}) for f in data.get("findings", [])
                ),
                guards=tuple(Guard(**g) for g in data.get("guards", [])),
                warnings=tuple(str(w) for w in data.get("warnings", [])),
                fingerprints=dict(data.get("fingerprints", {})),
                targets=tuple(data.get("targets", ())),
                workspace_id=data.get("workspace_id"),
                edited=data.get("checksum") != _checksum(data),
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


def _checksum(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
