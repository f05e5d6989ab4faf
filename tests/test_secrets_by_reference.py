"""Secrets by reference (gateway.secrets NAME: {from_env: VAR}): validated with file, line and
field; inherited from fleet.yaml name by name; planned by name only; set on Railway from the
pass's environment at apply time; a missing VAR fails its tenant alone; present secrets are left
alone unless --resync-secrets rewrites them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from saas_infra.errors import ManifestError
from saas_infra.manifest import load_tenants
from saas_infra.plan import ActionKind, Create, PassOptions, Plan, SetSecrets
from saas_infra.railway import operations as ops
from saas_infra.reconcile import apply_pass
from tests.test_apply import converge, gateway_of, kinds, projects, write_manifest

REPO = "LuthienResearch/luthien-proxy"
VALUE = "sk-ant-TEST-value-0f1e2d3c"
OTHER = "sk-ant-TEST-other-9a8b7c6d"
SECRET = "  secrets:\n    ANTHROPIC_API_KEY: {from_env: LUTHIEN_ANTHROPIC_API_KEY}\n"
GATEWAY = f"  repo: {REPO}\n{SECRET}"
ENV = {"LUTHIEN_ANTHROPIC_API_KEY": VALUE}


def problems(tenants_dir: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_tenants(tenants_dir)
    return [f"{p.file}:{p.line}: {p.field}: {p.message}" for p in caught.value.problems]


# --- the manifest ------------------------------------------------------------------------------


@pytest.mark.parametrize(("secrets", "expected"), [
    ("    DATABASE_URL: {from_env: X}\n",
     "6: gateway.secrets.DATABASE_URL: DATABASE_URL is reserved: saas-infra sets it to "
     "${{Postgres.DATABASE_URL}}"),
    ("    CLIENT_API_KEY: {from_env: X}\n",
     "6: gateway.secrets.CLIENT_API_KEY: CLIENT_API_KEY is reserved: saas-infra generates it"),
    ("    RAILWAY_TOKEN: {from_env: X}\n",
     "6: gateway.secrets.RAILWAY_TOKEN: RAILWAY_TOKEN is reserved: names starting with "
     "RAILWAY_ are Railway's"),
    ("    api_key: {from_env: X}\n",
     "6: gateway.secrets.api_key: 'api_key' is not a variable name (upper-case letters, digits "
     "and underscores, not starting with a digit)"),
    ("    SENTRY_DSN: {from_env: X}\n",
     "6: gateway.secrets.SENTRY_DSN: SENTRY_DSN does not look like a secret"),
    ("    ANTHROPIC_API_KEY: {from_env: 1X}\n",
     "6: gateway.secrets.ANTHROPIC_API_KEY.from_env: '1X' is not an environment variable name"),
    ("    ANTHROPIC_API_KEY: {from_env: 12}\n",
     "6: gateway.secrets.ANTHROPIC_API_KEY.from_env: must be text, but YAML read the number 12"),
    ("    ANTHROPIC_API_KEY: {frm_env: X}\n",
     "6: gateway.secrets.ANTHROPIC_API_KEY.frm_env: unknown field 'frm_env' (allowed here: "
     "from_env); did you mean 'from_env'?"),
    ("    ANTHROPIC_API_KEY: sk-ant-in-git\n",
     "6: gateway.secrets.ANTHROPIC_API_KEY: must be a mapping of fields"),
])
def test_a_bad_secret_is_reported_with_file_line_and_field(tenants_dir, secrets, expected):
    write_manifest(tenants_dir, "acme", f"  repo: {REPO}\n  secrets:\n{secrets}")
    found = problems(tenants_dir)
    assert any(p.startswith("tenants/acme.yaml:" + expected) for p in found), found


def test_secrets_are_inherited_from_fleet_defaults_and_tiers_name_by_name(tenants_dir):
    (tenants_dir.parent / "fleet.yaml").write_text(
        "version: 1\ndefaults:\n  gateway:\n    secrets:\n"
        "      ANTHROPIC_API_KEY: {from_env: FLEET_KEY}\n      SENTRY_TOKEN: {from_env: SENTRY}\n"
        "tiers:\n  enterprise:\n    gateway:\n      secrets:\n"
        "        ANTHROPIC_API_KEY: {from_env: ENTERPRISE_KEY}\n")
    write_manifest(tenants_dir, "acme", f"  repo: {REPO}\n", extra="tier: enterprise\n")
    write_manifest(tenants_dir, "globex", f"  repo: {REPO}\n  secrets:\n"
                   "    OPENAI_API_KEY: {from_env: GLOBEX_OPENAI}\n")
    loaded = {m.name: m.manifest.gateway.secrets for m in load_tenants(tenants_dir)}
    refs = {name: {k: v.from_env for k, v in s.items()} for name, s in loaded.items()}
    assert refs == {
        "acme": {"ANTHROPIC_API_KEY": "ENTERPRISE_KEY", "SENTRY_TOKEN": "SENTRY"},
        "globex": {"ANTHROPIC_API_KEY": "FLEET_KEY", "SENTRY_TOKEN": "SENTRY",
                   "OPENAI_API_KEY": "GLOBEX_OPENAI"},
    }


# --- plan and apply ------------------------------------------------------------------------------


def test_a_new_tenant_gets_its_secret_at_create_and_the_plan_holds_only_names(
        fleet, tenants_dir, emu):
    fleet.env = ENV
    write_manifest(tenants_dir, "acme", GATEWAY)
    plan = fleet.plan()
    [create] = plan.actions
    assert isinstance(create.change, Create)
    assert create.change.secrets == {"ANTHROPIC_API_KEY": "LUTHIEN_ANTHROPIC_API_KEY"}
    assert "ANTHROPIC_API_KEY from LUTHIEN_ANTHROPIC_API_KEY" in create.reason
    assert VALUE not in plan.to_json()
    assert Plan.from_json(plan.to_json()) == plan
    converge(fleet)
    assert gateway_of(emu, "acme")["variables"]["ANTHROPIC_API_KEY"] == VALUE


def test_an_existing_tenant_gets_an_added_secret_and_the_next_plan_is_empty(
        fleet, tenants_dir, emu):
    fleet.env = ENV
    write_manifest(tenants_dir, "acme", f"  repo: {REPO}\n")
    converge(fleet)
    write_manifest(tenants_dir, "acme", GATEWAY)
    plan = fleet.plan()
    assert kinds(plan) == [("acme", "set-secrets")]
    [action] = plan.actions
    assert action.reason == ("gateway secrets absent on Railway: ANTHROPIC_API_KEY from "
                             "LUTHIEN_ANTHROPIC_API_KEY")
    deployments = len(gateway_of(emu, "acme")["deployments"])
    converge(fleet)  # converge asserts the re-plan is empty
    gateway = gateway_of(emu, "acme")
    assert gateway["variables"]["ANTHROPIC_API_KEY"] == VALUE
    assert len(gateway["deployments"]) == deployments + 1  # the write deploys it


def test_a_missing_env_variable_fails_its_tenant_alone_naming_it(fleet, tenants_dir, emu):
    fleet.env = {}
    write_manifest(tenants_dir, "acme", GATEWAY)
    write_manifest(tenants_dir, "globex", f"  repo: {REPO}\n")
    before = emu.counts["total"]
    report = apply_pass(fleet)
    [failed] = report.failed
    assert failed.tenant == "acme" and failed.steps == []
    assert failed.error is not None and "LUTHIEN_ANTHROPIC_API_KEY" in failed.error
    assert "nothing was sent for this tenant" in failed.error
    names = {p["name"] for p in projects(emu)}
    assert "luthien-globex" in names and "luthien-acme" not in names  # nothing sent for acme
    assert emu.counts["total"] > before
    fleet.env = ENV  # the CI secret is configured: the next pass creates acme
    converge(fleet)
    assert gateway_of(emu, "acme")["variables"]["ANTHROPIC_API_KEY"] == VALUE


def test_an_empty_env_variable_counts_as_missing(fleet, tenants_dir, emu):
    fleet.env = {"LUTHIEN_ANTHROPIC_API_KEY": ""}
    write_manifest(tenants_dir, "acme", GATEWAY)
    [failed] = apply_pass(fleet).failed
    assert "LUTHIEN_ANTHROPIC_API_KEY" in (failed.error or "")
    assert [p["name"] for p in projects(emu)] == []


def _set_by_hand(fleet, client, name: str, value: str) -> None:
    [live] = fleet.observe().managed()["acme"]
    ops.variables_upsert(client, project_id=live.id, environment_id=live.environment_id,
                         service_id=live.gateway.id, variables={name: value})


def test_a_present_secret_is_left_alone_until_resync_rewrites_it(fleet, client, tenants_dir,
                                                                  emu):
    fleet.env = ENV
    write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    _set_by_hand(fleet, client, "ANTHROPIC_API_KEY", OTHER)  # rotated on Railway by hand
    assert fleet.plan().empty  # secrets are compared by name: present is enough
    plan = fleet.plan(options=PassOptions(resync_secrets=True))
    [action] = plan.actions
    assert isinstance(action.change, SetSecrets) and action.change.resync
    assert "rewritten (--resync-secrets)" in action.reason
    assert VALUE not in plan.to_json() and OTHER not in plan.to_json()
    converge(fleet, options=PassOptions(resync_secrets=True))
    assert gateway_of(emu, "acme")["variables"]["ANTHROPIC_API_KEY"] == VALUE


def test_a_sealed_secret_is_present_by_name_and_left_alone(fleet, tenants_dir, emu):
    fleet.env = ENV
    write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    emu.seal_variable("luthien-acme", "gateway", "ANTHROPIC_API_KEY")
    assert fleet.plan().empty
    assert kinds(fleet.plan(options=PassOptions(resync_secrets=True))) == [("acme", "set-secrets")]


def test_a_secret_shown_empty_is_missing_and_set_again(fleet, client, tenants_dir, emu):
    fleet.env = ENV
    write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    _set_by_hand(fleet, client, "ANTHROPIC_API_KEY", "")
    assert kinds(fleet.plan()) == [("acme", "set-secrets")]
    converge(fleet)
    assert gateway_of(emu, "acme")["variables"]["ANTHROPIC_API_KEY"] == VALUE


def test_removing_a_secret_from_the_manifest_leaves_it_on_railway(fleet, tenants_dir, emu):
    fleet.env = ENV
    write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    write_manifest(tenants_dir, "acme", f"  repo: {REPO}\n")
    assert fleet.plan().empty
    assert gateway_of(emu, "acme")["variables"]["ANTHROPIC_API_KEY"] == VALUE


# --- the command line ------------------------------------------------------------------------------


def test_plan_and_apply_with_resync_secrets_on_the_command_line(run_cli, tenants_dir, emu):
    write_manifest(tenants_dir, "acme", GATEWAY)
    created = run_cli("apply", "--yes", env=ENV)
    assert created.exit_code == 0, created.stderr
    assert VALUE not in created.stdout + created.stderr
    assert run_cli("plan", "--detailed-exitcode", env=ENV).exit_code == 0
    plan = run_cli("plan", "--json", "--resync-secrets", env=ENV)
    data = json.loads(plan.stdout)
    [action] = data["actions"]
    assert action["kind"] == ActionKind.SET_SECRETS.value
    assert action["change"]["secrets"] == {"ANTHROPIC_API_KEY": "LUTHIEN_ANTHROPIC_API_KEY"}
    resynced = run_cli("apply", "--yes", "--resync-secrets", env={
        "LUTHIEN_ANTHROPIC_API_KEY": OTHER})
    assert resynced.exit_code == 0, resynced.stderr
    assert OTHER not in resynced.stdout + resynced.stderr
    assert gateway_of(emu, "acme")["variables"]["ANTHROPIC_API_KEY"] == OTHER


def test_apply_without_the_env_variable_exits_1_naming_it(run_cli, tenants_dir, emu):
    write_manifest(tenants_dir, "acme", GATEWAY)
    result = run_cli("apply", "--yes")
    assert result.exit_code == 1
    assert "LUTHIEN_ANTHROPIC_API_KEY" in result.stdout + result.stderr


def test_list_and_status_show_secrets_by_name_only(run_cli, tenants_dir, emu):
    write_manifest(tenants_dir, "acme", GATEWAY)
    listed = json.loads(run_cli("list", "--json").stdout)["instances"][0]
    assert listed["secrets"] == {"ANTHROPIC_API_KEY": {
        "from_env": "LUTHIEN_ANTHROPIC_API_KEY", "on_railway": None}}
    assert run_cli("apply", "--yes", env=ENV).exit_code == 0
    listed = json.loads(run_cli("list", "--json").stdout)["instances"][0]
    assert listed["secrets"]["ANTHROPIC_API_KEY"]["on_railway"] is True
    status = run_cli("status", "acme")
    assert ("  Secret:   ANTHROPIC_API_KEY from LUTHIEN_ANTHROPIC_API_KEY (set on Railway)"
            in status.stdout.splitlines())
    as_json = json.loads(run_cli("status", "acme", "--json").stdout)
    assert as_json["secrets"]["ANTHROPIC_API_KEY"]["from_env"] == "LUTHIEN_ANTHROPIC_API_KEY"
    for text in (status.stdout, json.dumps(as_json), json.dumps(listed)):
        assert VALUE not in text
