"""Volumes: the ones templates create, where their data lives and how it follows a region
change, their backup schedules and the backups those schedules keep. Backups and migrations
are computed from the clock on read, like deployments: no background threads.

Evidence (read at the commits named; "reported" marks third-party observations):
- A template service's `volumeMounts` get a volume mounted there (the Postgres template at
  /var/lib/postgresql/data): API-NOTES §4.8, railwayapp/docs `content/docs/integrations/api/
  manage-volumes.md` (common mount paths) at c2a634f1. Its size is the plan's default (Free
  0.5 GB, Hobby 5 GB, Pro 50 GB) and a new volume already uses 2-3 % of it for metadata
  (railwayapp/docs `content/docs/volumes/reference.md`). A service has at most one volume.
- Volumes follow their service's region; after a region change the volume must migrate, which
  "can take a while depending on the size of the volume, and will cause downtime":
  railwayapp/docs `content/docs/deployments/regions.md`. The volume instance reads MIGRATING
  meanwhile and the CLI shows "Service temporarily offline" (railwayapp/cli
  `src/commands/output/service_summary.rs` at df3838bf). Modelled: the first deployment queued
  after the placement changed starts the migration and cannot finish before it does. Worst
  case kept in mind: Terraform's issue #29 (2024) reports an API region change plus a redeploy
  that did not migrate the volume, so callers must check the volume instance's region.
- Environment.volumeInstances lists an environment's volume instances (railwayapp/cli
  `src/gql/queries/strings/EnvironmentInstances.graphql`).
- Schedules: DAILY / WEEKLY / MONTHLY, every 24 h / 7 days / 30 days, kept 6 days / 1 month /
  3 months (railwayapp/docs `content/docs/volumes/backups.md`). volumeInstanceBackupScheduleUpdate
  sends the whole set and `[]` removes every schedule, keeping existing backups (railwayapp/cli
  `src/commands/postgres/pitr.rs` schedule_set, at df3838bf).
- A volume and its backups go with its service or project ("Wiping a volume deletes all
  backups": docs backups.md; what a service delete does to its volume is undocumented, so the
  worst case: gone).
Silent sources, worst cases chosen: a new volume has no schedule; a schedule's first backup
comes one period after it was set; volumeInstanceBackupList is not sorted by time (callers find
the newest themselves); schedule names, cron strings, backup sizes and the migration speed are
the emulator's own.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

from saas_infra.clock import format_time

from . import instances
from .context import ApiFailure, RequestContext
from .names import new_id, two_words
from .paging import BadCursor, connection
from .state import Deployment, Environment, Instance, Project, State, Volume, VolumeInstance

Info = Any
DAY = 86400.0
# kind -> (every, kept for, name); retention as Railway's docs state it, a month as 30 days.
SCHEDULES = {
    "DAILY": (DAY, 6 * DAY, "Daily"),
    "WEEKLY": (7 * DAY, 30 * DAY, "Weekly"),
    "MONTHLY": (30 * DAY, 90 * DAY, "Monthly"),
}
SIZE_MB = {"FREE": 500, "HOBBY": 5000, "PRO": 50000}
METADATA_SHARE = 0.025
MIGRATION_BASE_SECONDS = 60.0
MIGRATION_SECONDS_PER_GB = 30.0
_BACKUP_IDS = uuid.UUID("5d6f3c1e-8a4b-4c2d-9e7f-1a2b3c4d5e6f")


def _iso(timestamp: float) -> str:
    return format_time(datetime.fromtimestamp(timestamp, UTC))


# --- creation, lookup and removal -------------------------------------------------------------


def from_template(
    ctx: RequestContext,
    project: Project,
    targets: list[Instance],
    service_config: dict[str, Any],
    serialized_config: dict[str, Any],
) -> None:
    """Create the volume a template service mounts, in every environment it was created in."""
    mounts = service_config.get("volumeMounts") or {}
    declared = serialized_config.get("volumes") or {}
    for volume_key, mount in list(mounts.items())[:1]:  # one volume per service
        path = (mount or {}).get("mountPath")
        if not isinstance(path, str) or not path:
            raise ApiFailure("Problem processing request")
        name = (declared.get(volume_key) or {}).get("name")
        name = name or f"{two_words(ctx.emulator.rng)}-volume"
        volume = Volume(new_id(ctx.emulator.rng), name, project.id, ctx.now)
        ctx.state.volumes[volume.id] = volume
        for instance in targets:
            attach(ctx, volume, instance, path)


def attach(ctx: RequestContext, volume: Volume, instance: Instance, path: str) -> VolumeInstance:
    workspace = ctx.state.workspaces[ctx.state.projects[volume.project_id].workspace_id]
    size = SIZE_MB.get(workspace.plan, SIZE_MB["PRO"])
    record = VolumeInstance(
        id=new_id(ctx.emulator.rng),
        volume_id=volume.id,
        project_id=volume.project_id,
        environment_id=instance.environment_id,
        service_id=instance.service_id,
        mount_path=path,
        size_mb=size,
        used_mb=round(size * METADATA_SHARE, 1),
        region=instances.home_region(instance),  # a new volume goes where its service runs
        created=ctx.now,
    )
    ctx.state.volume_instances[record.id] = record
    instance.volume_instance_id = record.id
    return record


def of_environment(state: State, environment: Environment) -> list[VolumeInstance]:
    project = state.projects[environment.project_id]
    found = []
    for service_id in project.service_ids:
        instance = state.instances.get(f"{service_id}:{environment.id}")
        if instance is not None and instance.volume_instance_id in state.volume_instances:
            found.append(state.volume_instances[instance.volume_instance_id])
    return found


def forget(state: State, project_id: str, service_id: str) -> None:
    """A service is being removed (alone or with its project): its volume goes with it, and
    the volume's backups with that (the emulator's choice; the data is gone)."""
    project = state.projects[project_id]
    for environment_id in project.environment_ids:
        instance = state.instances.get(f"{service_id}:{environment_id}")
        record = state.volume_instances.pop((instance and instance.volume_instance_id) or "", None)
        if record is None:
            continue
        state.gone[record.id] = project.workspace_id
        if state.volumes.pop(record.volume_id, None) is not None:
            state.gone[record.volume_id] = project.workspace_id


# --- region migration -------------------------------------------------------------------------


def region_of(record: VolumeInstance, now: float) -> str:
    migration = record.migration
    if migration is not None and now >= migration["end"]:
        return migration["to"]
    return record.region


def state_of(record: VolumeInstance, now: float) -> str:
    migration = record.migration
    return "MIGRATING" if migration is not None and now < migration["end"] else "READY"


def migration_seconds(record: VolumeInstance) -> float:
    return MIGRATION_BASE_SECONDS + MIGRATION_SECONDS_PER_GB * record.used_mb / 1000


def follow(ctx: RequestContext, instance: Instance, deployment: Deployment) -> None:
    """A deployment was queued: if its region is not where the volume is, the volume migrates
    first and the deployment waits for it."""
    record = ctx.state.volume_instances.get(instance.volume_instance_id or "")
    if record is None:
        return
    moving, target = record.migration, instances.home_region(instance)
    if moving is not None and ctx.now >= moving["end"]:  # settle a finished migration
        record.region, record.migration, moving = moving["to"], None, None
    if moving is not None and moving["to"] == target:  # already on its way there
        deployment.duration += moving["end"] - ctx.now
        return
    record.migration = None  # a migration elsewhere is abandoned: the data never left
    if target == record.region:
        return
    seconds = migration_seconds(record)
    record.migration = {"to": target, "start": ctx.now, "end": ctx.now + seconds}
    deployment.duration += seconds


# --- backups ----------------------------------------------------------------------------------


def _backups_of(record: VolumeInstance, schedule: dict[str, Any], now: float) -> list[dict]:
    """The backups a schedule has made and still keeps at `now`, oldest first."""
    every, kept, _ = SCHEDULES[schedule["kind"]]
    start = schedule["created"]
    first = max(1, math.floor((now - kept - start) / every) + 1)
    last = math.floor((now - start) / every)
    out = []
    for k in range(first, last + 1):
        backup_id = str(uuid.uuid5(_BACKUP_IDS, f"{schedule['id']}/{k}"))
        created = start + k * every
        out.append(
            {
                "id": backup_id,
                "externalId": f"snap-{backup_id[:13]}",
                "name": SCHEDULES[schedule["kind"]][2],
                "created": created,
                "expires": created + kept,
                "scheduleId": schedule["id"],
                "usedMB": int(record.used_mb),
                "volumeInstanceSizeMB": record.size_mb,
            }
        )
    return out


def backups(record: VolumeInstance, now: float) -> list[dict[str, Any]]:
    """Kept backups: those of removed schedules first, then schedule by schedule."""
    kept = [b for b in record.backups if b["expires"] > now]
    for schedule in record.schedules:
        kept.extend(_backups_of(record, schedule, now))
    return kept


def _backup_out(backup: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": backup["id"],
        "externalId": backup["externalId"],
        "name": backup["name"],
        "createdAt": _iso(backup["created"]),
        "expiresAt": _iso(backup["expires"]),
        "scheduleId": backup["scheduleId"],
        "creatorId": None,
        "usedMB": backup["usedMB"],
        "referencedMB": backup["usedMB"],
        "volumeInstanceSizeMB": backup["volumeInstanceSizeMB"],
    }


def _schedule_out(schedule: dict[str, Any]) -> dict[str, Any]:
    _, kept, name = SCHEDULES[schedule["kind"]]
    when = datetime.fromtimestamp(schedule["created"], UTC)
    day = {"DAILY": "* * *", "WEEKLY": f"* * {when.isoweekday() % 7}", "MONTHLY": f"{when.day} * *"}
    return {
        "id": schedule["id"],
        "kind": schedule["kind"],
        "name": name,
        "cron": f"{when.minute} {when.hour} {day[schedule['kind']]}",
        "retentionSeconds": int(kept),
        "createdAt": _iso(schedule["created"]),
    }


def set_schedules(ctx: RequestContext, record: VolumeInstance, kinds: list[str]) -> None:
    """Keep the kinds asked for (a kept kind keeps its cadence), add new ones, and remove the
    rest, keeping the backups they made."""
    wanted = list(dict.fromkeys(kinds))
    kept = []
    for schedule in record.schedules:
        if schedule["kind"] in wanted:
            kept.append(schedule)
        else:
            record.backups.extend(_backups_of(record, schedule, ctx.now))
    present = {s["kind"] for s in kept}
    for kind in wanted:
        if kind not in present:
            kept.append({"id": new_id(ctx.emulator.rng), "kind": kind, "created": ctx.now})
    record.schedules = kept
    record.backups = [b for b in record.backups if b["expires"] > ctx.now]


# --- resolvers --------------------------------------------------------------------------------


def q_volume_instance(_root: Any, info: Info, id: str) -> VolumeInstance:
    return info.context.volume_instance(id)


def q_backup_list(_root: Any, info: Info, volumeInstanceId: str) -> list[dict[str, Any]]:
    ctx: RequestContext = info.context
    record = ctx.volume_instance(volumeInstanceId)
    return [_backup_out(b) for b in backups(record, ctx.now)]


def q_schedule_list(_root: Any, info: Info, volumeInstanceId: str) -> list[dict[str, Any]]:
    record = info.context.volume_instance(volumeInstanceId)
    return [_schedule_out(s) for s in record.schedules]


def m_schedule_update(_root: Any, info: Info, kinds: list[str], volumeInstanceId: str) -> bool:
    ctx: RequestContext = info.context
    record = ctx.volume_instance(volumeInstanceId)
    ctx.guard(record.id)
    set_schedules(ctx, record, kinds)
    ctx.touched(record.id)
    return True


def environment_volume_instances(environment: Environment, info: Info, **page: Any) -> dict:
    try:
        return connection(of_environment(info.context.state, environment), **page)
    except BadCursor as exc:
        raise ApiFailure("Invalid cursor") from exc


def _time(name: str):
    return lambda obj, _info: _iso(getattr(obj, name))


RESOLVERS: dict[str, dict[str, Any]] = {
    "Query": {
        "volumeInstance": q_volume_instance,
        "volumeInstanceBackupList": q_backup_list,
        "volumeInstanceBackupScheduleList": q_schedule_list,
    },
    "Mutation": {"volumeInstanceBackupScheduleUpdate": m_schedule_update},
    "Environment": {"volumeInstances": environment_volume_instances},
    "Volume": {
        "createdAt": _time("created"),
        "project": lambda v, info: info.context.state.projects[v.project_id],
        "projectId": lambda v, _info: v.project_id,
    },
    "VolumeInstance": {
        "createdAt": _time("created"),
        "currentSizeMB": lambda r, _info: r.used_mb,
        "deletedAt": lambda _r, _info: None,
        "environment": lambda r, info: info.context.state.environments[r.environment_id],
        "environmentId": lambda r, _info: r.environment_id,
        "isPendingDeletion": lambda _r, _info: False,
        "mountPath": lambda r, _info: r.mount_path,
        "region": lambda r, info: region_of(r, info.context.now),
        "service": lambda r, info: info.context.state.services[r.service_id],
        "serviceId": lambda r, _info: r.service_id,
        "sizeMB": lambda r, _info: r.size_mb,
        "state": lambda r, info: state_of(r, info.context.now),
        "volume": lambda r, info: info.context.state.volumes[r.volume_id],
        "volumeId": lambda r, _info: r.volume_id,
    },
}
