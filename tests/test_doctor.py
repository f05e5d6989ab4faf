"""`saas-infra doctor`, read-only: one line per check, the right verdict for each setup, exit 1 on
a failed check, and its API-call budget (at most 10 plus one per listing page), measured with
the emulator's own counters. Item-5 behaviours the emulator cannot produce yet are made by a
transport that rewrites Railway's answers the way the issue describes them.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from saas_infra import lock
from saas_infra.cli import Runtime, cli
from saas_infra.clock import FakeClock
from saas_infra.diff import VALUES_ACCESS
from saas_infra.doctor import CHECK_IDS
from saas_infra.emulator import Emulator, RateLimits
from saas_infra.emulator.server import start_in_thread
from saas_infra.railway import RetryPolicy
from saas_infra.railway import operations as ops
from saas_infra.reconcile import apply_pass
from tests.conftest import START
from tests.doctor_lib import Rewrite

ROOT = Path(__file__).resolve().parents[1]
MUTATIONS = {op.name for op in ops.ALL_OPERATIONS if op.mutation}


def doctor(run_cli, emu: Emulator, *args: str, env: dict | None = None):
    """`doctor --json ...` with the account token in RAILWAY_API_TOKEN and pacing for the
    emulator's plan (PRO); returns (result, the JSON, its checks by id)."""
    base = {"RAILWAY_API_TOKEN": emu.account_token, "RAILWAY_TOKEN": None,
            "SAAS_INFRA_RAILWAY_PLAN": "PRO"}
    result = run_cli("doctor", "--json", *args, env={**base, **(env or {})})
    data = json.loads(result.stdout)
    return result, data, {c["id"]: c for c in data["checks"]}


# --- a setup that works ---------------------------------------------------------------------------


def test_every_check_passes_on_a_healthy_fleet(run_cli, emu, fleet, write_tenant):
    write_tenant("acme")
    write_tenant("globex")
    assert apply_pass(fleet).converged
    before = emu.counts["total"]
    result, data, checks = doctor(run_cli, emu)
    assert result.exit_code == 0, result.stderr
    assert [c["id"] for c in data["checks"]] == list(CHECK_IDS)
    assert {i: c["status"] for i, c in checks.items()} == dict.fromkeys(CHECK_IDS, "ok")
    assert checks["token"]["details"] == {"source": "RAILWAY_API_TOKEN", "kind": "personal"}
    assert "Emulated Workspace" in checks["workspace"]["summary"]
    assert checks["listing"]["details"]["projects"] == 3  # and the fleet lock's project
    assert checks["tenant-keys"]["summary"] == (
        "CLIENT_API_KEY and ADMIN_API_KEY readable for 2 tenants")
    assert checks["fleet"]["details"]["tenants"] == ["acme", "globex"]
    assert data["ok"] is True and data["cost"]["api_calls"] == emu.counts["total"] - before


def test_text_output_is_one_line_per_check_and_the_cost(run_cli, emu, tenants_dir):
    result = run_cli("doctor", env={"RAILWAY_API_TOKEN": emu.account_token, "RAILWAY_TOKEN": None,
                                    "SAAS_INFRA_RAILWAY_PLAN": "PRO"})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines[:len(CHECK_IDS)]] == list(CHECK_IDS)
    assert lines[0].startswith("✓ token            account token from RAILWAY_API_TOKEN")
    assert lines[5].startswith("- variable-values  no variables")  # nothing to read yet
    assert re.fullmatch(rf"Cost: {emu.counts['total']} API calls to Railway, \d+\.\d s\. "
                        r"Doctor: all good\.", lines[-1]), lines[-1]


def test_read_only_doctor_makes_at_most_ten_calls_plus_one_per_page(run_cli, emu, client,
                                                                    tenants_dir):
    for n in range(120):  # three pages of 50
        ops.project_create(client, name=f"other-{n}", description="", workspace_id=emu.workspace_id)
    before = emu.counts.copy()
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 0, result.stderr
    spent = emu.counts - before
    pages = spent["Fleet"]
    assert pages == 3 and checks["listing"]["details"]["pages"] == 3
    assert spent["total"] <= 10 + pages
    assert not MUTATIONS & set(spent)  # read-only


def test_a_workspace_token_is_found_through_the_undocumented_field(run_cli, emu, tenants_dir):
    result, _data, checks = doctor(run_cli, emu, env={"RAILWAY_API_TOKEN": emu.workspace_token})
    assert result.exit_code == 0, result.stderr
    assert checks["token"]["details"]["kind"] == "workspace"
    assert "apiToken { workspaces }" in checks["workspace"]["summary"]


# --- setups that are wrong ----------------------------------------------------------------


def test_a_refused_token_fails_and_the_rest_is_not_checked(run_cli, emu, tenants_dir):
    result, data, checks = doctor(run_cli, emu, env={"RAILWAY_API_TOKEN": "tok-revoked-0000"})
    assert result.exit_code == 1
    assert checks["token"]["status"] == "fail"
    assert "Railway refused the token from RAILWAY_API_TOKEN" in checks["token"]["summary"]
    assert checks["listing"]["status"] == "skip" and data["ok"] is False
    assert "tok-revoked-0000" not in result.stdout + result.stderr


def test_a_token_from_railway_token_warns_about_railways_name_for_project_tokens(run_cli, emu,
                                                                                  tenants_dir):
    result, _data, checks = doctor(run_cli, emu, env={"RAILWAY_API_TOKEN": None,
                                                      "RAILWAY_TOKEN": emu.account_token})
    assert result.exit_code == 0  # a warning, not a failure: saas-infra reads both
    assert checks["token"]["status"] == "warn"
    assert "export this token as RAILWAY_API_TOKEN" in checks["token"]["fix"]


def test_two_workspaces_without_the_variable_fail_naming_both(runtime, run_cli, clock,
                                                              tenants_dir):
    emu = Emulator(clock=clock, seed=2, extra_workspaces=1)
    runtime.transport = emu.transport()
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 1
    assert checks["workspace"]["summary"].startswith("the Railway token reaches 2 workspaces: ")
    assert "Extra Workspace 1" in checks["workspace"]["summary"]
    assert checks["workspace"]["fix"] == (
        "set RAILWAY_WORKSPACE_ID to the one saas-infra should manage")


@pytest.fixture
def served():
    clock = FakeClock(START)
    emu = Emulator(clock=clock, seed=3, extra_workspaces=1,
                   rate_limits=RateLimits(per_second=1000, per_hour=100_000))
    server, base_url = start_in_thread(emu)
    try:
        yield emu, base_url + "/graphql/v2", clock
    finally:
        server.stop()


@pytest.mark.parametrize("token", ["account", "workspace"])
def test_over_http_a_wrong_workspace_id_exits_1_naming_the_variable_and_the_reach(
        served, token, tmp_path, monkeypatch):
    emu, url, clock = served
    monkeypatch.chdir(tmp_path)
    env = {"RAILWAY_API_URL": url, "RAILWAY_WORKSPACE_ID": "ws-does-not-exist",
           "RAILWAY_API_TOKEN": getattr(emu, f"{token}_token"), "NO_COLOR": "1", "COLUMNS": "200"}
    runtime = Runtime(env=env, clock=clock, transport=httpx.HTTPTransport(),
                      retry=RetryPolicy(sleep=clock.sleep), stdin_interactive=False)
    result = CliRunner(env=env).invoke(cli, ["doctor"], obj=runtime)
    assert result.exit_code == 1, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("✗ workspace"))
    assert ("RAILWAY_WORKSPACE_ID=ws-does-not-exist is not a workspace this Railway token "
            "reaches; it reaches ") in line
    reach = emu.workspaces if token == "account" else emu.workspaces[:1]  # a workspace token's one
    for workspace in reach:
        assert f"{workspace['name']} ({workspace['id']})" in line
    assert "→ set RAILWAY_WORKSPACE_ID to one of those ids" in result.stdout


def test_the_older_team_variable_is_named_when_it_is_the_one_set(run_cli, emu, tenants_dir):
    result, _data, checks = doctor(run_cli, emu, env={"RAILWAY_TEAM_ID": "team-gone"})
    assert result.exit_code == 1
    summary = checks["workspace"]["summary"]
    assert summary.startswith("RAILWAY_WORKSPACE_ID=team-gone is not a workspace this Railway")
    assert summary.endswith("(set as RAILWAY_TEAM_ID, its older name)")


def test_a_pacing_preset_faster_than_railway_allows_warns(runtime, run_cli, clock, tenants_dir):
    emu = Emulator(clock=clock, seed=4, plan="HOBBY")
    runtime.transport = emu.transport()
    _result, _data, checks = doctor(run_cli, emu, env={"SAAS_INFRA_RAILWAY_PLAN": "PRO"})
    assert checks["rate-limits"]["status"] == "warn"
    assert "a limit of 1000" in checks["rate-limits"]["summary"]
    assert "faster than Railway allows" in checks["rate-limits"]["fix"]


def test_a_preset_slower_than_the_workspaces_plan_says_which_to_set(run_cli, emu, tenants_dir):
    _result, _data, checks = doctor(run_cli, emu, env={"SAAS_INFRA_RAILWAY_PLAN": None})
    # the emulator's workspace is on PRO; the default preset is HOBBY
    assert checks["rate-limits"]["status"] == "warn"
    assert checks["rate-limits"]["fix"] == "set SAAS_INFRA_RAILWAY_PLAN=PRO"


# --- the fleet ----------------------------------------------------------------------------


def test_orphans_unmanaged_projects_and_pending_deletions_are_counted(
        run_cli, emu, fleet, write_tenant, client, tenants_dir):
    for name in ("acme", "globex", "gone"):
        write_tenant(name)
    assert apply_pass(fleet).converged
    (tenants_dir / "globex.yaml").unlink()  # an orphan
    project = fleet.observe().managed()["gone"][0]
    ops.project_schedule_delete(client, project.id)
    (tenants_dir / "gone.yaml").unlink()
    ops.project_create(client, name="luthien-handmade", description="",
                       workspace_id=emu.workspace_id)
    result, _data, checks = doctor(run_cli, emu)
    details = checks["fleet"]["details"]
    assert details["tenants"] == ["acme", "globex"] and details["orphans"] == ["globex"]
    assert details["unmanaged"] == ["luthien-handmade"] and details["pending_deletion"] == ["gone"]
    assert checks["listing"]["details"]["pending_deletion"] == 1
    # counts of one read in the singular ("1 orphan", never "1 orphans")
    assert checks["fleet"]["summary"].startswith(
        "2 tenants, 1 pending deletion, 1 unmanaged luthien-* project; 1 manifest, 1 orphan; a "
        "pass now would make ")
    assert result.exit_code == 0, result.stdout


def test_a_broken_manifest_fails_the_fleet_check(run_cli, emu, tenants_dir):
    (tenants_dir / "bad.yaml").write_text("version: 1\nname: bad\ngateway: {}\n")
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 1
    assert checks["fleet"]["status"] == "fail"
    assert checks["fleet"]["fix"] == "`saas-infra validate` names each one"


def test_the_lock_holder_is_named(run_cli, emu, client, clock, tenants_dir):
    held = lock.FleetLock(client, emu.workspace_id, clock, holder="ci-run-42", heartbeat=None)
    held.acquire()
    _result, _data, checks = doctor(run_cli, emu)
    assert checks["lock"]["summary"].startswith("held: holder ci-run-42, expires ")
    clock.advance(hours=1)  # the holder died: its lease ran out
    _result, _data, checks = doctor(run_cli, emu)
    assert checks["lock"]["status"] == "warn"
    assert "expired lock left by a pass that died (holder ci-run-42" in checks["lock"]["summary"]


def test_lock_projects_an_earlier_saas_infra_left_are_named(run_cli, emu, client, tenants_dir):
    ops.project_create(client, name=lock.LEGACY_TICKET, workspace_id=None, description=(
        "[saas-infra-lock holder=old nonce=ab12 since=2026-11-01T00:00:00Z "
        "expires=2026-11-01T00:10:00Z]"))
    _result, _data, checks = doctor(run_cli, emu)
    assert checks["lock"]["status"] == "warn"
    assert checks["lock"]["summary"] == (
        "1 lock projects named saas-infra-lock left by an earlier saas-infra")
    assert checks["lock"]["fix"].startswith("`saas-infra unlock --force` removes them")


def test_without_a_tenants_folder_the_fleet_is_counted_not_compared(run_cli, emu, tenants_dir):
    shutil.rmtree(tenants_dir)
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 0
    assert "no tenants/ here, so no manifests to compare" in checks["fleet"]["summary"]


# --- what differs on Railway (issue 10's behaviours, as answers doctor inspects) -----------------


def test_masked_values_are_named_unreadable_and_only_warn(run_cli, emu, fleet, write_tenant):
    """A token whose owner may not decrypt (the emulator's masked token) reads every value as
    null: passes leave them alone, so doctor warns, naming what it costs and what is needed."""
    write_tenant("acme")
    assert apply_pass(fleet).converged
    result, _data, checks = doctor(run_cli, emu, env={"RAILWAY_API_TOKEN": emu.masked_token()})
    assert result.exit_code == 0, result.stdout
    values, keys = checks["variable-values"], checks["tenant-keys"]
    assert values["status"] == "warn"
    total = sum(len(s["variables"]) for p in emu.snapshot()["projects"] for s in p["services"])
    assert values["summary"].startswith(f"all {total} values came back masked (null): this token "
                                        "cannot decrypt variables, so passes cannot check values")
    assert values["fix"] == f"to check them, use {VALUES_ACCESS}"
    assert keys["status"] == "warn"
    assert keys["summary"].startswith("keys present but unreadable (masked or sealed) for 1 "
                                      "tenants: acme (CLIENT_API_KEY, ADMIN_API_KEY)")


def test_sealed_variables_are_named_and_sealed_keys_warn(run_cli, emu, fleet, write_tenant):
    write_tenant("acme")
    assert apply_pass(fleet).converged
    emu.seal_variable("luthien-acme", "Postgres", "PGPASSWORD")
    _result, _data, checks = doctor(run_cli, emu)
    assert checks["variable-values"]["status"] == "ok"
    assert checks["variable-values"]["summary"].endswith("; sealed (never returned): PGPASSWORD")
    assert checks["tenant-keys"]["status"] == "ok"
    emu.seal_variable("luthien-acme", "gateway", "ADMIN_API_KEY")
    result, _data, checks = doctor(run_cli, emu)
    assert checks["tenant-keys"]["status"] == "warn"
    assert "acme (ADMIN_API_KEY)" in checks["tenant-keys"]["summary"]
    assert "`credentials --rotate` makes new ones" in checks["tenant-keys"]["fix"]
    assert result.exit_code == 0


def test_a_key_shown_empty_is_missing_as_a_pass_sees_it(run_cli, emu, fleet, write_tenant):
    write_tenant("acme")
    assert apply_pass(fleet).converged
    acme = fleet.observe().tenant_project("acme")
    ops.variables_upsert(fleet.client, project_id=acme.id, environment_id=acme.environment_id,
                         service_id=acme.gateway.id, variables={"CLIENT_API_KEY": ""},
                         skip_deploys=True)
    _result, _data, checks = doctor(run_cli, emu)
    keys = checks["tenant-keys"]
    assert (keys["status"], keys["details"]["missing"]) == ("warn", ["acme (CLIENT_API_KEY)"])
    assert keys["fix"] == "the next pass generates the missing keys"


def test_values_null_without_being_sealed_are_named(runtime, run_cli, emu, fleet, write_tenant):
    write_tenant("acme")
    assert apply_pass(fleet).converged

    def hide(operation, headers, body):
        for edge in (body.get("data") or {}).get("projects", {}).get("edges", []):
            for env in edge["node"]["environments"]["edges"]:
                for service in env["node"]["config"]["services"].values():
                    if "PGPASSWORD" in service["variables"]:
                        service["variables"]["PGPASSWORD"]["value"] = None
        return body

    runtime.transport = Rewrite(emu.transport(), hide)
    _result, _data, checks = doctor(run_cli, emu)
    assert checks["variable-values"]["status"] == "warn"
    assert "1 came back null without being sealed (PGPASSWORD)" in checks["variable-values"][
        "summary"]


def test_templates_are_looked_up_without_credentials_which_railway_requires(run_cli, emu,
                                                                            tenants_dir):
    """The emulator refuses authenticated template lookups, as Railway does (railwayapp/cli
    #830): the lookups saas-infra makes carry no token, and doctor says so."""
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 0
    assert checks["templates"]["summary"] == (
        "postgres → Postgres (DATABASE_URL), redis → Redis (REDIS_URL); looked up without "
        "credentials, as Railway's CLI does")


def test_template_lookups_sent_with_a_token_are_refused_and_named(run_cli, emu, tenants_dir,
                                                                  monkeypatch):
    """A saas-infra that sent its token on template lookups: doctor names why every create
    would fail at its first step."""
    monkeypatch.setattr(ops, "TEMPLATE", replace(ops.TEMPLATE, anonymous=False))
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 1
    summary = checks["templates"]["summary"]
    assert summary.startswith("Railway refused the postgres template lookup, sent with this token")
    assert "991d8f0b" in summary and "every `create` would fail at its first step" in summary
    assert checks["templates"]["fix"] == (
        "upgrade saas-infra: it must look templates up without credentials")


def test_an_anonymous_template_lookup_refused_is_named(runtime, run_cli, emu, tenants_dir):
    def refuse(operation, headers, body):
        if operation == "Template":
            return {"data": None, "errors": [{"message": "Not Authorized", "path": ["template"],
                                              "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
        return body

    runtime.transport = Rewrite(emu.transport(), refuse)
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 1
    assert checks["templates"]["summary"].startswith(
        "the postgres template lookup (without credentials) failed: Railway answered \"Not "
        "Authorized\"")


def test_a_template_create_cannot_fill_fails_the_check(runtime, run_cli, emu, tenants_dir):
    """A required template variable without a default: create cannot deploy the template
    (ops.template_config_with_values), so doctor must not pass it."""
    def require(operation, headers, body):
        if operation == "Template" and body["data"]["template"]["code"] == "postgres":
            template = body["data"]["template"]
            raw = template["serializedConfig"]
            config = json.loads(raw) if isinstance(raw, str) else raw
            service = next(s for s in config["services"].values() if s["name"] == "Postgres")
            service["variables"]["PG_REQUIRED"] = {"defaultValue": "", "isOptional": False}
            template["serializedConfig"] = json.dumps(config) if isinstance(raw, str) else config
        return body

    runtime.transport = Rewrite(emu.transport(), require)
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 1
    assert checks["templates"]["status"] == "fail"
    assert checks["templates"]["summary"] == (
        "the postgres template needs a value for Postgres.PG_REQUIRED and gives no default: "
        "every `create` would fail deploying it")


def _with_pending(fleet, write_tenant, client, tenants_dir) -> None:
    write_tenant("acme")
    write_tenant("gone")
    assert apply_pass(fleet).converged
    ops.project_schedule_delete(client, fleet.observe().managed()["gone"][0].id)
    (tenants_dir / "gone.yaml").unlink()


def _project_count(value):
    def edit(operation, headers, body):
        if operation == "WorkspaceProjectCount":
            body["data"]["workspace"]["projectCount"] = value
        return body

    return edit


def test_what_railways_project_count_counts_is_learnt(runtime, run_cli, emu, fleet, write_tenant,
                                                      client, tenants_dir):
    """projectCount is a field no Railway client uses: doctor says whether it counted the
    project pending deletion, and a pass's guard holds either way."""
    _with_pending(fleet, write_tenant, client, tenants_dir)
    # Live: a tenant and the fleet lock's control project.
    for count, counted in ((2, "left out"), (3, "included")):
        runtime.transport = Rewrite(emu.transport(), _project_count(count))
        result, _data, checks = doctor(run_cli, emu)
        assert checks["listing"]["summary"].endswith(
            f"2 live, 1 pending deletion; Railway counts {count}, pending deletions {counted}")
        assert result.exit_code == 0 and checks["listing"]["status"] == "ok"


def test_a_listing_shorter_than_railways_count_fails_with_the_guards_reason(
        runtime, run_cli, emu, fleet, write_tenant, client, tenants_dir):
    _with_pending(fleet, write_tenant, client, tenants_dir)
    runtime.transport = Rewrite(emu.transport(), _project_count(5))
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 1
    assert checks["listing"]["summary"].endswith(
        "incomplete: Railway reports 5 projects but the listing returned 3")
    assert checks["listing"]["fix"].startswith("every apply stops on it (guard, exit 3)")


def test_without_a_project_count_the_listing_is_checked_another_way(
        runtime, run_cli, emu, fleet, write_tenant, client, tenants_dir):
    _with_pending(fleet, write_tenant, client, tenants_dir)
    runtime.transport = Rewrite(emu.transport(), _project_count(None))
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 0
    assert checks["listing"]["summary"].endswith(
        "Railway gave no projectCount (checked against the workspace listing)")


def test_a_listing_that_repeats_its_cursor_fails_instead_of_looping(run_cli, emu, client,
                                                                    tenants_dir):
    for n in range(60):  # two pages of 50
        ops.project_create(client, name=f"other-{n}", description="",
                           workspace_id=emu.workspace_id)
    emu.faults.repeat_cursor = True
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 1
    assert "incomplete: the listing cannot be trusted: " in checks["listing"]["summary"]
    assert "repeated" in checks["listing"]["summary"]


def test_a_listing_answer_that_differs_names_operation_field_expected_and_seen(
        runtime, run_cli, emu, fleet, write_tenant):
    write_tenant("acme")
    assert apply_pass(fleet).converged

    def odd_status(operation, headers, body):
        if operation == "Fleet":
            for edge in body["data"]["projects"]["edges"]:
                for env in edge["node"]["environments"]["edges"]:
                    for inst in env["node"]["serviceInstances"]["edges"]:
                        if inst["node"]["latestDeployment"]:
                            inst["node"]["latestDeployment"]["status"] = "HIBERNATING"
        return body

    runtime.transport = Rewrite(emu.transport(), odd_status)
    result, _data, checks = doctor(run_cli, emu)
    assert result.exit_code == 1
    assert checks["listing"]["differences"] == [{
        "operation": "Fleet",
        "field": "projects.edges[].node.environments[].serviceInstances[].latestDeployment.status",
        "expected": "one of Railway's deployment statuses", "seen": "HIBERNATING"}]


def test_projects_deleted_long_ago_that_stay_listed_are_named(runtime, run_cli, emu, fleet,
                                                              write_tenant, tenants_dir):
    write_tenant("acme")
    assert apply_pass(fleet).converged

    def long_gone(operation, headers, body):
        if operation == "Fleet":
            node = json.loads(json.dumps(body["data"]["projects"]["edges"][0]["node"]))
            node.update(id="gone-1", name="luthien-old", deletedAt="2026-01-01T00:00:00Z")
            body["data"]["projects"]["edges"].append({"node": node})
        return body

    runtime.transport = Rewrite(emu.transport(), long_gone)
    result, _data, checks = doctor(run_cli, emu)
    assert checks["listing"]["status"] == "warn"
    assert checks["listing"]["summary"].endswith("; 1 deleted long ago still listed")
    assert checks["listing"]["details"]["deleted_long_ago"] == 1
    assert result.exit_code == 0
