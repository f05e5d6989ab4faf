"""A first end-to-end pass on the emulator: apply converges and the next plan is empty."""

from saas_infra.reconcile import apply_pass
from tests.conftest import fleet_projects


def test_apply_creates_tenants_and_the_next_plan_is_empty(fleet, write_tenant, emu):
    write_tenant("acme")
    write_tenant("globex", image="ghcr.io/luthienresearch/luthien-proxy:1.2.3")
    report = apply_pass(fleet)
    assert [o.ok for o in report.outcomes] == [True, True]
    assert report.converged
    names = sorted(p["name"] for p in emu.snapshot()["projects"])
    assert names == ["luthien-acme", "luthien-globex", "saas-infra-control"]  # and the lock's
    assert fleet.plan().empty


def test_cli_apply_then_plan_detailed_exitcode(run_cli, write_tenant):
    write_tenant("acme")
    assert run_cli("plan", "--detailed-exitcode").exit_code == 2
    applied = run_cli("apply", "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert "ok     acme: project created" in applied.stdout
    assert run_cli("plan", "--detailed-exitcode").exit_code == 0


def test_secret_variables_set_on_railway_by_operators_are_left_alone(fleet, write_tenant, client):
    from saas_infra.railway import operations as ops

    write_tenant("acme")
    apply_pass(fleet)
    project = fleet.observe().managed()["acme"][0]
    ops.variables_upsert(client, project_id=project.id, environment_id=project.environment_id,
                         service_id=project.gateway.id,
                         variables={"OPENAI_API_KEY": "sk-operator", "STRAY": "x"})
    plan = fleet.plan()
    assert [a.change.unset for a in plan.actions] == [("STRAY",)]
    apply_pass(fleet)
    values = ops.variables(client, project_id=project.id, environment_id=project.environment_id,
                           service_id=project.gateway.id)
    assert values["OPENAI_API_KEY"] == "sk-operator" and "STRAY" not in values


def test_usage_errors_exit_1_never_2_which_means_changes(run_cli):
    assert run_cli("plan", "--no-such-flag").exit_code == 1
    assert run_cli("no-such-command").exit_code == 1
    assert run_cli("apply", "--max-deletions", "-1").exit_code == 1
    bad_time = run_cli("plan", "--at", "yesterday")
    assert bad_time.exit_code == 1
    assert "Error: --at 'yesterday' is not a time" in bad_time.stderr


def test_a_template_deploy_that_times_out_after_committing_is_adopted_not_repeated(
    emu, clock, tenants_dir, write_tenant
):
    import json

    import httpx

    from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
    from saas_infra.reconcile import Fleet

    inner = emu.transport()
    lost = []

    class LoseFirstTemplateAnswer(httpx.BaseTransport):
        def handle_request(self, request):
            response = inner.handle_request(request)
            if json.loads(request.content)["operationName"] == "TemplateDeploy" and not lost:
                lost.append(True)  # Railway committed it; the answer never arrived
                raise httpx.ReadTimeout("timed out", request=request)
            return response

    client = RailwayClient(emu.account_token, transport=LoseFirstTemplateAnswer(),
                           retry=RetryPolicy(sleep=clock.sleep), pacer=Pacer.unlimited(clock=clock),
                           clock=clock)
    write_tenant("acme")
    report = apply_pass(Fleet(client=client, clock=clock, tenants_dir=tenants_dir))
    assert lost and report.converged
    services = [s["name"] for s in fleet_projects(emu)[0]["services"]]
    assert sorted(services) == ["Postgres", "Redis", "gateway"]
    assert emu.counts["TemplateDeploy"] == 2  # one each: the lost one was not sent again
