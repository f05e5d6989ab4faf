"""Time-driven life cycles, computed on read from the clock: no background threads.

A deployment moves QUEUED → INITIALIZING → BUILDING → DEPLOYING → SUCCESS over its duration
(an injected failure or its version's outcome ends it FAILED after BUILDING, CRASHED after
DEPLOYING, or FAILED once a health check gives up: commits.py); a SUCCESS becomes REMOVED once a
newer deployment of the same instance goes live (succeeds, or comes online and crashes). A test
control can script one of Railway's other statuses instead (SCRIPTED). Workflows go NotFound → Running → Complete.
Scheduled project deletions are reaped 48 hours after they were asked for; a removed project's
bare record is kept for `includeDeleted` listings.
"""

from __future__ import annotations

from dataclasses import replace

from . import triggers, volumes
from .state import Deployment, Project, State, instance_key

# Share of a deployment's duration spent in each phase before SUCCESS.
PHASES = (("QUEUED", 0.05), ("INITIALIZING", 0.15), ("BUILDING", 0.60), ("DEPLOYING", 0.20))

# What each scripted status does to one deployment:
# WAITING        "Waiting for CI" for as long as the deployment itself takes, then the usual phases
# NEEDS_APPROVAL stays so until deploymentApprove; the usual phases start at the approval
# SKIPPED        QUEUED, then SKIPPED: no build, and the deployment before it keeps running
# SLEEPING       SUCCESS, then SLEEPING once it has had no traffic for SLEEP_AFTER_SECONDS
# REMOVING       SUCCESS, then removed by hand: REMOVING for REMOVING_SECONDS, then REMOVED
SCRIPTED = ("WAITING", "NEEDS_APPROVAL", "SKIPPED", "SLEEPING", "REMOVING")
SLEEP_AFTER_SECONDS = 600.0  # railwayapp/docs deployments/serverless.md: 10 minutes idle
REMOVING_SECONDS = 2.0

WORKFLOW_NOT_FOUND_SECONDS = 0.5
WORKFLOW_RUNNING_SECONDS = 2.0
DELETE_GRACE_SECONDS = 48 * 3600


def started(dep: Deployment) -> float | None:
    """When the deployment's QUEUED phase begins; None while it awaits an approval."""
    if dep.scripted == "NEEDS_APPROVAL":
        return None
    return dep.started if dep.started is not None else dep.created


def _phase(dep: Deployment, now: float) -> tuple[str, float]:
    """(status ignoring supersession, moment it was entered)."""
    start = started(dep)
    if start is None:
        return "NEEDS_APPROVAL", dep.created
    if now < start:
        return "WAITING", dep.created
    elapsed = now - start
    if dep.scripted == "SKIPPED":
        skipped = PHASES[0][1] * dep.duration
        return ("QUEUED", start) if elapsed < skipped else ("SKIPPED", start + skipped)
    boundary = begun = 0.0
    for name, share in PHASES:
        if name == "DEPLOYING" and dep.fail == "FAILED" and dep.gate is None:
            return "FAILED", start + boundary * dep.duration  # the build failed
        begun, boundary = boundary, boundary + share
        if elapsed < boundary * dep.duration:
            return name, start + begun * dep.duration
    done = start + dep.duration
    if dep.gate is not None:  # Railway's health check never passes: it gives up after `gate`
        if now < done + dep.gate:
            return "DEPLOYING", start + begun * dep.duration
        return "FAILED", done + dep.gate
    if dep.fail:
        return dep.fail, done
    return _after_success(dep, done, now)


def _after_success(dep: Deployment, done: float, now: float) -> tuple[str, float]:
    if dep.scripted == "SLEEPING" and now >= done + SLEEP_AFTER_SECONDS:
        return "SLEEPING", done + SLEEP_AFTER_SECONDS
    if dep.scripted == "REMOVING":
        gone = done + REMOVING_SECONDS
        return ("REMOVING", done) if now < gone else ("REMOVED", gone)
    return "SUCCESS", done


def went_live_at(dep: Deployment) -> float | None:
    """When the deployment replaced the one before it: it succeeded, or it came online and then
    crashed (docs deployments/reference.md, "Singleton deploys": the old one is removed once the
    new one is online). A failed build or health check, a skip, an approval never given: never."""
    start = started(dep)
    if dep.fail == "FAILED" or dep.scripted == "SKIPPED" or start is None:
        return None
    return start + dep.duration


RUNNING = ("SUCCESS", "SLEEPING")  # a sleeping deployment wakes on its next request


def deployment_status(state: State, dep: Deployment, now: float) -> tuple[str, float]:
    """(status, when it was entered) of a deployment at `now`."""
    status, since = _phase(dep, now)
    if status not in RUNNING:
        return status, since
    instance = state.instances.get(instance_key(dep.service_id, dep.environment_id))
    if instance is None:
        return status, since
    # Scan newer deployments only (from the end, the usual case is "dep is the latest").
    for other_id in reversed(instance.deployment_ids):
        if other_id == dep.id:
            break
        done = went_live_at(state.deployments[other_id])
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
    due = [p.id for p in state.projects.values()
           if p.deleted is not None and p.deleted + DELETE_GRACE_SECONDS <= now]
    for project_id in due:
        remove_project(state, project_id, now)
    return bool(due)


def remove_project(state: State, project_id: str, now: float) -> None:
    """Remove a project and everything in it; its bare record stays for includeDeleted listings,
    marked deleted when its scheduled delete began (or now, for an immediate delete)."""
    project: Project = state.projects[project_id]
    for service_id in list(project.service_ids):
        remove_service(state, service_id)
    del state.projects[project_id]
    state.removed_projects[project_id] = replace(
        project, deleted=project.deleted if project.deleted is not None else now,
        environment_ids=[], service_ids=[])
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
        triggers.forget(state, instance, project.workspace_id)
        for host in instance.domains:
            state.domains.pop(host, None)
        for deployment_id in instance.deployment_ids:
            state.deployments.pop(deployment_id, None)
            state.gone[deployment_id] = project.workspace_id
    state.gone[service_id] = project.workspace_id
