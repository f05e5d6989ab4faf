"""Every GraphQL document saas-infra sends to Railway, as named operations with variables.

User input only ever travels in `variables`; nothing is pasted into a document. Each document is
checked against Railway's published schema by tests/test_contract.py. No I/O here: the functions
below take a client (anything with `execute(operation, variables) -> data`) and shape the answer.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from saas_infra.errors import ApiError, IncompleteListingError


@dataclass(frozen=True)
class Operation:
    name: str
    document: str
    mutation: bool = False
    # False for mutations that create something: sending one twice may create two. The client
    # never retries those after an ambiguous failure (timeout, 5xx, reset); the caller re-observes.
    idempotent: bool = True
    # False: sent once, every failure left to the caller (the fleet lock's claim must read the
    # lock again before it writes again; see lock.py).
    retried: bool = True
    # Sent without credentials: Railway's template lookups refuse authenticated requests
    # (railwayapp/cli 991d8f0b, PR #837 fixing #830: the CLI fetches templates anonymously).
    anonymous: bool = False


class Executor(Protocol):
    def execute(self, operation: Operation, variables: dict[str, Any] | None = None) -> dict: ...


def _query(name: str, body: str) -> Operation:
    return Operation(name, body.strip())


def _mutation(name: str, body: str, *, idempotent: bool = True) -> Operation:
    return Operation(name, body.strip(), mutation=True, idempotent=idempotent)


# ServiceInstance fields that read back what serviceInstanceUpdate set, for the fleet listing.
INSTANCE_SETTINGS = (
    "healthcheckPath healthcheckTimeout restartPolicyType restartPolicyMaxRetries sleepApplication"
)

# The environment's newest deployments, for rollouts (rollout.py): a failed deployment of a
# channel's version stays visible after its tenant was rolled back, so a halt survives the pass.
HISTORY = 10

# The fleet listing carries the gateway's settings (INSTANCE_SETTINGS), the environment's newest
# deployments (HISTORY) and its volume instances (the Postgres volume's id, found by its
# serviceId as Railway's CLI finds it: railwayapp/cli src/commands/postgres/pitr.rs
# resolve_volume_instance_id) at no extra request.
PROJECT_FIELDS = f"""
fragment ProjectFields on Project {{
  id name description createdAt updatedAt deletedAt workspaceId
  services(first: 25) {{ edges {{ node {{ id name templateId createdAt }} }} }}
  environments(first: 5) {{ edges {{ node {{
    id name
    config(decryptVariables: true)
    serviceInstances(first: 25) {{ edges {{ node {{
      id serviceId serviceName environmentId
      {INSTANCE_SETTINGS}
      source {{ image repo }}
      latestDeployment {{ id status createdAt statusUpdatedAt url staticUrl meta }}
      domains {{ serviceDomains {{ id domain }} }}
    }} }} }}
    deploymentTriggers(first: 50) {{ edges {{ node {{ id serviceId repository branch }} }} }}
    volumeInstances(first: 25) {{ edges {{ node {{ id serviceId }} }} }}
    deployments(first: {HISTORY}) {{ edges {{ node {{
      id serviceId status createdAt statusUpdatedAt meta
    }} }} }}
  }} }} }}
}}
"""

# How Railway's docs and CLI find a personal token's workspaces (workspaces.py).
ME = _query("Me", "query Me { me { id name email username workspaces { id name plan } } }")
# No Railway client or document uses apiToken: only the fallback for workspace tokens.
API_TOKEN = _query("ApiToken", "query ApiToken { apiToken { workspaces { id name } } }")
WORKSPACE = _query(
    "Workspace",
    "query Workspace($workspaceId: String!) {"
    " workspace(workspaceId: $workspaceId) { id name plan } }",
)
# No Railway client or document uses projectCount, and what it counts is unknown: observe()
# treats it as optional (observed.py).
WORKSPACE_PROJECT_COUNT = _query(
    "WorkspaceProjectCount",
    "query WorkspaceProjectCount($workspaceId: String!) {"
    " workspace(workspaceId: $workspaceId) { projectCount } }",
)
# The listing Railway's CLI reads projects from (railwayapp/cli
# src/gql/queries/strings/UserProjects.graphql: workspaces { projects(first: 500) }), ids and
# deletedAt only (it lists projects pending deletion: railwayapp/cli #632): what observe() checks
# the fleet listing against when projectCount is unavailable or cannot settle it.
WORKSPACE_PROJECTS = _query(
    "WorkspaceProjects",
    """
query WorkspaceProjects($workspaceId: String!, $first: Int!, $after: String) {
  workspace(workspaceId: $workspaceId) {
    projects(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node { id deletedAt } }
    }
  }
}
""",
)
# Without includeDeleted: Railway lists projects pending deletion anyway, with deletedAt set
# (railwayapp/cli #632, PR #633); includeDeleted: true would add every project ever deleted
# (railwayapp/cli src/commands/usage.rs), and the cost of a pass would grow with history.
FLEET = _query(
    "Fleet",
    """
query Fleet($workspaceId: String, $first: Int!, $after: String) {
  projects(workspaceId: $workspaceId, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { ...ProjectFields } }
  }
}
"""
    + PROJECT_FIELDS,
)
# Projects without their insides: how the fleet lock (lock.py) finds its control project cheaply.
PROJECT_LIST = _query(
    "ProjectList",
    """
query ProjectList($workspaceId: String, $first: Int!, $after: String) {
  projects(workspaceId: $workspaceId, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id name description createdAt deletedAt } }
  }
}
""",
)
# The fleet lock's lease is the description of its control project (lock.py): read alone, in
# one light request, and written under names of its own, so counts tell them apart. Neither write
# is retried by the client: a write sent again after its answer was lost may land over the lease
# of a pass that took the lock in between, so lock.py reads the lock before writing again.
LOCK_READ = _query(
    "LockRead",
    "query LockRead($id: String!) { project(id: $id) { id name description deletedAt } }",
)
LOCK_CLAIM = Operation(
    "LockClaim",
    "mutation LockClaim($id: String!, $input: ProjectUpdateInput!) {"
    " projectUpdate(id: $id, input: $input) { id } }",
    mutation=True,
    retried=False,
)
LOCK_WRITE = Operation(
    "LockWrite",
    "mutation LockWrite($id: String!, $input: ProjectUpdateInput!) {"
    " projectUpdate(id: $id, input: $input) { id } }",
    mutation=True,
    retried=False,
)
PROJECT = _query(
    "Project",
    "query Project($id: String!) { project(id: $id) { ...ProjectFields } }" + PROJECT_FIELDS,
)
PROJECT_CREATE = _mutation(
    "ProjectCreate",
    """
mutation ProjectCreate($input: ProjectCreateInput!) {
  projectCreate(input: $input) {
    id name description createdAt
    environments { edges { node { id name } } }
  }
}
""",
    idempotent=False
)
PROJECT_UPDATE = _mutation(
    "ProjectUpdate",
    "mutation ProjectUpdate($id: String!, $input: ProjectUpdateInput!) {"
    " projectUpdate(id: $id, input: $input) { id description } }",
)
PROJECT_DELETE = _mutation(
    "ProjectDelete", "mutation ProjectDelete($id: String!) { projectDelete(id: $id) }"
)
PROJECT_SCHEDULE_DELETE = _mutation(
    "ProjectScheduleDelete",
    "mutation ProjectScheduleDelete($id: String!) { projectScheduleDelete(id: $id) }",
)
PROJECT_SCHEDULE_DELETE_CANCEL = _mutation(
    "ProjectScheduleDeleteCancel",
    "mutation ProjectScheduleDeleteCancel($id: String!) { projectScheduleDeleteCancel(id: $id) }",
)
TEMPLATE = Operation(
    "Template",
    "query Template($code: String!) { template(code: $code) { id code name serializedConfig } }",
    anonymous=True,
)
TEMPLATE_DEPLOY = _mutation(
    "TemplateDeploy",
    "mutation TemplateDeploy($input: TemplateDeployV2Input!) {"
    " templateDeployV2(input: $input) { projectId workflowId } }",
    idempotent=False
)
WORKFLOW_STATUS = _query(
    "WorkflowStatus",
    "query WorkflowStatus($workflowId: String!) {"
    " workflowStatus(workflowId: $workflowId) { status error } }",
)
SERVICE_CREATE = _mutation(
    "ServiceCreate",
    "mutation ServiceCreate($input: ServiceCreateInput!) { serviceCreate(input: $input) { id name } }",
    idempotent=False
)
SERVICE_CONNECT = _mutation(
    "ServiceConnect",
    "mutation ServiceConnect($id: String!, $input: ServiceConnectInput!) {"
    " serviceConnect(id: $id, input: $input) { id } }",
)
VARIABLE_COLLECTION_UPSERT = _mutation(
    "VariableCollectionUpsert",
    "mutation VariableCollectionUpsert($input: VariableCollectionUpsertInput!) {"
    " variableCollectionUpsert(input: $input) }",
)
VARIABLE_DELETE = _mutation(
    "VariableDelete",
    "mutation VariableDelete($input: VariableDeleteInput!) { variableDelete(input: $input) }",
)
VARIABLES = _query(
    "Variables",
    "query Variables($projectId: String!, $environmentId: String!, $serviceId: String) {"
    " variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId) }",
)
# Deploys the newest commit of the branch: only for an explicit redeploy request. A change of
# configuration is deployed by Railway's own redeploy of the running version, which a variable
# write without skipDeploys triggers.
SERVICE_INSTANCE_DEPLOY = _mutation(
    "ServiceInstanceDeploy",
    "mutation ServiceInstanceDeploy($serviceId: String!, $environmentId: String!) {"
    " serviceInstanceDeploy(serviceId: $serviceId, environmentId: $environmentId,"
    " latestCommit: true) }",
    idempotent=False
)
DEPLOYMENTS = _query(
    "Deployments",
    """
query Deployments($input: DeploymentListInput!, $first: Int) {
  deployments(input: $input, first: $first) {
    edges { node { id status createdAt url staticUrl meta } }
  }
}
""",
)
DEPLOYMENT = _query(
    "Deployment",
    "query Deployment($id: String!) { deployment(id: $id) { id status createdAt url staticUrl } }",
)
SERVICE_DOMAIN_CREATE = _mutation(
    "ServiceDomainCreate",
    "mutation ServiceDomainCreate($input: ServiceDomainCreateInput!) {"
    " serviceDomainCreate(input: $input) { id domain } }",
    idempotent=False
)

# --- tenant settings: placement, size, health check, restarts, backups ------------------------
# What each returns and when it takes effect is in the emulator's instances.py, regions.py and
# volumes.py docstrings (with Railway's evidence). In short: settings and limits apply from the
# next deployment; placement reads back from the environment config's deploy.multiRegionConfig
# and each deployment's meta.serviceManifest, never from ServiceInstance.region / numReplicas.

# An environment's volume instances, for the fleet listing (one volume per service).
VOLUME_INSTANCE_FIELDS = "id serviceId mountPath region state sizeMB currentSizeMB"

REGIONS = _query(
    "Regions",
    """
query Regions($projectId: String) {
  regions(projectId: $projectId) {
    name region location country
    deploymentConstraints { deprecationInfo { isDeprecated replacementRegion } }
  }
}
""",
)
SERVICE_INSTANCE_SETTINGS = _query(
    "ServiceInstanceSettings",
    "query ServiceInstanceSettings($environmentId: String!, $serviceId: String!) {"
    " serviceInstance(environmentId: $environmentId, serviceId: $serviceId) {"
    f" id serviceId environmentId {INSTANCE_SETTINGS}"
    " latestDeployment { id status meta } } }",
)
SERVICE_INSTANCE_UPDATE = _mutation(
    "ServiceInstanceUpdate",
    "mutation ServiceInstanceUpdate($serviceId: String!, $environmentId: String,"
    " $input: ServiceInstanceUpdateInput!) {"
    " serviceInstanceUpdate(serviceId: $serviceId, environmentId: $environmentId, input: $input) }",
)
SERVICE_INSTANCE_LIMITS = _query(
    "ServiceInstanceLimits",
    "query ServiceInstanceLimits($environmentId: String!, $serviceId: String!) {"
    " serviceInstanceLimits(environmentId: $environmentId, serviceId: $serviceId) }",
)
SERVICE_INSTANCE_LIMITS_UPDATE = _mutation(
    "ServiceInstanceLimitsUpdate",
    "mutation ServiceInstanceLimitsUpdate($input: ServiceInstanceLimitsUpdateInput!) {"
    " serviceInstanceLimitsUpdate(input: $input) }",
)
# Deploys the current snapshot again (same commit or image) so new settings take effect.
SERVICE_INSTANCE_REDEPLOY = _mutation(
    "ServiceInstanceRedeploy",
    "mutation ServiceInstanceRedeploy($serviceId: String!, $environmentId: String!) {"
    " serviceInstanceRedeploy(serviceId: $serviceId, environmentId: $environmentId) }",
    idempotent=False,
)
VOLUME_INSTANCES = _query(
    "VolumeInstances",
    "query VolumeInstances($environmentId: String!, $projectId: String!) {"
    " environment(id: $environmentId, projectId: $projectId) {"
    f" volumeInstances(first: 25) {{ edges {{ node {{ {VOLUME_INSTANCE_FIELDS} }} }} }} }} }}",
)
VOLUME_BACKUP_SCHEDULE_UPDATE = _mutation(
    "VolumeInstanceBackupScheduleUpdate",
    "mutation VolumeInstanceBackupScheduleUpdate($volumeInstanceId: String!,"
    " $kinds: [VolumeInstanceBackupScheduleKind!]!) {"
    " volumeInstanceBackupScheduleUpdate(volumeInstanceId: $volumeInstanceId, kinds: $kinds) }",
)
VOLUME_BACKUP_SCHEDULES = _query(
    "VolumeInstanceBackupScheduleList",
    "query VolumeInstanceBackupScheduleList($volumeInstanceId: String!) {"
    " volumeInstanceBackupScheduleList(volumeInstanceId: $volumeInstanceId) {"
    " id kind name cron retentionSeconds createdAt } }",
)
VOLUME_BACKUPS = _query(
    "VolumeInstanceBackupList",
    "query VolumeInstanceBackupList($volumeInstanceId: String!) {"
    " volumeInstanceBackupList(volumeInstanceId: $volumeInstanceId) {"
    " id name createdAt expiresAt scheduleId usedMB } }",
)

# --- releases: deployment triggers, deploys of a given commit, rollbacks ----------------------
# What Railway does with each, and the evidence, is in the emulator's triggers.py, commits.py,
# github.py and rollbacks.py docstrings. In short: connecting a repo creates one trigger per
# environment, which every push to its branch deploys (deleting it stops that);
# serviceInstanceDeployV2(commitSha:) deploys exactly that commit of the connected repo
# ("Commit not found" otherwise); a deployment's meta.commitHash (or meta.image) says what it
# runs; deploymentRollback(id:) redeploys a REMOVED deployment's image and variables, within the
# plan's image retention, when its canRollback is true.

TRIGGER_FIELDS = "id provider repository branch checkSuites projectId environmentId serviceId"

# One service's triggers in one environment (at most one), as Terraform's provider reads them.
DEPLOYMENT_TRIGGERS = _query(
    "DeploymentTriggers",
    "query DeploymentTriggers($projectId: String!, $environmentId: String!, $serviceId: String!) {"
    " deploymentTriggers(projectId: $projectId, environmentId: $environmentId,"
    f" serviceId: $serviceId) {{ edges {{ node {{ {TRIGGER_FIELDS} }} }} }} }}",
)
# Every trigger of an environment in one request (Project.deploymentTriggers is deprecated).
ENVIRONMENT_TRIGGERS = _query(
    "EnvironmentTriggers",
    "query EnvironmentTriggers($environmentId: String!, $projectId: String!) {"
    " environment(id: $environmentId, projectId: $projectId) {"
    f" deploymentTriggers(first: 100) {{ edges {{ node {{ {TRIGGER_FIELDS} }} }} }} }} }}",
)
DEPLOYMENT_TRIGGER_CREATE = _mutation(
    "DeploymentTriggerCreate",
    "mutation DeploymentTriggerCreate($input: DeploymentTriggerCreateInput!) {"
    f" deploymentTriggerCreate(input: $input) {{ {TRIGGER_FIELDS} }} }}",
    idempotent=False,
)
DEPLOYMENT_TRIGGER_UPDATE = _mutation(
    "DeploymentTriggerUpdate",
    "mutation DeploymentTriggerUpdate($id: String!, $input: DeploymentTriggerUpdateInput!) {"
    f" deploymentTriggerUpdate(id: $id, input: $input) {{ {TRIGGER_FIELDS} }} }}",
)
DEPLOYMENT_TRIGGER_DELETE = _mutation(
    "DeploymentTriggerDelete",
    "mutation DeploymentTriggerDelete($id: String!) { deploymentTriggerDelete(id: $id) }",
)
# Deploys exactly this commit (a full SHA of the connected repo); answers the deployment's id.
SERVICE_INSTANCE_DEPLOY_COMMIT = _mutation(
    "ServiceInstanceDeployCommit",
    "mutation ServiceInstanceDeployCommit($serviceId: String!, $environmentId: String!,"
    " $commitSha: String!) {"
    " serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId,"
    " commitSha: $commitSha) }",
    idempotent=False,
)
# A service's deployments, newest first, with what each runs and whether it can be rolled back to.
DEPLOYMENT_HISTORY = _query(
    "DeploymentHistory",
    """
query DeploymentHistory($input: DeploymentListInput!, $first: Int) {
  deployments(input: $input, first: $first) {
    edges { node { id status createdAt statusUpdatedAt canRollback meta } }
  }
}
""",
)
DEPLOYMENT_DETAILS = _query(
    "DeploymentDetails",
    "query DeploymentDetails($id: String!) { deployment(id: $id) {"
    " id status createdAt statusUpdatedAt canRollback meta serviceId environmentId } }",
)
# Queues a new deployment of that one's image and variables: sending it twice deploys twice.
DEPLOYMENT_ROLLBACK = _mutation(
    "DeploymentRollback",
    "mutation DeploymentRollback($id: String!) { deploymentRollback(id: $id) }",
    idempotent=False,
)

ALL_OPERATIONS: tuple[Operation, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Operation)
)


# --- typed wrappers -------------------------------------------------------------------------


def me(client: Executor) -> dict:
    return client.execute(ME)["me"]


def token_workspaces(client: Executor) -> list[dict]:
    return client.execute(API_TOKEN)["apiToken"]["workspaces"]


def workspace(client: Executor, workspace_id: str) -> dict:
    return client.execute(WORKSPACE, {"workspaceId": workspace_id})["workspace"]


def workspace_project_count(client: Executor, workspace_id: str) -> Any:
    """Railway's projectCount for the workspace, as answered (it may be null or fail)."""
    return client.execute(WORKSPACE_PROJECT_COUNT, {"workspaceId": workspace_id})["workspace"][
        "projectCount"
    ]


# A bound on any listing: 50,000 projects at 50 a page, far past any fleet, about 100 s of
# requests at Hobby's 10 a second. A server that never stops paging is stopped here.
MAX_PAGES = 1000


def _pages(client: Executor, operation: Operation, variables: dict[str, Any], page_size: int, *,
           path: tuple[str, ...] = ("projects",),
           max_pages: int = MAX_PAGES) -> Iterator[list[dict[str, Any]]]:
    """Yield each page's nodes, never one node twice. No hand-written Railway client pages with
    `after`, so the server is not trusted to end the listing: a cursor that comes back, a page of
    nothing but projects already listed, a next page without a cursor, or more than max_pages
    pages raise IncompleteListingError instead of looping."""
    after: str | None = None
    cursors: set[str] = set()
    seen: set[str] = set()
    for number in range(1, max_pages + 1):
        data = client.execute(operation, {**variables, "first": page_size, "after": after})
        for key in path:
            data = data[key]
        nodes = [edge["node"] for edge in data["edges"]]
        fresh = [node for node in nodes if node["id"] not in seen]
        if nodes and not fresh:
            raise IncompleteListingError(f"page {number} repeated projects already listed",
                                         operation=operation.name)
        seen.update(node["id"] for node in fresh)
        yield fresh
        if not data["pageInfo"]["hasNextPage"]:
            return
        after = data["pageInfo"]["endCursor"]
        if not after or after in cursors:
            raise IncompleteListingError(f"page {number} gave {'a repeated' if after else 'no'} "
                                         "cursor for the next page", operation=operation.name)
        cursors.add(after)
    raise IncompleteListingError(f"it did not end within {max_pages} pages",
                                 operation=operation.name)


def fleet_pages(client: Executor, workspace_id: str | None, page_size: int = 50,
                max_pages: int = MAX_PAGES) -> Iterator[list[dict[str, Any]]]:
    """Yield raw project nodes, page by page: one request per page, never one per project."""
    return _pages(client, FLEET, {"workspaceId": workspace_id}, page_size, max_pages=max_pages)


def project_list(client: Executor, workspace_id: str | None, page_size: int = 100) -> list[dict]:
    """Every project's id, name, description and timestamps: one light request per page."""
    pages = _pages(client, PROJECT_LIST, {"workspaceId": workspace_id}, page_size)
    return [node for page in pages for node in page]


def workspace_project_ids(
    client: Executor, workspace_id: str, page_size: int = 500
) -> dict[str, bool]:
    """{id: pending deletion} of the workspace's own project listing, 500 a page as Railway's
    CLI asks."""
    pages = _pages(client, WORKSPACE_PROJECTS, {"workspaceId": workspace_id}, page_size,
                   path=("workspace", "projects"))
    return {node["id"]: bool(node.get("deletedAt")) for page in pages for node in page}


def project(client: Executor, project_id: str) -> dict:
    return client.execute(PROJECT, {"id": project_id})["project"]


def lock_read(client: Executor, project_id: str) -> dict:
    """A project's id, name, description and deletedAt, without its services or environments."""
    return client.execute(LOCK_READ, {"id": project_id})["project"]


def lock_write(client: Executor, project_id: str, description: str, *, claim: bool = False) -> None:
    """Set the control project's description, sent once whatever the answer (see LOCK_WRITE)."""
    operation = LOCK_CLAIM if claim else LOCK_WRITE
    client.execute(operation, {"id": project_id, "input": {"description": description}})


def project_create(
    client: Executor, *, name: str, description: str, workspace_id: str | None
) -> dict:
    payload: dict[str, Any] = {
        "name": name,
        "description": description,
        "defaultEnvironmentName": "production",
    }
    if workspace_id:
        payload["workspaceId"] = workspace_id
    return client.execute(PROJECT_CREATE, {"input": payload})["projectCreate"]


def project_set_description(client: Executor, project_id: str, description: str) -> None:
    client.execute(PROJECT_UPDATE, {"id": project_id, "input": {"description": description}})


def project_delete(client: Executor, project_id: str) -> None:
    client.execute(PROJECT_DELETE, {"id": project_id})


def project_schedule_delete(client: Executor, project_id: str) -> None:
    client.execute(PROJECT_SCHEDULE_DELETE, {"id": project_id})


def project_schedule_delete_cancel(client: Executor, project_id: str) -> None:
    client.execute(PROJECT_SCHEDULE_DELETE_CANCEL, {"id": project_id})


def template(client: Executor, code: str) -> dict:
    return client.execute(TEMPLATE, {"code": code})["template"]


def template_config_with_values(template: dict) -> dict:
    """The template's serializedConfig ready for templateDeployV2, filled as Railway's CLI fills
    it (railwayapp/cli src/commands/deploy.rs `fetch_and_create`): each variable gets a `value`
    from its non-empty `defaultValue`; an optional one without a default is left unset; a
    required one without a default is an error (the CLI prompts; a pass cannot). Nothing says
    Railway falls back to `defaultValue` itself. A null config is sent as `{}` (railwayapp/cli
    src/commands/mcp/tools/service.rs). Everything else passes through untouched."""
    raw = template.get("serializedConfig")
    config = copy.deepcopy(json.loads(raw) if isinstance(raw, str) else raw) or {}
    services = config.get("services") if isinstance(config, dict) else None
    for service in (services or {}).values():
        variables = service.get("variables") if isinstance(service, dict) else None
        for name, spec in (variables or {}).items():
            if not isinstance(spec, dict):
                continue  # the CLI skips a null variable
            default = spec.get("defaultValue")
            if isinstance(default, str) and default:
                spec["value"] = default
            elif not spec.get("isOptional"):
                raise ApiError(
                    f"the {template.get('code') or template.get('name')} template needs a value "
                    f"for {service.get('name') or '?'}.{name} and gives no default",
                    operation=TEMPLATE.name,
                )
    return config


def template_deploy(
    client: Executor,
    *,
    template_id: str,
    serialized_config: dict,
    project_id: str,
    environment_id: str,
    workspace_id: str | None,
) -> str | None:
    payload: dict[str, Any] = {
        "templateId": template_id,
        "serializedConfig": serialized_config,
        "projectId": project_id,
        "environmentId": environment_id,
    }
    if workspace_id:
        payload["workspaceId"] = workspace_id
    return client.execute(TEMPLATE_DEPLOY, {"input": payload})["templateDeployV2"]["workflowId"]


def workflow_status(client: Executor, workflow_id: str) -> dict:
    return client.execute(WORKFLOW_STATUS, {"workflowId": workflow_id})["workflowStatus"]


def service_create(
    client: Executor,
    *,
    project_id: str,
    name: str,
    repo: str | None = None,
    branch: str | None = None,
    image: str | None = None,
    variables: dict[str, str] | None = None,
) -> dict:
    payload: dict[str, Any] = {"projectId": project_id, "name": name}
    if repo:
        payload["source"] = {"repo": repo}
        payload["branch"] = branch
    elif image:
        payload["source"] = {"image": image}
    if variables:
        payload["variables"] = variables
    return client.execute(SERVICE_CREATE, {"input": payload})["serviceCreate"]


def service_connect(
    client: Executor,
    service_id: str,
    *,
    repo: str | None = None,
    branch: str | None = None,
    image: str | None = None,
) -> None:
    payload = {"repo": repo, "branch": branch} if repo else {"image": image}
    client.execute(SERVICE_CONNECT, {"id": service_id, "input": payload})


def variables_upsert(
    client: Executor,
    *,
    project_id: str,
    environment_id: str,
    service_id: str,
    variables: dict[str, str],
    skip_deploys: bool = True,
) -> None:
    client.execute(
        VARIABLE_COLLECTION_UPSERT,
        {
            "input": {
                "projectId": project_id,
                "environmentId": environment_id,
                "serviceId": service_id,
                "variables": variables,
                "skipDeploys": skip_deploys,
            }
        },
    )


def variable_delete(
    client: Executor, *, project_id: str, environment_id: str, service_id: str, name: str
) -> None:
    client.execute(
        VARIABLE_DELETE,
        {
            "input": {
                "projectId": project_id,
                "environmentId": environment_id,
                "serviceId": service_id,
                "name": name,
            }
        },
    )


def variables(client: Executor, *, project_id: str, environment_id: str, service_id: str) -> dict:
    return client.execute(
        VARIABLES,
        {"projectId": project_id, "environmentId": environment_id, "serviceId": service_id},
    )["variables"]


def deploy_latest_commit(client: Executor, *, service_id: str, environment_id: str) -> None:
    client.execute(SERVICE_INSTANCE_DEPLOY, {"serviceId": service_id, "environmentId": environment_id})


def latest_deployments(
    client: Executor, *, project_id: str, environment_id: str, service_id: str, first: int = 1
) -> list[dict]:
    data = client.execute(
        DEPLOYMENTS,
        {
            "input": {
                "projectId": project_id,
                "environmentId": environment_id,
                "serviceId": service_id,
            },
            "first": first,
        },
    )["deployments"]
    return [edge["node"] for edge in data["edges"]]


def deployment(client: Executor, deployment_id: str) -> dict:
    return client.execute(DEPLOYMENT, {"id": deployment_id})["deployment"]


def service_domain_create(client: Executor, *, service_id: str, environment_id: str) -> dict:
    return client.execute(
        SERVICE_DOMAIN_CREATE, {"input": {"serviceId": service_id, "environmentId": environment_id}}
    )["serviceDomainCreate"]


# --- tenant settings --------------------------------------------------------------------------


def regions(client: Executor, project_id: str | None = None) -> list[dict]:
    return client.execute(REGIONS, {"projectId": project_id})["regions"]


@dataclass(frozen=True)
class DeployRegion:
    """One entry of Railway's regions list: the id to place by (`name`), its friendly location,
    and the replacement Railway names when it deprecated the region."""

    name: str
    location: str
    deprecated: bool
    replacement: str | None


def deploy_regions(client: Executor) -> list[DeployRegion]:
    """Railway's regions (one request), deprecated ones included and marked, as its CLI reads
    them (railwayapp/cli src/controllers/regions.rs region_is_available)."""
    out = []
    for entry in regions(client):
        info = (entry.get("deploymentConstraints") or {}).get("deprecationInfo") or {}
        out.append(DeployRegion(entry["name"], entry.get("location") or "",
                                bool(info.get("isDeprecated")), info.get("replacementRegion")))
    return out


def template_config_in_region(config: dict[str, Any], region: str) -> dict[str, Any]:
    """A template's serializedConfig with every service placed in `region`, one replica (the
    databases hold a volume: one replica in one region). Railway's own clients shape a template's
    topology inside serializedConfig before templateDeployV2 (railwayapp/cli
    src/controllers/template_apply.rs sets `deploy.numReplicas` there, porting the dashboard's
    useApplyComposableTemplate), and read a database's region from its single-region
    `deploy.multiRegionConfig` (src/commands/config/mod.rs database_region). A copy: the cached
    template stays as Railway gave it."""
    placed = copy.deepcopy(config)
    for service in (placed.get("services") or {}).values():
        deploy = service.setdefault("deploy", {})
        deploy["multiRegionConfig"] = {region: {"numReplicas": 1}}
    return placed


def service_instance_settings(client: Executor, *, service_id: str, environment_id: str) -> dict:
    variables = {"serviceId": service_id, "environmentId": environment_id}
    return client.execute(SERVICE_INSTANCE_SETTINGS, variables)["serviceInstance"]


def service_instance_update(
    client: Executor, *, service_id: str, environment_id: str | None, settings: dict[str, Any]
) -> bool:
    """Set ServiceInstanceUpdateInput fields (a None value resets one); False: nothing changed.
    Nothing is deployed: the settings apply from the next deployment."""
    variables = {"serviceId": service_id, "environmentId": environment_id, "input": settings}
    return client.execute(SERVICE_INSTANCE_UPDATE, variables)["serviceInstanceUpdate"]


def service_instance_limits(client: Executor, *, service_id: str, environment_id: str) -> dict:
    """The instance's limits with the plan's defaults merged in: {"vCPUs", "memoryGB"}."""
    variables = {"serviceId": service_id, "environmentId": environment_id}
    return client.execute(SERVICE_INSTANCE_LIMITS, variables)["serviceInstanceLimits"]


def service_instance_limits_update(
    client: Executor,
    *,
    service_id: str,
    environment_id: str,
    vcpus: float | None = None,
    memory_gb: float | None = None,
) -> None:
    payload: dict[str, Any] = {"serviceId": service_id, "environmentId": environment_id}
    if vcpus is not None:
        payload["vCPUs"] = vcpus
    if memory_gb is not None:
        payload["memoryGB"] = memory_gb
    client.execute(SERVICE_INSTANCE_LIMITS_UPDATE, {"input": payload})


def service_instance_limits_set(
    client: Executor, *, service_id: str, environment_id: str,
    vcpus: float | None, memory_gb: float | None,
) -> None:
    """Both limits as given: a None is sent as null, which sets that limit back to the plan's."""
    payload = {"serviceId": service_id, "environmentId": environment_id,
               "vCPUs": vcpus, "memoryGB": memory_gb}
    client.execute(SERVICE_INSTANCE_LIMITS_UPDATE, {"input": payload})


def redeploy(client: Executor, *, service_id: str, environment_id: str) -> None:
    variables = {"serviceId": service_id, "environmentId": environment_id}
    client.execute(SERVICE_INSTANCE_REDEPLOY, variables)


def volume_instances(client: Executor, *, project_id: str, environment_id: str) -> list[dict]:
    variables = {"projectId": project_id, "environmentId": environment_id}
    edges = client.execute(VOLUME_INSTANCES, variables)["environment"]["volumeInstances"]["edges"]
    return [edge["node"] for edge in edges]


def volume_backup_schedule_update(
    client: Executor, *, volume_instance_id: str, kinds: list[str]
) -> None:
    """Replace the schedule set (DAILY / WEEKLY / MONTHLY); [] removes every schedule."""
    variables = {"volumeInstanceId": volume_instance_id, "kinds": kinds}
    client.execute(VOLUME_BACKUP_SCHEDULE_UPDATE, variables)


def volume_backup_schedules(client: Executor, *, volume_instance_id: str) -> list[dict]:
    variables = {"volumeInstanceId": volume_instance_id}
    return client.execute(VOLUME_BACKUP_SCHEDULES, variables)["volumeInstanceBackupScheduleList"]


def volume_backups(client: Executor, *, volume_instance_id: str) -> list[dict]:
    """Kept backups in no particular order (newest: the greatest createdAt)."""
    variables = {"volumeInstanceId": volume_instance_id}
    return client.execute(VOLUME_BACKUPS, variables)["volumeInstanceBackupList"]


# --- releases ---------------------------------------------------------------------------------


def deployment_triggers(
    client: Executor, *, project_id: str, environment_id: str, service_id: str
) -> list[dict]:
    """The service's deployment trigger in the environment: [] or [trigger]."""
    variables = {"projectId": project_id, "environmentId": environment_id, "serviceId": service_id}
    edges = client.execute(DEPLOYMENT_TRIGGERS, variables)["deploymentTriggers"]["edges"]
    return [edge["node"] for edge in edges]


def environment_triggers(client: Executor, *, project_id: str, environment_id: str) -> list[dict]:
    variables = {"projectId": project_id, "environmentId": environment_id}
    edges = client.execute(ENVIRONMENT_TRIGGERS, variables)["environment"]["deploymentTriggers"]
    return [edge["node"] for edge in edges["edges"]]


def deployment_trigger_create(
    client: Executor,
    *,
    project_id: str,
    environment_id: str,
    service_id: str,
    repository: str,
    branch: str,
    check_suites: bool = False,
) -> dict:
    payload = {
        "projectId": project_id,
        "environmentId": environment_id,
        "serviceId": service_id,
        "provider": "github",
        "repository": repository,
        "branch": branch,
        "checkSuites": check_suites,
    }
    return client.execute(DEPLOYMENT_TRIGGER_CREATE, {"input": payload})["deploymentTriggerCreate"]


def deployment_trigger_update(
    client: Executor,
    trigger_id: str,
    *,
    repository: str | None = None,
    branch: str | None = None,
    check_suites: bool | None = None,
) -> dict:
    """Change what is given; what is left None is kept."""
    given = {"repository": repository, "branch": branch, "checkSuites": check_suites}
    payload = {key: value for key, value in given.items() if value is not None}
    answer = client.execute(DEPLOYMENT_TRIGGER_UPDATE, {"id": trigger_id, "input": payload})
    return answer["deploymentTriggerUpdate"]


def deployment_trigger_delete(client: Executor, trigger_id: str) -> bool:
    return client.execute(DEPLOYMENT_TRIGGER_DELETE, {"id": trigger_id})["deploymentTriggerDelete"]


def deploy_commit(
    client: Executor, *, service_id: str, environment_id: str, commit_sha: str
) -> str:
    """Deploy exactly `commit_sha` (40 hex digits); returns the new deployment's id."""
    variables = {"serviceId": service_id, "environmentId": environment_id, "commitSha": commit_sha}
    return client.execute(SERVICE_INSTANCE_DEPLOY_COMMIT, variables)["serviceInstanceDeployV2"]


def deployment_history(
    client: Executor, *, project_id: str, environment_id: str, service_id: str, first: int = 10
) -> list[dict]:
    """The service's newest deployments first, each with status, canRollback and meta."""
    variables = {
        "input": {"projectId": project_id, "environmentId": environment_id, "serviceId": service_id},
        "first": first,
    }
    return [e["node"] for e in client.execute(DEPLOYMENT_HISTORY, variables)["deployments"]["edges"]]


def deployment_details(client: Executor, deployment_id: str) -> dict:
    return client.execute(DEPLOYMENT_DETAILS, {"id": deployment_id})["deployment"]


def deployment_rollback(client: Executor, deployment_id: str) -> bool:
    return client.execute(DEPLOYMENT_ROLLBACK, {"id": deployment_id})["deploymentRollback"]
