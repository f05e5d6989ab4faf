"""Releases on the emulator: deployment triggers, GitHub pushes, how a commit behaves once
deployed, deploys of a given commit or image digest, rollbacks, and gateway health over HTTP.
Driven through the client's named operations (saas_infra.railway.operations) and the test
controls, in-process and over a loopback socket. Evidence for each behaviour: the docstrings of
saas_infra/emulator/triggers.py, github.py, commits.py, rollbacks.py and gateway.py.
"""

from __future__ import annotations

import json

import httpx
import pytest

from saas_infra.clock import FakeClock
from saas_infra.emulator import Emulator
from saas_infra.emulator.probes import GatewayRouting, probe_url
from saas_infra.emulator.server import start_in_thread
from saas_infra.errors import RailwayError
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.railway import operations as ops
from tests.test_emulator import DEPLOY, ROOMY, Api

REPO = "LuthienResearch/luthien-proxy"
SHA_A, SHA_B, SHA_C = "a" * 40, "b" * 40, "c" * 40
DIGEST = "sha256:" + "d" * 64
IMAGE = f"ghcr.io/luthienresearch/luthien-proxy@{DIGEST}"


@pytest.fixture
def emu() -> Emulator:
    return Emulator(clock=FakeClock(), rate_limits=ROOMY, deploy_seconds=DEPLOY)


@pytest.fixture
def api(emu: Emulator) -> Api:
    return Api(emu)


@pytest.fixture
def client(emu: Emulator):
    with RailwayClient(emu.account_token, transport=emu.transport(),
                       retry=RetryPolicy(sleep=emu.clock.sleep),
                       pacer=Pacer.unlimited(clock=emu.clock), clock=emu.clock) as railway:
        yield railway


def ids(tenant: dict) -> dict:
    return {"project_id": tenant["project"]["id"], "environment_id": tenant["env"],
            "service_id": tenant["gateway"]}


def history(client, tenant: dict) -> list[dict]:
    """The gateway's deployments, oldest first."""
    return list(reversed(ops.deployment_history(client, **ids(tenant), first=50)))


def health(emu: Emulator, tenant: dict) -> int:
    web = httpx.Client(transport=emu.transport())
    return web.get(f"https://{tenant['domain']}/health").status_code


def settle(emu: Emulator, seconds: float = DEPLOY) -> None:
    emu.clock.advance(seconds)


def running_tenant(api: Api, name: str = "luthien-acme") -> dict:
    tenant = api.create_tenant(name)
    settle(api.emu)
    return tenant


# --- deployment triggers ----------------------------------------------------------------------


def test_a_repo_service_gets_one_trigger_and_an_image_service_none(api, client):
    tenant = running_tenant(api)
    (trigger,) = ops.deployment_triggers(client, **ids(tenant))
    assert {k: v for k, v in trigger.items() if k != "id"} == {
        "provider": "github", "repository": REPO, "branch": "main", "checkSuites": False,
        "projectId": tenant["project"]["id"], "environmentId": tenant["env"],
        "serviceId": tenant["gateway"]}
    # The environment lists every trigger: only the gateway's (Postgres and Redis are images).
    listed = ops.environment_triggers(client, project_id=tenant["project"]["id"],
                                      environment_id=tenant["env"])
    assert listed == [trigger]


def test_connecting_a_repo_brings_a_deleted_trigger_back_and_an_image_drops_it(api, client):
    tenant = running_tenant(api)
    (trigger,) = ops.deployment_triggers(client, **ids(tenant))
    assert ops.deployment_trigger_delete(client, trigger["id"]) is True
    assert ops.deployment_triggers(client, **ids(tenant)) == []
    with pytest.raises(RailwayError, match="DeploymentTrigger not found"):
        ops.deployment_trigger_delete(client, trigger["id"])

    ops.service_connect(client, tenant["gateway"], repo=REPO, branch="main")
    (back,) = ops.deployment_triggers(client, **ids(tenant))
    assert (back["repository"], back["branch"]) == (REPO, "main")

    ops.service_connect(client, tenant["gateway"], image=IMAGE)
    assert ops.deployment_triggers(client, **ids(tenant)) == []


def test_one_trigger_per_service_and_the_branch_lives_on_it(api, client, emu):
    tenant = running_tenant(api)
    (trigger,) = ops.deployment_triggers(client, **ids(tenant))
    with pytest.raises(RailwayError, match="already has a deployment trigger"):
        ops.deployment_trigger_create(client, **ids(tenant), repository=REPO, branch="main")

    moved = ops.deployment_trigger_update(client, trigger["id"], branch="edge", check_suites=True)
    assert (moved["id"], moved["branch"], moved["checkSuites"]) == (trigger["id"], "edge", True)
    edge_head = emu.push_commit(REPO, "edge")
    ops.deploy_latest_commit(client, service_id=tenant["gateway"], environment_id=tenant["env"])
    assert history(client, tenant)[-1]["meta"]["branch"] == "edge"
    assert history(client, tenant)[-1]["meta"]["commitHash"] == edge_head

    ops.deployment_trigger_delete(client, trigger["id"])
    created = ops.deployment_trigger_create(client, **ids(tenant), repository=REPO,
                                            branch="main")
    assert created["id"] != trigger["id"] and created["branch"] == "main"


def test_a_trigger_for_an_image_service_or_another_provider_is_refused(api, client, emu):
    tenant = running_tenant(api)
    (trigger,) = ops.deployment_triggers(client, **ids(tenant))
    ops.deployment_trigger_delete(client, trigger["id"])
    answer = api.op(ops.DEPLOYMENT_TRIGGER_CREATE, {"input": {
        "projectId": tenant["project"]["id"], "environmentId": tenant["env"],
        "serviceId": tenant["gateway"], "provider": "gitlab", "repository": REPO,
        "branch": "main"}})
    assert answer.json()["errors"][0]["message"] == "Problem processing request"
    ops.service_connect(client, tenant["gateway"], image=IMAGE)
    with pytest.raises(RailwayError, match="Problem processing request"):
        ops.deployment_trigger_create(client, **ids(tenant), repository=REPO, branch="main")


def empty_gateway(api: Api, client) -> dict:
    """A new project's gateway created with no source: it deploys nothing (yet)."""
    project = api.create_project("luthien-initech")
    created = ops.service_create(client, project_id=project["id"], name="gateway")
    return {"project": project, "env": project["environments"]["edges"][0]["node"]["id"],
            "gateway": created["id"]}


def gateway_state(emu: Emulator) -> dict:
    [project] = [p for p in emu.snapshot()["projects"] if p["name"] == "luthien-initech"]
    [service] = project["services"]
    return service


@pytest.mark.parametrize("how", ["serviceCreate", "serviceConnect"])
def test_connecting_a_repo_deploys_the_branch_head_and_makes_a_trigger(api, client, emu, how):
    """The two ways Railway's clients connect a repo; both deploy the branch (see triggers.py)."""
    head = emu.push_commit(REPO, "main")
    if how == "serviceCreate":
        project = api.create_project("luthien-initech")
        ops.service_create(client, project_id=project["id"], name="gateway", repo=REPO,
                           branch="main")
    else:
        ops.service_connect(client, empty_gateway(api, client)["gateway"], repo=REPO,
                            branch="main")
    service = gateway_state(emu)
    assert [d["commitHash"] for d in service["deployments"]] == [head]
    assert [t["branch"] for t in service["triggers"]] == ["main"]


def test_nothing_else_connects_a_repo_to_an_empty_service(api, client, emu):
    """serviceInstanceUpdate(source: {repo}) is ignored (Terraform c84b997, PR #21, issue #16),
    and a trigger made for a service with no source connects nothing (the worst case): the pin
    cannot be deployed without serviceConnect or serviceCreate deploying the branch first."""
    emu.set_commit_outcome(REPO, SHA_A, "success")
    tenant = empty_gateway(api, client)
    ops.service_instance_update(client, service_id=tenant["gateway"],
                                environment_id=tenant["env"], settings={"source": {"repo": REPO}})
    assert gateway_state(emu)["source"]["repo"] is None
    ops.deployment_trigger_create(client, **ids(tenant), repository=REPO, branch="main")
    service = gateway_state(emu)
    assert service["source"] == {"repo": None, "branch": None, "image": None}
    assert [t["branch"] for t in service["triggers"]] == ["main"]
    with pytest.raises(RailwayError, match="without a source"):
        ops.deploy_commit(client, service_id=tenant["gateway"], environment_id=tenant["env"],
                          commit_sha=SHA_A)
    emu.github_push(REPO, "refs/heads/main", SHA_B)
    assert gateway_state(emu)["deployments"] == []


def test_an_image_set_on_the_instance_is_assigned_without_a_deploy(api, client, emu):
    """Terraform PR #21: setting the source on the instance assigns an image but deploys
    nothing; serviceConnect is what deploys it."""
    tenant = running_tenant(api)
    before = history(client, tenant)
    assert ops.service_instance_update(client, service_id=tenant["gateway"],
                                       environment_id=tenant["env"],
                                       settings={"source": {"image": IMAGE}}) is True
    assert history(client, tenant) == before
    assert ops.deployment_triggers(client, **ids(tenant)) == []
    [project] = [p for p in emu.snapshot()["projects"] if p["name"] == "luthien-acme"]
    [gateway] = [s for s in project["services"] if s["id"] == tenant["gateway"]]
    assert gateway["source"] == {"repo": None, "branch": None, "image": IMAGE}


def test_triggers_of_another_workspace_are_not_authorized(api, emu):
    tenant = running_tenant(api)
    stranger = Emulator(clock=emu.clock, rate_limits=ROOMY)
    outsider = Api(emu, token=stranger.account_token)
    variables = {"projectId": tenant["project"]["id"], "environmentId": tenant["env"],
                 "serviceId": tenant["gateway"]}
    assert outsider.error(ops.DEPLOYMENT_TRIGGERS, variables) == "Not Authorized"


# --- GitHub pushes ---------------------------------------------------------------------------


def test_a_push_deploys_every_service_whose_trigger_matches(api, client, emu):
    acme, globex, edge = (running_tenant(api, n) for n in ("acme", "globex", "edgy"))
    (trigger,) = ops.deployment_triggers(client, **ids(edge))
    ops.deployment_trigger_update(client, trigger["id"], branch="edge")

    done = emu.github_push(REPO, "refs/heads/main", SHA_A, message="Fix things", author="ada")

    assert done["branch"] == "main" and done["after"] == SHA_A
    assert {d["serviceId"] for d in done["deployments"]} == {acme["gateway"], globex["gateway"]}
    for tenant in (acme, globex):
        newest = history(client, tenant)[-1]
        assert newest["id"] in {d["deploymentId"] for d in done["deployments"]}
        assert {k: newest["meta"][k] for k in ("repo", "branch", "commitHash", "commitMessage",
                                               "commitAuthor")} == {
            "repo": REPO, "branch": "main", "commitHash": SHA_A, "commitMessage": "Fix things",
            "commitAuthor": "ada"}
    assert len(history(client, edge)) == 1
    settle(emu)
    assert [d["status"] for d in history(client, acme)] == ["REMOVED", "SUCCESS"]


def test_a_service_whose_trigger_is_deleted_or_disabled_does_not_deploy_on_a_push(
        api, client, emu):
    pinned, disabled, follower = (running_tenant(api, n) for n in ("pinned", "off", "follows"))
    (trigger,) = ops.deployment_triggers(client, **ids(pinned))
    ops.deployment_trigger_delete(client, trigger["id"])
    emu.set_autodeploy("off", "gateway", False)

    done = emu.github_push(REPO, "refs/heads/main", SHA_A)

    assert [d["serviceId"] for d in done["deployments"]] == [follower["gateway"]]
    assert len(history(client, pinned)) == len(history(client, disabled)) == 1
    # A disabled trigger looks the same through the API: nothing shows the switch.
    (still,) = ops.deployment_triggers(client, **ids(disabled))
    assert still["branch"] == "main"
    emu.set_autodeploy("off", "gateway", True)
    emu.github_push(REPO, "refs/heads/main", SHA_B)
    assert history(client, disabled)[-1]["meta"]["commitHash"] == SHA_B


def test_tags_and_deleted_branches_deploy_nothing_and_the_repo_name_ignores_case(
        api, client, emu):
    tenant = running_tenant(api)
    assert emu.github_push(REPO, "refs/tags/v1.0", SHA_A)["deployments"] == []
    assert emu.github_push(REPO, "refs/heads/main", "0" * 40)["deployments"] == []
    assert len(history(client, tenant)) == 1
    done = emu.github_push(REPO.lower(), "refs/heads/main", SHA_B)
    assert len(done["deployments"]) == 1
    with pytest.raises(ValueError, match="full commit SHA"):
        emu.github_push(REPO, "refs/heads/main", "abc123")


def test_wait_for_ci_holds_a_push_deploy_then_deploys(api, client, emu):
    tenant = running_tenant(api)
    (trigger,) = ops.deployment_triggers(client, **ids(tenant))
    ops.deployment_trigger_update(client, trigger["id"], check_suites=True)
    emu.github_push(REPO, "refs/heads/main", SHA_A)
    assert history(client, tenant)[-1]["status"] == "WAITING"
    settle(emu, DEPLOY + 1)
    assert history(client, tenant)[-1]["status"] == "INITIALIZING"
    settle(emu, DEPLOY)
    assert [d["status"] for d in history(client, tenant)] == ["REMOVED", "SUCCESS"]


def test_push_commit_moves_the_head_without_deploying(api, client, emu):
    tenant = running_tenant(api)
    head = emu.push_commit(REPO, "main")
    assert len(history(client, tenant)) == 1
    ops.deploy_latest_commit(client, service_id=tenant["gateway"], environment_id=tenant["env"])
    assert history(client, tenant)[-1]["meta"]["commitHash"] == head


def test_a_new_emulator_knows_the_seeded_history_of_the_gateway_repo(api, client, emu):
    """A new state holds the gateway repo's seeded commits (test fixtures, commits.py): the
    newest good one is the head, and each deploys with the outcome its message announces."""
    tenant = running_tenant(api)
    first = history(client, tenant)[-1]["meta"]
    assert (first["commitHash"], first["commitMessage"]) == (
        "559266bc0610d8c620b7240e247817fa027f4f91", "v1.6.0")  # the first deploy takes the head
    statuses = {}
    for sha in ("550ad2a7431b8d986ec9a8abc57c00be63d2cc51",  # v1.4.0
                "7558c103ad199ea7c6e36eb2589eac4e0625c18b",  # v1.6.0-rc1: crashes on start
                "1623cc3c5fe5de5ae6b1de4a5955c960ae0ecc67"):  # v1.6.0-rc2: fails its build
        deployment_id = ops.deploy_commit(client, service_id=tenant["gateway"],
                                          environment_id=tenant["env"], commit_sha=sha)
        settle(emu)
        details = ops.deployment_details(client, deployment_id)
        statuses[details["meta"]["commitMessage"]] = details["status"]
    assert statuses == {"v1.4.0": "SUCCESS", "v1.6.0-rc1: crashes on start": "CRASHED",
                        "v1.6.0-rc2: fails its build": "FAILED"}
    assert history(client, tenant)[-1]["meta"]["branch"] == "main"


def test_the_seeded_history_is_only_for_a_new_state(tmp_path):
    """A state file from before the seeded history keeps its own branch heads."""
    path = tmp_path / "emulator.json"
    Emulator(clock=FakeClock(), state_file=path).push_commit("Other/repo", "main")
    stored = json.loads(path.read_text())
    del stored["heads"][f"{REPO}@main"]
    path.write_text(json.dumps(stored))
    again = Emulator(clock=FakeClock(), state_file=path)
    assert f"{REPO}@main" not in again.state.heads
    assert [h for h in Emulator(clock=FakeClock()).state.heads] == [f"{REPO}@main"]


# --- a given commit, and how it behaves --------------------------------------------------------


def test_deploy_v2_with_a_commit_sha_deploys_exactly_that_commit(api, client, emu):
    tenant = running_tenant(api)
    emu.set_commit_outcome(REPO, SHA_A, "success")  # known to the repo, on no branch
    other_branch = emu.push_commit(REPO, "release")
    for sha in (SHA_A, other_branch):
        deployment_id = ops.deploy_commit(client, service_id=tenant["gateway"],
                                          environment_id=tenant["env"], commit_sha=sha)
        details = ops.deployment_details(client, deployment_id)
        assert details["meta"]["commitHash"] == sha and details["meta"]["repo"] == REPO
    for unknown in (SHA_C, SHA_A[:7]):
        with pytest.raises(RailwayError, match="Commit not found"):
            ops.deploy_commit(client, service_id=tenant["gateway"],
                              environment_id=tenant["env"], commit_sha=unknown)
    assert len(history(client, tenant)) == 3


@pytest.mark.parametrize("outcome, statuses, health_after", [
    ("success", ["REMOVED", "SUCCESS"], 200),
    ("build_failed", ["SUCCESS", "FAILED"], 200),  # the build failed: the old one serves
    ("crashes", ["REMOVED", "CRASHED"], 503),  # it replaced the old one, then died
    ("unhealthy", ["REMOVED", "SUCCESS"], 503),  # live, but its health path says no
])
def test_a_commits_outcome_decides_its_deployment(api, client, emu, outcome, statuses,
                                                   health_after):
    tenant = running_tenant(api)
    emu.set_commit_outcome(REPO, SHA_A, outcome)
    ops.deploy_commit(client, service_id=tenant["gateway"], environment_id=tenant["env"],
                      commit_sha=SHA_A)
    settle(emu, DEPLOY / 2)
    assert history(client, tenant)[-1]["status"] == "BUILDING"
    assert health(emu, tenant) == 200  # the old deployment serves while the new one builds
    settle(emu, DEPLOY / 2)
    assert [d["status"] for d in history(client, tenant)] == statuses
    assert health(emu, tenant) == health_after


def test_an_unhealthy_commit_fails_railways_health_check_when_one_is_configured(
        api, client, emu):
    tenant = running_tenant(api)
    ops.service_instance_update(client, service_id=tenant["gateway"],
                                environment_id=tenant["env"],
                                settings={"healthcheckPath": "/health", "healthcheckTimeout": 60})
    emu.github_push(REPO, "refs/heads/main", SHA_A)  # a healthy version with the check on
    settle(emu)
    assert history(client, tenant)[-1]["status"] == "SUCCESS"
    emu.set_commit_outcome(REPO, SHA_B, "unhealthy")
    emu.github_push(REPO, "refs/heads/main", SHA_B)
    settle(emu)
    assert history(client, tenant)[-1]["status"] == "DEPLOYING"
    settle(emu, 59)
    assert history(client, tenant)[-1]["status"] == "DEPLOYING"
    settle(emu, 1)
    assert [d["status"] for d in history(client, tenant)][-2:] == ["SUCCESS", "FAILED"]
    assert health(emu, tenant) == 200  # the previous one keeps serving


def test_a_scripted_status_wins_over_the_commits_outcome(api, client, emu):
    tenant = running_tenant(api)
    emu.set_commit_outcome(REPO, SHA_A, "crashes")
    emu.script_next_deploy("SKIPPED")
    emu.github_push(REPO, "refs/heads/main", SHA_A)
    settle(emu)
    assert history(client, tenant)[-1]["status"] == "SKIPPED"
    emu.github_push(REPO, "refs/heads/main", SHA_A)
    settle(emu)
    assert history(client, tenant)[-1]["status"] == "CRASHED"


def test_bad_outcomes_are_refused():
    emu = Emulator(clock=FakeClock())
    with pytest.raises(ValueError, match="outcome must be one of success, build_failed"):
        emu.set_commit_outcome(REPO, SHA_A, "explodes")
    with pytest.raises(ValueError, match="40 lower-case hex"):
        emu.set_commit_outcome(REPO, "ABC", "success")
    with pytest.raises(ValueError, match="owner/name"):
        emu.set_commit_outcome("no-owner", SHA_A, "success")


# --- images by digest ---------------------------------------------------------------------------


def test_an_image_by_digest_reports_its_digest_and_takes_its_outcome(api, client, emu):
    tenant = running_tenant(api)
    ops.service_connect(client, tenant["gateway"], image=IMAGE)
    newest = history(client, tenant)[-1]
    source = {k: v for k, v in newest["meta"].items() if k != "serviceManifest"}
    assert source == {"image": IMAGE, "imageDigest": DIGEST}
    emu.set_image_outcome("ghcr.io/luthienresearch/luthien-proxy:1.2@" + DIGEST, "crashes")
    ops.redeploy(client, service_id=tenant["gateway"], environment_id=tenant["env"])
    settle(emu)
    assert history(client, tenant)[-1]["status"] == "CRASHED"
    tagged = "ghcr.io/luthienresearch/luthien-proxy:1.2"
    ops.service_connect(client, tenant["gateway"], image=tagged)
    assert history(client, tenant)[-1]["meta"]["image"] == tagged
    assert "imageDigest" not in history(client, tenant)[-1]["meta"]


# --- rollbacks --------------------------------------------------------------------------------


def test_a_rollback_restores_the_commit_and_the_variables(api, client, emu):
    tenant = running_tenant(api)
    good = history(client, tenant)[-1]
    before = ops.variables(client, **ids(tenant))
    ops.variables_upsert(client, **ids(tenant), variables={"LOG_LEVEL": "debug"})
    emu.set_commit_outcome(REPO, SHA_A, "crashes")
    ops.deploy_commit(client, service_id=tenant["gateway"], environment_id=tenant["env"],
                      commit_sha=SHA_A)
    settle(emu)
    bad = history(client, tenant)[-1]
    assert (bad["status"], bad["canRollback"]) == ("CRASHED", False)
    assert ops.deployment_details(client, good["id"])["canRollback"] is True

    assert ops.deployment_rollback(client, good["id"]) is True

    newest = history(client, tenant)[-1]
    assert newest["meta"]["commitHash"] == good["meta"]["commitHash"]
    assert newest["meta"]["serviceManifest"] == good["meta"]["serviceManifest"]
    assert ops.variables(client, **ids(tenant)) == before  # LOG_LEVEL is gone again
    settle(emu)
    assert [d["status"] for d in history(client, tenant)] == ["REMOVED", "CRASHED", "SUCCESS"]
    assert health(emu, tenant) == 200


def test_what_cannot_be_rolled_back(api, client, emu):
    tenant = running_tenant(api)
    running = history(client, tenant)[-1]
    assert running["canRollback"] is False  # it is the one running
    with pytest.raises(RailwayError, match="Deployment cannot be rolled back"):
        ops.deployment_rollback(client, running["id"])
    emu.set_commit_outcome(REPO, SHA_A, "build_failed")
    ops.deploy_commit(client, service_id=tenant["gateway"], environment_id=tenant["env"],
                      commit_sha=SHA_A)
    settle(emu)
    failed, still = history(client, tenant)[-1], history(client, tenant)[-2]
    assert (failed["status"], failed["canRollback"]) == ("FAILED", False)
    assert (still["status"], still["canRollback"]) == ("SUCCESS", False)  # nothing to go back to
    ops.deploy_commit(client, service_id=tenant["gateway"], environment_id=tenant["env"],
                      commit_sha=emu.push_commit(REPO, "main"))
    settle(emu)
    assert ops.deployment_details(client, running["id"])["canRollback"] is True
    settle(emu, 120 * 3600)  # Pro keeps a removed deployment's image 120 hours
    assert ops.deployment_details(client, running["id"])["canRollback"] is False


def test_rolling_back_an_image_service_restores_the_image(api, client, emu):
    tenant = running_tenant(api)
    ops.service_connect(client, tenant["gateway"], image=IMAGE)
    settle(emu)
    pinned = history(client, tenant)[-1]
    ops.service_connect(client, tenant["gateway"], image="ghcr.io/luthienresearch/x@sha256:"
                        + "e" * 64)
    settle(emu)
    ops.deployment_rollback(client, pinned["id"])
    assert history(client, tenant)[-1]["meta"]["image"] == IMAGE


# --- test controls over HTTP, and health gates against `saas-infra emulator` ----------------------


@pytest.fixture
def served(emu: Emulator):
    server, base_url = start_in_thread(emu)
    try:
        yield base_url
    finally:
        server.stop()


def test_the_test_controls_answer_over_http_without_credentials(api, client, emu, served):
    tenant = running_tenant(api)
    graphql_requests = emu.counts["total"]
    with httpx.Client(base_url=served, timeout=5) as http:
        assert http.get("/_emulator").json()["gateway"] == "/_emulator/gateway/{domain}{path}"
        answer = http.post("/_emulator/commits", json={"repo": REPO, "commit": SHA_A,
                                                       "outcome": "unhealthy"})
        assert answer.status_code == 200
        bad = http.post("/_emulator/commits", json={"repo": REPO, "commit": SHA_A,
                                                    "outcome": "meh"})
        assert bad.status_code == 400 and "outcome must be one of" in bad.json()["error"]
        assert http.get("/github/push").status_code == 405
        assert http.post("/github/push", content=b"[]").status_code == 400
        ping = http.post("/github/push", json={"zen": "hi"}, headers={"X-GitHub-Event": "ping"})
        assert ping.status_code == 202
        event = {"ref": "refs/heads/main", "after": SHA_A, "repository": {"full_name": REPO},
                 "head_commit": {"message": "Ship it", "author": {"name": "ada"}}}
        pushed = http.post("/github/push", json=event, headers={"X-GitHub-Event": "push"})
        assert pushed.status_code == 200
        assert [d["serviceId"] for d in pushed.json()["deployments"]] == [tenant["gateway"]]
        image = http.post("/_emulator/images", json={"image": IMAGE, "outcome": "crashes"})
        assert image.status_code == 200
    assert emu.counts["total"] == graphql_requests  # controls are not GraphQL requests
    settle(emu)
    newest = history(client, tenant)[-1]
    assert (newest["status"], newest["meta"]["commitMessage"]) == ("SUCCESS", "Ship it")
    assert health(emu, tenant) == 503  # unhealthy, as the control said


def test_a_gateways_health_is_reachable_on_the_emulators_port(api, emu, served):
    tenant = running_tenant(api)
    public = f"https://{tenant['domain']}/health"
    api_url = f"{served}/graphql/v2"
    assert probe_url(api_url, public) == f"{served}/_emulator/gateway/{tenant['domain']}/health"
    assert probe_url(api_url, "https://example.com/health") == "https://example.com/health"
    with httpx.Client(timeout=5) as http:
        answer = http.get(probe_url(api_url, public))
        assert (answer.status_code, answer.json()) == (200, {"status": "healthy"})
        assert http.get(f"{served}/_emulator/gateway/nobody.up.railway.app/health"
                        ).status_code == 404
    # A client probing public URLs through GatewayRouting reaches the emulator, never the net.
    with httpx.Client(transport=GatewayRouting(api_url), timeout=5) as routed:
        assert routed.get(public).status_code == 200
        emu.set_commit_outcome(REPO, SHA_A, "crashes")
        emu.github_push(REPO, "refs/heads/main", SHA_A)
        settle(emu)
        assert routed.get(public).status_code == 503
    elsewhere = httpx.MockTransport(lambda request: httpx.Response(299, text=str(request.url)))
    with httpx.Client(transport=GatewayRouting(api_url, inner=elsewhere)) as routed:
        assert routed.get("https://example.com/x").text == "https://example.com/x"


# --- state survives a save and a load --------------------------------------------------------------


def test_triggers_outcomes_and_snapshots_survive_save_and_load(tmp_path, api, client, emu):
    pinned, follower = running_tenant(api, "pinned"), running_tenant(api, "follows")
    (trigger,) = ops.deployment_triggers(client, **ids(pinned))
    ops.deployment_trigger_delete(client, trigger["id"])
    emu.set_commit_outcome(REPO, SHA_A, "crashes")
    emu.set_image_outcome(IMAGE, "unhealthy")
    good = history(client, follower)[-1]
    ops.variables_upsert(client, **ids(follower), variables={"A": "1"})  # skipDeploys
    path = tmp_path / "state.json"
    emu.save(path)

    again = Emulator.load(path, clock=emu.clock, rate_limits=ROOMY, deploy_seconds=DEPLOY)
    assert again.snapshot() == emu.snapshot()
    done = again.github_push(REPO, "refs/heads/main", SHA_A)
    assert [d["serviceId"] for d in done["deployments"]] == [follower["gateway"]]
    settle(again)
    reloaded = Api(again)
    assert reloaded.latest(follower, 1)[0]["status"] == "CRASHED"
    rolled = reloaded.data(ops.DEPLOYMENT_ROLLBACK, {"id": good["id"]})
    assert rolled == {"deploymentRollback": True}
    assert "A" not in again.snapshot()["projects"][1]["services"][2]["variables"]  # restored
    assert again.snapshot()["projects"][0]["services"][2]["triggers"] == []


def test_a_state_saved_before_triggers_gives_repo_services_theirs(tmp_path, api, client, emu):
    tenant = running_tenant(api)
    path = tmp_path / "old.json"
    emu.save(path)
    data = json.loads(path.read_text())
    for key in ("triggers", "trigger_serial", "triggers_modelled", "commits", "images"):
        data.pop(key)
    for instance in data["instances"].values():
        instance.pop("trigger_id")
    path.write_text(json.dumps(data))

    again = Emulator.load(path, clock=emu.clock, rate_limits=ROOMY, deploy_seconds=DEPLOY)

    done = again.github_push(REPO, "refs/heads/main", SHA_A)
    assert [d["serviceId"] for d in done["deployments"]] == [tenant["gateway"]]
    assert [p["services"][2]["triggers"] for p in again.snapshot()["projects"]] == [[{
        "repository": REPO, "branch": "main", "checkSuites": False, "enabled": True}]]
