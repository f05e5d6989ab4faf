"""The operator's verbs end to end: click's CliRunner, a fake clock and the in-process emulator.

Each test asserts the exit code and the exact output, human and JSON. Values Railway makes up
(project ids, domains, deployment ids, keys) are read back from the emulator, never guessed;
only the seconds spent waiting for a deployment are normalised.
"""

from __future__ import annotations

import contextlib
import json
import re
from types import SimpleNamespace

import httpx
import pytest
from click.testing import CliRunner

from saas_infra import manifest as mf
from saas_infra.cli import Runtime, cli
from saas_infra.emulator import Emulator, RateLimits
from tests.conftest import fleet_projects

KEY_NAMES = ("CLIENT_API_KEY", "ADMIN_API_KEY")
SAVE_KEYS = ("Save these keys now: they are shown only once (`saas-infra credentials {name}` "
             "reads them back from Railway).")


def railway(emu, name: str) -> SimpleNamespace:
    """What Railway holds for one tenant, read from the emulator's own state."""
    project = next(p for p in emu.snapshot()["projects"] if p["name"] == f"luthien-{name}")
    gateway = next((s for s in project["services"] if s["name"] == "gateway"), None) or {
        "domains": [], "variables": {}, "deployments": []}
    return SimpleNamespace(
        id=project["id"],
        console=f"https://railway.com/project/{project['id']}",
        url=f"https://{gateway['domains'][0]}" if gateway["domains"] else None,
        keys={key: gateway["variables"].get(key) for key in KEY_NAMES},
        variables=gateway["variables"],
        deployments=gateway["deployments"],
        description=project["description"],
        deleted_at=project["deletedAt"],
    )


def waits(text: str) -> str:
    """The seconds spent waiting depend on poll timing; the rest of the line must not."""
    return re.sub(r"\((\d+) s\)", "(N s)", re.sub(r"after \d+ s", "after N s", text))


def lines(*items: str) -> str:
    return "".join(item + "\n" for item in items)


def created(run_cli, emu, name: str = "acme", *args: str) -> SimpleNamespace:
    result = run_cli("create", name, *args)
    assert result.exit_code == 0, result.stderr
    return railway(emu, name)


# --- create -------------------------------------------------------------------------------------


def test_create_prints_url_console_and_keys_once(run_cli, emu, tenants_dir):
    result = run_cli("create", "acme")

    rw = railway(emu, "acme")
    deployment = rw.deployments[-1]
    assert result.exit_code == 0
    assert waits(result.stdout) == lines(
        "Created tenant acme",
        f"  Gateway URL:     {rw.url}",
        f"  Railway console: {rw.console}",
        f"  Deployment:      SUCCESS after N s ({deployment['id']})",
        f"  CLIENT_API_KEY:  {rw.keys['CLIENT_API_KEY']}",
        f"  ADMIN_API_KEY:   {rw.keys['ADMIN_API_KEY']}",
    )
    assert waits(result.stderr) == lines(
        "Creating acme...",
        "acme: project created",
        "acme: Postgres created",
        "acme: Redis created",
        "acme: backups updated",
        "acme: gateway created",
        "acme: settings updated",
        "acme: source updated",
        "acme: domain created",
        "acme: marker updated",
        # without a terminal, each change of the deployment's state is a line (CI logs)
        "Creating acme: gateway deployment INITIALIZING (N s)",
        "Creating acme: gateway deployment BUILDING (N s)",
        "Creating acme: gateway deployment SUCCESS (N s)",
        SAVE_KEYS.format(name="acme"),
    )
    assert deployment["status"] == "SUCCESS"
    assert (tenants_dir / "acme.yaml").read_text() == lines(
        "version: 1", "name: acme", "gateway:", "  repo: LuthienResearch/luthien-proxy",
        "  branch: main", "  auth_mode: both")


def test_create_json_carries_the_keys_and_the_pass(run_cli, emu):
    result = run_cli("create", "acme", "--json")

    rw = railway(emu, "acme")
    data = json.loads(result.stdout)
    deployment = data.pop("deployment")
    apply = data.pop("apply")
    assert result.exit_code == 0
    assert waits(result.stderr) == lines(  # the progress of the deployment: stderr, with --json
        "Creating acme...",
        "Creating acme: gateway deployment INITIALIZING (N s)",
        "Creating acme: gateway deployment BUILDING (N s)",
        "Creating acme: gateway deployment SUCCESS (N s)")
    assert data == {
        "name": "acme",
        "ok": True,
        "project_id": rw.id,
        "url": rw.url,
        "console_url": rw.console,
        "manifest": "tenants/acme.yaml",
        "applied": True,
        "message": None,
        "wait_error": None,
        "credentials": rw.keys,
    }
    assert deployment["id"] == rw.deployments[-1]["id"]
    assert deployment["status"] == "SUCCESS"
    assert deployment["commit"] == rw.deployments[-1]["commitHash"]
    assert deployment["waited_seconds"] >= emu.deploy_seconds
    assert [o["steps"] for o in apply["outcomes"]] == [[
        {"step": "project", "result": "created"}, {"step": "Postgres", "result": "created"},
        {"step": "Redis", "result": "created"}, {"step": "backups", "result": "updated"},
        {"step": "gateway", "result": "created"},
        {"step": "settings", "result": "updated"}, {"step": "source", "result": "updated"},
        {"step": "domain", "result": "created"}, {"step": "marker", "result": "updated"},
    ]]
    assert apply["converged"] is True and apply["remaining"] == []


def test_create_defaults_to_luthien_proxy_main_and_takes_a_branch_or_an_image(run_cli, emu):
    image = "ghcr.io/luthienresearch/luthien-proxy:1.2.3"
    created(run_cli, emu, "acme", "--no-wait")
    created(run_cli, emu, "globex", "--branch", "next", "--no-wait")
    created(run_cli, emu, "initech", "--repo", "someone/fork", "--no-wait")
    created(run_cli, emu, "hooli", "--image", image, "--no-wait")

    sources = {
        p["name"]: next(s for s in p["services"] if s["name"] == "gateway")["source"]
        for p in fleet_projects(emu)
    }
    assert sources == {
        "luthien-acme": {"repo": "LuthienResearch/luthien-proxy", "branch": "main", "image": None},
        "luthien-globex": {"repo": "LuthienResearch/luthien-proxy", "branch": "next",
                           "image": None},
        "luthien-initech": {"repo": "someone/fork", "branch": "main", "image": None},
        "luthien-hooli": {"repo": None, "branch": None, "image": image},
    }


def test_create_no_wait_returns_before_the_deploy_ends(run_cli, emu):
    result = run_cli("create", "acme", "--no-wait")

    rw = railway(emu, "acme")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[3] == (
        "  Deployment:      not waited for (`saas-infra status acme` follows it)")
    assert rw.deployments[-1]["status"] != "SUCCESS"


def test_create_refuses_a_tenant_that_exists(run_cli, emu):
    created(run_cli, emu, "acme", "--no-wait")
    before = emu.counts["ProjectCreate"]

    result = run_cli("create", "acme")
    as_json = run_cli("create", "acme", "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == lines(
        "Creating acme...",
        "Error: Instance already exists: acme",
        "Hint: choose a different name or delete the existing instance first",
    )
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout) == {"error": {
        "type": "InstanceExistsError", "message": "Instance already exists: acme"}}
    assert emu.counts["ProjectCreate"] == before


def test_create_refuses_a_name_railway_holds_without_a_manifest(run_cli, emu, tenants_dir):
    rw = created(run_cli, emu, "acme", "--no-wait")
    (tenants_dir / "acme.yaml").unlink()

    result = run_cli("create", "acme")

    assert result.exit_code == 1
    assert result.stderr.splitlines()[1] == (
        f"Error: Instance already exists: acme (project {rw.id} on Railway carries its marker "
        "but has no manifest; `saas-infra adopt acme` writes one)")
    assert not (tenants_dir / "acme.yaml").exists()


def test_create_refuses_a_bad_name_before_anything(run_cli, emu, tenants_dir):
    result = run_cli("create", "Acme")

    assert result.exit_code == 1
    assert result.stderr == lines(
        "Error: invalid tenant name: 'Acme' must start with a lowercase letter",
        "Hint: names are lowercase letters, digits and hyphens; starts with a letter, does not "
        "end with a hyphen; at most 63 characters",
    )
    assert emu.counts["total"] == 0 and list(tenants_dir.iterdir()) == []


def test_create_no_apply_only_writes_the_file_and_needs_no_token(run_cli, emu, tenants_dir):
    result = run_cli("create", "acme", "--no-apply", env={"RAILWAY_TOKEN": None})

    assert result.exit_code == 0
    assert result.stdout == ("Wrote tenants/acme.yaml; nothing was sent to Railway. The next pass "
                             "(`saas-infra apply`) creates acme.\n")
    assert (tenants_dir / "acme.yaml").exists()
    assert emu.counts["total"] == 0


SHA_STABLE = "d82e6376367c165e38e18ce15f990dd037c5e07c"


def test_create_without_a_fleet_file_writes_the_default_repo_branch_and_auth_mode(
        run_cli, tenants_dir):
    assert run_cli("create", "acme", "--no-apply", env={"RAILWAY_TOKEN": None}).exit_code == 0
    assert (tenants_dir / "acme.yaml").read_text() == (
        "version: 1\nname: acme\ngateway:\n  repo: LuthienResearch/luthien-proxy\n  branch: main\n"
        "  auth_mode: both\n")


def test_create_leaves_the_source_to_fleet_yaml_defaults_that_give_one(run_cli, tenants_dir):
    (tenants_dir.parent / "fleet.yaml").write_text(
        "version: 1\ndefaults:\n  gateway: {repo: acme-corp/proxy, branch: stable, "
        "auth_mode: client_key}\n")

    result = run_cli("create", "acme", "--no-apply", env={"RAILWAY_TOKEN": None})

    assert result.exit_code == 0, result.stderr
    assert (tenants_dir / "acme.yaml").read_text() == "version: 1\nname: acme\n"
    gateway = mf.load_tenant_file(tenants_dir / "acme.yaml").manifest.gateway
    assert (gateway.repo, gateway.branch, gateway.auth_mode) == (
        "acme-corp/proxy", "stable", "client_key")


def test_create_of_a_channel_tenant_writes_no_branch_and_follows_the_channel(
        run_cli, tenants_dir):
    (tenants_dir.parent / "fleet.yaml").write_text(
        f"version: 1\ndefaults:\n  channel: stable\nchannels:\n  stable: {{commit: {SHA_STABLE}}}\n")

    result = run_cli("create", "acme", "--no-apply", env={"RAILWAY_TOKEN": None})

    assert result.exit_code == 0, result.stderr
    # the channel pins a commit, which needs a repo; nothing else is written
    assert (tenants_dir / "acme.yaml").read_text() == (
        "version: 1\nname: acme\ngateway:\n  repo: LuthienResearch/luthien-proxy\n")
    loaded = mf.load_tenant_file(tenants_dir / "acme.yaml")
    assert (loaded.channel, loaded.manifest.gateway.commit) == ("stable", SHA_STABLE)


def test_create_with_a_source_flag_writes_it_despite_fleet_yaml_defaults(run_cli, tenants_dir):
    (tenants_dir.parent / "fleet.yaml").write_text(
        "version: 1\ndefaults:\n  gateway: {repo: acme-corp/proxy}\n")

    result = run_cli("create", "acme", "--branch", "dev", "--no-apply",
                     env={"RAILWAY_TOKEN": None})

    assert result.exit_code == 0, result.stderr
    assert "  branch: dev\n" in (tenants_dir / "acme.yaml").read_text()


def test_create_and_redeploy_help_say_where_defaults_and_redeployed_versions_come_from(
        run_cli):
    created = " ".join(run_cli("create", "--help").stdout.split())
    redeployed = " ".join(run_cli("redeploy", "--help").stdout.split())
    assert "Branch to deploy from [fleet.yaml's defaults if it has any, else main]" in created
    assert "[fleet.yaml's defaults if it has any, else LuthienResearch/luthien-proxy]" in created
    assert "an image tenant redeploys the image it runs" in redeployed
    assert ("A channel tenant that its rollout has not reached yet redeploys the version it runs"
            in redeployed)


def test_create_whose_deploy_fails_keeps_the_manifest_shows_the_keys_and_exits_1(
        run_cli, emu, tenants_dir):
    emu.fail_next_deploy("gateway", "FAILED")

    result = run_cli("create", "acme")

    rw = railway(emu, "acme")
    assert result.exit_code == 1
    assert waits(result.stdout) == lines(
        "Created tenant acme",
        f"  Gateway URL:     {rw.url}",
        f"  Railway console: {rw.console}",
        f"  Deployment:      FAILED after N s ({rw.deployments[-1]['id']})",
        f"  CLIENT_API_KEY:  {rw.keys['CLIENT_API_KEY']}",
        f"  ADMIN_API_KEY:   {rw.keys['ADMIN_API_KEY']}",
    )
    assert result.stderr.splitlines()[-2:] == [
        SAVE_KEYS.format(name="acme"),
        ("Error: the gateway deployment FAILED; the Railway console has its logs. "
         "tenants/acme.yaml is kept: fix the cause, then `saas-infra redeploy acme`."),
    ]
    assert (tenants_dir / "acme.yaml").exists()


def test_create_whose_pass_fails_keeps_the_manifest_and_says_so(run_cli, emu, runtime, tenants_dir):
    runtime.transport = RefuseRepoAccess(emu.transport())

    result = run_cli("create", "acme")

    rw = railway(emu, "acme")
    assert result.exit_code == 1
    assert result.stdout == lines(
        "Tenant acme (not finished)",
        "  Gateway URL:     (no domain yet)",
        f"  Railway console: {rw.console}",
    )
    assert result.stderr == lines(
        "Creating acme...",
        "acme: project created",
        "acme: Postgres created",
        "acme: Redis created",
        "acme: backups updated",
        'Error: acme: Railway answered "User does not have access to the repo" (operation '
        "ServiceCreate, HTTP 200)",
        "tenants/acme.yaml keeps the change; `saas-infra apply --target acme` runs the pass again.",
    )
    assert (tenants_dir / "acme.yaml").exists()

    runtime.transport = emu.transport()  # access granted: the next pass finishes the tenant
    finished = run_cli("apply", "--yes", "--target", "acme")
    assert finished.exit_code == 0, finished.stderr
    assert "gateway created" in finished.stdout and "project adopted" in finished.stdout


class RefuseRepoAccess(httpx.BaseTransport):
    """An httpx transport that answers ServiceCreate as Railway does without GitHub access."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def handle_request(self, request):
        if json.loads(request.read()).get("operationName") == "ServiceCreate":
            body = {"data": None, "errors": [{"message": "User does not have access to the repo",
                                              "path": ["serviceCreate"]}]}
            return httpx.Response(200, json=body, request=request)
        return self.inner.handle_request(request)


# --- list / status ------------------------------------------------------------------------------


def test_list_shows_every_tenant_with_status_url_and_created(run_cli, emu, write_tenant, clock):
    acme = created(run_cli, emu, "acme")
    globex = created(run_cli, emu, "globex", "--no-wait")
    write_tenant("initech")  # a manifest not applied yet
    today = clock.now().date().isoformat()

    result = run_cli("list")

    assert result.exit_code == 0
    width = len(acme.url)
    assert result.stdout == lines(
        f"NAME     STATUS       {'URL':<{width}}  CREATED",
        f"acme     running      {acme.url}  {today}",
        f"globex   deploying    {globex.url}  {today}",
        f"initech  not created  {'-':<{width}}  -",
    )


def test_list_json_keeps_the_original_instances_shape(run_cli, emu, clock):
    today = clock.now().date().isoformat()
    rw = created(run_cli, emu, "acme")

    result = run_cli("list", "--json")

    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert [row["name"] for row in data["instances"]] == ["acme"]  # jq '.instances[].name'
    row = data["instances"][0]
    assert re.fullmatch(rf"{today}T[0-9:.]+Z", row.pop("created_at"))
    assert row == {
        "name": "acme",
        "project_id": rw.id,
        "status": "running",
        "url": rw.url,
        "deletion_scheduled_at": None,
        "deletion_deadline": None,
        "console_url": rw.console,
        "managed": True,
        "source": {"repo": "LuthienResearch/luthien-proxy", "branch": "main"},
        # added since the original tool: the details a status sentence used to carry
        "time_left_seconds": None,
        "restorable_until": None,
        "deployment_status": "SUCCESS",
        "asleep": False,
        # added with pinned versions: what the gateway runs, and whether it follows a branch
        "commit": next(s for s in fleet_projects(emu)[0]["services"]
                       if s["name"] == "gateway")["deployments"][-1]["commitHash"],
        "image": None,
        # added with the serving version: the newest deployment's, when it does not serve
        "newest": None,
        "pinned": False,
        # added with release channels: the channel whose version it runs (None: none)
        "channel": None,
        "secrets": {},
        # added with the deploy settings: as set on Railway, in the manifest's terms
        "settings": {"healthcheck": {"path": "/health", "timeout": 300},
                     "restart": {"policy": "on_failure", "max_retries": 10},
                     "sleep": False, "replicas": 1},
        # added with placement: the manifest's region (none here), and each service's on Railway
        "region": None,
        "regions": {"Postgres": "us-west2", "Redis": "us-west2", "gateway": "us-west2"},
        # added with limits and backups: as the last pass recorded them in the marker
        "resources": {"vcpus": None, "memory_gb": None},
        "backups": ["daily"],
    }


def test_list_marks_orphans_failures_and_with_all_unmanaged_projects(
        run_cli, emu, tenants_dir, client):
    from saas_infra.railway import operations as ops

    created(run_cli, emu, "acme", "--no-wait")
    emu.fail_next_deploy("gateway", "CRASHED")
    assert run_cli("create", "globex").exit_code == 1
    (tenants_dir / "acme.yaml").unlink()
    ops.project_create(client, name="luthien-legacy", description="made by hand",
                       workspace_id=emu.workspace_id)

    plain = run_cli("list")
    everything = run_cli("list", "--all", "--json")

    assert [line.split()[:2] for line in plain.stdout.splitlines()[1:]] == [
        ["acme", "orphan"], ["globex", "failed"]]
    assert [(r["name"], r["status"], r["managed"])
            for r in json.loads(everything.stdout)["instances"]] == [
        ("acme", "orphan", True), ("globex", "failed", True), ("legacy", "unmanaged", False)]


def test_list_with_no_tenants_says_so(run_cli):
    result = run_cli("list")

    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "No tenants.\n")


def test_status_shows_services_health_deadline_and_drift(run_cli, emu, client):
    from saas_infra.railway import operations as ops

    rw = created(run_cli, emu, "acme")
    assert run_cli("delete", "acme", "--yes").exit_code == 0
    project = ops.project(client, rw.id)
    environment = project["environments"]["edges"][0]["node"]["id"]
    gateway = next(e["node"]["id"] for e in project["services"]["edges"]
                   if e["node"]["name"] == "gateway")
    ops.variables_upsert(client, project_id=rw.id, environment_id=environment,
                         service_id=gateway, variables={"LOG_LEVEL": "debug"})
    manifest = json.loads(run_cli("list", "--json").stdout)["instances"][0]
    services = {s["name"]: s for s in fleet_projects(emu)[0]["services"]}

    result = run_cli("status", "acme")

    assert result.exit_code == 0
    assert result.stdout == lines(
        "acme: deletion scheduled (6d 23h left)",
        f"  Project:  {rw.id}  {rw.console}",
        f"  URL:      {rw.url}",
        f"  Version:  {manifest['commit'][:12]} (follows main)",
        "  Settings: health check /health (300 s), restart on_failure (10 retries), sleep off, "
        "1 replica",
        "  Limits:   32 vCPU, 32 GB memory per replica",
        "  Backups:  daily; none made yet",
        "  Health:   ok (HTTP 200)",
        f"  Deletion: {manifest['deletion_deadline']} (requested "
        f"{manifest['deletion_scheduled_at']})",
        f"  - Postgres  SUCCESS  {services['Postgres']['source']['image']}",
        f"  - Redis     SUCCESS  {services['Redis']['source']['image']}",
        "  - gateway   SUCCESS  LuthienResearch/luthien-proxy@main",
        "  drift: set-variables: gateway variables differ from the manifest: -LOG_LEVEL",
    )  # no branch warning: acme's deletion is scheduled


def test_status_json_and_a_failing_health_probe(run_cli, emu):
    rw = created(run_cli, emu, "acme")
    # A crash takes the gateway down (it had replaced the running deployment); a failed build
    # would leave the old deployment serving, and the probe passing.
    emu.fail_next_deploy("gateway", "CRASHED")
    assert run_cli("redeploy", "acme").exit_code == 1  # waits until the failure settles

    result = run_cli("status", "acme", "--json")

    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert (data["name"], data["status"], data["project_id"], data["url"]) == (
        "acme", "failed", rw.id, rw.url)
    assert data["health"] == {"ok": False, "detail": "HTTP 503"}
    gateway = next(s for s in data["services"] if s["name"] == "gateway")
    assert gateway == {"name": "gateway",
                       "deployment_id": railway(emu, "acme").deployments[-1]["id"],
                       "deployment_status": "CRASHED",
                       "source": "LuthienResearch/luthien-proxy@main"}
    assert data["drift"] == [] and data["pending"] == []


def test_status_of_an_unknown_tenant_is_an_error(run_cli):
    result = run_cli("status", "nobody")

    assert result.exit_code == 1
    assert result.stderr == lines("Error: no tenant named nobody",
                                  "Hint: `saas-infra list` shows the tenants")


# --- redeploy -----------------------------------------------------------------------------------


def test_redeploy_deploys_the_newest_commit_and_waits(run_cli, emu, tenants_dir):
    created(run_cli, emu, "acme")
    sha = emu.push_commit("LuthienResearch/luthien-proxy", "main")
    deploys = emu.counts["ServiceInstanceDeploy"]

    result = run_cli("redeploy", "acme")

    newest = railway(emu, "acme").deployments[-1]
    assert result.exit_code == 0
    assert waits(result.stdout) == (
        f"Redeployed acme: SUCCESS after N s (deployment {newest['id']}, commit {sha[:7]})\n")
    assert waits(result.stderr) == lines(
        "Redeploying acme...", "acme: deploy requested", "acme: marker updated",
        "Redeploying acme: gateway deployment INITIALIZING (N s)",
        "Redeploying acme: gateway deployment BUILDING (N s)",
        "Redeploying acme: gateway deployment SUCCESS (N s)")
    assert (newest["status"], newest["commitHash"]) == ("SUCCESS", sha)
    assert emu.counts["ServiceInstanceDeploy"] == deploys + 1
    assert "redeploy:\n  requested_at: " in (tenants_dir / "acme.yaml").read_text()


@pytest.mark.parametrize("status", ["FAILED", "CRASHED"])
def test_redeploy_reports_a_failed_deployment_with_its_id(run_cli, emu, status):
    rw = created(run_cli, emu, "acme")
    emu.fail_next_deploy("gateway", status)

    result = run_cli("redeploy", "acme")
    as_json = run_cli("redeploy", "acme", "--json")  # the next deploy succeeds again

    failed = railway(emu, "acme").deployments[-2]
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"Error: the redeploy of acme {status} (deployment {failed['id']}); the Railway console "
        f"has its logs: {rw.console}")
    assert failed["status"] == status
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["deployment"]["status"] == "SUCCESS"


def test_two_redeploys_in_one_second_both_deploy(run_cli, emu):
    created(run_cli, emu, "acme")
    before = emu.counts["ServiceInstanceDeploy"]

    assert run_cli("redeploy", "acme", "--no-wait").exit_code == 0
    assert run_cli("redeploy", "acme", "--no-wait").exit_code == 0

    assert emu.counts["ServiceInstanceDeploy"] == before + 2


def test_redeploy_no_wait_returns_once_requested(run_cli, emu):
    created(run_cli, emu, "acme")

    result = run_cli("redeploy", "acme", "--no-wait")

    started = railway(emu, "acme").deployments[-1]
    assert result.exit_code == 0
    # the status is what the pass's last listing saw; the emulator's moves on with the clock
    assert re.sub(r" is [A-Z]+;", " is STATUS;", result.stdout) == (
        f"Redeploy of acme requested: deployment {started['id']} is STATUS; "
        "`saas-infra status acme` follows it.\n")
    assert started["status"] != "SUCCESS"


# --- delete / cancel-delete ---------------------------------------------------------------------


def test_delete_without_yes_and_without_a_terminal_refuses(run_cli, emu, tenants_dir):
    created(run_cli, emu, "acme", "--no-wait")
    before = (tenants_dir / "acme.yaml").read_text()

    for args in (("delete", "acme"), ("delete", "acme", "--json")):
        result = run_cli(*args)
        assert result.exit_code == 1
        assert result.stderr == lines(
            "Error: refusing to delete acme without confirmation (stdin is not a terminal)",
            "Hint: add --yes to confirm in a script")
    assert (tenants_dir / "acme.yaml").read_text() == before


def test_delete_asks_first_on_a_terminal(run_cli, emu, runtime, tenants_dir):
    created(run_cli, emu, "acme", "--no-wait")
    runtime.stdin_interactive = True
    before = (tenants_dir / "acme.yaml").read_text()

    declined = run_cli("delete", "acme", input="n\n")
    declined_json = run_cli("delete", "acme", "--json", input="\n")
    accepted = run_cli("delete", "acme", input="y\n")

    question = "Schedule acme for deletion in 7 days? It keeps running until then. [y/N]: "
    assert (declined.exit_code, declined.stdout) == (0, "")
    assert declined.stderr == question + "n\nNothing deleted.\n"
    assert json.loads(declined_json.stdout) == {
        "name": "acme", "ok": True, "confirmed": False, "message": "Nothing deleted."}
    assert accepted.exit_code == 0
    assert accepted.stderr.startswith(question + "y\n")
    assert "deletion:" not in before and "deletion:" in (tenants_dir / "acme.yaml").read_text()


def test_delete_schedules_and_the_tenant_keeps_running(run_cli, emu, clock):
    rw = created(run_cli, emu, "acme")

    result = run_cli("delete", "acme", "--yes")

    after = railway(emu, "acme")
    deadline = re.search(r"delete-after=(\S+)\]", after.description).group(1)
    assert result.exit_code == 0
    assert result.stdout == (
        f"acme is scheduled for deletion at {deadline} (6d 23h left); it keeps running until "
        "then. `saas-infra cancel-delete acme` undoes it.\n")
    assert result.stderr == "acme: marker updated\n"
    assert after.id == rw.id and after.deleted_at is None
    assert after.deployments[-1]["status"] == "SUCCESS"


def test_a_second_delete_leaves_the_deadline_where_it_was(run_cli, emu, clock, tenants_dir):
    created(run_cli, emu, "acme", "--no-wait")
    first = json.loads(run_cli("delete", "acme", "--yes", "--json").stdout)
    text = (tenants_dir / "acme.yaml").read_text()
    clock.advance(days=2)

    again = run_cli("delete", "acme", "--yes")
    again_json = json.loads(run_cli("delete", "acme", "--yes", "--json").stdout)

    deadline = first["deletion"]["deadline"]
    assert again.exit_code == 0
    assert again.stdout == (
        f"acme was already scheduled for deletion at {deadline} (4d 23h left); the deadline "
        "stays. `saas-infra cancel-delete acme` undoes it.\n")
    assert (tenants_dir / "acme.yaml").read_text() == text
    assert again_json["deletion"] == first["deletion"] and again_json["unchanged"] is True
    assert first["unchanged"] is False
    assert first["deletion"]["grace_days"] == 7 and first["deletion"]["force"] is False
    assert f"delete-after={deadline}" in railway(emu, "acme").description


def test_delete_force_deletes_now_and_removes_the_manifest(run_cli, emu, tenants_dir):
    rw = created(run_cli, emu, "acme", "--no-wait")

    result = run_cli("delete", "acme", "--force", "--yes")

    assert result.exit_code == 0
    assert result.stdout == f"Deleted acme now (project {rw.id}); removed tenants/acme.yaml.\n"
    assert result.stderr == (
        "Warning: acme is deleted now: Railway deletes the Postgres volume's backups with the "
        "project: none of them can restore the data afterwards (take a logical dump, e.g. "
        "pg_dump, first if it may be needed).\n"
        "acme: project deleted\n")
    assert fleet_projects(emu) == []  # gone at once, not in Railway's scheduled delete
    assert emu.counts["ProjectScheduleDelete"] == 0
    assert not (tenants_dir / "acme.yaml").exists()


def test_cancel_delete_removes_the_tombstone_and_the_mark(run_cli, emu, tenants_dir):
    created(run_cli, emu, "acme", "--no-wait")
    before = (tenants_dir / "acme.yaml").read_text()
    run_cli("delete", "acme", "--yes")

    result = run_cli("cancel-delete", "acme")
    again = run_cli("cancel-delete", "acme")
    again_json = run_cli("cancel-delete", "acme", "--json")

    assert result.exit_code == 0
    assert result.stdout == "Cancelled the scheduled deletion of acme; it keeps running.\n"
    assert result.stderr == "acme: marker updated\n"
    assert (tenants_dir / "acme.yaml").read_text() == before
    assert "delete-after" not in railway(emu, "acme").description
    assert again.exit_code == 1
    assert again.stderr == lines(
        "Error: No deletion is scheduled for acme",
        "Hint: `saas-infra list` shows which tenants are scheduled for deletion")
    assert json.loads(again_json.stdout) == {"error": {
        "type": "NoDeletionScheduledError", "message": "No deletion is scheduled for acme"}}


def test_delete_json_and_cancel_delete_json(run_cli, emu, clock):
    rw = created(run_cli, emu, "acme", "--no-wait")
    now = clock.now().replace(microsecond=0)

    deleted = json.loads(run_cli("delete", "acme", "--yes", "--json").stdout)
    cancelled = json.loads(run_cli("cancel-delete", "acme", "--json").stdout)

    assert deleted["deletion"]["requested_at"] == now.isoformat().replace("+00:00", "Z")
    assert {k: deleted[k] for k in ("name", "ok", "project_id", "url", "manifest", "applied")} == {
        "name": "acme", "ok": True, "project_id": rw.id, "url": rw.url,
        "manifest": "tenants/acme.yaml", "applied": True}
    assert [a["kind"] for a in deleted["apply"]["plan"]["actions"]] == ["schedule-delete"]
    assert (cancelled["ok"], cancelled["restored"], cancelled["project_id"]) == (True, False, rw.id)
    assert [a["kind"] for a in cancelled["apply"]["plan"]["actions"]] == ["cancel-delete"]


def test_delete_of_an_unknown_tenant_fails_before_asking(run_cli, runtime):
    runtime.stdin_interactive = True

    result = run_cli("delete", "nobody")

    assert result.exit_code == 1
    assert result.stderr == lines("Error: no tenant named nobody (no tenants/nobody.yaml)",
                                  "Hint: `saas-infra list` shows the tenants")


# --- whoami / credentials / token -----------------------------------------------------------------


def test_whoami_with_a_personal_token(run_cli, emu):
    created(run_cli, emu, "acme", "--no-wait")

    result = run_cli("whoami")
    as_json = run_cli("whoami", "--json")

    assert result.exit_code == 0
    assert result.stdout == lines(
        "Personal account token: Emulated User <user@example.com>",
        f"  Workspace: {emu.workspace_name} ({emu.workspace_id}), PRO plan, 2 projects",
        f"Manages: {emu.workspace_name} ({emu.workspace_id}), the only workspace the token reaches",
        "Token from: RAILWAY_TOKEN")
    data = json.loads(as_json.stdout)
    assert data["kind"] == "personal"
    assert (data["user"]["name"], data["user"]["email"]) == ("Emulated User", "user@example.com")
    assert data["workspaces"] == [{"id": emu.workspace_id, "name": emu.workspace_name,
                                   "plan": "PRO", "projects": 2}]  # acme, the lock's
    assert data["workspace"] == {"id": emu.workspace_id, "name": emu.workspace_name,
                                 "source": "the only workspace the token reaches"}
    assert data["token_source"] == "RAILWAY_TOKEN"


def test_whoami_with_a_workspace_token_says_so(run_cli, emu):
    created(run_cli, emu, "acme", "--no-wait")
    created(run_cli, emu, "globex", "--no-wait")

    result = run_cli("whoami", env={"RAILWAY_TOKEN": emu.workspace_token})
    as_json = run_cli("whoami", "--json", env={"RAILWAY_TOKEN": emu.workspace_token})

    assert result.exit_code == 0
    assert result.stdout == lines(
        "Workspace token: Railway does not answer `me` for it, so it has no user; it reaches "
        "these workspaces:",
        f"  Workspace: {emu.workspace_name} ({emu.workspace_id}), PRO plan, 3 projects",
        f"Manages: {emu.workspace_name} ({emu.workspace_id}), the only workspace the token reaches",
        "Token from: RAILWAY_TOKEN")
    assert json.loads(as_json.stdout) == {"kind": "workspace", "user": None, "workspaces": [
        {"id": emu.workspace_id, "name": emu.workspace_name, "plan": "PRO", "projects": 3}],
        "workspace": {"id": emu.workspace_id, "name": emu.workspace_name,
                      "source": "the only workspace the token reaches"},
        "workspace_problem": None, "workspace_hint": None, "workspace_configured": False,
        "token_source": "RAILWAY_TOKEN"}


UNREACHED = "0b7e5a52-0000-4000-8000-000000000000"


@pytest.mark.parametrize("token", ["account", "workspace"])
def test_a_workspace_id_the_token_does_not_reach_is_named_with_the_ones_it_does(
        run_cli, emu, write_tenant, token):
    # Railway answers "Not Authorized" for it, which used to read "the token is invalid or
    # revoked" (issue 15, row 4).
    write_tenant("acme")
    env = {"RAILWAY_TOKEN": getattr(emu, f"{token}_token"), "RAILWAY_WORKSPACE_ID": UNREACHED}
    expected = lines(
        f"Error: RAILWAY_WORKSPACE_ID={UNREACHED} is not a workspace this Railway token reaches; "
        f"it reaches {emu.workspace_name} ({emu.workspace_id})",
        "Hint: set RAILWAY_WORKSPACE_ID to one of those ids, or use a token of that workspace")

    for args in (("plan",), ("list",), ("apply", "--yes"), ("status", "acme")):
        result = run_cli(*args, env=env)
        assert (result.exit_code, result.stderr) == (1, expected), args
    assert emu.snapshot()["projects"] == []


def test_whoami_checks_the_workspace_id_and_fails_on_one_out_of_reach(run_cli, emu):
    env = {"RAILWAY_WORKSPACE_ID": UNREACHED}

    result = run_cli("whoami", env=env)
    as_json = run_cli("whoami", "--json", env=env)
    good = run_cli("whoami", env={"RAILWAY_WORKSPACE_ID": emu.workspace_id})

    assert result.exit_code == 1
    assert result.stdout.startswith("Personal account token: Emulated User")
    assert "Manages:" not in result.stdout
    assert result.stderr.startswith(f"Error: RAILWAY_WORKSPACE_ID={UNREACHED} is not a workspace "
                                    f"this Railway token reaches; it reaches {emu.workspace_name}")
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["workspace"] is None and data["workspace_configured"] is True
    assert data["workspace_problem"].startswith(f"RAILWAY_WORKSPACE_ID={UNREACHED} is not")
    assert good.exit_code == 0 and good.stderr == ""
    assert f"Manages: {emu.workspace_name} ({emu.workspace_id}), from RAILWAY_WORKSPACE_ID" \
        in good.stdout


def test_whoami_warns_when_a_pass_would_need_a_workspace_id(clock, tenants_dir):
    emu = Emulator(clock=clock, seed=3, extra_workspaces=1)
    runtime = Runtime(env={"RAILWAY_TOKEN": emu.account_token, "NO_COLOR": "1"}, clock=clock,
                      transport=emu.transport(), stdin_interactive=False)
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "200"})

    result = runner.invoke(cli, ["whoami"], obj=runtime, catch_exceptions=False)
    plan = runner.invoke(cli, ["plan"], obj=runtime, catch_exceptions=False)

    assert result.exit_code == 0
    assert result.stdout.count("  Workspace: ") == 2 and "Manages:" not in result.stdout
    assert result.stderr.startswith("the Railway token reaches 2 workspaces: ")
    assert result.stderr.endswith("; set RAILWAY_WORKSPACE_ID to the one saas-infra should "
                                  "manage\n")
    assert plan.exit_code == 1 and "Hint: set RAILWAY_WORKSPACE_ID" in plan.stderr


def test_railway_api_token_is_read_first_and_whoami_names_it(run_cli, emu):
    result = run_cli("whoami", "--json",
                     env={"RAILWAY_API_TOKEN": emu.workspace_token, "RAILWAY_TOKEN": None})

    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["kind"], data["token_source"]) == ("workspace", "RAILWAY_API_TOKEN")
    assert result.stderr == ""


def test_both_token_variables_differing_uses_railway_api_token_and_says_so(run_cli, emu):
    result = run_cli("whoami", "--json", env={"RAILWAY_API_TOKEN": emu.account_token,
                                               "RAILWAY_TOKEN": "a-project-token"})

    assert result.exit_code == 0
    assert json.loads(result.stdout)["token_source"] == "RAILWAY_API_TOKEN"
    assert result.stderr == lines(
        "RAILWAY_API_TOKEN and RAILWAY_TOKEN are both set and differ; using RAILWAY_API_TOKEN")
    assert "a-project-token" not in result.output


def test_both_token_variables_equal_is_no_warning(run_cli, emu):
    result = run_cli("whoami", env={"RAILWAY_API_TOKEN": emu.account_token,
                                    "RAILWAY_TOKEN": emu.account_token})

    assert (result.exit_code, result.stderr) == (0, "")


def test_not_authorized_for_a_railway_token_hints_at_project_tokens(run_cli, write_tenant):
    write_tenant("acme")

    from_old_name = run_cli("list", env={"RAILWAY_TOKEN": "not-a-real-token"})
    from_new_name = run_cli("list", env={"RAILWAY_TOKEN": None,
                                         "RAILWAY_API_TOKEN": "not-a-real-token"})

    assert from_old_name.exit_code == 1
    assert "Hint: the token came from RAILWAY_TOKEN, the name Railway's own tools use for " \
        "project tokens" in from_old_name.stderr
    assert "export it as RAILWAY_API_TOKEN" in from_old_name.stderr
    assert from_new_name.exit_code == 1
    assert "project tokens" not in from_new_name.stderr


def test_the_project_token_hint_is_added_to_the_workspace_hint_not_put_in_its_place(run_cli):
    result = run_cli("list", env={"RAILWAY_TOKEN": "not-a-real-token",
                                  "RAILWAY_WORKSPACE_ID": "some-workspace"})

    assert result.exit_code == 1
    [hint] = [line for line in result.stderr.splitlines() if line.startswith("Hint:")]
    assert hint.startswith("Hint: the token is invalid or revoked, or "
                           "RAILWAY_WORKSPACE_ID=some-workspace is not a workspace it reaches; "
                           "the token came from RAILWAY_TOKEN, the name Railway's own tools use "
                           "for project tokens")


def test_without_a_token_every_verb_says_it_is_required(run_cli, write_tenant):
    write_tenant("acme")
    expected = lines(
        "Error: RAILWAY_TOKEN environment variable is required",
        "Hint: export RAILWAY_API_TOKEN=... (Railway's name for an account or workspace token; "
        "RAILWAY_TOKEN is read too when it is unset), or add --sandbox to try saas-infra against "
        "the local emulator")
    for args in (("list",), ("status", "acme"), ("whoami",), ("create", "globex"),
                 ("redeploy", "acme"), ("delete", "acme", "--yes"), ("credentials", "acme")):
        result = run_cli(*args, env={"RAILWAY_TOKEN": None})
        assert result.exit_code == 1, args
        assert result.stderr.endswith(expected), args


def test_credentials_reads_the_keys_back_from_railway(run_cli, emu, tenants_dir):
    rw = created(run_cli, emu, "acme", "--no-wait")

    result = run_cli("credentials", "acme")
    as_json = run_cli("credentials", "acme", "--json")

    assert result.exit_code == 0
    assert result.stdout == lines(f"CLIENT_API_KEY:  {rw.keys['CLIENT_API_KEY']}",
                                  f"ADMIN_API_KEY:   {rw.keys['ADMIN_API_KEY']}")
    assert json.loads(as_json.stdout) == {"name": "acme", "project_id": rw.id, "rotated": False,
                                          "credentials": rw.keys}
    assert not any(key in (tenants_dir / "acme.yaml").read_text() for key in rw.keys.values())


def test_credentials_rotate_sets_new_keys_and_redeploys(run_cli, emu):
    old = created(run_cli, emu, "acme")
    deploys = len(old.deployments)

    result = run_cli("credentials", "acme", "--rotate")

    new = railway(emu, "acme")
    assert result.exit_code == 0
    assert result.stdout == lines(f"CLIENT_API_KEY:  {new.keys['CLIENT_API_KEY']}",
                                  f"ADMIN_API_KEY:   {new.keys['ADMIN_API_KEY']}")
    assert result.stderr == ("New keys set; the gateway is redeploying and the old keys stop "
                             "working.\n")
    assert set(new.keys.values()).isdisjoint(old.keys.values())
    assert len(new.deployments) == deploys + 1


# --- retries say what they wait for -----------------------------------------------------------


def test_a_429_says_what_it_waits_for(run_cli, emu):
    emu._limiter.limits = RateLimits(per_second=2, per_hour=10_000)  # tighter than the pacer

    result = run_cli("create", "acme", "--no-wait")

    waits_for = [line for line in result.stderr.splitlines() if "rate limit" in line]
    assert result.exit_code == 0
    assert waits_for, result.stderr
    assert all(re.fullmatch(r"Railway rate limit: waiting 1 s \([A-Za-z]+\)", line)
               for line in waits_for)
    assert [p["name"] for p in fleet_projects(emu)] == ["luthien-acme"]


def test_a_cooldown_says_what_it_waits_for(run_cli, emu, runtime):
    from saas_infra.railway import RetryPolicy

    created(run_cli, emu, "acme", "--no-wait")
    runtime.retry = RetryPolicy(sleep=runtime.clock.sleep, random=lambda: 0.0)
    emu.faults.cooldown_seconds = 30
    assert run_cli("delete", "acme", "--yes").exit_code == 0

    result = run_cli("cancel-delete", "acme")  # the same projects again, at once

    # The lock's control project was changed by `delete` too: its claim waits, then its release.
    assert result.exit_code == 0
    assert result.stderr == lines(
        'Railway says "Endpoint too recently updated": waiting 30 s (LockClaim)',
        "acme: marker updated",
        'Railway says "Endpoint too recently updated": waiting 30 s (LockWrite)')


# --- exit codes, guards and the spinner -----------------------------------------------------------


class ShortListing(httpx.BaseTransport):
    """Railway says the workspace holds more projects than its listing returns."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        if json.loads(request.read()).get("operationName") != "WorkspaceProjectCount":
            return response
        body = json.loads(response.read())
        body["data"]["workspace"]["projectCount"] += 5
        return httpx.Response(response.status_code, json=body, request=request)


def test_a_guard_stops_a_verbs_pass_with_exit_3_and_keeps_the_edit(
        run_cli, emu, runtime, tenants_dir):
    created(run_cli, emu, "acme", "--no-wait")
    runtime.transport = ShortListing(emu.transport())

    result = run_cli("delete", "acme", "--yes")

    assert result.exit_code == 3
    assert result.stdout == ""
    assert re.fullmatch(re.escape(lines(
        "Error: the Railway listing is incomplete (Railway reports <n> projects but the listing "
        "returned <n>); refusing to act on a partial picture",
        "Hint: the manifest tenants/acme.yaml keeps the change; `saas-infra apply --target acme` "
        "runs the pass again",
    )).replace("<n>", r"\d+"), result.stderr)
    assert "deletion:" in (tenants_dir / "acme.yaml").read_text()
    assert "delete-after" not in railway(emu, "acme").description


def test_the_spinner_never_reaches_captured_output(run_cli, emu):
    result = run_cli("create", "acme", env={"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"})

    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stderr)  # styles are allowed; motion is not
    assert result.exit_code == 0
    assert "\x1b" not in plain and "\r" not in plain
    assert plain.startswith("Creating acme...\nacme: project created\n")


def test_the_spinner_shows_the_deployment_state_and_the_time_waited(runtime, tenants_dir):
    from saas_infra.cli.base import Session

    session = Session(runtime, as_json=False, debug=False)
    shown: list[str] = []
    session.console.status = contextlib.contextmanager(lambda text: iter([shown.append]))
    with session.working("Creating", "acme", True) as show:
        show("QUEUED")
        runtime.clock.advance(12)
        show("BUILDING")

    assert shown == ["Creating acme: gateway deployment QUEUED (0 s)",
                     "Creating acme: gateway deployment BUILDING (12 s)"]


def test_a_create_whose_wait_times_out_still_shows_the_keys_once(run_cli, emu):
    emu.deploy_seconds = 3600.0  # longer than create waits

    result = run_cli("create", "acme")

    rw = railway(emu, "acme")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[3:] == [
        "  Deployment:      unknown (`saas-infra status acme` shows it)",
        f"  CLIENT_API_KEY:  {rw.keys['CLIENT_API_KEY']}",
        f"  ADMIN_API_KEY:   {rw.keys['ADMIN_API_KEY']}",
    ]
    assert re.fullmatch(
        r"Error: tenant acme: the gateway deployment is still [A-Z]+ after 900s; "
        r"`saas-infra status acme` shows the deployment", result.stderr.splitlines()[-1])
