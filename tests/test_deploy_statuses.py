"""Every deployment status of Railway's schema, as the emulator produces it and as saas-infra
reads it (railwayapp/cli src/commands/output/service_summary.rs): WAITING is in progress,
NEEDS_APPROVAL ends a wait at once, SLEEPING counts as running, SKIPPED leaves the deployment
before it running, REMOVING/REMOVED mean no deployment runs.
"""

from __future__ import annotations

import json

import httpx
import pytest

from saas_infra.clock import FakeClock
from saas_infra.emulator import Emulator
from saas_infra.emulator.lifecycle import SLEEP_AFTER_SECONDS
from saas_infra.railway import operations as ops
from tests.test_cli_verbs import created, railway, waits
from tests.test_emulator import DEPLOY, ROOMY, Api, gateway_status

APPROVE = ops.Operation("Approve", "mutation Approve($id: String!) { deploymentApprove(id: $id) }",
                        mutation=True)


@pytest.fixture
def api() -> Api:
    return Api(Emulator(clock=FakeClock(), rate_limits=ROOMY, deploy_seconds=DEPLOY))


def statuses(api: Api, tenant: dict, *seconds: float) -> list[str]:
    """The gateway's newest deployment status at each of these seconds from now."""
    seen, elapsed = [], 0.0
    for at in seconds:
        api.emu.clock.advance(at - elapsed)
        elapsed = at
        seen.append(gateway_status(api, tenant))
    return seen


def health(api: Api, tenant: dict) -> int:
    web = httpx.Client(transport=api.emu.transport())
    return web.get(f"https://{tenant['domain']}/health").status_code


def redeploy(api: Api, tenant: dict) -> None:
    api.data(ops.SERVICE_INSTANCE_DEPLOY,
             {"serviceId": tenant["gateway"], "environmentId": tenant["env"]})


# --- the emulator produces each one ---------------------------------------------------------


def test_waiting_is_ci_then_the_usual_life_cycle(api):
    api.emu.script_next_deploy("WAITING")
    tenant = api.create_tenant()
    assert statuses(api, tenant, 0, DEPLOY - 1, DEPLOY + 1, 2 * DEPLOY) == [
        "WAITING", "WAITING", "INITIALIZING", "SUCCESS"]


def test_needs_approval_waits_for_deployment_approve(api):
    api.emu.script_next_deploy("NEEDS_APPROVAL")
    tenant = api.create_tenant()
    assert statuses(api, tenant, 0, 3600) == ["NEEDS_APPROVAL", "NEEDS_APPROVAL"]
    assert health(api, tenant) == 503
    deployment = api.latest(tenant, 1)[0]["id"]
    assert api.data(APPROVE, {"id": deployment}) == {"deploymentApprove": True}
    assert statuses(api, tenant, 0, DEPLOY) == ["QUEUED", "SUCCESS"]
    assert api.error(APPROVE, {"id": deployment}) == "Deployment does not need approval"


def test_skipped_deploys_nothing_and_the_one_before_keeps_running(api):
    tenant = api.create_tenant()
    api.emu.clock.advance(DEPLOY)
    api.emu.script_next_deploy("SKIPPED")
    redeploy(api, tenant)
    assert statuses(api, tenant, 0, DEPLOY) == ["QUEUED", "SKIPPED"]
    assert [d["status"] for d in api.latest(tenant)] == ["SKIPPED", "SUCCESS"]
    assert health(api, tenant) == 200


def test_sleeping_is_running_after_ten_idle_minutes(api):
    api.emu.script_next_deploy("SLEEPING")
    tenant = api.create_tenant()
    assert statuses(api, tenant, DEPLOY, DEPLOY + SLEEP_AFTER_SECONDS) == ["SUCCESS", "SLEEPING"]
    assert health(api, tenant) == 200  # the request wakes it
    redeploy(api, tenant)
    api.emu.clock.advance(DEPLOY)
    assert [d["status"] for d in api.latest(tenant)] == ["SUCCESS", "REMOVED"]


def test_removing_ends_removed_and_nothing_runs(api):
    api.emu.script_next_deploy("REMOVING")
    tenant = api.create_tenant()
    assert statuses(api, tenant, DEPLOY, DEPLOY + 1, DEPLOY + 2) == [
        "REMOVING", "REMOVING", "REMOVED"]
    assert health(api, tenant) == 503


def test_an_unknown_scripted_status_is_refused(api):
    with pytest.raises(ValueError, match="status must be"):
        api.emu.script_next_deploy("SUCCESS")


# --- saas-infra reads each one ----------------------------------------------------------------


def test_needs_approval_ends_the_wait_at_once(run_cli, emu, clock):
    rw = created(run_cli, emu)
    emu.script_next_deploy("NEEDS_APPROVAL")
    started = clock.monotonic()

    result = run_cli("redeploy", "acme")

    waiting = railway(emu, "acme").deployments[-1]
    assert waiting["status"] == "NEEDS_APPROVAL"
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: the gateway deployment {waiting['id']} awaits approval in Railway: approve it "
        f"in the Railway console ({rw.console}); `saas-infra status acme` follows it")
    assert clock.monotonic() - started < 60  # not the 900 s timeout
    listed = json.loads(run_cli("list", "--json").stdout)["instances"][0]
    assert listed["status"] == "awaiting_approval"  # a stable identifier, as every status


def test_waiting_for_ci_is_waited_through(run_cli, emu):
    created(run_cli, emu)
    emu.script_next_deploy("WAITING")

    result = run_cli("redeploy", "acme")

    newest = railway(emu, "acme").deployments[-1]
    assert result.exit_code == 0, result.stderr
    assert waits(result.stdout).startswith(f"Redeployed acme: SUCCESS after N s (deployment "
                                           f"{newest['id']}")


def test_a_sleeping_gateway_is_running_asleep(run_cli, emu, clock):
    created(run_cli, emu)
    emu.script_next_deploy("SLEEPING")
    assert run_cli("redeploy", "acme").exit_code == 0
    clock.advance(SLEEP_AFTER_SECONDS)

    listed = run_cli("list")
    status = json.loads(run_cli("status", "acme", "--json").stdout)

    assert listed.stdout.splitlines()[1].split()[:3] == ["acme", "running", "(asleep)"]
    assert (status["status"], status["asleep"]) == ("running", True)  # the detail a field
    gateway = next(s for s in status["services"] if s["name"] == "gateway")
    assert gateway["deployment_status"] == "SLEEPING"
    assert status["health"] == {"ok": True, "detail": "HTTP 200"}


def test_a_skipped_redeploy_leaves_the_running_one(run_cli, emu):
    created(run_cli, emu)
    emu.script_next_deploy("SKIPPED")

    result = run_cli("redeploy", "acme")
    listed = json.loads(run_cli("list", "--json").stdout)["instances"][0]

    assert result.exit_code == 0, result.stderr
    assert waits(result.stdout).startswith("Redeployed acme: SKIPPED after N s")
    assert listed["status"] == "running"


def test_a_removed_deployment_is_reported(run_cli, emu):
    created(run_cli, emu)
    emu.script_next_deploy("REMOVING")

    result = run_cli("redeploy", "acme")

    removed = railway(emu, "acme").deployments[-1]
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(
        f"Error: the gateway deployment {removed['id']} was removed on Railway (REMOV")
    assert json.loads(run_cli("list", "--json").stdout)["instances"][0]["status"] == "removed"
