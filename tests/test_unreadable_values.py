"""Variable values Railway does not return: masked for a token that may not decrypt them
(railwayapp/cli src/commands/postgres/mod.rs) and sealed ones (railwayapp/docs variables.md).
An unreadable value is unknown, never missing: keys exist by name, nothing is rewritten, and
the plan says once what it could not check.
"""

from __future__ import annotations

import json
from dataclasses import replace

import httpx

from saas_infra.railway import operations as ops
from saas_infra.railway.observed import VariableSpec, parse_project, service_variables
from saas_infra.tenancy import KEY_NAMES
from tests.conftest import follows_warning
from tests.test_cli_verbs import created, railway
from tests.test_diff import REPO, gateway, observed, only_action, plan_for, project, tenant

API = "https://backboard.railway.com/graphql/v2"
MUTATIONS = {op.name for op in ops.ALL_OPERATIONS if op.mutation}
GATEWAY_VARIABLES = ("DATABASE_URL", "REDIS_URL", "AUTH_MODE", "LOG_LEVEL")


def post(emu, token: str, operation: ops.Operation, variables: dict) -> dict:
    body = {"query": operation.document, "variables": variables, "operationName": operation.name}
    answer = httpx.Client(transport=emu.transport()).post(
        API, json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    return answer.json()["data"]


def gateway_config(emu, token: str, name: str = "acme") -> dict:
    project_id = railway(emu, name).id
    node = post(emu, token, ops.PROJECT, {"id": project_id})["project"]
    environment = node["environments"]["edges"][0]["node"]
    [gateway_id] = [s["node"]["id"] for s in node["services"]["edges"]
                    if s["node"]["name"] == "gateway"]
    return environment["id"], gateway_id, environment["config"]["services"][gateway_id]


def mutations(emu) -> int:
    return sum(count for name, count in emu.counts.items() if name in MUTATIONS)


def fleet_of_two(run_cli, emu):
    for name in ("acme", "globex"):
        created(run_cli, emu, name)
    return {name: railway(emu, name).keys for name in ("acme", "globex")}


def set_log_level(tenants_dir, name: str) -> None:
    path = tenants_dir / f"{name}.yaml"
    path.write_text(path.read_text().replace(
        "  auth_mode: both\n", "  auth_mode: both\n  variables:\n    LOG_LEVEL: info\n"))


# --- the emulator --------------------------------------------------------------------------------


def test_a_token_without_decryption_reads_every_value_as_null(run_cli, emu):
    rw = created(run_cli, emu)
    masked = emu.masked_token()

    env_id, gateway_id, config = gateway_config(emu, masked)
    values = post(emu, masked, ops.VARIABLES, {"projectId": rw.id, "environmentId": env_id,
                                               "serviceId": gateway_id})["variables"]

    assert config["variables"] == {name: {"value": None} for name in rw.variables}
    assert set(values) >= set(rw.variables) and set(values.values()) == {None}
    assert gateway_config(emu, emu.account_token)[2]["variables"]["CLIENT_API_KEY"] == {
        "value": rw.keys["CLIENT_API_KEY"]}


def test_a_config_read_without_decryption_masks_every_value_as_null(run_cli, emu):
    rw = created(run_cli, emu)
    document = ("query Config($id: String!) { project(id: $id) { environments { edges { node {"
                " config } } } } }")
    config = post(emu, emu.account_token, ops.Operation("Config", document), {"id": rw.id})
    services = config["project"]["environments"]["edges"][0]["node"]["config"]["services"]
    values = [spec for service in services.values() for spec in service["variables"].values()]
    assert values and all(spec == {"value": None} for spec in values)


def test_a_sealed_variable_can_be_set_but_is_never_read_back(run_cli, emu):
    rw = created(run_cli, emu)
    emu.seal_variable("luthien-acme", "gateway", "CLIENT_API_KEY")
    env_id, gateway_id, config = gateway_config(emu, emu.account_token)
    ids = {"projectId": rw.id, "environmentId": env_id, "serviceId": gateway_id}

    assert config["variables"]["CLIENT_API_KEY"] == {"value": None, "isSealed": True}
    assert "CLIENT_API_KEY" not in post(emu, emu.account_token, ops.VARIABLES, ids)["variables"]
    post(emu, emu.account_token, ops.VARIABLE_COLLECTION_UPSERT,
         {"input": {**ids, "variables": {"CLIENT_API_KEY": "sk-new"}, "skipDeploys": True}})
    assert railway(emu, "acme").keys["CLIENT_API_KEY"] == "sk-new"  # the deployment gets it
    assert gateway_config(emu, emu.account_token)[2]["variables"]["CLIENT_API_KEY"] == {
        "value": None, "isSealed": True}


# --- reading and planning ---------------------------------------------------------------------


def _node(variables: dict) -> dict:
    config = {"services": {"svc-gw": {"source": {"repo": "o/r", "branch": "main"},
                                      "variables": variables}}}
    return {"id": "p", "name": "luthien-acme", "description": "[saas-infra tenant=acme]",
            "services": {"edges": [{"node": {"id": "svc-gw", "name": "gateway"}}]},
            "environments": {"edges": [{"node": {"id": "env", "name": "production",
                                                 "config": config}}]}}


def test_an_unreadable_value_is_unknown_and_its_name_still_counts():
    gateway = parse_project(_node({
        "CLIENT_API_KEY": {"value": None, "isSealed": True}, "ADMIN_API_KEY": {"value": None},
        "LOG_LEVEL": {"value": None}, "AUTH_MODE": {"value": "both"}})).gateway
    assert gateway.key_names == frozenset(KEY_NAMES)
    assert (gateway.unknown, gateway.sealed) == ({"LOG_LEVEL"}, {"CLIENT_API_KEY"})
    assert gateway.variables == {"AUTH_MODE": "both"} and not gateway.masked
    masked = parse_project(_node({"A": {"value": None}, "CLIENT_API_KEY": {"value": None}}))
    assert masked.gateway.masked


def test_a_project_without_a_production_environment_is_read_in_its_first():
    node = _node({"CLIENT_API_KEY": {"value": None}, "ADMIN_API_KEY": {"value": "k"},
                  "LOG_LEVEL": "info"})
    node["environments"]["edges"][0]["node"]["name"] = "staging"
    node["environments"]["edges"].append({"node": {"id": "env-2", "name": "preview",
                                                   "config": {"services": {}}}})
    assert service_variables(node)["svc-gw"] == {
        "CLIENT_API_KEY": VariableSpec(None), "ADMIN_API_KEY": VariableSpec("k"),
        "LOG_LEVEL": VariableSpec("info")}
    gateway = parse_project(node).gateway
    assert (gateway.key_names, gateway.unreadable_keys) == (set(KEY_NAMES), {"CLIENT_API_KEY"})


def test_an_unknown_value_is_never_drift():
    live = gateway(variables={"AUTH_MODE": "passthrough"})
    unknown = replace(live, unknown=frozenset({"DATABASE_URL", "REDIS_URL", "LOG_LEVEL"}))
    manifest = tenant("acme", gateway={"repo": REPO, "variables": {"LOG_LEVEL": "debug"}})

    plan = plan_for([manifest], observed(project("acme", gw=unknown)))

    assert only_action(plan).change.values == {"AUTH_MODE": "both"}  # a known value still is
    assert plan.warnings == (
        "Railway did not return 3 variable values (acme: DATABASE_URL, acme: LOG_LEVEL, "
        "acme: REDIS_URL) that the manifests set (it never returns a sealed value), so they were "
        "not checked for drift and are left as they are.", follows_warning("acme"))


# --- a pass over a converged fleet --------------------------------------------------------------


def test_a_pass_over_a_masked_fleet_changes_nothing_and_warns_once(run_cli, emu, tenants_dir):
    keys = fleet_of_two(run_cli, emu)
    set_log_level(tenants_dir, "acme")
    assert run_cli("apply", "--yes").exit_code == 0
    before = mutations(emu)
    masked = {"RAILWAY_TOKEN": emu.masked_token()}

    plan = run_cli("plan", "--detailed-exitcode", env=masked)
    applied = run_cli("apply", "--yes", env=masked)
    as_json = json.loads(run_cli("plan", "--json", env=masked).stdout)
    status = run_cli("status", "acme", env=masked).stdout.splitlines()
    markdown = run_cli("plan", "--markdown", env=masked).stdout

    warning = ("Warning: Railway masked the variable values of 2 tenants (acme, globex), so their "
               "variables were not checked for drift (their keys exist by name and are left "
               "alone); checking them needs a token whose owner may see the tenants' variables: "
               "not a project viewer, and a workspace admin where the production environment is "
               "restricted.")
    follows = f"Warning: {follows_warning('acme', 'globex')}\n"
    assert (plan.exit_code, plan.stdout, plan.stderr) == (0, "Plan: no changes.\n",
                                                          warning + "\n" + follows)
    assert applied.exit_code == 0
    assert applied.stderr == warning + "\n" + follows
    assert applied.stdout == "Nothing to do: Railway matches the manifests.\n"
    assert as_json["actions"] == [] and as_json["warnings"] == [
        warning.removeprefix("Warning: "), follows_warning("acme", "globex")]
    assert "> [!NOTE]\n> Railway masked the variable values of 2 tenants" in markdown
    assert status[-2] == "  warning: " + warning.removeprefix("Warning: ").replace(
        "2 tenants (acme, globex)", "1 tenant (acme)")  # status looks at one tenant
    assert mutations(emu) == before
    assert {name: railway(emu, name).keys for name in keys} == keys


def test_a_pass_over_a_sealed_fleet_changes_nothing_and_warns_once(run_cli, emu, tenants_dir):
    keys = fleet_of_two(run_cli, emu)
    set_log_level(tenants_dir, "acme")
    assert run_cli("apply", "--yes").exit_code == 0
    for name in ("acme", "globex"):
        for variable in (*KEY_NAMES, *GATEWAY_VARIABLES):
            if variable in railway(emu, name).variables:
                emu.seal_variable(f"luthien-{name}", "gateway", variable)
    before = mutations(emu)

    applied = run_cli("apply", "--yes")

    assert applied.exit_code == 0
    assert applied.stderr == (
        "Warning: Railway did not return 7 variable values (acme: AUTH_MODE, acme: DATABASE_URL, "
        "acme: LOG_LEVEL, acme: REDIS_URL, globex: AUTH_MODE, and 2 more) that the manifests set "
        "(it never returns a sealed value), so they were not checked for drift and are left as "
        f"they are.\nWarning: {follows_warning('acme', 'globex')}\n")
    assert mutations(emu) == before
    assert {name: railway(emu, name).keys for name in keys} == keys


def test_a_key_is_generated_only_when_its_name_is_absent(run_cli, emu):
    rw = created(run_cli, emu)
    emu.seal_variable("luthien-acme", "gateway", "ADMIN_API_KEY")
    env_id, gateway_id, _ = gateway_config(emu, emu.account_token)
    post(emu, emu.account_token, ops.VARIABLE_DELETE, {"input": {
        "projectId": rw.id, "environmentId": env_id, "serviceId": gateway_id,
        "name": "CLIENT_API_KEY"}})

    result = run_cli("apply", "--yes")

    keys = railway(emu, "acme").keys
    assert result.exit_code == 0, result.stderr
    assert keys["ADMIN_API_KEY"] == rw.keys["ADMIN_API_KEY"]
    assert keys["CLIENT_API_KEY"] not in (None, rw.keys["CLIENT_API_KEY"])


def test_a_key_read_back_empty_is_generated_again(run_cli, emu):
    rw = created(run_cli, emu)
    env_id, gateway_id, _ = gateway_config(emu, emu.account_token)
    post(emu, emu.account_token, ops.VARIABLE_COLLECTION_UPSERT, {"input": {
        "projectId": rw.id, "environmentId": env_id, "serviceId": gateway_id,
        "variables": {"CLIENT_API_KEY": ""}, "skipDeploys": True}})
    assert railway(emu, "acme").keys["CLIENT_API_KEY"] == ""

    result = run_cli("apply", "--yes")

    keys = railway(emu, "acme").keys
    assert result.exit_code == 0, result.stderr
    assert keys["ADMIN_API_KEY"] == rw.keys["ADMIN_API_KEY"]
    assert keys["CLIENT_API_KEY"] not in ("", None, rw.keys["CLIENT_API_KEY"])


# --- credentials ----------------------------------------------------------------------------------


def test_credentials_say_why_a_sealed_key_cannot_be_shown(run_cli, emu):
    rw = created(run_cli, emu)
    emu.seal_variable("luthien-acme", "gateway", "ADMIN_API_KEY")

    result = run_cli("credentials", "acme")
    as_json = json.loads(run_cli("credentials", "acme", "--json").stdout)

    assert result.exit_code == 1
    assert result.stdout == f"CLIENT_API_KEY:  {rw.keys['CLIENT_API_KEY']}\n"
    reason = ("ADMIN_API_KEY is sealed on Railway, which never returns a sealed value; "
              "`saas-infra credentials acme --rotate` sets new keys (clients of the old ones "
              "break)")
    assert result.stderr == f"Error: {reason}\n"
    assert as_json["credentials"]["ADMIN_API_KEY"] is None
    assert as_json["unreadable"] == {"ADMIN_API_KEY": reason}


def test_credentials_say_why_masked_keys_cannot_be_shown(run_cli, emu):
    created(run_cli, emu)

    result = run_cli("credentials", "acme", env={"RAILWAY_TOKEN": emu.masked_token()})

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"Error: Railway masked the value of {key}: this token may not read the tenant's variable "
        "values; reading them needs a token whose owner may see the tenants' variables: not a "
        "project viewer, and a workspace admin where the production environment is restricted"
        for key in KEY_NAMES]
