"""The Railway emulator, driven in-process with raw httpx (never through the railway client).

Time only moves when a test advances the FakeClock, so life cycles, rate-limit windows and the
48-hour deletion grace run without sleeping.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import threading
from pathlib import Path

import httpx
import pytest
from graphql import execute, parse

import saas_infra.emulator as emulator_package
from saas_infra.clock import FakeClock
from saas_infra.emulator import Emulator, Faults, RateLimits, fastexec
from saas_infra.emulator.context import RequestContext
from saas_infra.emulator.schema import executable_schema
from saas_infra.railway import operations as ops

API = "https://backboard.railway.com/graphql/v2"
ROOMY = RateLimits(per_second=100_000, per_hour=10_000_000)
# deploy_seconds in these tests: QUEUED 0-0.5 s, INITIALIZING to 2, BUILDING to 8, DEPLOYING to 10
DEPLOY = 10.0


def filled(config: dict) -> dict:
    """A template's serializedConfig with each variable's value set from its defaultValue, as
    Railway's CLI sends it (railwayapp/cli src/commands/deploy.rs); the emulator fills nothing."""
    config = json.loads(json.dumps(config))
    for service in config["services"].values():
        for spec in service.get("variables", {}).values():
            if spec.get("defaultValue"):
                spec["value"] = spec["defaultValue"]
    return config


class Api:
    """Raw GraphQL over the emulator's in-process transport."""

    def __init__(self, emu: Emulator, token: str | None = "account") -> None:
        self.emu = emu
        self.http = httpx.Client(transport=emu.transport())
        self.token = emu.account_token if token == "account" else token

    def post(
        self,
        document: str,
        variables: dict | None = None,
        *,
        name: str | None = None,
        token: str | None = "default",
    ) -> httpx.Response:
        token = self.token if token == "default" else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = {"query": document, "variables": variables or {}, "operationName": name}
        return self.http.post(API, json=body, headers=headers)

    def op(self, operation: ops.Operation, variables: dict | None = None, **kw) -> httpx.Response:
        return self.post(operation.document, variables, name=operation.name, **kw)

    def data(self, operation: ops.Operation | str, variables: dict | None = None, **kw) -> dict:
        answer = self._send(operation, variables, **kw)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert "errors" not in body, body
        return body["data"]

    def error(self, operation: ops.Operation | str, variables: dict | None = None, **kw) -> str:
        answer = self._send(operation, variables, **kw)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body.get("errors"), body
        return body["errors"][0]["message"]

    def _send(self, operation, variables, **kw) -> httpx.Response:
        if isinstance(operation, str):
            return self.post(operation, variables, **kw)
        return self.op(operation, variables, **kw)

    # --- shortcuts ---------------------------------------------------------------------------

    def template(self, code: str) -> dict:
        """A template looked up as Railway wants it: without credentials."""
        return self.data(ops.TEMPLATE, {"code": code}, token=None)["template"]

    def create_project(
        self, name: str = "luthien-acme", workspace_id: str | None = "default"
    ) -> dict:
        workspace_id = self.emu.workspace_id if workspace_id == "default" else workspace_id
        payload = {"name": name, "description": f"tenant {name}", "workspaceId": workspace_id}
        return self.data(ops.PROJECT_CREATE, {"input": payload})["projectCreate"]

    def create_tenant(self, name: str = "luthien-acme") -> dict:
        """Project + Postgres + Redis + gateway (repo, variables) + domain, like apply does."""
        project = self.create_project(name)
        env_id = project["environments"]["edges"][0]["node"]["id"]
        for code in ("postgres", "redis"):
            template = self.template(code)
            self.data(
                ops.TEMPLATE_DEPLOY,
                {
                    "input": {
                        "templateId": template["id"],
                        "serializedConfig": filled(template["serializedConfig"]),
                        "projectId": project["id"],
                        "environmentId": env_id,
                    }
                },
            )
        gateway = self.data(
            ops.SERVICE_CREATE,
            {
                "input": {
                    "projectId": project["id"],
                    "name": "gateway",
                    "source": {"repo": "LuthienResearch/luthien-proxy"},
                    "branch": "main",
                    "variables": {
                        "DATABASE_URL": "${{Postgres.DATABASE_URL}}",
                        "REDIS_URL": "${{Redis.REDIS_URL}}",
                        "AUTH_MODE": "both",
                    },
                }
            },
        )["serviceCreate"]
        domain = self.data(
            ops.SERVICE_DOMAIN_CREATE,
            {"input": {"serviceId": gateway["id"], "environmentId": env_id}},
        )["serviceDomainCreate"]
        return {
            "project": project,
            "env": env_id,
            "gateway": gateway["id"],
            "domain": domain["domain"],
        }

    def fleet(self, **variables) -> dict:
        variables = {"workspaceId": self.emu.workspace_id, "first": 50, **variables}
        return self.data(ops.FLEET, variables)["projects"]

    def latest(self, tenant: dict, first: int = 10) -> list[dict]:
        deployments = self.data(
            ops.DEPLOYMENTS,
            {
                "input": {
                    "projectId": tenant["project"]["id"],
                    "environmentId": tenant["env"],
                    "serviceId": tenant["gateway"],
                },
                "first": first,
            },
        )["deployments"]
        return [edge["node"] for edge in deployments["edges"]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    return Emulator(clock=clock, rate_limits=ROOMY, deploy_seconds=DEPLOY)


@pytest.fixture
def api(emu: Emulator) -> Api:
    return Api(emu)


def gateway_status(api: Api, tenant: dict) -> str:
    return api.latest(tenant, 1)[0]["status"]


# --- auth ------------------------------------------------------------------------------------


def test_account_token_reads_me_with_its_workspaces(api: Api, emu: Emulator) -> None:
    me = api.data(ops.ME)["me"]
    assert [w["id"] for w in me["workspaces"]] == [emu.workspace_id]
    assert me["workspaces"][0]["name"] == emu.workspace_name
    assert me["workspaces"][0]["plan"] == "PRO"


def test_workspace_token_cannot_read_me_and_gets_railways_error_shape(emu: Emulator) -> None:
    answer = Api(emu, emu.workspace_token).op(ops.ME)
    assert answer.status_code == 200
    body = answer.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["message"] == "Not Authorized"
    assert error["path"] == ["me"]
    assert error["locations"] == [{"line": 1, "column": 12}]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert re.fullmatch(r"\d{18,19}", error["traceId"])


def test_workspace_token_reaches_its_workspace_projects(emu: Emulator, api: Api) -> None:
    project = api.create_project("luthien-a")
    as_workspace = Api(emu, emu.workspace_token)
    listed = as_workspace.data(ops.FLEET, {"workspaceId": None, "first": 10})["projects"]["edges"]
    assert [edge["node"]["id"] for edge in listed] == [project["id"]]
    assert as_workspace.data(ops.PROJECT, {"id": project["id"]})["project"]["name"] == "luthien-a"


@pytest.mark.parametrize("token", [None, "not-a-real-token"])
def test_missing_or_unknown_token_is_not_authorized(api: Api, token: str | None) -> None:
    assert api.error(ops.API_TOKEN, token=token) == "Not Authorized"
    assert (
        api.error(ops.FLEET, {"workspaceId": api.emu.workspace_id, "first": 5}, token=token)
        == "Not Authorized"
    )


def test_api_token_lists_workspaces_for_both_token_kinds(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, rate_limits=ROOMY, extra_workspaces=2)
    account = Api(emu).data(ops.API_TOKEN)["apiToken"]["workspaces"]
    scoped = Api(emu, emu.workspace_token).data(ops.API_TOKEN)["apiToken"]["workspaces"]
    assert [w["id"] for w in account] == [w["id"] for w in emu.workspaces]
    assert len(account) == 3
    assert scoped == [{"id": emu.workspace_id, "name": emu.workspace_name}]


def test_workspace_query_counts_projects_and_refuses_foreign_workspaces(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, rate_limits=ROOMY, extra_workspaces=1)
    api = Api(emu)
    api.create_project("a")
    api.create_project("b")
    info = api.data(ops.WORKSPACE, {"workspaceId": emu.workspace_id})["workspace"]
    assert info["plan"] == "PRO"
    count = api.data(ops.WORKSPACE_PROJECT_COUNT, {"workspaceId": emu.workspace_id})
    assert count["workspace"]["projectCount"] == 2
    extra = emu.workspaces[1]["id"]
    scoped = Api(emu, emu.workspace_token)
    assert scoped.error(ops.WORKSPACE, {"workspaceId": extra}) == "Not Authorized"
    assert api.error(ops.WORKSPACE, {"workspaceId": "no-such-workspace"}) == "Not Authorized"


def test_ids_outside_the_tokens_reach_are_not_authorized(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, rate_limits=ROOMY, extra_workspaces=1)
    api = Api(emu)
    foreign = api.create_project("elsewhere", workspace_id=emu.workspaces[1]["id"])
    scoped = Api(emu, emu.workspace_token)
    assert scoped.error(ops.PROJECT, {"id": foreign["id"]}) == "Not Authorized"
    assert scoped.error(ops.PROJECT_SCHEDULE_DELETE, {"id": foreign["id"]}) == "Not Authorized"
    assert (
        api.error(ops.PROJECT, {"id": "00000000-0000-4000-8000-000000000000"}) == "Not Authorized"
    )
    assert len(emu.snapshot()["projects"]) == 1


def test_several_workspaces_require_a_workspace_id(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, rate_limits=ROOMY, extra_workspaces=1)
    api = Api(emu)
    message = api.error(ops.PROJECT_CREATE, {"input": {"name": "x"}})
    assert "workspaceId is required" in message
    assert "workspaceId is required" in api.error(ops.FLEET, {"workspaceId": None, "first": 5})
    assert emu.snapshot()["projects"] == []


def test_template_lookup_answers_anonymously_and_refuses_a_token(api: Api, emu: Emulator) -> None:
    template = api.data(ops.TEMPLATE, {"code": "redis"}, token=None)["template"]
    assert template["code"] == "redis"
    # railwayapp/cli 991d8f0b (PR #837): template lookups reject authenticated requests.
    assert api.error(ops.TEMPLATE, {"code": "redis"}) == "Not Authorized"
    scoped = Api(emu, emu.workspace_token)
    assert scoped.error(ops.TEMPLATE, {"code": "redis"}) == "Not Authorized"


# --- transport and error shapes ---------------------------------------------------------------


def test_invalid_document_is_a_400_with_validation_code_and_no_data(api: Api) -> None:
    answer = api.post("query { me { teams { id } } }")
    assert answer.status_code == 400
    body = answer.json()
    assert "data" not in body
    (error,) = body["errors"]
    assert error["message"].startswith('Cannot query field "teams" on type "User"')
    assert error["locations"] == [{"line": 1, "column": 14}]
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


def test_syntax_error_and_bad_variables_are_400s(api: Api) -> None:
    assert api.post("query {").status_code == 400
    missing = api.post(ops.PROJECT.document, {}, name="Project")
    assert missing.status_code == 400
    assert "data" not in missing.json()
    assert "$id" in missing.json()["errors"][0]["message"]


def test_unknown_path_is_a_rest_style_404(emu: Emulator) -> None:
    answer = httpx.Client(transport=emu.transport()).get("https://backboard.railway.com/graphql/v3")
    assert answer.status_code == 404
    body = answer.json()
    assert body["message"] == "Not Found"
    assert re.fullmatch(r"[0-9a-f-]{36}", body["requestId"])


def test_nullable_field_errors_leave_the_rest_of_the_data(api: Api) -> None:
    body = api.post('query { a: template(code: "redis") { name } b: me { id } }', token=None).json()
    # `me` is non-null at the root, so the whole data is null, as graphql-core and Railway do.
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["b"]


def test_counts_every_request_by_operation_name(emu: Emulator, api: Api) -> None:
    api.data(ops.ME)
    api.data(ops.ME)
    api.post("query { me { teams } }")
    assert emu.counts["Me"] == 2
    assert emu.counts["total"] == 3


# --- projects ---------------------------------------------------------------------------------


def test_project_create_makes_exactly_one_environment(api: Api) -> None:
    project = api.create_project("luthien-acme")
    assert [e["node"]["name"] for e in project["environments"]["edges"]] == ["production"]
    named = api.data(
        ops.PROJECT_CREATE,
        {
            "input": {
                "name": "x",
                "workspaceId": api.emu.workspace_id,
                "defaultEnvironmentName": "staging",
            }
        },
    )
    assert [e["node"]["name"] for e in named["projectCreate"]["environments"]["edges"]] == [
        "staging"
    ]


def test_project_names_are_not_unique(api: Api, emu: Emulator) -> None:
    first, second = api.create_project("luthien-twin"), api.create_project("luthien-twin")
    assert first["id"] != second["id"]
    assert [p["name"] for p in emu.snapshot()["projects"]] == ["luthien-twin", "luthien-twin"]


def test_projects_page_newest_first_with_opaque_base64_cursors(api: Api, clock: FakeClock) -> None:
    created = []
    for n in range(5):
        created.append(api.create_project(f"p{n}")["id"])
        clock.advance(1)
    seen, after, pages = [], None, 0
    while True:
        page = api.fleet(first=2, after=after)
        pages += 1
        for edge in page["edges"]:
            seen.append(edge["node"]["id"])
        cursor = page["pageInfo"]["endCursor"]
        base64.b64decode(cursor, validate=True)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = cursor
    assert pages == 3
    assert seen == list(reversed(created))


def test_page_boundaries_hold_when_projects_appear_between_pages(api: Api) -> None:
    for n in range(4):
        api.create_project(f"p{n}")
    first = api.fleet(first=2)
    api.create_project("late")  # newest: sorts before the first page, must not shift page two
    second = api.fleet(first=2, after=first["pageInfo"]["endCursor"])
    names = [e["node"]["name"] for e in first["edges"] + second["edges"]]
    assert names == ["p3", "p2", "p1", "p0"]


def test_projects_order_by_name(api: Api) -> None:
    for name in ("b", "c", "a"):
        api.create_project(name)
    query = (
        "query($ws: String) { projects(workspaceId: $ws, orderBy: NAME_ASC)"
        " { edges { node { name } } } }"
    )
    edges = api.data(query, {"ws": api.emu.workspace_id})["projects"]["edges"]
    assert [e["node"]["name"] for e in edges] == ["a", "b", "c"]


def test_project_update_sets_the_description(api: Api) -> None:
    project = api.create_project()
    api.data(ops.PROJECT_UPDATE, {"id": project["id"], "input": {"description": "marker v2"}})
    assert api.data(ops.PROJECT, {"id": project["id"]})["project"]["description"] == "marker v2"


LISTING = """
query($ws: String!, $deleted: Boolean) {
  projects(workspaceId: $ws, includeDeleted: $deleted) { edges { node { id deletedAt } } }
  workspace(workspaceId: $ws) {
    projects { edges { node { id } } }
    all: projectCount(includeDeleted: $deleted)
  }
}
"""


def listing(api: Api, include_deleted: bool | None = None) -> dict:
    """{id: deletedAt} of the projects listing, its projectCount and the nested listing's ids."""
    data = api.data(LISTING, {"ws": api.emu.workspace_id, "deleted": include_deleted})
    listed = {e["node"]["id"]: e["node"]["deletedAt"] for e in data["projects"]["edges"]}
    nested = [e["node"]["id"] for e in data["workspace"]["projects"]["edges"]]
    return {"listed": listed, "count": data["workspace"]["all"], "nested": nested}


def test_schedule_delete_keeps_the_project_listed_with_deleted_at_until_cancelled(
    api: Api, clock: FakeClock
) -> None:
    # railwayapp/cli #632 / PR #633: a project pending deletion is in a listing made without
    # includeDeleted, carrying deletedAt; clients filter it themselves.
    project = api.create_project()
    clock.advance(30)
    assert (
        api.data(ops.PROJECT_SCHEDULE_DELETE, {"id": project["id"]})["projectScheduleDelete"]
        is True
    )
    for flag in (None, False, True):
        seen = listing(api, flag)
        assert seen["listed"] == {project["id"]: "2026-01-01T00:00:30Z"}
        assert seen["nested"] == [project["id"]] and seen["count"] == 1
    api.data(ops.PROJECT_SCHEDULE_DELETE_CANCEL, {"id": project["id"]})
    assert listing(api)["listed"] == {project["id"]: None}


def test_project_count_counts_pending_deletions_unless_switched_off(api: Api) -> None:
    # Unsourced either way (no Railway client reads projectCount): both readings are switchable.
    kept, pending = api.create_project("kept"), api.create_project("pending")
    api.data(ops.PROJECT_SCHEDULE_DELETE, {"id": pending["id"]})
    assert listing(api)["count"] == 2
    api.emu.project_count_pending = False
    seen = listing(api)
    assert seen["count"] == 1 and set(seen["listed"]) == {kept["id"], pending["id"]}


def test_scheduled_project_is_removed_48_hours_later(api: Api, clock: FakeClock) -> None:
    project = api.create_project()
    api.data(ops.PROJECT_SCHEDULE_DELETE, {"id": project["id"]})
    clock.advance(hours=47, minutes=59)
    assert api.data(ops.PROJECT, {"id": project["id"]})["project"]["deletedAt"] is not None
    clock.advance(minutes=1)
    assert api.fleet()["edges"] == []
    assert api.error(ops.PROJECT, {"id": project["id"]}) == "Project not found"


def test_project_delete_is_immediate_and_force_skips_the_grace(api: Api) -> None:
    gone, forced = api.create_project("a"), api.create_project("b")
    api.data(ops.PROJECT_DELETE, {"id": gone["id"]})
    api.data("mutation($id: String!) { projectScheduleDeleteForce(id: $id) }", {"id": forced["id"]})
    assert api.fleet()["edges"] == []
    assert api.error(ops.PROJECT, {"id": gone["id"]}) == "Project not found"
    assert api.error(ops.PROJECT_DELETE, {"id": gone["id"]}) == "Project not found"


def test_include_deleted_lists_projects_removed_long_ago_forever(
    api: Api, clock: FakeClock
) -> None:
    # railwayapp/cli src/commands/usage.rs lists projects(includeDeleted: true) and shows projects
    # deleted long ago ("Deleted on <date>"): removed ones, reaped or deleted at once, stay.
    reaped, deleted, live = (api.create_project(n) for n in ("reaped", "deleted", "live"))
    api.data(ops.PROJECT_SCHEDULE_DELETE, {"id": reaped["id"]})
    clock.advance(60)
    api.data(ops.PROJECT_DELETE, {"id": deleted["id"]})
    clock.advance(days=400)
    assert listing(api) == {"listed": {live["id"]: None}, "count": 1, "nested": [live["id"]]}
    everything = listing(api, True)
    assert everything["listed"] == {
        live["id"]: None,
        deleted["id"]: "2026-01-01T00:01:00Z",
        reaped["id"]: "2026-01-01T00:00:00Z",
    }  # newest first
    assert everything["count"] == 3
    paged, after = [], None  # cursors page through the removed ones too
    document = """query($ws: String, $after: String) {
      projects(workspaceId: $ws, first: 1, after: $after, includeDeleted: true) {
        pageInfo { hasNextPage endCursor } edges { node { id } } } }"""
    while True:
        page = api.data(document, {"ws": api.emu.workspace_id, "after": after})["projects"]
        paged += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert paged == list(everything["listed"])


# --- services and deployments -------------------------------------------------------------------


def test_service_names_are_unique_within_a_project(api: Api) -> None:
    project = api.create_project()
    payload = {"input": {"projectId": project["id"], "name": "gateway"}}
    api.data(ops.SERVICE_CREATE, payload)
    assert (
        api.error(ops.SERVICE_CREATE, payload)
        == 'A service named "gateway" already exists in this project'
    )
    other = api.create_project("other")
    api.data(ops.SERVICE_CREATE, {"input": {"projectId": other["id"], "name": "gateway"}})


def test_service_create_queues_one_deployment_only_when_it_has_a_source(
    api: Api, emu: Emulator
) -> None:
    project = api.create_project()
    api.data(ops.SERVICE_CREATE, {"input": {"projectId": project["id"], "name": "bare"}})
    api.data(
        ops.SERVICE_CREATE,
        {
            "input": {
                "projectId": project["id"],
                "name": "gateway",
                "source": {"image": "ghcr.io/x/y:1"},
                "variables": {"A": "1"},
            }
        },
    )
    services = {s["name"]: s for s in emu.snapshot()["projects"][0]["services"]}
    assert services["bare"]["deployments"] == []
    assert len(services["gateway"]["deployments"]) == 1
    assert services["gateway"]["variables"] == {"A": "1"}


def test_service_instances_show_in_the_fleet_listing(api: Api, clock: FakeClock) -> None:
    tenant = api.create_tenant()
    clock.advance(DEPLOY)
    node = api.fleet()["edges"][0]["node"]
    assert [s["node"]["name"] for s in node["services"]["edges"]] == [
        "Postgres",
        "Redis",
        "gateway",
    ]
    environment = node["environments"]["edges"][0]["node"]
    instances = {
        i["node"]["serviceName"]: i["node"] for i in environment["serviceInstances"]["edges"]
    }
    gateway = instances["gateway"]
    assert gateway["source"] == {"image": None, "repo": "LuthienResearch/luthien-proxy"}
    assert gateway["latestDeployment"]["status"] == "SUCCESS"
    assert gateway["latestDeployment"]["url"] == tenant["domain"]
    assert gateway["domains"]["serviceDomains"][0]["domain"] == tenant["domain"]
    assert (
        instances["Postgres"]["source"]["image"] == "ghcr.io/railwayapp-templates/postgres-ssl:18"
    )
    config = environment["config"]["services"][tenant["gateway"]]
    assert config["source"] == {"repo": "LuthienResearch/luthien-proxy", "branch": "main"}
    assert config["variables"]["DATABASE_URL"] == {"value": "${{Postgres.DATABASE_URL}}"}


def test_deployment_moves_through_its_statuses_with_the_clock(api: Api, clock: FakeClock) -> None:
    tenant = api.create_tenant()
    seen, elapsed = [], 0.0
    for at in (0, 1, 5, 9, 10):  # seconds after the deployment was queued
        clock.advance(at - elapsed)
        elapsed = at
        seen.append(gateway_status(api, tenant))
    assert seen == ["QUEUED", "INITIALIZING", "BUILDING", "DEPLOYING", "SUCCESS"]


@pytest.mark.parametrize(
    ("injected", "at_9s", "at_10s"),
    [("FAILED", "FAILED", "FAILED"), ("CRASHED", "DEPLOYING", "CRASHED")],
)
def test_injected_failures_end_the_next_deploy(
    api: Api, emu: Emulator, clock: FakeClock, injected: str, at_9s: str, at_10s: str
) -> None:
    emu.fail_next_deploy("gateway", injected)
    tenant = api.create_tenant()
    clock.advance(5)
    assert gateway_status(api, tenant) == "BUILDING"
    clock.advance(4)
    assert gateway_status(api, tenant) == at_9s
    clock.advance(1)
    assert gateway_status(api, tenant) == at_10s
    health = httpx.Client(transport=emu.transport()).get(f"https://{tenant['domain']}/health")
    assert health.status_code == 503
    # Only the next one: a redeploy succeeds.
    api.data(
        ops.SERVICE_INSTANCE_DEPLOY,
        {"serviceId": tenant["gateway"], "environmentId": tenant["env"]},
    )
    clock.advance(DEPLOY)
    assert gateway_status(api, tenant) == "SUCCESS"


def test_fail_next_deploy_can_target_one_project(api: Api, emu: Emulator, clock: FakeClock) -> None:
    emu.fail_next_deploy("gateway", "FAILED", project_name="luthien-b")
    a, b = api.create_tenant("luthien-a"), api.create_tenant("luthien-b")
    clock.advance(DEPLOY)
    assert (gateway_status(api, a), gateway_status(api, b)) == ("SUCCESS", "FAILED")


def test_new_success_removes_the_previous_one(api: Api, clock: FakeClock) -> None:
    tenant = api.create_tenant()
    clock.advance(DEPLOY)
    api.data(
        ops.SERVICE_INSTANCE_DEPLOY,
        {"serviceId": tenant["gateway"], "environmentId": tenant["env"]},
    )
    clock.advance(DEPLOY / 2)
    assert [d["status"] for d in api.latest(tenant)] == ["BUILDING", "SUCCESS"]
    clock.advance(DEPLOY / 2)
    assert [d["status"] for d in api.latest(tenant)] == ["SUCCESS", "REMOVED"]


def test_deploy_latest_commit_follows_pushes(api: Api, emu: Emulator, clock: FakeClock) -> None:
    tenant = api.create_tenant()
    first_sha = api.latest(tenant)[0]["meta"]["commitHash"]
    pushed = emu.push_commit("LuthienResearch/luthien-proxy", "main")
    assert pushed != first_sha and re.fullmatch(r"[0-9a-f]{40}", pushed)
    api.data(
        ops.SERVICE_INSTANCE_DEPLOY,
        {"serviceId": tenant["gateway"], "environmentId": tenant["env"]},
    )
    newest = api.latest(tenant)[0]
    source = {key: newest["meta"][key] for key in newest["meta"] if key != "serviceManifest"}
    assert source == {
        "repo": "LuthienResearch/luthien-proxy",
        "branch": "main",
        "commitHash": pushed,
    }
    deployment = api.data(ops.DEPLOYMENT, {"id": newest["id"]})["deployment"]
    assert deployment["status"] == "QUEUED"


def test_service_connect_sets_the_source_and_deploys(api: Api, emu: Emulator) -> None:
    project = api.create_project()
    service = api.data(
        ops.SERVICE_CREATE, {"input": {"projectId": project["id"], "name": "gateway"}}
    )
    api.data(
        ops.SERVICE_CONNECT,
        {"id": service["serviceCreate"]["id"], "input": {"repo": "o/r", "branch": "dev"}},
    )
    (gateway,) = emu.snapshot()["projects"][0]["services"]
    assert gateway["source"] == {"repo": "o/r", "branch": "dev", "image": None}
    assert [d["branch"] for d in gateway["deployments"]] == ["dev"]


def test_deployments_filter_by_status(api: Api, clock: FakeClock) -> None:
    tenant = api.create_tenant()
    clock.advance(DEPLOY)
    api.data(
        ops.SERVICE_INSTANCE_DEPLOY,
        {"serviceId": tenant["gateway"], "environmentId": tenant["env"]},
    )
    query = (
        "query($s: String!, $in: [DeploymentStatus!]) {"
        " deployments(input: {serviceId: $s, status: {in: $in}}) { edges { node { status } } } }"
    )
    for wanted in (["SUCCESS"], ["QUEUED"], ["FAILED"]):
        edges = api.data(query, {"s": tenant["gateway"], "in": wanted})["deployments"]["edges"]
        assert [e["node"]["status"] for e in edges] == [s for s in wanted if s != "FAILED"]


# --- variables ----------------------------------------------------------------------------------


def test_variables_render_references_and_railway_values(api: Api) -> None:
    tenant = api.create_tenant()
    project_id, env = tenant["project"]["id"], tenant["env"]
    api.data(
        ops.VARIABLE_COLLECTION_UPSERT,
        {"input": {"projectId": project_id, "environmentId": env, "variables": {"REGION": "eu"}}},
    )
    api.data(
        ops.VARIABLE_COLLECTION_UPSERT,
        {
            "input": {
                "projectId": project_id,
                "environmentId": env,
                "serviceId": tenant["gateway"],
                "skipDeploys": True,
                "variables": {
                    "SELF": "${{ AUTH_MODE }}-x",
                    "SHARED": "${{shared.REGION}}",
                    "URL": "https://${{gateway.RAILWAY_PUBLIC_DOMAIN}}",
                    "GONE": "<${{Nope.VAR}}>",
                    "PW": "${{ Postgres.POSTGRES_PASSWORD }}",
                },
            }
        },
    )
    rendered = api.data(
        ops.VARIABLES,
        {"projectId": project_id, "environmentId": env, "serviceId": tenant["gateway"]},
    )["variables"]
    password = rendered["PW"]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password)
    assert (
        rendered["DATABASE_URL"]
        == f"postgresql://postgres:{password}@postgres.railway.internal:5432/railway"
    )
    assert re.fullmatch(
        r"redis://default:[A-Za-z0-9]{32}@redis\.railway\.internal:6379", rendered["REDIS_URL"]
    )
    assert rendered["SELF"] == "both-x"
    assert rendered["SHARED"] == "eu"
    assert rendered["URL"] == f"https://{tenant['domain']}"
    assert rendered["GONE"] == "<>"
    assert rendered["RAILWAY_PRIVATE_DOMAIN"] == "gateway.railway.internal"
    assert rendered["RAILWAY_PUBLIC_DOMAIN"] == tenant["domain"]
    assert rendered["RAILWAY_PROJECT_NAME"] == "luthien-acme"
    assert rendered["RAILWAY_ENVIRONMENT_NAME"] == "production"
    assert rendered["RAILWAY_SERVICE_ID"] == tenant["gateway"]
    raw = api.data(
        "query($p: String!, $e: String!, $s: String) { variables(projectId: $p, environmentId: $e,"
        " serviceId: $s, unrendered: true) }",
        {"p": project_id, "e": env, "s": tenant["gateway"]},
    )["variables"]
    assert raw["DATABASE_URL"] == "${{Postgres.DATABASE_URL}}"
    assert "RAILWAY_PROJECT_ID" not in raw


def test_variable_upsert_redeploys_unless_skipped(api: Api) -> None:
    tenant = api.create_tenant()
    base = {
        "projectId": tenant["project"]["id"],
        "environmentId": tenant["env"],
        "serviceId": tenant["gateway"],
    }
    api.data(
        ops.VARIABLE_COLLECTION_UPSERT,
        {"input": {**base, "variables": {"A": "1"}, "skipDeploys": True}},
    )
    assert len(api.latest(tenant)) == 1
    api.data(ops.VARIABLE_COLLECTION_UPSERT, {"input": {**base, "variables": {"B": "2"}}})
    deployments = api.latest(tenant)
    assert len(deployments) == 2
    # A variable redeploy keeps the commit it was running.
    assert deployments[0]["meta"]["commitHash"] == deployments[1]["meta"]["commitHash"]


def test_variable_replace_and_delete(api: Api, emu: Emulator) -> None:
    tenant = api.create_tenant()
    base = {
        "projectId": tenant["project"]["id"],
        "environmentId": tenant["env"],
        "serviceId": tenant["gateway"],
    }
    api.data(
        ops.VARIABLE_COLLECTION_UPSERT,
        {
            "input": {
                **base,
                "variables": {"ONLY": "1", "OTHER": "2"},
                "replace": True,
                "skipDeploys": True,
            }
        },
    )
    api.data(ops.VARIABLE_DELETE, {"input": {**base, "name": "OTHER"}})
    gateway = emu.snapshot()["projects"][0]["services"][2]
    assert gateway["variables"] == {"ONLY": "1"}


def test_variables_of_another_project_are_refused(api: Api) -> None:
    a, b = api.create_tenant("luthien-a"), api.create_tenant("luthien-b")
    message = api.error(
        ops.VARIABLES,
        {"projectId": a["project"]["id"], "environmentId": b["env"], "serviceId": b["gateway"]},
    )
    assert message == "Environment not found"


# --- templates ----------------------------------------------------------------------------------


def test_templates_describe_official_postgres_and_redis(api: Api) -> None:
    postgres = api.template("postgres")
    (service,) = postgres["serializedConfig"]["services"].values()
    assert service["name"] == "Postgres"
    assert service["source"] == {"image": "ghcr.io/railwayapp-templates/postgres-ssl:18"}
    assert service["variables"]["POSTGRES_PASSWORD"]["defaultValue"] == "${{secret(32)}}"
    assert "PGHOST" in service["variables"] and "DATABASE_URL" in service["variables"]
    assert [m["mountPath"] for m in service["volumeMounts"].values()] == [
        "/var/lib/postgresql/data"
    ]
    redis = api.template("redis")
    (service,) = redis["serializedConfig"]["services"].values()
    assert service["source"] == {"image": "redis:8.2"}
    assert [m["mountPath"] for m in service["volumeMounts"].values()] == ["/data"]
    assert api.error(ops.TEMPLATE, {"code": "mysqlx"}, token=None) == "Template not found"


def test_template_deploy_creates_services_at_once_and_renames_duplicates(
    api: Api, emu: Emulator
) -> None:
    project = api.create_project()
    env = project["environments"]["edges"][0]["node"]["id"]
    template = api.template("postgres")
    payload = {
        "input": {
            "templateId": template["id"],
            "serializedConfig": filled(template["serializedConfig"]),
            "projectId": project["id"],
            "environmentId": env,
        }
    }
    result = api.data(ops.TEMPLATE_DEPLOY, payload)["templateDeployV2"]
    assert result["projectId"] == project["id"] and result["workflowId"]
    api.data(ops.TEMPLATE_DEPLOY, payload)
    services = emu.snapshot()["projects"][0]["services"]
    assert services[0]["name"] == "Postgres"
    assert re.fullmatch(r"Postgres-[a-z]{4}", services[1]["name"])
    first, second = (s["variables"]["POSTGRES_PASSWORD"] for s in services)
    assert first != second and "secret" not in first
    assert services[0]["variables"]["PGPASSWORD"] == "${{POSTGRES_PASSWORD}}"  # references stay raw
    assert services[0]["templateId"] == template["id"]
    assert len(services[0]["deployments"]) == 1


def test_template_variables_sent_without_a_value_deploy_empty(api: Api, emu: Emulator) -> None:
    # Railway's CLI fills every value before templateDeployV2; the emulator does not fall back
    # to defaultValue for a client that sends the config untouched.
    project = api.create_project()
    template = api.template("postgres")
    api.data(
        ops.TEMPLATE_DEPLOY,
        {"input": {"templateId": template["id"], "projectId": project["id"],
                   "serializedConfig": template["serializedConfig"]}},
    )
    (service,) = emu.snapshot()["projects"][0]["services"]
    assert service["variables"]["POSTGRES_PASSWORD"] == ""
    assert service["variables"]["DATABASE_URL"] == ""


def test_workflow_status_goes_not_found_running_complete(api: Api, clock: FakeClock) -> None:
    project = api.create_project()
    template = api.template("redis")
    workflow = api.data(
        ops.TEMPLATE_DEPLOY,
        {
            "input": {
                "templateId": template["id"],
                "serializedConfig": template["serializedConfig"],
                "projectId": project["id"],
            }
        },
    )["templateDeployV2"]["workflowId"]
    seen = []
    for step in (0, 0.6, 1.5):
        clock.advance(step)
        seen.append(
            api.data(ops.WORKFLOW_STATUS, {"workflowId": workflow})["workflowStatus"]["status"]
        )
    assert seen == ["NotFound", "Running", "Complete"]


# --- domains and health -------------------------------------------------------------------------


def test_service_domain_shape_and_gateway_health(api: Api, emu: Emulator, clock: FakeClock) -> None:
    tenant = api.create_tenant()
    assert re.fullmatch(r"gateway-production-[a-z0-9]{6}\.up\.railway\.app", tenant["domain"])
    web = httpx.Client(transport=emu.transport())
    assert web.get(f"https://{tenant['domain']}/health").status_code == 503
    clock.advance(DEPLOY)
    healthy = web.get(f"https://{tenant['domain']}/health")
    assert (healthy.status_code, healthy.json()) == (200, {"status": "healthy"})
    assert web.get("https://nobody-production-abcdef.up.railway.app/health").status_code == 404
    query = (
        "query($s: String!, $e: String!, $p: String!) {"
        " domains(serviceId: $s, environmentId: $e, projectId: $p)"
        " { serviceDomains { domain suffix syncStatus } } }"
    )
    (domain,) = api.data(
        query, {"s": tenant["gateway"], "e": tenant["env"], "p": tenant["project"]["id"]}
    )["domains"]["serviceDomains"]
    assert domain == {
        "domain": tenant["domain"],
        "suffix": "up.railway.app",
        "syncStatus": "ACTIVE",
    }


# --- rate limits ------------------------------------------------------------------------------


def test_every_answer_carries_rate_limit_headers(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, rate_limits=RateLimits(per_second=50, per_hour=1000))
    api = Api(emu)
    first, second = api.op(ops.ME), api.post("query { nope }")
    assert second.status_code == 400
    assert first.headers["X-RateLimit-Limit"] == "1000"
    assert first.headers["X-RateLimit-Remaining"] == "999"
    assert second.headers["X-RateLimit-Remaining"] == "998"
    assert first.headers["X-RateLimit-Reset"] == str(int(clock.now().timestamp()) + 3600)


def test_per_second_limit_answers_429_and_does_not_execute(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, rate_limits=RateLimits(per_second=3, per_hour=1000))
    api = Api(emu)
    for n in range(3):
        api.create_project(f"p{n}")
    refused = api.op(
        ops.PROJECT_CREATE, {"input": {"name": "late", "workspaceId": emu.workspace_id}}
    )
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    error = refused.json()["errors"][0]
    assert error == {
        "message": "Rate limit exceeded. Try again in 1 seconds",
        "extensions": {"code": "RATE_LIMITED"},
    }
    assert len(emu.snapshot()["projects"]) == 3
    clock.advance(1)
    assert api.op(ops.ME).status_code == 200


def test_hourly_limit_is_per_token_and_resets_with_the_window(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, rate_limits=RateLimits(per_second=100, per_hour=2))
    api = Api(emu)
    clock.advance(600)
    assert [api.op(ops.ME).status_code for _ in range(3)] == [200, 200, 429]
    refused = api.op(ops.ME)
    assert refused.headers["Retry-After"] == "3000"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert Api(emu, emu.workspace_token).op(ops.API_TOKEN).status_code == 200
    clock.advance(3000)
    assert api.op(ops.ME).status_code == 200


def test_plan_sets_default_limits(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, plan="HOBBY")
    assert Api(emu).op(ops.ME).headers["X-RateLimit-Limit"] == "1000"


# --- faults -----------------------------------------------------------------------------------


def test_latency_sleeps_on_the_clock(emu: Emulator, api: Api, clock: FakeClock) -> None:
    emu.faults.latency = 2.5
    api.data(ops.ME)
    assert clock.slept == 2.5
    assert emu.fault_counts["latency"] == 1


def test_5xx_fault_answers_without_executing(emu: Emulator, api: Api) -> None:
    emu.faults = Faults(error_5xx=1.0)
    answers = [
        api.op(ops.PROJECT_CREATE, {"input": {"name": "x", "workspaceId": emu.workspace_id}})
        for _ in range(6)
    ]
    assert {a.status_code for a in answers} <= {502, 503, 504}
    assert {a.headers["Content-Type"].split(";")[0] for a in answers} == {
        "text/html",
        "application/json",
    }
    assert emu.snapshot()["projects"] == []
    assert emu.fault_counts["error_5xx"] == 6


def test_reset_fault_raises_read_error_without_executing(emu: Emulator, api: Api) -> None:
    emu.faults.reset = 1.0
    with pytest.raises(httpx.ReadError):
        api.op(ops.PROJECT_CREATE, {"input": {"name": "x", "workspaceId": emu.workspace_id}})
    assert emu.snapshot()["projects"] == []
    assert emu.fault_counts["reset"] == 1


def test_html_429_has_no_rate_headers(emu: Emulator, api: Api) -> None:
    emu.faults.html_429 = 1.0
    answer = api.op(ops.ME)
    assert answer.status_code == 429
    assert "error code: 1015" in answer.text
    assert answer.headers["Content-Type"].startswith("text/html")
    assert not any(h.lower().startswith("x-ratelimit") for h in answer.headers)
    assert "Retry-After" not in answer.headers


def test_cooldown_refuses_rapid_mutations_on_one_resource(
    emu: Emulator, api: Api, clock: FakeClock
) -> None:
    emu.faults.cooldown_seconds = 5
    project = api.create_project()
    update = {"id": project["id"], "input": {"description": "v2"}}
    assert api.error(ops.PROJECT_UPDATE, update) == "Endpoint too recently updated"
    other = api.create_project("other")  # another resource is not affected
    assert other["id"]
    clock.advance(5)
    api.data(ops.PROJECT_UPDATE, update)
    assert emu.fault_counts["cooldown"] == 1


def test_create_timeout_commits_the_project_then_times_out(emu: Emulator, api: Api) -> None:
    emu.faults.create_timeout = 1.0
    with pytest.raises(httpx.ReadTimeout):
        api.op(ops.PROJECT_CREATE, {"input": {"name": "slow", "workspaceId": emu.workspace_id}})
    assert [p["name"] for p in emu.snapshot()["projects"]] == ["slow"]
    assert emu.fault_counts["create_timeout"] == 1


def test_faults_replay_with_the_same_seed(clock: FakeClock) -> None:
    def outcomes(seed: int) -> list[str]:
        emu = Emulator(clock=clock, seed=seed, rate_limits=ROOMY)
        emu.faults = Faults(error_5xx=0.3, reset=0.2, html_429=0.2)
        api, seen = Api(emu), []
        for _ in range(40):
            try:
                seen.append(str(api.op(ops.ME).status_code))
            except httpx.ReadError:
                seen.append("reset")
        return seen

    assert outcomes(7) == outcomes(7)
    assert outcomes(7) != outcomes(8)
    assert {"200", "reset", "429"} <= set(outcomes(7))


# --- state ------------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path, emu: Emulator, api: Api, clock: FakeClock) -> None:
    tenant = api.create_tenant()
    emu.fail_next_deploy("gateway", "CRASHED")
    path = tmp_path / "state.json"
    emu.save(path)
    again = Emulator.load(path, clock=clock, rate_limits=ROOMY, deploy_seconds=DEPLOY)
    assert again.snapshot() == emu.snapshot()
    assert (again.account_token, again.workspace_token) == (emu.account_token, emu.workspace_token)
    clock.advance(DEPLOY)
    reloaded = Api(again)
    assert gateway_status(reloaded, tenant) == "SUCCESS"
    # The id generator's state is saved too: a reload continues the sequence, never repeats it.
    fresh = reloaded.create_project("next")["id"]
    assert fresh == api.create_project("next")["id"]
    assert fresh != tenant["project"]["id"]


def test_state_file_is_loaded_at_start_and_saved_after_each_mutation(
    tmp_path, clock: FakeClock
) -> None:
    path = tmp_path / "sandbox" / "railway.json"
    first = Emulator(clock=clock, rate_limits=ROOMY, state_file=path)
    Api(first).create_project("kept")
    assert json.loads(path.read_text())["projects"]
    assert [p.name for p in tmp_path.joinpath("sandbox").iterdir()] == [
        "railway.json"
    ]  # no temp files
    second = Emulator(clock=clock, rate_limits=ROOMY, state_file=path)
    assert second.account_token == first.account_token
    assert [p["name"] for p in second.snapshot()["projects"]] == ["kept"]
    assert Api(second).fleet()["edges"][0]["node"]["name"] == "kept"


def test_explicit_tokens_are_used(clock: FakeClock) -> None:
    emu = Emulator(clock=clock, account_token="acct-123", workspace_token="ws-456")
    assert Api(emu, "acct-123").op(ops.ME).json()["data"]["me"]["id"]
    assert Api(emu, "ws-456").error(ops.ME) == "Not Authorized"


# --- concurrency and the fast executor -----------------------------------------------------------


def test_parallel_requests_are_safe(emu: Emulator) -> None:
    def work(n: int) -> None:
        api = Api(emu)
        for k in range(10):
            api.create_project(f"t{n}-{k}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    projects = emu.snapshot()["projects"]
    assert len(projects) == 80
    assert len({p["id"] for p in projects}) == 80
    assert emu.counts["ProjectCreate"] == 80


@pytest.mark.parametrize(
    "operation", [op for op in ops.ALL_OPERATIONS if not op.mutation], ids=lambda o: o.name
)
def test_fast_executor_matches_graphql_core(
    emu: Emulator, api: Api, clock: FakeClock, operation
) -> None:
    tenant = api.create_tenant()
    api.create_project("empty")
    clock.advance(3)
    deployment = api.latest(tenant)[0]["id"]
    variables = {
        "workspaceId": emu.workspace_id,
        "first": 1,
        "id": tenant["project"]["id"],
        "code": "postgres",
        "workflowId": "nope",
        "projectId": tenant["project"]["id"],
        "environmentId": tenant["env"],
        "serviceId": tenant["gateway"],
        "input": {"projectId": tenant["project"]["id"], "serviceId": tenant["gateway"]},
    }
    if operation.name == "Deployment":
        variables["id"] = deployment
    schema = executable_schema()
    document = parse(operation.document)
    plan = fastexec.compile_query(schema, document, operation.name)
    if plan is None:
        pytest.skip("graphql-core executes this document")
    for token in (emu.account_token, emu.workspace_token, None):
        grant = emu.state.tokens.get(token) if token else None
        fast = fastexec.run(
            plan, schema, RequestContext(emu, clock.now().timestamp(), grant, token), variables
        )
        slow = execute(
            schema,
            document,
            context_value=RequestContext(emu, clock.now().timestamp(), grant, token),
            variable_values=variables,
            operation_name=operation.name,
        )
        assert fast.data == slow.data
        assert [e.formatted for e in fast.errors or []] == [e.formatted for e in slow.errors or []]


def test_fleet_and_project_queries_take_the_fast_path() -> None:
    schema = executable_schema()
    for operation in (ops.FLEET, ops.PROJECT, ops.DEPLOYMENTS):
        document = parse(operation.document)
        assert fastexec.compile_query(schema, document, operation.name) is not None
    mutation = parse(ops.PROJECT_CREATE.document)
    assert fastexec.compile_query(schema, mutation, ops.PROJECT_CREATE.name) is None


def test_fast_executor_propagates_nulls_like_graphql_core(
    emu: Emulator, api: Api, clock: FakeClock
) -> None:
    tenant = api.create_tenant()
    schema = executable_schema()
    document = parse(
        "query Q($a: String!, $b: String!) {"
        " ok: project(id: $a) { name services { edges { node { name } } } }"
        " bad: project(id: $b) { name } }"
    )
    variables = {"a": tenant["project"]["id"], "b": "00000000-0000-4000-8000-000000000000"}
    plan = fastexec.compile_query(schema, document, "Q")
    grant = emu.state.tokens[emu.account_token]
    fast = fastexec.run(plan, schema, RequestContext(emu, 0.0, grant, None), variables)
    slow = execute(
        schema,
        document,
        context_value=RequestContext(emu, 0.0, grant, None),
        variable_values=variables,
    )
    assert fast.data is None and slow.data is None
    assert [e.formatted for e in fast.errors] == [e.formatted for e in slow.errors]
    assert fast.errors[0].path == ["bad"]


def test_emulator_never_imports_the_client() -> None:
    # The emulator is an island: sharing code with the client would let it share its mistakes.
    for path in Path(emulator_package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                names += [alias.name for alias in node.names]
                assert not any(n.startswith("saas_infra.railway") for n in names), path.name


def test_deleting_and_reaping_projects_with_services_removes_everything(
    api: Api, emu: Emulator, clock
) -> None:
    doomed, reaped = api.create_project("doomed"), api.create_project("reaped")
    for project in (doomed, reaped):
        api.data(ops.SERVICE_CREATE, {"input": {"projectId": project["id"], "name": "gateway",
                                                "source": {"image": "nginx:1"}}})
    api.data(ops.PROJECT_DELETE, {"id": doomed["id"]})
    api.data(ops.PROJECT_SCHEDULE_DELETE, {"id": reaped["id"]})
    clock.advance(hours=49)
    assert api.fleet()["edges"] == []
    assert emu.snapshot()["projects"] == []
