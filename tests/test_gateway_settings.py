"""The gateway's deploy settings (issue 14 items 2-3): health check, restart policy, app sleeping
and replicas, from manifest and fleet file to Railway and back, drift repaired, a crash between
the settings update and its redeploy finished by the next pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from saas_infra.manifest import parse_manifest
from saas_infra.railway import operations as ops
from saas_infra.reconcile import apply_pass
from tests.test_apply import converge, gateway_of, kinds, write_manifest

GATEWAY = "  repo: LuthienResearch/luthien-proxy\n"


def deploy_of(emu, tenant: str) -> dict:
    return gateway_of(emu, tenant)["deploy"]


@pytest.mark.parametrize(("text", "field"), [
    ("  healthcheck: {path: health}\n", "gateway.healthcheck.path"),
    ("  healthcheck: {timeout: 0}\n", "gateway.healthcheck.timeout"),
    ("  restart: {policy: sometimes}\n", "gateway.restart.policy"),
    ("  restart: {max_retries: -1}\n", "gateway.restart.max_retries"),
    ("  sleep: \"false\"\n", "gateway.sleep"),
    ("  replicas: 0\n", "gateway.replicas"),
    ("  replicas: 43\n", "gateway.replicas"),
])
def test_invalid_settings_name_their_field_and_line(text: str, field: str) -> None:
    _, problems = parse_manifest(f"version: 1\nname: acme\ngateway:\n{GATEWAY}{text}".encode(),
                                 "tenants/acme.yaml")
    assert problems, text
    assert any(p.line == 5 and field in str(p) for p in problems), [str(p) for p in problems]


def test_absent_settings_mean_the_health_check_on_and_railways_defaults() -> None:
    manifest, problems = parse_manifest(f"version: 1\nname: acme\ngateway:\n{GATEWAY}".encode(),
                                        "tenants/acme.yaml")
    assert not problems and manifest is not None
    gateway = manifest.gateway
    assert (gateway.healthcheck.path, gateway.healthcheck.timeout) == ("/health", 300)
    assert (gateway.restart.policy, gateway.restart.max_retries) == ("on_failure", 10)
    assert (gateway.sleep, gateway.replicas) == (False, 1)


def test_a_new_tenant_gets_its_settings_and_the_plan_is_empty_after(fleet, tenants_dir, emu):
    write_manifest(tenants_dir, "acme", GATEWAY + "  replicas: 3\n  sleep: true\n"
                   "  healthcheck: {timeout: 60}\n  restart: {policy: always}\n")
    converge(fleet)
    deploy = deploy_of(emu, "acme")
    assert deploy["healthcheckPath"] == "/health" and deploy["healthcheckTimeout"] == 60
    assert deploy["restartPolicyType"] == "ALWAYS" and deploy["sleepApplication"] is True
    assert deploy["multiRegionConfig"] == {"us-west2": {"numReplicas": 3}}


@pytest.mark.parametrize(("edit", "expect"), [
    ("  healthcheck: {path: /ready, timeout: 30}\n",
     {"healthcheckPath": "/ready", "healthcheckTimeout": 30}),
    ("  restart: {policy: on_failure, max_retries: 3}\n", {"restartPolicyMaxRetries": 3}),
    ("  restart: {policy: never}\n", {"restartPolicyType": "NEVER"}),
    ("  sleep: true\n", {"sleepApplication": True}),
    ("  replicas: 2\n", {"multiRegionConfig": {"us-west2": {"numReplicas": 2}}}),
])
def test_a_manifest_edit_is_planned_applied_and_redeployed(fleet, tenants_dir, emu, edit,
                                                            expect):
    write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    commit = gateway_of(emu, "acme")["deployments"][-1]["commitHash"]
    count = len(gateway_of(emu, "acme")["deployments"])
    write_manifest(tenants_dir, "acme", GATEWAY + edit)
    assert kinds(fleet.plan()) == [("acme", "update-settings")]
    converge(fleet)
    deploy = deploy_of(emu, "acme")
    assert {k: deploy.get(k) for k in expect} == expect
    deployments = gateway_of(emu, "acme")["deployments"]
    assert len(deployments) == count + 1  # one redeploy
    assert deployments[-1]["commitHash"] == commit  # of the running version, never new code


@pytest.mark.parametrize("drift", [
    {"healthcheckPath": "/other"}, {"healthcheckTimeout": 5}, {"restartPolicyType": "NEVER"},
    {"restartPolicyMaxRetries": 1}, {"sleepApplication": True},
    {"multiRegionConfig": {"us-west2": {"numReplicas": 4}}},
])
def test_settings_changed_on_railway_are_put_back(fleet, tenants_dir, emu, client, drift):
    write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    live = fleet.observe().tenant_project("acme")
    ops.service_instance_update(client, service_id=live.gateway.id,
                                environment_id=live.environment_id, settings=drift)
    assert kinds(fleet.plan()) == [("acme", "update-settings")]
    converge(fleet)
    deploy = deploy_of(emu, "acme")
    assert deploy["healthcheckPath"] == "/health" and deploy["healthcheckTimeout"] == 300
    assert deploy.get("sleepApplication") in (None, False)
    assert deploy.get("restartPolicyType", "ON_FAILURE") == "ON_FAILURE"
    assert deploy.get("restartPolicyMaxRetries", 10) == 10
    replicas = sum(r["numReplicas"] for r in (deploy.get("multiRegionConfig") or
                                               {"x": {"numReplicas": 1}}).values())
    assert replicas == 1


def test_a_pass_that_died_after_the_update_redeploys_on_the_next(fleet, tenants_dir, emu, client):
    write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    live = fleet.observe().tenant_project("acme")
    count = len(gateway_of(emu, "acme")["deployments"])
    # What a pass leaves when it dies between serviceInstanceUpdate and the redeploy.
    write_manifest(tenants_dir, "acme", GATEWAY + "  sleep: true\n")
    ops.service_instance_update(client, service_id=live.gateway.id,
                                environment_id=live.environment_id,
                                settings={"sleepApplication": True})
    [action] = fleet.plan().actions
    assert action.kind.value == "update-settings" and action.change.settings.empty
    assert "not deployed yet" in action.reason
    converge(fleet)
    assert len(gateway_of(emu, "acme")["deployments"]) == count + 1


class Died(BaseException):
    """The process died (a BaseException: nothing in saas-infra catches it)."""


@pytest.mark.parametrize("dies_at", ["service_instance_update", "service_connect"])
def test_a_create_that_died_before_the_connect_deploys_once_with_the_settings(
        fleet, tenants_dir, emu, monkeypatch, dies_at):
    # A create that dies before serviceConnect leaves an empty gateway, never deployed, with its
    # settings written or not; the next pass writes them and connects: one deployment, with them.
    write_manifest(tenants_dir, "acme", GATEWAY + "  sleep: true\n")

    def die(*_args, **_kwargs):
        raise Died(dies_at)

    monkeypatch.setattr(ops, dies_at, die)
    with pytest.raises(Died):
        apply_pass(fleet)
    monkeypatch.undo()
    assert gateway_of(emu, "acme")["deployments"] == []
    settings = ["update-settings"] if dies_at == "service_instance_update" else []
    # The create died before its marker recorded the limits and backups: written again.
    assert [a.kind.value for a in fleet.plan().actions] == [
        "create", *settings, "set-limits", "set-backups", "update-source"]
    converge(fleet)
    assert len(gateway_of(emu, "acme")["deployments"]) == 1
    deployed = fleet.observe().tenant_project("acme").gateway.deployed
    assert deployed is not None and deployed.sleep is True


def test_a_tier_bundles_the_settings(fleet, tenants_dir: Path, emu):
    (tenants_dir.parent / "fleet.yaml").write_text(
        "version: 1\ndefaults:\n  gateway:\n    repo: LuthienResearch/luthien-proxy\n"
        "    healthcheck: {timeout: 120}\ntiers:\n  trial:\n    gateway: {sleep: true}\n"
        "  enterprise:\n    gateway: {replicas: 2, restart: {max_retries: 20}}\n")
    (tenants_dir / "acme.yaml").write_text("version: 1\nname: acme\ntier: enterprise\n")
    (tenants_dir / "trialco.yaml").write_text("version: 1\nname: trialco\ntier: trial\n")
    converge(fleet)
    acme, trial = deploy_of(emu, "acme"), deploy_of(emu, "trialco")
    assert acme["healthcheckTimeout"] == trial["healthcheckTimeout"] == 120
    assert acme["multiRegionConfig"] == {"us-west2": {"numReplicas": 2}}
    assert acme["restartPolicyMaxRetries"] == 20 and trial["sleepApplication"] is True


def test_both_json_schemas_check_the_settings_as_the_models_do() -> None:
    import json

    import jsonschema

    root = Path(__file__).resolve().parent.parent / "schema"
    tenant = jsonschema.Draft202012Validator(json.loads((root / "tenant.schema.json").read_text()))
    fleet = jsonschema.Draft202012Validator(json.loads((root / "fleet.schema.json").read_text()))
    good = {"healthcheck": {"path": "/health", "timeout": 60},
            "restart": {"policy": "on_failure", "max_retries": 5}, "sleep": False, "replicas": 2}
    bad = [{"healthcheck": {"path": "health"}}, {"healthcheck": {"timeout": 0}},
           {"restart": {"policy": "sometimes"}}, {"sleep": "no"}, {"replicas": 0},
           {"replicas": 43}, {"healthcheck": {"port": 1}}]
    base = {"version": 1, "name": "acme"}
    assert tenant.is_valid({**base, "gateway": {"repo": "a/b", **good}})
    assert fleet.is_valid({"version": 1, "defaults": {"gateway": good},
                           "tiers": {"big": {"gateway": {"restart": {"max_retries": 1}}}}})
    for case in bad:
        assert not tenant.is_valid({**base, "gateway": {"repo": "a/b", **case}}), case
        assert not fleet.is_valid({"version": 1, "defaults": {"gateway": case}}), case


def test_list_shows_the_settings_set_on_railway(fleet, tenants_dir, emu):
    from saas_infra import verbs
    from saas_infra.render.text import settings_text

    write_manifest(tenants_dir, "acme", GATEWAY + "  replicas: 3\n  sleep: true\n"
                   "  restart: {policy: always}\n  healthcheck: {timeout: 60}\n")
    converge(fleet)
    [row] = verbs.list_instances(fleet)
    assert row.settings == {"healthcheck": {"path": "/health", "timeout": 60},
                            "restart": {"policy": "always", "max_retries": 10},
                            "sleep": True, "replicas": 3}
    assert settings_text(row.settings) == (
        "health check /health (60 s), restart always, sleep on, 3 replicas")
