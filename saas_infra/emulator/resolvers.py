"""Resolvers for queries and for the fields of every object type the emulator serves.

Objects are the dataclasses of state.py; fields whose GraphQL name matches the attribute (id,
name, description, domain, ...) use graphql-core's default resolver, the rest are listed in
TYPES. Kept lean on purpose: the fleet listing resolves tens of thousands of fields per call.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from saas_infra.clock import format_time

from . import instances, lifecycle, templates
from .context import NOT_AUTHORIZED, ApiFailure, RequestContext
from .paging import BadCursor, connection
from .state import (
    Deployment,
    Environment,
    Instance,
    Project,
    Service,
    State,
    Workspace,
    instance_key,
)
from .variables import Renderer

Info = Any  # graphql.GraphQLResolveInfo; its .context is a RequestContext


@lru_cache(maxsize=16384)
def iso(timestamp: float) -> str:
    return format_time(datetime.fromtimestamp(timestamp, UTC))


def _attr(name: str):
    return lambda obj, _info: getattr(obj, name)


def _time(name: str):
    def resolve(obj: Any, _info: Info) -> str | None:
        value = getattr(obj, name)
        return None if value is None else iso(value)

    return resolve


def _const(value: Any):
    return lambda _obj, _info, **_args: value


def _page(nodes: list[Any], keys: list[list[Any]] | None, args: dict[str, Any]) -> dict[str, Any]:
    try:
        return connection(nodes, keys, **args)
    except BadCursor as exc:
        raise ApiFailure("Invalid cursor") from exc


# --- listings ---------------------------------------------------------------------------------


def listed_projects(state: State, workspace_id: str, include_deleted: bool) -> list[Project]:
    """What a workspace's listing holds. Without includeDeleted: live projects and those pending
    deletion, with deletedAt set (railwayapp/cli #632, PR #633 84f42041: clients filter deletedAt
    themselves, link.rs and delete.rs). With it, also every project removed long ago
    (railwayapp/cli src/commands/usage.rs shows them, "Deleted on <date>"). Creation order."""
    projects = [p for p in state.projects.values() if p.workspace_id == workspace_id]
    if include_deleted:
        removed = state.removed_projects.values()
        projects += [p for p in removed if p.workspace_id == workspace_id]
        projects.sort(key=lambda p: p.serial)
    return projects


def project_page(
    state: State, workspace_id: str, include_deleted: bool, order: str, args: dict[str, Any]
) -> dict[str, Any]:
    """Projects of one workspace in a deterministic order; cursors carry the sort key."""
    projects = listed_projects(state, workspace_id, include_deleted)
    if order == "NAME_ASC":
        projects.sort(key=lambda p: (p.name, p.serial))
        keys = [[p.name, p.serial] for p in projects]
    elif order == "UPDATED_AT_DESC":
        projects.sort(key=lambda p: (-p.updated, -p.serial))
        keys = [[-p.updated, -p.serial] for p in projects]
    else:  # CREATED_AT_DESC: newest first
        projects.reverse()
        keys = [[-p.serial] for p in projects]
    return _page(projects, keys, args)


def instances_of(state: State, environment: Environment) -> list[Instance]:
    project = state.projects[environment.project_id]
    found = (state.instances.get(instance_key(sid, environment.id)) for sid in project.service_ids)
    return [instance for instance in found if instance is not None]


def domain_of(state: State, dep: Deployment) -> str | None:
    instance = state.instances.get(instance_key(dep.service_id, dep.environment_id))
    return instance.domains[0] if instance is not None and instance.domains else None


def rate_limit_info(ctx: RequestContext) -> dict[str, Any]:
    remaining, reset = ctx.emulator.rate_budget(ctx.token, ctx.now)
    return {"remainingPoints": remaining, "resetsAt": iso(reset)}


# --- Query ------------------------------------------------------------------------------------


def q_me(_root: Any, info: Info) -> Any:
    ctx: RequestContext = info.context
    if ctx.require_grant().kind != "account":
        raise ApiFailure(NOT_AUTHORIZED)  # workspace tokens cannot read the user
    return ctx.state.user


def q_api_token(_root: Any, info: Info) -> dict[str, Any]:
    return {"workspaces": [{"id": w.id, "name": w.name} for w in info.context.workspaces()]}


def q_workspace(_root: Any, info: Info, workspaceId: str) -> Workspace:
    return info.context.workspace(workspaceId)


def q_projects(
    _root: Any,
    info: Info,
    workspaceId: str | None = None,
    includeDeleted: bool | None = None,
    orderBy: str | None = None,
    **page: Any,
) -> dict[str, Any]:
    ctx: RequestContext = info.context
    workspace_id = ctx.target_workspace(workspaceId)
    found = project_page(ctx.state, workspace_id, bool(includeDeleted), orderBy or "", page)
    if ctx.emulator.faults.repeat_cursor and page.get("after"):
        ctx.emulator.fault_counts["repeat_cursor"] += 1
        found["pageInfo"].update(hasNextPage=True, endCursor=page["after"])
    return found


def q_project(_root: Any, info: Info, id: str) -> Project:
    return info.context.project(id)


def q_service(_root: Any, info: Info, id: str) -> Service:
    return info.context.service(id)


def q_environment(_root: Any, info: Info, id: str, projectId: str | None = None) -> Environment:
    ctx: RequestContext = info.context
    environment = ctx.environment(id)
    if projectId is not None:
        ctx.in_project(environment, ctx.project(projectId), "Environment")
    return environment


def q_environments(
    _root: Any, info: Info, projectId: str, isEphemeral: bool | None = None, **page: Any
) -> dict[str, Any]:
    return project_environments(info.context.project(projectId), info, isEphemeral, **page)


def q_service_instance(_root: Any, info: Info, environmentId: str, serviceId: str) -> Instance:
    return info.context.instance(serviceId, environmentId)


def q_domains(_root: Any, info: Info, environmentId: str, projectId: str, serviceId: str) -> Any:
    ctx: RequestContext = info.context
    instance = ctx.instance(serviceId, environmentId)
    ctx.in_project(instance, ctx.project(projectId), "Service")
    return instance_domains(instance, info)


def q_template(
    _root: Any, info: Info, code: str | None = None, id: str | None = None, **_: Any
) -> Any:
    # Template lookups are public and refuse authenticated requests (railwayapp/cli 991d8f0b,
    # PR #837 fixing #830); "Not Authorized" in Railway's error shape is the plausible answer.
    if info.context.token is not None:
        raise ApiFailure(NOT_AUTHORIZED)
    found = templates.find(code=code, template_id=id)
    if found is None:
        raise ApiFailure("Template not found")
    return found


def q_workflow_status(_root: Any, info: Info, workflowId: str) -> dict[str, Any]:
    ctx: RequestContext = info.context
    ctx.require_grant()
    workflow = ctx.state.workflows.get(workflowId)
    if workflow is None:
        return {"status": "NotFound", "error": None}
    ctx.project(workflow.project_id)
    return {"status": lifecycle.workflow_status(workflow.created, ctx.now), "error": None}


def _variables_scope(
    ctx: RequestContext, project_id: str, environment_id: str, service_id: str | None
):
    project = ctx.project(project_id)
    environment = ctx.environment(environment_id)
    ctx.in_project(environment, project, "Environment")
    instance = None
    if service_id is not None:
        instance = ctx.instance(service_id, environment.id)
        ctx.in_project(instance, project, "Service")
    return environment, instance


def q_variables(
    _root: Any,
    info: Info,
    projectId: str,
    environmentId: str,
    serviceId: str | None = None,
    unrendered: bool | None = None,
) -> dict[str, str | None]:
    ctx: RequestContext = info.context
    environment, instance = _variables_scope(ctx, projectId, environmentId, serviceId)
    if unrendered:
        values = dict(instance.variables if instance else environment.shared_variables)
    else:
        renderer = Renderer(ctx.state, environment.id)
        values = renderer.service_variables(instance) if instance else renderer.shared_variables()
    return _readable(ctx, values, instance.sealed if instance else ())


def q_variables_for_deployment(
    _root: Any, info: Info, projectId: str, environmentId: str, serviceId: str
) -> dict[str, str | None]:
    ctx: RequestContext = info.context
    environment, instance = _variables_scope(ctx, projectId, environmentId, serviceId)
    renderer = Renderer(ctx.state, environment.id)
    values = {**renderer.shared_variables(), **renderer.service_variables(instance)}
    return _readable(ctx, values, instance.sealed)


def _readable(
    ctx: RequestContext, values: dict[str, str], sealed: Iterable[str]
) -> dict[str, str | None]:
    """What the API lets this token read: sealed values never (railwayapp/docs variables.md:
    "not provided when using `railway variables`"), and nothing but names without decryption."""
    for name in sealed:
        values.pop(name, None)
    if ctx.grant is not None and not ctx.grant.decrypt:
        return dict.fromkeys(values)
    readable: dict[str, str | None] = dict(values)
    return readable


def q_deployments(_root: Any, info: Info, input: dict[str, Any], **page: Any) -> dict[str, Any]:
    """Deployments matching every given id and status filter, newest first."""
    ctx: RequestContext = info.context
    lookups = {"projectId": ctx.project, "environmentId": ctx.environment, "serviceId": ctx.service}
    wanted = {}
    for key, lookup in lookups.items():
        if input.get(key) is not None:
            lookup(input[key])  # "Not Authorized" / "... not found" like Railway
            wanted[_SNAKE_IDS[key]] = input[key]
    statuses = input.get("status") or {}
    found = []
    for dep in reversed(ctx.state.deployments.values()):
        if any(getattr(dep, attr) != value for attr, value in wanted.items()):
            continue
        if not ctx.reaches(ctx.state.projects[dep.project_id].workspace_id):
            continue
        status = lifecycle.deployment_status(ctx.state, dep, ctx.now)[0]
        if statuses.get("in") and status not in statuses["in"]:
            continue
        if status in (statuses.get("notIn") or ()):
            continue
        found.append(dep)
    return _page(found, None, page)


_SNAKE_IDS = {
    "projectId": "project_id",
    "environmentId": "environment_id",
    "serviceId": "service_id",
}


def q_deployment(_root: Any, info: Info, id: str) -> Deployment:
    return info.context.deployment(id)


QUERY = {
    "apiToken": q_api_token,
    "deployment": q_deployment,
    "deployments": q_deployments,
    "domains": q_domains,
    "environment": q_environment,
    "environments": q_environments,
    "me": q_me,
    "project": q_project,
    "projects": q_projects,
    "service": q_service,
    "serviceInstance": q_service_instance,
    "template": q_template,
    "variables": q_variables,
    "variablesForServiceDeployment": q_variables_for_deployment,
    "workflowStatus": q_workflow_status,
    "workspace": q_workspace,
}


# --- object fields ----------------------------------------------------------------------------


def project_environments(
    project: Project,
    info: Info,
    isEphemeral: bool | None = None,
    sort: str | None = None,
    **page: Any,
) -> dict[str, Any]:
    if isEphemeral:  # the emulator has no ephemeral (PR) environments
        return _page([], None, page)
    state = info.context.state
    environments = [state.environments[eid] for eid in project.environment_ids]
    if sort == "desc":
        environments.reverse()
    return _page(environments, None, page)


def project_services(project: Project, info: Info, **page: Any) -> dict[str, Any]:
    state = info.context.state
    return _page([state.services[sid] for sid in project.service_ids], None, page)


def environment_config(
    environment: Environment, info: Info, decryptVariables: bool | None = None
) -> dict:
    """Raw (unrendered) config of every service instance: how the client reads the whole fleet's
    variables and sources in one query. Every value is null without decryptVariables or when
    the token's owner may not decrypt (railwayapp/cli src/commands/postgres/mod.rs), and a
    sealed one always is (railwayapp/docs variables.md, "Sealed variables")."""
    ctx: RequestContext = info.context
    decrypt = bool(decryptVariables) and ctx.grant is not None and ctx.grant.decrypt
    config: dict[str, Any] = {}
    for instance in instances_of(ctx.state, environment):
        if instance.image:
            source: dict[str, Any] = {"image": instance.image}
        elif instance.repo:
            source = {"repo": instance.repo, "branch": instance.branch}
        else:
            source = {}
        entry: dict[str, Any] = {
            "source": source,
            "variables": _config_variables(instance.variables, instance.sealed, decrypt),
        }
        deploy = instances.config_deploy(instance)
        if deploy:
            entry["deploy"] = deploy
        config[instance.service_id] = entry
    shared = environment.shared_variables
    return {"services": config, "sharedVariables": _config_variables(shared, (), decrypt)}


def _config_variables(
    variables: dict[str, str], sealed: Iterable[str], decrypt: bool
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        name: {"value": value if decrypt else None} for name, value in variables.items()
    }
    for name in sealed:
        if name in out:
            out[name] = {"value": None, "isSealed": True}
    return out


def environment_instances(environment: Environment, info: Info, **page: Any) -> dict[str, Any]:
    return _page(instances_of(info.context.state, environment), None, page)


def environment_deployments(environment: Environment, info: Info, **page: Any) -> dict[str, Any]:
    state = info.context.state
    found = [d for d in reversed(state.deployments.values()) if d.environment_id == environment.id]
    return _page(found, None, page)


def instance_source(instance: Instance, _info: Info) -> dict[str, Any] | None:
    if not (instance.image or instance.repo):
        return None
    return {"image": instance.image, "repo": instance.repo}


def instance_latest(instance: Instance, info: Info) -> Deployment | None:
    ids = instance.deployment_ids
    return info.context.state.deployments[ids[-1]] if ids else None


def instance_active(instance: Instance, info: Info) -> list[Deployment]:
    state, now = info.context.state, info.context.now
    deployments = (state.deployments[did] for did in instance.deployment_ids)
    return [
        d for d in deployments if lifecycle.deployment_status(state, d, now)[0] in lifecycle.RUNNING
    ]


def instance_domains(instance: Instance, info: Info) -> dict[str, Any]:
    domains = info.context.state.domains
    return {"serviceDomains": [domains[host] for host in instance.domains], "customDomains": []}


def deployment_status(dep: Deployment, info: Info) -> str:
    return lifecycle.deployment_status(info.context.state, dep, info.context.now)[0]


def deployment_status_since(dep: Deployment, info: Info) -> str:
    return iso(lifecycle.deployment_status(info.context.state, dep, info.context.now)[1])


def deployment_url(dep: Deployment, info: Info) -> str | None:
    return domain_of(info.context.state, dep)


def workspace_projects(workspace: Workspace, info: Info, **page: Any) -> dict[str, Any]:
    return project_page(info.context.state, workspace.id, False, "", page)


def workspace_project_count(
    workspace: Workspace, info: Info, includeDeleted: bool | None = None
) -> int:
    """No real client reads this field and no document says what it counts: by default what
    the listing with the same includeDeleted holds, pending deletions included (the case that
    would trip a client comparing it with the live projects only); with the emulator's
    `project_count_pending` off, projects pending deletion are left out (the case that hides a
    live project missing from a listing that shows a pending one). Both readings are unsourced."""
    listed = listed_projects(info.context.state, workspace.id, bool(includeDeleted))
    if not info.context.emulator.project_count_pending:
        listed = [p for p in listed if p.deleted is None]
    return len(listed)


def _service_of(obj: Any, info: Info) -> Service:
    return info.context.state.services[obj.service_id]


_TIMES = {"createdAt": _time("created"), "updatedAt": _time("created")}

TYPES: dict[str, dict[str, Any]] = {
    "User": {
        "createdAt": _time("created"),
        "workspaces": lambda _user, info: info.context.workspaces(),
        "apiTokenRateLimit": lambda _user, info: rate_limit_info(info.context),
    },
    "Workspace": {
        **_TIMES,
        "projectCount": workspace_project_count,
        "projects": workspace_projects,
        "apiTokenRateLimit": lambda _ws, info: rate_limit_info(info.context),
    },
    "Project": {
        "createdAt": _time("created"),
        "updatedAt": _time("updated"),
        "deletedAt": _time("deleted"),
        "environments": project_environments,
        "services": project_services,
        "isPublic": _attr("is_public"),
        "isTempProject": _const(False),
        "prDeploys": _attr("pr_deploys"),
        "primaryEnvironmentId": lambda p, _info: (
            p.environment_ids[0] if p.environment_ids else None
        ),
        "workspace": lambda p, info: info.context.state.workspaces.get(p.workspace_id),
        "workspaceId": _attr("workspace_id"),
    },
    "Environment": {
        **_TIMES,
        "config": environment_config,
        "deletedAt": _const(None),
        "deployments": environment_deployments,
        "isEphemeral": _const(False),
        "projectId": _attr("project_id"),
        "serviceInstances": environment_instances,
    },
    "Service": {
        "createdAt": _time("created"),
        "updatedAt": _time("updated"),
        "deletedAt": _const(None),
        "project": lambda s, info: info.context.state.projects[s.project_id],
        "projectId": _attr("project_id"),
        "templateId": _attr("template_id"),
        "templateServiceId": _attr("template_service_id"),
    },
    "ServiceInstance": {
        **_TIMES,
        "activeDeployments": instance_active,
        "builder": _const("RAILPACK"),
        "deletedAt": _const(None),
        "domains": instance_domains,
        "environmentId": _attr("environment_id"),
        "latestDeployment": instance_latest,
        "rootDirectory": _const(None),
        "service": _service_of,
        "serviceId": _attr("service_id"),
        "serviceName": lambda i, info: info.context.state.services[i.service_id].name,
        "source": instance_source,
        "startCommand": _attr("start_command"),
    },
    "Deployment": {
        "canRedeploy": _const(True),
        "createdAt": _time("created"),
        "updatedAt": deployment_status_since,
        "environmentId": _attr("environment_id"),
        "projectId": _attr("project_id"),
        "service": _service_of,
        "serviceId": _attr("service_id"),
        "staticUrl": deployment_url,
        "status": deployment_status,
        "statusUpdatedAt": deployment_status_since,
        "url": deployment_url,
    },
    "ServiceDomain": {
        **_TIMES,
        "environmentId": _attr("environment_id"),
        "projectId": _attr("project_id"),
        "serviceId": _attr("service_id"),
        "suffix": _const("up.railway.app"),
        "syncStatus": _const("ACTIVE"),
        "targetPort": _attr("target_port"),
    },
}
