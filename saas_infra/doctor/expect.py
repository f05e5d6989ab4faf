"""What saas-infra expects of each answer Railway gives, as checks that name every difference.

Two layers: every field an operation's document selects must be in the answer (its shape), and
per operation, what the client relies on (the create answer names the project sent, a status is
one the client knows, a listing's cursor is there when another page is). `doctor --live` checks
each answer with these as it goes; the replay tests check every recorded cassette with them.
Pure functions: no I/O. Differences never quote a variable value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)

from saas_infra.clock import parse_time
from saas_infra.doctor.report import Difference
from saas_infra.railway.operations import Operation
from saas_infra.tenancy import DEPLOYMENT_STATUSES

# Railway's published enums (shared/railway/schema.graphql: WorkflowStatus, Plan; DeploymentStatus
# is tenancy.DEPLOYMENT_STATUSES).
WORKFLOW_STATUSES = frozenset({"Complete", "Error", "NotFound", "Running"})
PLANS = frozenset({"FREE", "HOBBY", "PRO"})
_ENUM_LIKE = re.compile(r"[A-Z][A-Za-z_]{0,39}")
_MAX_PER_CALL = 8  # a 50-project page with one wrong field must not print 50 lines


def check(operation: Operation, variables: dict[str, Any], data: dict) -> list[Difference]:
    """Every difference between `data` (the answer to `operation`) and saas-infra's beliefs."""
    found = missing_fields(operation, data)
    semantic = _SEMANTIC.get(operation.name)
    if semantic is not None:
        found += semantic(_Ctx(operation.name), variables, data)
    unique: dict[tuple[str, str], Difference] = {}
    for difference in found:
        unique.setdefault((difference.field, difference.expected), difference)
    return list(unique.values())[:_MAX_PER_CALL]


# --- shape: every selected field is present -----------------------------------------------------


@lru_cache(maxsize=64)
def _parsed(document: str):
    tree = parse(document)
    operation = next(d for d in tree.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in tree.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    return operation, fragments


def missing_fields(operation: Operation, data: dict) -> list[Difference]:
    definition, fragments = _parsed(operation.document)
    out: list[Difference] = []
    _walk(definition.selection_set, data, "", fragments, out, operation.name)
    return out


def _walk(selections: SelectionSetNode, value: Any, path: str, fragments: dict,
          out: list[Difference], name: str) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _walk(selections, item, f"{path}[]", fragments, out, name)
        return
    if not isinstance(value, dict):
        out.append(Difference(name, path or "data", "an object", _shape(value)))
        return
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            key = (selection.alias or selection.name).value
            where = f"{path}.{key}" if path else key
            if key not in value:
                out.append(Difference(name, where, "present", "missing"))
            elif selection.selection_set is not None:
                _walk(selection.selection_set, value[key], where, fragments, out, name)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            _walk(fragment.selection_set, value, path, fragments, out, name)
        elif isinstance(selection, InlineFragmentNode):
            _walk(selection.selection_set, value, path, fragments, out, name)


def _shape(value: Any) -> str:
    """What a value is, without what it says (it may be a secret)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "an object"


# --- what the client relies on, per operation ---------------------------------------------------


class _Ctx:
    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.found: list[Difference] = []

    def want(self, ok: bool, field: str, expected: str, seen: str) -> None:
        if not ok:
            self.found.append(Difference(self.operation, field, expected, seen))

    def string(self, value: Any, field: str) -> None:
        self.want(isinstance(value, str) and bool(value), field, "a non-empty string",
                  _shape(value))

    def time(self, value: Any, field: str, *, optional: bool = False) -> None:
        if value is None and optional:
            return
        self.want(_is_time(value), field, "an RFC 3339 time",
                  _shape(value) if not isinstance(value, str) else "another format")

    def one_of(self, value: Any, allowed: frozenset[str], field: str, what: str) -> None:
        # An enum's value is no secret: one that looks like an enum value is shown.
        seen = value if isinstance(value, str) and _ENUM_LIKE.fullmatch(value) else _shape(value)
        self.want(value in allowed, field, f"one of Railway's {what}", seen)


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


def _dig(data: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def _edges(connection: Any) -> list[dict]:
    edges = (connection or {}).get("edges") if isinstance(connection, dict) else None
    return [e["node"] for e in edges or []
            if isinstance(e, dict) and isinstance(e.get("node"), dict)]


def _me(c: _Ctx, _vars, data) -> list[Difference]:
    me = data.get("me") or {}
    c.string(me.get("id"), "me.id")
    workspaces = me.get("workspaces")
    c.want(isinstance(workspaces, list), "me.workspaces", "a list", _shape(workspaces))
    for ws in workspaces or []:
        c.string(ws.get("id"), "me.workspaces[].id")
        c.one_of(ws.get("plan"), PLANS, "me.workspaces[].plan", "plans")
    return c.found


def _api_token(c: _Ctx, _vars, data) -> list[Difference]:
    workspaces = _dig(data, "apiToken", "workspaces")
    c.want(isinstance(workspaces, list), "apiToken.workspaces", "a list", _shape(workspaces))
    for ws in workspaces or []:
        c.string(ws.get("id"), "apiToken.workspaces[].id")
    return c.found


def _workspace(c: _Ctx, variables, data) -> list[Difference]:
    ws = data.get("workspace") or {}
    c.want(ws.get("id") == variables.get("workspaceId"), "workspace.id",
           "the id asked for", "another id")
    c.one_of(ws.get("plan"), PLANS, "workspace.plan", "plans")
    count = ws.get("projectCount")
    c.want(count is None or isinstance(count, int) and count >= 0, "workspace.projectCount",
           "a count (or null)", _shape(count))
    return c.found


def _listing(c: _Ctx, variables, data) -> list[Difference]:
    projects = data.get("projects") or {}
    info = projects.get("pageInfo") or {}
    more = info.get("hasNextPage")
    c.want(isinstance(more, bool), "projects.pageInfo.hasNextPage", "a boolean", _shape(more))
    if more:
        cursor = info.get("endCursor")
        c.want(isinstance(cursor, str) and bool(cursor) and cursor != variables.get("after"),
               "projects.pageInfo.endCursor", "a new cursor when another page follows",
               "the cursor just used" if cursor == variables.get("after") else _shape(cursor))
    nodes = _edges(projects)
    c.want(not more or bool(nodes), "projects.edges", "projects on a page that has a next",
           "none")
    for node in nodes:
        _project_node(c, node, "projects.edges[].node")
    return c.found


def _project_node(c: _Ctx, node: dict, where: str) -> None:
    c.string(node.get("id"), f"{where}.id")
    c.string(node.get("name"), f"{where}.name")
    c.time(node.get("createdAt"), f"{where}.createdAt", optional="createdAt" not in node)
    c.time(node.get("deletedAt"), f"{where}.deletedAt", optional=True)
    service_ids = {s.get("id") for s in _edges(node.get("services"))}
    for environment in _edges(node.get("environments")):
        _environment(c, environment, service_ids, f"{where}.environments[]")


def _environment(c: _Ctx, environment: dict, service_ids: set, where: str) -> None:
    if "config" in environment:
        config = environment.get("config")
        if isinstance(config, str):
            try:
                config = json.loads(config)
            except ValueError:
                c.want(False, f"{where}.config", "JSON", "text that is not JSON")
                return
        c.want(isinstance(config, dict), f"{where}.config", "an object", _shape(config))
        services = (config or {}).get("services") if isinstance(config, dict) else None
        c.want(services is None or isinstance(services, dict), f"{where}.config.services",
               "an object keyed by service id", _shape(services))
        for service_id, entry in (services or {}).items():
            c.want(service_id in service_ids, f"{where}.config.services{{key}}",
                   "the id of one of the project's services", "an unknown id")
            variables = (entry or {}).get("variables") if isinstance(entry, dict) else None
            for spec in (variables or {}).values():
                value = spec.get("value") if isinstance(spec, dict) else spec
                c.want(value is None or isinstance(value, str),
                       f"{where}.config.services{{}}.variables{{}}.value",
                       "a string (or null when unreadable)", _shape(value))
    for instance in _edges(environment.get("serviceInstances")):
        deployment = instance.get("latestDeployment")
        if isinstance(deployment, dict):
            c.one_of(deployment.get("status"), DEPLOYMENT_STATUSES,
                     f"{where}.serviceInstances[].latestDeployment.status", "deployment statuses")
        for domain in _dig(instance, "domains", "serviceDomains") or []:
            c.string(domain.get("domain"),
                     f"{where}.serviceInstances[].domains.serviceDomains[].domain")


def _project(c: _Ctx, variables, data) -> list[Difference]:
    node = data.get("project")
    c.want(isinstance(node, dict), "project", "the project", _shape(node))
    if isinstance(node, dict):
        c.want(node.get("id") == variables.get("id"), "project.id", "the id asked for",
               "another id")
        _project_node(c, node, "project")
    return c.found


def _project_create(c: _Ctx, variables, data) -> list[Difference]:
    sent = variables.get("input") or {}
    node = data.get("projectCreate") or {}
    c.string(node.get("id"), "projectCreate.id")
    c.want(node.get("name") == sent.get("name"), "projectCreate.name", "the name sent",
           "another name")
    c.want(node.get("description") == sent.get("description"), "projectCreate.description",
           "the description sent (it carries the ownership marker)", "another description")
    c.time(node.get("createdAt"), "projectCreate.createdAt")
    names = [e.get("name") for e in _edges(node.get("environments"))]
    wanted = sent.get("defaultEnvironmentName") or "production"
    c.want(wanted in names, "projectCreate.environments", f"an environment named {wanted}",
           f"{len(names)} environments" if names else "none")
    return c.found


def _project_update(c: _Ctx, variables, data) -> list[Difference]:
    node = data.get("projectUpdate") or {}
    c.want(node.get("id") == variables.get("id"), "projectUpdate.id", "the id sent", "another id")
    c.want(node.get("description") == (variables.get("input") or {}).get("description"),
           "projectUpdate.description", "the description sent", "another description")
    return c.found


def _true(field: str) -> Callable[[_Ctx, dict, dict], list[Difference]]:
    def answer(c: _Ctx, _vars, data) -> list[Difference]:
        c.want(data.get(field) is True, field, "true", _shape(data.get(field)))
        return c.found

    return answer


def _template(c: _Ctx, variables, data) -> list[Difference]:
    node = data.get("template")
    c.want(isinstance(node, dict), "template", "the template", _shape(node))
    if not isinstance(node, dict):
        return c.found
    c.string(node.get("id"), "template.id")
    c.want(node.get("code") == variables.get("code"), "template.code", "the code asked for",
           "another code")
    config = node.get("serializedConfig")
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            config = "not JSON"
    c.want(config is None or isinstance(config, dict) and isinstance(config.get("services"), dict),
           "template.serializedConfig", "an object with services", _shape(config))
    return c.found


def _template_deploy(c: _Ctx, variables, data) -> list[Difference]:
    node = data.get("templateDeployV2") or {}
    c.string(node.get("workflowId"), "templateDeployV2.workflowId")
    sent = (variables.get("input") or {}).get("projectId")
    c.want(node.get("projectId") == sent, "templateDeployV2.projectId", "the project sent",
           "another project")
    return c.found


def _workflow(c: _Ctx, _vars, data) -> list[Difference]:
    node = data.get("workflowStatus") or {}
    c.one_of(node.get("status"), WORKFLOW_STATUSES, "workflowStatus.status", "workflow statuses")
    return c.found


def _service_create(c: _Ctx, variables, data) -> list[Difference]:
    node = data.get("serviceCreate") or {}
    c.string(node.get("id"), "serviceCreate.id")
    c.want(node.get("name") == (variables.get("input") or {}).get("name"), "serviceCreate.name",
           "the name sent", "another name")
    return c.found


def _variables(c: _Ctx, _vars, data) -> list[Difference]:
    values = data.get("variables")
    c.want(isinstance(values, dict), "variables", "an object of names and values",
           _shape(values))
    for value in (values or {}).values() if isinstance(values, dict) else ():
        c.want(value is None or isinstance(value, str), "variables{}", "a string (or null)",
               _shape(value))
    return c.found


def _deployments(c: _Ctx, _vars, data) -> list[Difference]:
    for node in _edges(data.get("deployments")):
        c.string(node.get("id"), "deployments.edges[].node.id")
        c.one_of(node.get("status"), DEPLOYMENT_STATUSES, "deployments.edges[].node.status",
                 "deployment statuses")
        c.time(node.get("createdAt"), "deployments.edges[].node.createdAt")
    return c.found


def _deployment(c: _Ctx, _vars, data) -> list[Difference]:
    node = data.get("deployment") or {}
    c.one_of(node.get("status"), DEPLOYMENT_STATUSES, "deployment.status", "deployment statuses")
    return c.found


def _domain_create(c: _Ctx, _vars, data) -> list[Difference]:
    node = data.get("serviceDomainCreate") or {}
    c.string(node.get("id"), "serviceDomainCreate.id")
    domain = node.get("domain")
    c.want(isinstance(domain, str) and "." in domain and "/" not in domain,
           "serviceDomainCreate.domain", "a host name (e.g. *.up.railway.app)", _shape(domain))
    return c.found


_SEMANTIC: dict[str, Callable[[_Ctx, dict, dict], list[Difference]]] = {
    "Me": _me,
    "ApiToken": _api_token,
    "Workspace": _workspace,
    "Fleet": _listing,
    "ProjectList": _listing,
    "Project": _project,
    "ProjectCreate": _project_create,
    "ProjectUpdate": _project_update,
    "ProjectDelete": _true("projectDelete"),
    "ProjectScheduleDelete": _true("projectScheduleDelete"),
    "ProjectScheduleDeleteCancel": _true("projectScheduleDeleteCancel"),
    "Template": _template,
    "TemplateDeploy": _template_deploy,
    "WorkflowStatus": _workflow,
    "ServiceCreate": _service_create,
    "VariableCollectionUpsert": _true("variableCollectionUpsert"),
    "VariableDelete": _true("variableDelete"),
    "Variables": _variables,
    "ServiceInstanceDeploy": _true("serviceInstanceDeploy"),
    "Deployments": _deployments,
    "Deployment": _deployment,
    "ServiceDomainCreate": _domain_create,
}

