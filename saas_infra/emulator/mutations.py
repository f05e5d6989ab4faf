"""Resolvers for mutations. Each one checks reach, then the cooldown fault, then changes State
and records which resources it touched (for the cooldown and for saving).

Deployments are queued only after variables are stored, so the first deploy sees them.

Concurrent writes: requests run one at a time in arrival order, so of two writes to one project
description (`projectUpdate`) or one variable (`variableUpsert`, `variableCollectionUpsert`) the
later stays and both are answered as successes: no compare-and-set, no version, no conflict
error. Railway's sources say nothing about concurrent writes, and offer no precondition: the
public schema's ProjectUpdateInput and VariableUpsertInput have no version field
(terraform-community-providers/terraform-provider-railway schema.graphql @ b1cd755), the
provider reads a project's description and writes it back with projectUpdate
(internal/provider/resource_project.graphql @ b1cd755), railwayapp/docs describes upserts as
plain "create or update" (content/docs/integrations/api/manage-variables.md @ c2a634f1), and
railwayapp/cli checks a variable exists on its side before deleting it (src/commands/variable.rs
@ df3838bf). Last writer wins is therefore the plausible worst case for one name, and what the
fleet lock (saas_infra/lock.py) is built to survive. Not modelled: a write that reads see only
later (replica lag), or a write that loses a concurrent write to another name of the same
collection (the lock uses one name only).

An empty service (`serviceCreate` without a source) deploys nothing until `serviceConnect` gives
it one: railwayapp/docs content/docs/integrations/api/manage-services.md "Empty service (no
source)" ("Create an empty service that you can configure later") and content/docs/services.md
"Service source" (an empty service's source is set later in Service settings), both @ c2a634f1.

A template service placed by its serializedConfig (`services.<id>.deploy.multiRegionConfig`)
starts there, its volume too: Railway's CLI shapes a template's topology inside serializedConfig
before templateDeployV2 (railwayapp/cli src/controllers/template_apply.rs adjust_edge_count sets
`deploy.numReplicas`, porting the dashboard's useApplyComposableTemplate) and reads a database's
region from its single-region `deploy.multiRegionConfig` (src/commands/config/mod.rs
database_region), both @ df3838bf; a new volume goes to its service's region (railwayapp/docs
content/docs/deployments/regions.md @ c2a634f1). The placement is checked as
serviceInstanceUpdate checks it, before anything is created.
"""

from __future__ import annotations

from typing import Any

from . import instances, lifecycle, names, ops, regions, templates, triggers, volumes
from .context import ApiFailure, RequestContext
from .resolvers import instances_of
from .state import Domain, Instance, Project, Service, Workflow

Info = Any
PROBLEM = "Problem processing request"


def _variables(value: Any) -> dict[str, str]:
    """An EnvironmentVariables value: a JSON object of names to scalar values."""
    if not isinstance(value, dict):
        raise ApiFailure(PROBLEM)
    out = {}
    for name, raw in value.items():
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        elif isinstance(raw, int | float):
            raw = str(raw)
        if not isinstance(raw, str):
            raise ApiFailure(PROBLEM)
        out[str(name)] = raw
    return out


# --- projects ---------------------------------------------------------------------------------


def m_project_create(_root: Any, info: Info, input: dict[str, Any]) -> Project:
    ctx: RequestContext = info.context
    ctx.guard()
    workspace_id = ctx.target_workspace(input.get("workspaceId"))
    project = ops.create_project(
        ctx,
        workspace_id,
        input.get("name"),
        input.get("description"),
        input.get("defaultEnvironmentName") or "production",
    )
    project.is_public = bool(input.get("isPublic"))
    project.pr_deploys = bool(input.get("prDeploys"))
    repo = input.get("repo")
    if repo:
        name = repo["fullRepoName"].rsplit("/", 1)[-1]
        source = {"repo": repo["fullRepoName"], "branch": repo["branch"]}
        _, instances = ops.create_service(ctx, project, name, source, {})
        for instance in instances:
            ops.queue_deployment(ctx, instance, latest=True)
    ctx.touched(project.id)
    # Railway may commit a project and still time out (API-NOTES §9.2): the fault models that.
    if ctx.emulator.roll_fault("create_timeout"):
        ctx.timed_out = True
    return project


def m_project_update(_root: Any, info: Info, id: str, input: dict[str, Any]) -> Project:
    ctx: RequestContext = info.context
    project = ctx.project(id)
    ctx.guard(project.id)
    if input.get("name"):
        project.name = input["name"]
    if "description" in input:  # an explicit null clears it
        project.description = input["description"]
    if input.get("isPublic") is not None:
        project.is_public = input["isPublic"]
    if input.get("prDeploys") is not None:
        project.pr_deploys = input["prDeploys"]
    project.updated = ctx.now
    ctx.touched(project.id)
    return project


def m_project_delete(_root: Any, info: Info, id: str) -> bool:
    ctx: RequestContext = info.context
    project = ctx.project(id)
    ctx.guard(project.id)
    lifecycle.remove_project(ctx.state, project.id, ctx.now)
    ctx.touched(project.id)
    return True


def m_project_schedule_delete(_root: Any, info: Info, id: str) -> bool:
    ctx: RequestContext = info.context
    project = ctx.project(id)
    ctx.guard(project.id)
    if project.deleted is None:  # asking twice keeps the first deadline
        project.deleted = ctx.now
        project.updated = ctx.now
    ctx.touched(project.id)
    return True


def m_project_schedule_delete_cancel(_root: Any, info: Info, id: str) -> bool:
    ctx: RequestContext = info.context
    project = ctx.project(id)
    ctx.guard(project.id)
    if project.deleted is not None:
        project.deleted = None
        project.updated = ctx.now
    ctx.touched(project.id)
    return True


# --- services ---------------------------------------------------------------------------------


def _default_service_name(ctx: RequestContext, source: dict[str, Any]) -> str:
    if source.get("repo"):
        return str(source["repo"]).rsplit("/", 1)[-1]
    if source.get("image"):
        return str(source["image"]).rsplit("/", 1)[-1].split(":", 1)[0]
    return names.two_words(ctx.emulator.rng)


def m_service_create(_root: Any, info: Info, input: dict[str, Any]) -> Service:
    ctx: RequestContext = info.context
    project = ctx.project(input["projectId"])
    if input.get("environmentId") is not None:
        ctx.in_project(ctx.environment(input["environmentId"]), project, "Environment")
    ctx.guard(project.id)
    given = input.get("source") or {}
    name = input.get("name") or _default_service_name(ctx, given)
    if ops.service_name_taken(ctx.state, project, name):
        raise ApiFailure(f'A service named "{name}" already exists in this project')
    variables = _variables(input["variables"]) if input.get("variables") is not None else {}
    if given.get("repo"):
        source = {"repo": given["repo"], "branch": input.get("branch")}
    else:
        source = {"image": given.get("image")}
    service, instances = ops.create_service(
        ctx,
        project,
        name,
        source,
        variables,
        icon=input.get("icon"),
        template_id=input.get("templateId"),
        template_service_id=input.get("templateServiceId"),
    )
    if given.get("repo") or given.get("image"):  # an empty service waits for serviceConnect
        for instance in instances:
            ops.queue_deployment(ctx, instance, latest=True)
    ctx.touched(project.id, service.id)
    return service


def _instances_of_service(ctx: RequestContext, service: Service) -> list[Instance]:
    project = ctx.state.projects[service.project_id]
    keys = (f"{service.id}:{eid}" for eid in project.environment_ids)
    return [ctx.state.instances[key] for key in keys if key in ctx.state.instances]


def m_service_connect(_root: Any, info: Info, id: str, input: dict[str, Any]) -> Service:
    ctx: RequestContext = info.context
    service = ctx.service(id)
    repo, branch, image = input.get("repo"), input.get("branch"), input.get("image")
    if not (repo or image or branch):
        raise ApiFailure(PROBLEM)
    ctx.guard(service.id)
    for instance in _instances_of_service(ctx, service):
        if repo:
            instance.repo, instance.branch, instance.image = repo, branch, None
        elif image:
            instance.repo, instance.branch, instance.image = None, None, image
        elif instance.repo:
            instance.branch = branch  # a new branch for the connected repo
        triggers.connect(ctx.state, instance)  # a repo brings its trigger (back); an image none
        ops.queue_deployment(ctx, instance, latest=True)
    service.updated = ctx.now
    ctx.touched(service.id)
    return service


def m_service_delete(_root: Any, info: Info, id: str, environmentId: str | None = None) -> bool:
    ctx: RequestContext = info.context
    service = ctx.service(id)
    ctx.guard(service.project_id, service.id)
    lifecycle.remove_service(ctx.state, service.id)
    ctx.touched(service.project_id, service.id)
    return True


def m_service_domain_create(_root: Any, info: Info, input: dict[str, Any]) -> Domain:
    ctx: RequestContext = info.context
    instance = ctx.instance(input["serviceId"], input["environmentId"])
    ctx.guard(instance.service_id)
    domain = ops.create_domain(ctx, instance, input.get("targetPort"))
    ctx.touched(instance.service_id)
    return domain


# --- deployments ------------------------------------------------------------------------------


def _deploy(ctx: RequestContext, service_id: str, environment_id: str, **how: Any) -> str:
    instance = ctx.instance(service_id, environment_id)
    ctx.guard(instance.service_id)
    deployment = ops.queue_deployment(ctx, instance, **how)
    if deployment is None:
        raise ApiFailure("Cannot deploy a service without a source")
    ctx.touched(instance.service_id)
    return deployment.id


def m_service_instance_deploy(
    _root: Any,
    info: Info,
    serviceId: str,
    environmentId: str,
    latestCommit: bool | None = None,
    commitSha: str | None = None,
) -> bool:
    _deploy(info.context, serviceId, environmentId, commit=commitSha, latest=bool(latestCommit))
    return True


def m_service_instance_deploy_v2(
    _root: Any, info: Info, serviceId: str, environmentId: str, commitSha: str | None = None
) -> str:
    return _deploy(info.context, serviceId, environmentId, commit=commitSha)


def m_deployment_approve(_root: Any, info: Info, id: str) -> bool:
    """Approve a deployment that waits for one (NEEDS_APPROVAL): its build starts now."""
    ctx: RequestContext = info.context
    deployment = ctx.deployment(id)
    ctx.guard(deployment.service_id)
    if deployment.scripted != "NEEDS_APPROVAL":
        raise ApiFailure("Deployment does not need approval")
    deployment.scripted, deployment.started = None, ctx.now
    ctx.touched(deployment.service_id)
    return True


def m_service_instance_redeploy(_root: Any, info: Info, serviceId: str, environmentId: str) -> bool:
    ctx: RequestContext = info.context
    if not ctx.instance(serviceId, environmentId).deployment_ids:
        raise ApiFailure("Cannot redeploy without a snapshot")
    _deploy(ctx, serviceId, environmentId)
    return True


# --- variables --------------------------------------------------------------------------------


def _write_variables(ctx: RequestContext, input: dict[str, Any], change) -> bool:
    """Apply `change(variables) -> bool` to the service's (or the shared) variables, then
    redeploy what they affect unless skipDeploys."""
    project = ctx.project(input["projectId"])
    environment = ctx.environment(input["environmentId"])
    ctx.in_project(environment, project, "Environment")
    if input.get("serviceId") is not None:
        instance = ctx.instance(input["serviceId"], environment.id)
        ctx.in_project(instance, project, "Service")
        ctx.guard(instance.service_id)
        changed, affected, resource = change(instance.variables), [instance], instance.service_id
        # A sealed variable stays sealed when overwritten; deleted, it is gone.
        instance.sealed = [name for name in instance.sealed if name in instance.variables]
    else:
        ctx.guard(project.id)
        changed = change(environment.shared_variables)
        affected, resource = instances_of(ctx.state, environment), project.id
    if changed and not input.get("skipDeploys"):
        for target in affected:
            ops.queue_deployment(ctx, target)
    ctx.touched(resource)
    return True


def m_variable_collection_upsert(_root: Any, info: Info, input: dict[str, Any]) -> bool:
    values = _variables(input["variables"])

    def change(variables: dict[str, str]) -> bool:
        if input.get("replace"):
            variables.clear()
        variables.update(values)
        return True

    return _write_variables(info.context, input, change)


def m_variable_upsert(_root: Any, info: Info, input: dict[str, Any]) -> bool:
    def change(variables: dict[str, str]) -> bool:
        variables[input["name"]] = input["value"]
        return True

    return _write_variables(info.context, input, change)


def m_variable_delete(_root: Any, info: Info, input: dict[str, Any]) -> bool:
    def change(variables: dict[str, str]) -> bool:
        return variables.pop(input["name"], None) is not None

    return _write_variables(info.context, input, change)


# --- templates --------------------------------------------------------------------------------


def m_template_deploy_v2(_root: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    ctx: RequestContext = info.context
    ctx.require_grant()
    template = templates.find(template_id=input["templateId"])
    if template is None:
        raise ApiFailure("Template not found")
    config = input["serializedConfig"]
    if not isinstance(config, dict) or not isinstance(config.get("services"), dict):
        raise ApiFailure(PROBLEM)
    if input.get("projectId") is not None:
        project = ctx.project(input["projectId"])
        ctx.guard(project.id)
    else:  # no project: Railway creates one for the template
        ctx.guard()
        workspace_id = ctx.target_workspace(input.get("workspaceId"))
        project = ops.create_project(ctx, workspace_id, None, None, "production")
    environment_id = input.get("environmentId")
    if environment_id is not None:
        ctx.in_project(ctx.environment(environment_id), project, "Environment")
    else:
        environment_id = project.environment_ids[0]
    if _workflow_running(ctx, environment_id):
        ctx.emulator.record_template_overlap()
    for service_config in config["services"].values():  # all or nothing: checked first
        _check_template_placement(ctx, project, service_config)
    for template_service_id, service_config in config["services"].items():
        _deploy_template_service(ctx, project, template, template_service_id, service_config, input)
    workflow = Workflow(
        id=names.new_id(ctx.emulator.rng),
        project_id=project.id,
        created=ctx.now,
        environment_id=environment_id,
    )
    ctx.state.workflows[workflow.id] = workflow
    ctx.touched(project.id)
    return {"projectId": project.id, "workflowId": workflow.id}


def _workflow_running(ctx: RequestContext, environment_id: str) -> bool:
    """Whether a template workflow of this environment is still running. Railway's CLI runs
    one at a time (railwayapp/cli src/commands/add.rs, c54342ae); whether Railway allows two
    is documented nowhere, so the emulator accepts it and counts it for tests to check."""
    return any(
        w.environment_id == environment_id
        and lifecycle.workflow_status(w.created, ctx.now) != "Complete"
        for w in ctx.state.workflows.values()
    )


def _check_template_placement(ctx: RequestContext, project: Project, service_config: Any) -> None:
    """A placement in the template's serializedConfig follows serviceInstanceUpdate's rules
    (instances.from_template applies it)."""
    if not isinstance(service_config, dict):
        return  # refused by the deploy itself
    placed = (service_config.get("deploy") or {}).get("multiRegionConfig")
    if placed is not None:
        plan = ctx.state.workspaces[project.workspace_id].plan
        regions.placement(placed, plan=plan, has_volume=bool(service_config.get("volumeMounts")))


def _deploy_template_service(
    ctx: RequestContext,
    project: Project,
    template: dict[str, Any],
    template_service_id: str,
    service_config: Any,
    input: dict[str, Any],
) -> None:
    if not isinstance(service_config, dict):
        raise ApiFailure(PROBLEM)
    name = ops.free_service_name(ctx, project, service_config.get("name") or template["name"])
    given = service_config.get("source") or {}
    source = {
        "image": given.get("image"),
        "repo": given.get("repo"),
        "branch": given.get("branch"),
        "start_command": (service_config.get("deploy") or {}).get("startCommand"),
    }
    variables = templates.variable_values(service_config, ctx.emulator.rng)
    _, created = ops.create_service(
        ctx,
        project,
        name,
        source,
        variables,
        icon=service_config.get("icon"),
        template_id=template["id"],
        template_service_id=template_service_id,
    )
    instances.from_template(ctx, created, service_config)
    volumes.from_template(ctx, project, created, service_config, input["serializedConfig"])
    if not input.get("stageOnly"):
        for instance in created:
            ops.queue_deployment(ctx, instance, latest=True)


MUTATION = {
    "deploymentApprove": m_deployment_approve,
    "projectCreate": m_project_create,
    "projectDelete": m_project_delete,
    "projectScheduleDelete": m_project_schedule_delete,
    "projectScheduleDeleteCancel": m_project_schedule_delete_cancel,
    "projectScheduleDeleteForce": m_project_delete,
    "projectUpdate": m_project_update,
    "serviceConnect": m_service_connect,
    "serviceCreate": m_service_create,
    "serviceDelete": m_service_delete,
    "serviceDomainCreate": m_service_domain_create,
    "serviceInstanceDeploy": m_service_instance_deploy,
    "serviceInstanceDeployV2": m_service_instance_deploy_v2,
    "serviceInstanceRedeploy": m_service_instance_redeploy,
    "templateDeployV2": m_template_deploy_v2,
    "variableCollectionUpsert": m_variable_collection_upsert,
    "variableDelete": m_variable_delete,
    "variableUpsert": m_variable_upsert,
}
