"""Deployment triggers: which GitHub pushes deploy which service in which environment (Railway's
DeploymentTrigger), the queries and mutations that read and change them, and the triggers that
connecting a repo creates. A push itself is github.py.

Evidence (railwayapp/cli at df3838bf, railwayapp/docs at c2a634f1,
terraform-community-providers/terraform-provider-railway at b1cd755 unless a commit is named):
- Connecting a GitHub repo creates them: "GitHub sources are connected at the service level and
  create deployment triggers for matching project environments" (cli src/commands/service.rs,
  `railway service source connect` help, 4539b8f8, #934). For serviceCreate with a repo source
  (and projectCreate(repo:), a template service) no client says so outright, but "Services
  linked to a GitHub repository automatically deploy when new commits are pushed to the
  connected branch" (docs content/docs/deployments/github-autodeploys.md), so they get one too.
  The emulator gives every environment of the service one when a repo and a branch arrive, and
  a later serviceConnect with a repo brings back a trigger deleted before (the worst case for a
  client that deleted it to stop pushes).
- One per service and environment, and the branch lives there: terraform
  internal/provider/resource_service.go reads `source_repo_branch` from
  `deploymentTriggers(projectId, environmentId, serviceId)`, edge 0 ("up to 1 deployment trigger
  is allowed for one (service, environment) pair", c84b997; kept by 76cedb5). So a second deploymentTriggerCreate
  for the pair is refused, and a trigger created or updated moves the service's repo and branch
  with it (what `serviceInstanceDeploy(latestCommit: true)` deploys).
- Fields and inputs: the published schema. `provider` is "github" (terraform
  resource_deployment_trigger.go, removed in 9f6d96b, sent Provider: "github"); `checkSuites`
  defaults to false (same file: "Whether to wait for check suites to complete before
  deploying"). Environment.deploymentTriggers is the current listing (the schema deprecates
  Project.deploymentTriggers: "Use environment.deploymentTriggers").
- "Wait for CI" (checkSuites): docs content/docs/deployments/github-autodeploys.md: "deployments
  will be moved to a WAITING state while your workflows are running"; "If any workflow fails,
  the deployments will be SKIPPED". The emulator's CI always passes and takes as long as the
  deployment itself; it holds push deploys only (a deploy asked through the API starts at once).
- Autodeploy can be disabled in the dashboard (docs github-autodeploys.md, "Disable automatic
  deployments"); no API field shows it. Emulator.set_autodeploy() flips it: the trigger stays
  listed, unchanged, and pushes stop deploying it (the worst case: a client cannot tell).
- Only serviceConnect and serviceCreate (source and branch) connect a repo, and both deploy the
  branch head: "Git branch to deploy" (docs content/docs/integrations/api/manage-services.md,
  serviceCreate's `input.branch`, 6b2cbc23), "Branch to deploy from when connecting a GitHub
  repo" (cli src/commands/service.rs, 4539b8f8). serviceInstanceUpdate(source: {repo}) connects
  nothing: ServiceSourceInput has no branch, and "Railway ignor[es] attached source repo since
  beginning of 2024" (terraform resource_service.go comment, c84b997; PR #21: other paths "are
  doing only part of the job"; issue #16: "It creates the service but the repo is not connected
  to it"); instances.py ignores it so.
Where the sources are silent (the emulator's choices): a trigger created for a service with no
source is listed and connects nothing (no client creates one so; the worst case for a client
hoping to connect a repo without a deploy: the service stays empty, and serviceInstanceDeployV2
refuses it); connecting an image drops the service's
triggers (an image has no branch to follow); creating an image service's trigger is refused
("Problem processing request", as API-NOTES §9 saw for a bad deploymentTriggerUpdate); creating,
updating or deleting a trigger deploys nothing; `validCheckSuites` reads 0; `rootDirectory` is
stored and changes nothing; the refusal messages are the emulator's own wording.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from .context import ApiFailure, RequestContext
from .paging import BadCursor, connection
from .state import Environment, Instance, State, Trigger

Info = Any
PROBLEM = "Problem processing request"


def _new_id(state: State, instance: Instance) -> str:
    """A fresh id that draws nothing from the emulator's id generator: creating triggers must
    not change the ids, names and secrets a seed gives everything else."""
    state.trigger_serial += 1
    digest = hashlib.sha256(f"trigger:{instance.id}:{state.trigger_serial}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def of_instance(state: State, instance: Instance) -> Trigger | None:
    return state.triggers.get(instance.trigger_id or "")


def _add(state: State, instance: Instance, trigger: Trigger) -> None:
    state.triggers[trigger.id] = trigger
    instance.trigger_id = trigger.id


def _drop(state: State, instance: Instance, trigger: Trigger) -> None:
    del state.triggers[trigger.id]
    instance.trigger_id = None


def connect(state: State, instance: Instance) -> None:
    """The instance's source was set: a repo and branch get a trigger (the existing one moves and
    is enabled again, as reconnecting does); anything else has none."""
    trigger = of_instance(state, instance)
    if not (instance.repo and instance.branch):
        if trigger is not None:
            _drop(state, instance, trigger)
        return
    if trigger is None:
        trigger = Trigger(
            id=_new_id(state, instance),
            project_id=instance.project_id,
            environment_id=instance.environment_id,
            service_id=instance.service_id,
            repository=instance.repo,
            branch=instance.branch,
        )
        _add(state, instance, trigger)
    trigger.repository, trigger.branch, trigger.enabled = instance.repo, instance.branch, True


def backfill(state: State) -> None:
    """A state saved before triggers were modelled: each repo service gets the trigger Railway
    gave it when it was connected."""
    for instance in state.instances.values():
        if instance.trigger_id is None:
            connect(state, instance)
    state.triggers_modelled = True


def forget(state: State, instance: Instance, workspace_id: str) -> None:
    """A service instance is being removed: its trigger goes with it."""
    trigger = of_instance(state, instance)
    if trigger is not None:
        _drop(state, instance, trigger)
        state.gone[trigger.id] = workspace_id


def matching(state: State, repository: str, branch: str) -> list[Trigger]:
    """The enabled triggers a push to `branch` of `repository` fires, oldest first."""
    folded = repository.lower()
    return [
        t
        for t in state.triggers.values()
        if t.enabled and t.branch == branch and t.repository.lower() == folded
    ]


# --- queries ---------------------------------------------------------------------------------


def _page(triggers: list[Trigger], page: dict[str, Any]) -> dict[str, Any]:
    try:
        return connection(triggers, None, **page)
    except BadCursor as exc:
        raise ApiFailure("Invalid cursor") from exc


def q_deployment_triggers(
    _root: Any, info: Info, projectId: str, environmentId: str, serviceId: str, **page: Any
) -> dict[str, Any]:
    ctx: RequestContext = info.context
    instance = ctx.instance(serviceId, environmentId)
    ctx.in_project(instance, ctx.project(projectId), "Service")
    trigger = of_instance(ctx.state, instance)
    return _page([trigger] if trigger else [], page)


def environment_triggers(environment: Environment, info: Info, **page: Any) -> dict[str, Any]:
    found = [t for t in info.context.state.triggers.values() if t.environment_id == environment.id]
    return _page(found, page)


# --- mutations -------------------------------------------------------------------------------


def _follow(instance: Instance, trigger: Trigger) -> None:
    """The branch lives on the trigger: a repo service deploys what it names. A service with no
    source stays empty (see the module docstring)."""
    if instance.repo:
        instance.repo, instance.branch = trigger.repository, trigger.branch


def m_create(_root: Any, info: Info, input: dict[str, Any]) -> Trigger:
    ctx: RequestContext = info.context
    project = ctx.project(input["projectId"])
    instance = ctx.instance(input["serviceId"], input["environmentId"])
    ctx.in_project(instance, project, "Service")
    ctx.guard(instance.service_id)
    if input["provider"].lower() != "github" or instance.image:
        raise ApiFailure(PROBLEM)
    if of_instance(ctx.state, instance) is not None:
        raise ApiFailure("This service already has a deployment trigger in this environment")
    trigger = Trigger(
        id=_new_id(ctx.state, instance),
        project_id=instance.project_id,
        environment_id=instance.environment_id,
        service_id=instance.service_id,
        repository=input["repository"],
        branch=input["branch"],
        provider=input["provider"],
        check_suites=bool(input.get("checkSuites")),
        root_directory=input.get("rootDirectory"),
    )
    _add(ctx.state, instance, trigger)
    _follow(instance, trigger)
    ctx.touched(instance.service_id)
    return trigger


def m_update(_root: Any, info: Info, id: str, input: dict[str, Any]) -> Trigger:
    ctx: RequestContext = info.context
    trigger = ctx.trigger(id)
    ctx.guard(trigger.service_id)
    # Omitted or null: kept (a trigger always has a repository and a branch).
    if input.get("repository") is not None:
        trigger.repository = input["repository"]
    if input.get("branch") is not None:
        trigger.branch = input["branch"]
    if input.get("checkSuites") is not None:
        trigger.check_suites = input["checkSuites"]
    if "rootDirectory" in input:
        trigger.root_directory = input["rootDirectory"]
    _follow(ctx.instance(trigger.service_id, trigger.environment_id), trigger)
    ctx.touched(trigger.service_id)
    return trigger


def m_delete(_root: Any, info: Info, id: str) -> bool:
    ctx: RequestContext = info.context
    trigger = ctx.trigger(id)
    ctx.guard(trigger.service_id)
    _drop(ctx.state, ctx.instance(trigger.service_id, trigger.environment_id), trigger)
    ctx.state.gone[trigger.id] = ctx.state.projects[trigger.project_id].workspace_id
    ctx.touched(trigger.service_id)
    return True


def _attr(name: str):
    return lambda obj, _info: getattr(obj, name)


RESOLVERS: dict[str, dict[str, Any]] = {
    "Query": {"deploymentTriggers": q_deployment_triggers},
    "Mutation": {
        "deploymentTriggerCreate": m_create,
        "deploymentTriggerUpdate": m_update,
        "deploymentTriggerDelete": m_delete,
    },
    "Environment": {"deploymentTriggers": environment_triggers},
    "DeploymentTrigger": {
        "baseEnvironmentOverrideId": lambda _t, _info: None,
        "checkSuites": _attr("check_suites"),
        "environmentId": _attr("environment_id"),
        "projectId": _attr("project_id"),
        "serviceId": _attr("service_id"),
        "validCheckSuites": lambda _t, _info: 0,
    },
}
