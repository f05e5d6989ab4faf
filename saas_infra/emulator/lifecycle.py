"""Time-driven life cycles, computed on read from the clock: no background threads.

A deployment moves QUEUED → INITIALIZING → BUILDING → DEPLOYING → SUCCESS over its duration
(an injected failure ends it FAILED after BUILDING or CRASHED after DEPLOYING); a SUCCESS becomes
REMOVED once a newer deployment of the same instance succeeds. Workflows go NotFound → Running →
Complete. Scheduled project deletions are reaped 48 hours after they were asked for.
"""

from __future__ import annotations

from . import volumes
from .state import Deployment, Project, State, instance_key

# Share of a deployment's duration spent in each phase before SUCCESS.
PHASES = (("QUEUED", 0.05), ("INITIALIZING", 0.15), ("BUILDING", 0.60), ("DEPLOYING", 0.20))

WORKFLOW_NOT_FOUND_SECONDS = 0.5
WORKFLOW_RUNNING_SECONDS = 2.0
DELETE_GRACE_SECONDS = 48 * 3600


def _phase(dep: Deployment, now: float) -> tuple[str, float]:
    """(status ignoring supersession, moment it was entered)."""
    elapsed = now - dep.created
    boundary = 0.0
    for name, share in PHASES:
        if name == "DEPLOYING" and dep.fail == "FAILED":
            return "FAILED", dep.created + boundary * dep.duration  # the build failed
        start, boundary = boundary, boundary + share
        if elapsed < boundary * dep.duration:
            return name, dep.created + start * dep.duration
    return dep.fail or "SUCCESS", dep.created + dep.duration


def succeeded_at(dep: Deployment) -> float | None:
    return None if dep.fail else dep.created + dep.duration


def deployment_status(state: State, dep: Deployment, now: float) -> tuple[str, float]:
    """(status, when it was entered) of a deployment at `now`."""
    status, since = _phase(dep, now)
    if status != "SUCCESS":
        return status, since
    instance = state.instances.get(instance_key(dep.service_id, dep.environment_id))
    if instance is None:
        return status, since
    # Scan newer deployments only (from the end, the usual case is "dep is the latest").
    for other_id in reversed(instance.deployment_ids):
        if other_id == dep.id:
            break
        done = succeeded_at(state.deployments[other_id])
        if done is not None and done <= now:
            return "REMOVED", done
    return status, since


def workflow_status(created: float, now: float) -> str:
    elapsed = now - created
    if elapsed < WORKFLOW_NOT_FOUND_SECONDS:
        return "NotFound"  # Railway's read-after-write lag
    return "Running" if elapsed < WORKFLOW_RUNNING_SECONDS else "Complete"


def reap(state: State, now: float) -> bool:
    """Remove projects whose scheduled deletion is older than the grace period."""
    due = [p.id for p in state.projects.values() if p.deleted is not None]
    due = [pid for pid in due if state.projects[pid].deleted + DELETE_GRACE_SECONDS <= now]
    for project_id in due:
        remove_project(state, project_id)
    return bool(due)


def remove_project(state: State, project_id: str) -> None:
    project: Project = state.projects[project_id]
    for service_id in list(project.service_ids):
        remove_service(state, service_id)
    del state.projects[project_id]
    for environment_id in project.environment_ids:
        state.environments.pop(environment_id, None)
        state.gone[environment_id] = project.workspace_id
    for workflow_id in [w.id for w in state.workflows.values() if w.project_id == project_id]:
        del state.workflows[workflow_id]
    state.gone[project_id] = project.workspace_id


def remove_service(state: State, service_id: str) -> None:
    service = state.services.pop(service_id)
    project = state.projects[service.project_id]
    volumes.forget(state, project.id, service_id)  # and with it the volume's backups
    project.service_ids.remove(service_id)
    for environment_id in project.environment_ids:
        instance = state.instances.pop(instance_key(service_id, environment_id), None)
        if instance is None:
            continue
        for host in instance.domains:
            state.domains.pop(host, None)
        for deployment_id in instance.deployment_ids:
            state.deployments.pop(deployment_id, None)
            state.gone[deployment_id] = project.workspace_id
    state.gone[service_id] = project.workspace_id
