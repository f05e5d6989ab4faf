"""State changes shared by several mutations: create projects and services, queue deployments,
move branch heads, add domains.

Callers have already checked reach and cooldowns; these functions only change State. Random
choices (ids, names, secrets, domain suffixes) come from the emulator's seeded generator.
"""

from __future__ import annotations

import random
import re
import string
from typing import Any

from . import commits, instances, triggers, volumes
from .context import ApiFailure, RequestContext
from .names import new_id, random_chars, two_words
from .state import Deployment, Domain, Environment, Instance, Project, Service, State, instance_key


def create_project(
    ctx: RequestContext, workspace_id: str, name: str | None, description: str | None, env_name: str
) -> Project:
    state, rng = ctx.state, ctx.emulator.rng
    project = Project(
        id=new_id(rng),
        name=name or two_words(rng),
        description=description,
        workspace_id=workspace_id,
        created=ctx.now,
        updated=ctx.now,
        serial=state.next_serial,
    )
    state.next_serial += 1
    environment = Environment(id=new_id(rng), name=env_name, project_id=project.id, created=ctx.now)
    project.environment_ids.append(environment.id)
    state.projects[project.id] = project
    state.environments[environment.id] = environment
    return project


def service_name_taken(state: State, project: Project, name: str) -> bool:
    return any(state.services[sid].name == name for sid in project.service_ids)


def free_service_name(ctx: RequestContext, project: Project, base: str) -> str:
    """`base`, or `base-xxxx` when taken (how Railway names a second copy of a template)."""
    name = base
    while service_name_taken(ctx.state, project, name):
        name = f"{base}-{random_chars(ctx.emulator.rng, 4)}"
    return name


def create_service(
    ctx: RequestContext,
    project: Project,
    name: str,
    source: dict[str, Any],
    variables: dict[str, str],
    **extra: Any,
) -> tuple[Service, list[Instance]]:
    """A service with an instance in every environment; `source` keys: repo, branch, image,
    start_command. Queues nothing: the caller deploys once everything is stored."""
    state, rng = ctx.state, ctx.emulator.rng
    service = Service(
        id=new_id(rng), name=name, project_id=project.id, created=ctx.now, updated=ctx.now, **extra
    )
    state.services[service.id] = service
    project.service_ids.append(service.id)
    instances = []
    for environment_id in project.environment_ids:
        instance = Instance(
            id=new_id(rng),
            service_id=service.id,
            environment_id=environment_id,
            project_id=project.id,
            created=ctx.now,
            variables=dict(variables),
            **source,
        )
        state.instances[instance_key(service.id, environment_id)] = instance
        triggers.connect(state, instance)  # a repo and branch come with a deployment trigger
        instances.append(instance)
    return service, instances


def branch_head(state: State, rng: random.Random, repo: str, branch: str) -> str:
    """The newest commit of a branch; a branch seen for the first time gets one commit."""
    history = commits.history(state, repo, branch)
    if not history:
        history.append(new_sha(rng))
    return history[-1]


def new_sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def current_commit(state: State, instance: Instance) -> str | None:
    """The commit the instance last deployed from its present repo and branch, if any."""
    for deployment_id in reversed(instance.deployment_ids):
        meta = state.deployments[deployment_id].meta
        if meta.get("repo") == instance.repo and meta.get("branch") == instance.branch:
            return meta.get("commitHash")
    return None


def queue_deployment(
    ctx: RequestContext, instance: Instance, *, commit: str | None = None, latest: bool = False
) -> Deployment | None:
    """Queue a deployment of the instance's source, or None when it has no deployable source:
    `commit` (which must exist in the repo), the branch head when `latest`, else the commit
    running now (the head for a first deploy).

    A repo without a branch deploys nothing: Railway fails silently in that case too.
    """
    state, emulator = ctx.state, ctx.emulator
    if instance.image:
        meta = commits.image_meta(instance.image)
    elif instance.repo and instance.branch:
        if commit is None and not latest:
            commit = current_commit(state, instance)
        if commit is None:
            commit = branch_head(state, emulator.rng, instance.repo, instance.branch)
        elif not commits.known(state, instance.repo, commit):
            raise ApiFailure("Commit not found")
        meta = commits.commit_meta(state, instance.repo, instance.branch, commit)
    else:
        return None
    return deploy(ctx, instance, meta)


def deploy(
    ctx: RequestContext,
    instance: Instance,
    meta: dict[str, Any],
    *,
    manifest: dict[str, Any] | None = None,
) -> Deployment:
    """Queue a deployment of exactly the version `meta` names, with the instance's variables
    and settings (or `manifest`'s settings, for a rollback). It takes a scripted status if one
    is waiting, else its version's outcome (commits.py)."""
    state, emulator = ctx.state, ctx.emulator
    deployment = Deployment(
        id=new_id(emulator.rng),
        project_id=instance.project_id,
        environment_id=instance.environment_id,
        service_id=instance.service_id,
        created=ctx.now,
        duration=emulator.deploy_seconds,
        meta=meta,
        variables=dict(instance.variables),
    )
    scripted = _take_scripted(state, instance)
    _script(deployment, scripted)
    if scripted is None:
        commits.shape(deployment, commits.outcome_of(state, meta), instance)
    state.deployments[deployment.id] = deployment
    instance.deployment_ids.append(deployment.id)
    deployment.manifest = instances.manifest(instance)  # the settings it is queued with
    volumes.follow(ctx, instance, deployment)  # a volume elsewhere migrates first
    if manifest is not None:
        deployment.manifest = manifest
    return deployment


def _script(deployment: Deployment, status: str | None) -> None:
    if status in ("FAILED", "CRASHED"):
        deployment.fail = status
    elif status is not None:
        deployment.scripted = status
        if status == "WAITING":  # CI takes as long as the deployment itself
            deployment.started = deployment.created + deployment.duration


def _take_scripted(state: State, instance: Instance) -> str | None:
    """The status a test control scripted for this instance's next deployment, if any."""
    service = state.services[instance.service_id]
    project = state.projects[instance.project_id]
    for index, wanted in enumerate(state.pending_failures):
        if wanted["service"] == service.name and wanted["project"] in (None, project.name):
            return state.pending_failures.pop(index)["status"]
    return None


def _label(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "service"


def create_domain(ctx: RequestContext, instance: Instance, target_port: int | None) -> Domain:
    state, rng = ctx.state, ctx.emulator.rng
    service = state.services[instance.service_id]
    environment = state.environments[instance.environment_id]
    while True:  # a clash is vanishingly rare, but a host must map to one service
        suffix = random_chars(rng, 6, string.ascii_lowercase + string.digits)
        host = f"{_label(service.name)}-{_label(environment.name)}-{suffix}.up.railway.app"
        if host not in state.domains:
            break
    domain = Domain(
        id=new_id(rng),
        domain=host,
        project_id=instance.project_id,
        environment_id=instance.environment_id,
        service_id=instance.service_id,
        created=ctx.now,
        target_port=target_port,
    )
    state.domains[host] = domain
    instance.domains.append(host)
    return domain
