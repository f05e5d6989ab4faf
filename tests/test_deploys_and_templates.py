"""What ships code and what does not, and templates one at a time.

A configuration change redeploys the running version (railwayapp/cli src/commands/redeploy.rs:
`deploymentRedeploy` by default; src/commands/mcp/handler.rs: a variable write "triggers a
redeploy"); only an explicit redeploy request or a source change deploys a newer commit.
Database templates are added one at a time, each workflow waited for (railwayapp/cli
src/commands/add.rs, c54342ae).
"""

from __future__ import annotations

from saas_infra.railway import operations as ops
from tests.test_apply import REPO, converge, gateway_of, kinds, write_manifest
from tests.test_emulator import Api

SOURCE = f"  repo: {REPO}\n"


def commits(emu, tenant: str = "acme") -> list[str]:
    return [d["commitHash"] for d in gateway_of(emu, tenant)["deployments"]]


# --- the emulator ---------------------------------------------------------------------------


def test_redeploys_keep_the_commit_and_latest_commit_takes_the_head(fleet, write_tenant, emu,
                                                                    client):
    write_tenant("acme")
    converge(fleet)
    [live] = fleet.observe().managed()["acme"]
    ids = {"serviceId": live.gateway.id, "environmentId": live.environment_id}
    running = commits(emu)[-1]
    head = emu.push_commit(REPO, "main")

    client.execute(ops.Operation(
        "Redeploy", "mutation Redeploy($serviceId: String!, $environmentId: String!) {"
        " serviceInstanceRedeploy(serviceId: $serviceId, environmentId: $environmentId) }",
        mutation=True), ids)
    ops.variables_upsert(client, project_id=live.id, environment_id=live.environment_id,
                         service_id=live.gateway.id, variables={"A": "1"}, skip_deploys=False)
    assert commits(emu)[-2:] == [running, running]
    ops.deploy_latest_commit(client, service_id=live.gateway.id,
                             environment_id=live.environment_id)
    assert commits(emu)[-1] == head


def test_the_emulator_counts_template_workflows_that_overlap(emu):
    api = Api(emu)
    project = api.create_project()
    env_id = project["environments"]["edges"][0]["node"]["id"]

    def deploy(code: str) -> None:
        template = api.data(ops.TEMPLATE, {"code": code}, token=None)["template"]  # anonymous
        api.data(ops.TEMPLATE_DEPLOY, {"input": {
            "templateId": template["id"], "serializedConfig": template["serializedConfig"],
            "projectId": project["id"], "environmentId": env_id}})

    deploy("postgres")
    deploy("redis")  # the first workflow still runs
    assert emu.template_overlaps() == 1
    emu.clock.advance(60)
    deploy("redis")
    assert emu.template_overlaps() == 1


# --- a configuration change keeps the running version ----------------------------------------


def test_a_variable_change_does_not_ship_a_newer_commit(fleet, tenants_dir, emu):
    write_manifest(tenants_dir, "acme", SOURCE)
    converge(fleet)
    running = commits(emu)[-1]
    emu.push_commit(REPO, "main")
    write_manifest(tenants_dir, "acme", SOURCE + "  variables:\n    LOG_LEVEL: debug\n")

    report = converge(fleet)

    assert kinds(report.plan) == [("acme", "set-variables")]
    assert commits(emu) == [running, running]
    assert emu.counts["ServiceInstanceDeploy"] == 0


def test_a_variable_change_is_deployed_when_the_delete_beside_it_finds_nothing(
        fleet, tenants_dir, emu, client):
    """The plan sets LOG_LEVEL and removes HAND_MADE; someone removes HAND_MADE first. The
    write must still be deployed, and from the running commit."""
    write_manifest(tenants_dir, "acme", SOURCE)
    converge(fleet)
    [live] = fleet.observe().managed()["acme"]
    ids = {"project_id": live.id, "environment_id": live.environment_id,
           "service_id": live.gateway.id}
    ops.variables_upsert(client, **ids, variables={"HAND_MADE": "1"}, skip_deploys=True)
    write_manifest(tenants_dir, "acme", SOURCE + "  variables:\n    LOG_LEVEL: debug\n")
    plan = fleet.plan()
    assert plan.actions[0].change.unset == ("HAND_MADE",)
    ops.variable_delete(client, **ids, name="HAND_MADE")
    running, deployed = commits(emu)[-1], len(commits(emu))
    emu.push_commit(REPO, "main")

    [outcome] = fleet.applier().apply(plan)

    assert outcome.ok, outcome.error
    assert gateway_of(emu, "acme")["variables"]["LOG_LEVEL"] == "debug"
    assert commits(emu)[deployed:] == [running]  # deployed once more, from the running commit
    assert fleet.plan().empty


def test_an_explicit_redeploy_beside_a_variable_change_ships_the_head(fleet, tenants_dir, emu,
                                                                      clock):
    from saas_infra.manifest import set_redeploy

    path = write_manifest(tenants_dir, "acme", SOURCE)
    converge(fleet)
    head = emu.push_commit(REPO, "main")
    write_manifest(tenants_dir, "acme", SOURCE + "  variables:\n    LOG_LEVEL: debug\n")
    clock.advance(60)
    set_redeploy(path, clock.now())

    report = converge(fleet)

    assert kinds(report.plan) == [("acme", "set-variables"), ("acme", "redeploy")]
    assert commits(emu)[-1] == head and len(commits(emu)) == 2  # one deploy carries both


# --- templates one at a time ------------------------------------------------------------------


def test_templates_are_deployed_one_at_a_time(fleet, write_tenant, emu):
    for name in ("acme", "globex", "initech"):
        write_tenant(name)

    converge(fleet)

    assert emu.counts["TemplateDeploy"] == 6
    assert emu.template_overlaps() == 0
