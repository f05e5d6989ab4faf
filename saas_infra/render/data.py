"""The verbs' results as JSON-ready dicts (`--json`): stable identifiers, times as RFC 3339
strings, durations in seconds. Plans and pass reports are plan.py's.

Keys are a promise to scripts: `list --json` keeps the original tool's `{"instances": [...]}` and
its keys; a status is a TenantStatus identifier, never a sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from saas_infra.errors import ManifestProblem
from saas_infra.render import text, words
from saas_infra.render.plan import report_json
from saas_infra.verbs import (
    Credentials,
    Deployment,
    Health,
    Identity,
    InstanceRow,
    PendingChange,
    Storage,
    TenantDetail,
    VerbResult,
)


def instance(row: InstanceRow) -> dict[str, Any]:
    left = row.time_left
    return {
        "name": row.name,
        "project_id": row.project_id,
        "status": row.status.value,
        "url": row.url,
        "created_at": words.time(row.created_at),
        "deletion_scheduled_at": words.time(row.deletion_scheduled_at),
        "deletion_deadline": words.time(row.deletion_deadline),
        "console_url": row.console_url,
        "managed": row.managed,
        "source": row.source,
        "secrets": {name: {"from_env": s.from_env, "on_railway": s.on_railway}
                    for name, s in row.secrets.items()},
        "time_left_seconds": int(left.total_seconds()) if left is not None else None,
        "restorable_until": words.time(row.restorable_until),
        "deployment_status": row.deployment_status,
        "asleep": row.asleep,
        "commit": row.commit,
        "image": row.image,
        "newest": row.newest,
        "pinned": row.pinned,
        "channel": row.channel,
        "settings": row.settings,
        "region": row.region,
        "regions": row.regions,
        "resources": row.resources,
        "backups": row.backups,
    }


def instances(rows: Sequence[InstanceRow], problems: Sequence[ManifestProblem]
              ) -> dict[str, Any]:
    return {"instances": [instance(row) for row in rows],
            "manifest_problems": [str(p) for p in problems]}


def detail(data: TenantDetail) -> dict[str, Any]:
    return {
        **instance(data.row),
        "services": [{"name": s.name, "deployment_id": s.deployment_id,
                      "deployment_status": s.deployment_status, "source": s.source}
                     for s in data.services],
        "health": health(data.health),
        "manifest_problems": data.manifest_problems,
        "drift": changes(data.drift),
        "pending": changes(data.pending),
        "warnings": data.warnings,
        "on_railway": storage(data.storage),
    }


def storage(value: Storage | None) -> dict[str, Any] | None:
    """The limits and backups as Railway shows them now (`resources`/`backups` above are what
    the last pass recorded)."""
    if value is None:
        return None
    return {"resources": value.resources, "backup_schedule": value.backups,
            "newest_backup": words.time(value.newest_backup), "backups_kept": value.backup_count}


def health(value: Health | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"ok": value.ok, "detail": text.health_detail(value)}


def changes(items: Sequence[PendingChange]) -> list[dict[str, str]]:
    return [{"kind": item.kind.value, "reason": item.reason} for item in items]


def verb(result: VerbResult, name: str) -> dict[str, Any]:
    """The fields every verb's JSON has; `name` is the verb (create, delete, ...)."""
    return {
        "name": result.tenant,
        "ok": result.ok,
        "project_id": result.project_id,
        "url": result.url,
        "console_url": result.console_url,
        "manifest": result.manifest_path,
        "applied": result.applied,
        "deployment": deployment(result.deployment, result.waited),
        "message": text.message(result, name),
        "apply": report_json(result.report) if result.report is not None else None,
    }


def deployment(value: Deployment | None, waited: float | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"id": value.id, "status": value.status, "created_at": words.time(value.created_at),
            "commit": value.commit,
            "waited_seconds": round(waited, 1) if waited is not None else None}


def deletion(result: VerbResult) -> dict[str, Any] | None:
    tombstone = result.deletion
    if tombstone is None:
        return None
    return {
        "requested_at": words.time(tombstone.requested_at),
        "grace_days": tombstone.grace_days,
        "force": tombstone.force,
        "deadline": words.time(result.deadline),
    }


def time_left_seconds(result: VerbResult) -> int | None:
    """Seconds from the verb's moment to the deadline (the deadline itself is a time)."""
    if result.deadline is None or result.at is None:
        return None
    return max(0, int((result.deadline - result.at).total_seconds()))


def created(result: VerbResult, keys: Mapping[str, str] | None) -> dict[str, Any]:
    return {**verb(result, "create"), "wait_error": result.wait_error,
            "credentials": dict(keys) if keys else None}


def deleted(result: VerbResult) -> dict[str, Any]:
    return {**verb(result, "delete"), "deletion": deletion(result), "unchanged": result.unchanged,
            "time_left_seconds": time_left_seconds(result)}


def not_deleted(name: str) -> dict[str, Any]:
    return {"name": name, "ok": True, "confirmed": False, "message": text.NOTHING_DELETED}


def cancelled(result: VerbResult) -> dict[str, Any]:
    return {**verb(result, "cancel-delete"), "restored": result.restored}


def adopted(result: VerbResult) -> dict[str, Any]:
    return {**verb(result, "adopt"), "pending": changes(result.pending),
            "deletion": deletion(result)}


def identity(value: Identity, token_source: str | None) -> dict[str, Any]:
    return {
        "kind": value.kind,
        "user": value.user,
        "workspaces": [{"id": w.id, "name": w.name, "plan": w.plan, "projects": w.projects}
                       for w in value.workspaces],
        "workspace": value.workspace,
        "workspace_problem": value.workspace_problem,
        "workspace_hint": value.workspace_hint,
        "workspace_configured": value.workspace_configured,
        "token_source": token_source,
    }


def credentials(creds: Credentials, name: str) -> dict[str, Any]:
    data: dict[str, Any] = {"name": name, "project_id": creds.project_id,
                            "rotated": creds.rotated, "credentials": creds.keys}
    if creds.unreadable:
        data["unreadable"] = {key: text.unreadable_reason(key, why, name)
                              for key, why in creds.unreadable.items()}
        data["unreadable_reasons"] = {key: why.value for key, why in creds.unreadable.items()}
    if creds.lost:
        data["lost_lock"] = creds.lost
    return data


def validation(tenants: Sequence[str], fleet_file: str | None = None,
               warnings: Sequence[str] = ()) -> dict[str, Any]:
    return {"valid": True, "tenants": list(tenants), "fleet_file": fleet_file,
            "warnings": list(warnings)}


def invalid(problems: Sequence[ManifestProblem]) -> dict[str, Any]:
    """`validate --json` with errors: every problem with its file, line and field."""
    return {"valid": False, "problems": [
        {"file": p.file, "line": p.line, "field": p.field or None, "message": p.message}
        for p in problems]}


def error(exc: BaseException, kind: str | None = None) -> dict[str, Any]:
    return {"error": {"type": kind or type(exc).__name__, "message": str(exc)}}
