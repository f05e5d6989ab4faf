"""State as plain data for test assertions: what a person would check on Railway's dashboard.

Read-only over State; statuses are computed at `now` like every read.
"""

from __future__ import annotations

from typing import Any

from . import volumes
from .lifecycle import deployment_status
from .resolvers import iso
from .state import Instance, Project, Service, State, instance_key


def snapshot(state: State, now: float) -> dict[str, Any]:
    return {"projects": [_project(state, p, now) for p in state.projects.values()]}


def _project(state: State, project: Project, now: float) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "workspaceId": project.workspace_id,
        "deletedAt": None if project.deleted is None else iso(project.deleted),
        "environments": [
            {"id": eid, "name": state.environments[eid].name} for eid in project.environment_ids
        ],
        "services": [
            _service(state, project, state.services[sid], now) for sid in project.service_ids
        ],
    }


def _service(state: State, project: Project, service: Service, now: float) -> dict[str, Any]:
    keys = (instance_key(service.id, eid) for eid in project.environment_ids)
    instances: list[Instance] = [state.instances[key] for key in keys if key in state.instances]
    first = instances[0] if instances else None
    deployments = []
    for instance in instances:
        for deployment_id in instance.deployment_ids:
            deployment = state.deployments[deployment_id]
            status = deployment_status(state, deployment, now)[0]
            deployments.append({"id": deployment.id, "status": status, **deployment.meta})
    return {
        "id": service.id,
        "name": service.name,
        "templateId": service.template_id,
        "source": {"repo": first.repo, "branch": first.branch, "image": first.image}
        if first
        else None,
        "variables": dict(first.variables) if first else {},  # raw, as stored
        "deployments": deployments,  # oldest first, with their meta (repo/branch/commitHash or image)
        "domains": [host for instance in instances for host in instance.domains],
        "deploy": dict(first.deploy) if first else {},  # settings set explicitly (instances.py)
        "limits": dict(first.limits) if first else {},
        "volume": _volume(state, first, now),
        "triggers": [_trigger(state, instance) for instance in instances if instance.trigger_id],
    }


def _trigger(state: State, instance: Instance) -> dict[str, Any]:
    trigger = state.triggers[instance.trigger_id or ""]
    return {
        "repository": trigger.repository,
        "branch": trigger.branch,
        "checkSuites": trigger.check_suites,
        "enabled": trigger.enabled,
    }


def _volume(state: State, instance: Instance | None, now: float) -> dict[str, Any] | None:
    record = state.volume_instances.get(instance.volume_instance_id or "") if instance else None
    if record is None:
        return None
    return {
        "mountPath": record.mount_path,
        "region": volumes.region_of(record, now),
        "state": volumes.state_of(record, now),
        "schedules": [schedule["kind"] for schedule in record.schedules],
    }
