"""Pinned gateways: a manifest's `gateway.commit` is the version the tenant runs. A push to the
branch deploys no pinned tenant (its GitHub deployment trigger is gone) and does deploy a
branch-following one; a pin bump deploys exactly the new commit; another commit deployed on
Railway is drift the next pass repairs; `redeploy` of a pinned tenant redeploys the pin. All on
the in-process emulator (GitHub pushes through `Emulator.github_push`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saas_infra import manifest as mf
from saas_infra import verbs
from saas_infra.emulator import Emulator
from saas_infra.errors import ManifestError
from saas_infra.manifest.models import Tombstone
from saas_infra.plan import ActionKind, SetVersion, Source
from saas_infra.railway import operations as ops
from saas_infra.reconcile import Fleet, apply_pass

REPO = "LuthienResearch/luthien-proxy"
SHA_A, SHA_B, SHA_C, SHA_D = "a" * 40, "b" * 40, "c" * 40, "d" * 40
SETTLE_MINUTES = 15  # every deployment has finished by then


@pytest.fixture(autouse=True)
def known_commits(emu: Emulator) -> None:
    """The commits the tests pin exist in the repo (on no branch: a pin need not be a head)."""
    for sha in (SHA_A, SHA_B, SHA_C):
        emu.set_commit_outcome(REPO, sha, "success")


def gateway(emu: Emulator, tenant: str) -> dict:
    [project] = [p for p in emu.snapshot()["projects"]
                 if p["name"] == f"luthien-{tenant}" and p["deletedAt"] is None]
    [service] = [s for s in project["services"] if s["name"] == "gateway"]
    return service


def commits_deployed(emu: Emulator, tenant: str) -> list[str | None]:
    return [d.get("commitHash") for d in gateway(emu, tenant)["deployments"]]


def converge(fleet: Fleet) -> None:
    report = apply_pass(fleet)
    assert not report.failed, [o.error for o in report.failed]
    assert report.converged, report.after.actions
    fleet.clock.advance(minutes=SETTLE_MINUTES)
    assert fleet.plan().empty, fleet.plan().actions


def kinds(fleet: Fleet) -> list[ActionKind]:
    return [a.kind for a in fleet.plan().actions]


@pytest.fixture
def two(fleet: Fleet, write_tenant, emu: Emulator) -> Fleet:
    """acme pinned to SHA_A, globex following main, both running."""
    write_tenant("acme", commit=SHA_A)
    write_tenant("globex")
    converge(fleet)
    return fleet


def test_a_pinned_tenant_runs_its_pin_with_no_trigger(two: Fleet, emu: Emulator) -> None:
    acme, globex = gateway(emu, "acme"), gateway(emu, "globex")
    assert acme["triggers"] == [] and acme["deployments"][-1]["commitHash"] == SHA_A
    assert acme["deployments"][-1]["status"] == "SUCCESS"
    assert [t["branch"] for t in globex["triggers"]] == ["main"]


def test_a_push_to_main_deploys_no_pinned_tenant_and_every_branch_follower(
        two: Fleet, emu: Emulator) -> None:
    acme_before, globex_before = commits_deployed(emu, "acme"), commits_deployed(emu, "globex")
    pushed = emu.github_push(REPO, "refs/heads/main", SHA_D)
    assert commits_deployed(emu, "acme") == acme_before
    assert commits_deployed(emu, "globex") == [*globex_before, SHA_D]
    assert len(pushed["deployments"]) == 1
    two.clock.advance(minutes=SETTLE_MINUTES)
    assert two.plan().empty  # the follower runs its branch's head; the pin is untouched


def test_a_pin_bump_deploys_exactly_the_new_commit(two: Fleet, emu: Emulator) -> None:
    emu.github_push(REPO, "refs/heads/main", SHA_D)  # the branch head is elsewhere
    before = commits_deployed(emu, "acme")
    mf.set_gateway_commit(two.tenants_dir / "acme.yaml", SHA_B)
    [action] = two.plan().actions
    source = Source(repo=REPO, branch="main", commit=SHA_B)
    assert action.change == SetVersion(source, True, action.change.gateway)
    assert "runs aaaaaaaaaaaa, the manifest pins bbbbbbbbbbbb" in action.reason
    converge(two)
    assert commits_deployed(emu, "acme") == [*before, SHA_B]
    assert gateway(emu, "acme")["triggers"] == []


def test_another_commit_deployed_on_railway_is_drift_the_next_pass_repairs(
        two: Fleet, emu: Emulator, client) -> None:
    project = two.observe().tenant_project("acme")
    assert project is not None and project.gateway is not None
    ops.deploy_commit(client, service_id=project.gateway.id,
                      environment_id=project.environment_id or "", commit_sha=SHA_C)
    two.clock.advance(minutes=SETTLE_MINUTES)
    [action] = two.plan().actions
    assert action.kind is ActionKind.SET_VERSION and "runs cccccccccccc" in action.reason
    converge(two)
    assert commits_deployed(emu, "acme")[-1] == SHA_A


def test_a_trigger_made_on_railway_is_removed_without_a_deploy(
        two: Fleet, emu: Emulator, client) -> None:
    project = two.observe().tenant_project("acme")
    assert project is not None and project.gateway is not None
    ops.deployment_trigger_create(client, project_id=project.id,
                                  environment_id=project.environment_id or "",
                                  service_id=project.gateway.id, repository=REPO, branch="main")
    before = commits_deployed(emu, "acme")
    [action] = two.plan().actions
    assert isinstance(action.change, SetVersion) and not action.change.deploy
    assert "a push to main would deploy it" in action.reason
    converge(two)
    assert gateway(emu, "acme")["triggers"] == [] and commits_deployed(emu, "acme") == before
    emu.github_push(REPO, "refs/heads/main", SHA_D)
    assert commits_deployed(emu, "acme") == before


def test_unpinning_follows_the_branch_again(two: Fleet, emu: Emulator) -> None:
    emu.github_push(REPO, "refs/heads/main", SHA_D)
    mf.set_gateway_commit(two.tenants_dir / "acme.yaml", None)
    assert kinds(two) == [ActionKind.SET_VERSION]
    converge(two)
    assert commits_deployed(emu, "acme")[-1] == SHA_D  # the branch's head
    assert [t["branch"] for t in gateway(emu, "acme")["triggers"]] == ["main"]
    emu.github_push(REPO, "refs/heads/main", SHA_C)
    assert commits_deployed(emu, "acme")[-1] == SHA_C  # pushes deploy it again


def test_pinning_a_branch_follower_removes_its_trigger_and_deploys_the_pin(
        two: Fleet, emu: Emulator) -> None:
    mf.set_gateway_commit(two.tenants_dir / "globex.yaml", SHA_B)
    converge(two)
    globex = gateway(emu, "globex")
    assert globex["triggers"] == [] and globex["deployments"][-1]["commitHash"] == SHA_B


def test_a_variable_change_with_a_pin_bump_deploys_once(two: Fleet, emu: Emulator) -> None:
    path = two.tenants_dir / "acme.yaml"
    spec = mf.load_tenant_file(path).manifest
    new_gateway = spec.gateway.model_copy(update={"variables": {"LOG_LEVEL": "debug"},
                                                  "commit": SHA_B})
    path.write_text(mf.render_manifest(spec.model_copy(update={"gateway": new_gateway})))
    before = commits_deployed(emu, "acme")
    assert kinds(two) == [ActionKind.SET_VARIABLES, ActionKind.SET_VERSION]
    converge(two)
    assert commits_deployed(emu, "acme") == [*before, SHA_B]  # the variables rode along
    assert gateway(emu, "acme")["variables"]["LOG_LEVEL"] == "debug"


def test_an_image_digest_rolled_back_on_railway_is_deployed_again(
        fleet: Fleet, write_tenant, emu: Emulator, client) -> None:
    old, new = (f"ghcr.io/luthienresearch/luthien-proxy@sha256:{c * 64}" for c in "12")
    write_tenant("acme", image=old)
    converge(fleet)
    mf.set_gateway_source(fleet.tenants_dir / "acme.yaml", image=new)
    converge(fleet)
    [first] = [d for d in gateway(emu, "acme")["deployments"] if d.get("image") == old]
    assert ops.deployment_rollback(client, first["id"])
    fleet.clock.advance(minutes=SETTLE_MINUTES)
    [action] = fleet.plan().actions
    assert action.kind is ActionKind.SET_VERSION and f"runs {old}" in action.reason
    converge(fleet)
    assert gateway(emu, "acme")["deployments"][-1]["image"] == new


def test_redeploy_of_a_pinned_tenant_redeploys_the_pin_not_the_branch_head(
        two: Fleet, emu: Emulator) -> None:
    emu.github_push(REPO, "refs/heads/main", SHA_D)
    before = commits_deployed(emu, "acme")
    result = verbs.redeploy(two, "acme", wait=False)
    assert result.ok
    assert commits_deployed(emu, "acme") == [*before, SHA_A]
    two.clock.advance(minutes=SETTLE_MINUTES)
    assert two.plan().empty


def test_plan_warns_once_naming_the_tenants_that_follow_a_branch(two: Fleet,
                                                                 write_tenant) -> None:
    write_tenant("initech", branch="dev")
    write_tenant("umbrella", image="ghcr.io/luthienresearch/luthien-proxy:2.0.0")
    warnings = [w for w in two.plan().warnings if "follow a branch" in w]
    assert len(warnings) == 1
    assert warnings[0].startswith("2 tenants (globex on main, initech on dev) follow a branch: "
                                  "every push to their branch deploys them at once")
    assert "acme" not in warnings[0] and "umbrella" not in warnings[0]


def test_the_branch_warning_leaves_out_a_tenant_whose_deletion_is_scheduled(
        two: Fleet, write_tenant) -> None:
    write_tenant("initech", branch="dev", deletion=Tombstone(requested_at=two.clock.now()))
    [warning] = [w for w in two.plan().warnings if "follow" in w and "a branch" in w]
    assert warning.startswith("1 tenant (globex on main) follows a branch: every push to its "
                              "branch deploys it at once")


def test_no_follow_warning_when_every_tenant_is_pinned(fleet: Fleet, write_tenant) -> None:
    write_tenant("acme", commit=SHA_A)
    assert not [w for w in fleet.plan().warnings if "a branch" in w]


def test_create_with_a_commit_deploys_the_pin_and_no_push_deploys_it(
        run_cli, tenants_dir: Path, emu: Emulator) -> None:
    result = run_cli("create", "initech", "--commit", SHA_B, "--no-wait")
    assert result.exit_code == 0, result.stderr
    assert f"commit: {SHA_B}" in (tenants_dir / "initech.yaml").read_text()
    initech = gateway(emu, "initech")
    assert initech["triggers"] == [] and initech["deployments"][-1]["commitHash"] == SHA_B
    emu.github_push(REPO, "refs/heads/main", SHA_D)
    assert SHA_D not in commits_deployed(emu, "initech")


def test_a_new_pinned_tenant_deploys_the_branch_head_then_its_pin(
        fleet: Fleet, write_tenant, emu: Emulator) -> None:
    """Railway offers no way to connect a repo without deploying its branch (README, "Pinned
    versions"): the head goes first, then the pin, in the same pass, and no trigger stays."""
    head = emu.push_commit(REPO, "main")
    write_tenant("initech", commit=SHA_B)
    converge(fleet)
    assert commits_deployed(emu, "initech") == [head, SHA_B]
    assert gateway(emu, "initech")["triggers"] == []


@pytest.mark.parametrize(("flags", "message"), [
    (("--commit", "abc1234"), "--commit: 'abc1234' is a short SHA (7 hex digits)"),
    (("--commit", SHA_A, "--image", "ghcr.io/luthienresearch/luthien-proxy:2.0.0"),
     "--commit cannot be combined with --image"),
])
def test_create_refuses_a_bad_commit_before_writing(run_cli, tenants_dir: Path, flags,
                                                    message) -> None:
    result = run_cli("create", "initech", *flags, "--no-wait")
    assert result.exit_code == 1 and message in result.stderr
    assert not (tenants_dir / "initech.yaml").exists()


@pytest.mark.parametrize(("gateway_yaml", "message"), [
    (f"repo: {REPO}\n  commit: {SHA_A[:7]}", "is a short SHA"),
    (f"repo: {REPO}\n  commit: {SHA_A.upper()}", "write the commit in lower case"),
    (f"image: ghcr.io/luthienresearch/luthien-proxy:2.0.0\n  commit: {SHA_A}",
     "commit only applies to repo"),
])
def test_a_bad_pin_is_a_manifest_error_with_its_line(tenants_dir: Path, gateway_yaml,
                                                     message) -> None:
    path = tenants_dir / "acme.yaml"
    path.write_text(f"version: 1\nname: acme\ngateway:\n  {gateway_yaml}\n")
    with pytest.raises(ManifestError) as caught:
        mf.load_tenants(tenants_dir)
    [problem] = caught.value.problems
    assert problem.line == 5 and problem.field == "gateway.commit" and message in problem.message


# --- status over HTTP against `saas-infra emulator` ----------------------------------------------


@pytest.fixture
def served_runtime(emu: Emulator, clock):
    """The CLI against the emulator served on a loopback port, as RAILWAY_API_URL would point
    it there: no in-process transport, so gateway probes go over HTTP too."""
    from saas_infra.cli import Runtime
    from saas_infra.emulator.server import start_in_thread
    from saas_infra.railway import RetryPolicy

    server, base_url = start_in_thread(emu)
    try:
        yield Runtime(env={"RAILWAY_TOKEN": emu.account_token, "NO_COLOR": "1",
                           "RAILWAY_API_URL": f"{base_url}/graphql/v2"},
                      clock=clock, retry=RetryPolicy(sleep=clock.sleep), stdin_interactive=False)
    finally:
        server.stop()


def test_status_probes_the_served_emulators_gateways_and_shows_the_pin(
        served_runtime, tenants_dir: Path, emu: Emulator, clock) -> None:
    import json

    from click.testing import CliRunner

    from saas_infra.cli import cli

    def run(*args: str):
        return CliRunner().invoke(cli, list(args), obj=served_runtime, catch_exceptions=False)

    # Its process exits once live, so nothing serves: 503. (An unhealthy version would now fail
    # the gateway's default health check and leave the branch's deployment serving: 200.)
    emu.set_commit_outcome(REPO, SHA_C, "crashes")
    assert run("create", "acme", "--commit", SHA_A, "--no-wait").exit_code == 0
    assert run("create", "globex", "--commit", SHA_C, "--no-wait").exit_code == 0
    clock.advance(minutes=SETTLE_MINUTES)

    acme = json.loads(run("status", "acme", "--json").stdout)
    globex = json.loads(run("status", "globex", "--json").stdout)
    assert acme["health"] == {"ok": True, "detail": "HTTP 200"}
    assert globex["health"] == {"ok": False, "detail": "HTTP 503"}  # the emulator's answer
    assert (acme["commit"], acme["pinned"]) == (SHA_A, True)
    text = run("status", "acme").stdout
    assert f"  Version:  {SHA_A[:12]} (pinned)" in text and "Health:   ok (HTTP 200)" in text
    listed = json.loads(run("list", "--json").stdout)["instances"]
    # globex's crashed deployment of its pin had replaced the one before: nothing serves.
    assert [(r["name"], r["commit"], r["newest"], r["pinned"]) for r in listed] == [
        ("acme", SHA_A, None, True), ("globex", None, SHA_C, True)]
    assert (f"  Version:  nothing serves (pinned to {SHA_C[:12]}); the newest deploy of "
            f"{SHA_C[:12]} CRASHED") in run("status", "globex").stdout


def test_a_manifest_pins_the_fleet_defaults_repo_and_a_new_source_drops_a_pin() -> None:
    from saas_infra.manifest.fleet import inherit

    defaults = {"gateway": {"repo": REPO, "branch": "main"}}
    assert inherit([defaults], {"gateway": {"commit": SHA_A}})["gateway"] == {
        "repo": REPO, "branch": "main", "commit": SHA_A}
    pinned = {"gateway": {"repo": REPO, "commit": SHA_A}}
    image = "ghcr.io/luthienresearch/luthien-proxy:2.0.0"
    assert inherit([pinned], {"gateway": {"image": image}})["gateway"] == {"image": image}
