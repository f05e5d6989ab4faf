"""`adopt`: a manifest for an orphan (a managed project with no manifest) that carries its
source, AUTH_MODE and non-secret variables over, so the plan that follows is empty."""

from __future__ import annotations

import json

import pytest

from saas_infra.railway import operations as ops

IMAGE = "ghcr.io/luthienresearch/luthien-proxy:1.2.3"


def orphan(run_cli, write_tenant, tenants_dir, name="acme", **manifest) -> str:
    """Provision `name` from a manifest, then lose the manifest; returns its project id."""
    write_tenant(name, **manifest)
    applied = run_cli("apply", "--yes", "--json")
    assert applied.exit_code == 0, applied.stderr
    (tenants_dir / f"{name}.yaml").unlink()
    return json.loads(applied.stdout)["outcomes"][0]["project_id"]


def set_by_hand(client, project_id: str, variables: dict[str, str]) -> None:
    project = ops.project(client, project_id)
    environment = project["environments"]["edges"][0]["node"]["id"]
    gateway = next(e["node"]["id"] for e in project["services"]["edges"]
                   if e["node"]["name"] == "gateway")
    ops.variables_upsert(client, project_id=project_id, environment_id=environment,
                         service_id=gateway, variables=variables)


def test_adopt_carries_auth_mode_and_variables_so_the_next_plan_is_empty(
        run_cli, write_tenant, tenants_dir):
    project_id = orphan(run_cli, write_tenant, tenants_dir, auth_mode="client_key",
                        variables={"LOG_LEVEL": "debug", "FEATURE_X": "1"})

    result = run_cli("adopt", "acme")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (f"Wrote tenants/acme.yaml for the project {project_id}. "
                             "`saas-infra plan` shows no changes for it.\n")
    assert (tenants_dir / "acme.yaml").read_text() == (
        "version: 1\nname: acme\ngateway:\n  repo: LuthienResearch/luthien-proxy\n"
        "  branch: main\n  auth_mode: client_key\n  variables:\n    FEATURE_X: '1'\n"
        "    LOG_LEVEL: debug\n")
    plan = run_cli("plan", "--detailed-exitcode")
    assert (plan.exit_code, plan.stdout) == (0, "Plan: no changes.\n")


def test_adopt_keeps_a_pinned_image_and_a_branch(run_cli, write_tenant, tenants_dir):
    orphan(run_cli, write_tenant, tenants_dir, "globex", image=IMAGE, auth_mode="passthrough")
    orphan(run_cli, write_tenant, tenants_dir, "initech", branch="next")

    assert run_cli("adopt", "globex").exit_code == 0
    assert run_cli("adopt", "initech").exit_code == 0

    assert "  image: " + IMAGE + "\n  auth_mode: passthrough\n" in (
        tenants_dir / "globex.yaml").read_text()
    assert "  branch: next\n" in (tenants_dir / "initech.yaml").read_text()
    assert run_cli("plan", "--detailed-exitcode").exit_code == 0


def test_adopt_names_what_a_manifest_cannot_hold(run_cli, write_tenant, tenants_dir, client):
    project_id = orphan(run_cli, write_tenant, tenants_dir, variables={"LOG_LEVEL": "info"})
    set_by_hand(client, project_id, {"OPENAI_API_KEY": "sk-by-hand", "AUTH_MODE": "proxy_key"})

    result = run_cli("adopt", "acme", "--json")

    data = json.loads(result.stdout)
    assert result.exit_code == 0, result.stderr
    assert data["message"] == (
        f"Wrote tenants/acme.yaml for the project {project_id}. Not carried over (a manifest may "
        "not hold them): AUTH_MODE; the next pass would change them on Railway. "
        "Review it: `saas-infra plan --target acme` still shows set-variables.")
    assert data["pending"] == [{"kind": "set-variables", "reason": "gateway variables differ "
                                "from the manifest: AUTH_MODE"}]
    text = (tenants_dir / "acme.yaml").read_text()
    assert "LOG_LEVEL: info" in text and "sk-by-hand" not in text and "OPENAI" not in text


def test_adopt_refuses_a_tenant_that_has_a_manifest(run_cli, write_tenant):
    write_tenant("acme")

    result = run_cli("adopt", "acme")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: acme is already managed (tenants/acme.yaml); nothing to adopt",
        "Hint: `saas-infra status acme` shows it",
    ]


@pytest.mark.parametrize(("grace", "days_later", "carried_grace"), [(7, 2, 7), (30, 1, 29)])
def test_adopt_carries_a_scheduled_deletion_over(run_cli, write_tenant, tenants_dir, clock,
                                                 grace, days_later, carried_grace):
    write_tenant("acme")
    assert run_cli("apply", "--yes").exit_code == 0
    scheduled = run_cli("delete", "acme", "--yes", "--grace-days", str(grace), "--json")
    deadline = json.loads(scheduled.stdout)["deletion"]["deadline"]
    (tenants_dir / "acme.yaml").unlink()  # an orphan whose marker carries the deadline
    clock.advance(days_later * 86400)

    result = run_cli("adopt", "acme", "--json")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["deletion"]["deadline"] == deadline
    assert data["deletion"]["grace_days"] == carried_grace
    assert data["pending"] == []
    assert data["message"].endswith(
        f"It carries the deletion Railway announces for {deadline} (`saas-infra cancel-delete "
        "acme` cancels it). `saas-infra plan` shows no changes for it.")
    assert "deletion:\n" in (tenants_dir / "acme.yaml").read_text()
    plan = run_cli("plan", "--detailed-exitcode")
    assert (plan.exit_code, plan.stdout) == (0, "Plan: no changes.\n")


def test_adopt_refuses_when_railway_has_no_such_orphan(run_cli, tenants_dir):
    result = run_cli("adopt", "acme")

    assert result.exit_code == 1
    assert result.stderr == ("Error: no single managed project with a gateway for acme to adopt\n"
                             "Hint: `saas-infra list` shows orphans\n")
    assert list(tenants_dir.iterdir()) == []
