"""The reconciler's command line (validate, plan, apply) through click, on the emulator.

Exit codes and exact output are the contract: NO_COLOR=1 and COLUMNS=200 come from run_cli.
Ids are random, so exact comparisons use output without ids, and JSON is checked by shape.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from saas_infra.cli import Runtime, cli
from saas_infra.manifest import clear_tombstone, set_tombstone
from saas_infra.railway import RetryPolicy
from tests.conftest import fleet_projects, follows_warning

CORPUS = Path(__file__).parent / "bad_manifests"
CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "cases.yaml").read_text())
CREATED = ("project created, Postgres created, Redis created, backups updated, gateway created, "
           "settings updated, source updated, domain created, marker updated")


def lines(text: str) -> list[str]:
    return text.splitlines()


def railway(emu) -> dict:
    """The emulator's state without deployment statuses, which move on with the clock."""
    state = emu.snapshot()
    for project in state["projects"]:
        for service in project["services"]:
            service["deployments"] = [d["id"] for d in service["deployments"]]
    return state


def applied(run_cli, *args: str):
    result = run_cli("apply", "--yes", *args)
    assert result.exit_code == 0, result.stdout + result.stderr
    return result


# --- validate ------------------------------------------------------------------------------


def test_validate_counts_the_valid_manifests(run_cli, write_tenant, emu):
    write_tenant("acme", auth_mode="passthrough")  # needs no provider key: no warning
    write_tenant("globex", auth_mode="passthrough")
    result = run_cli("validate")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0, "", "2 manifests valid in tenants/\n")
    as_json = run_cli("validate", "--json")
    assert json.loads(as_json.stdout) == {
        "valid": True, "tenants": ["acme", "globex"], "fleet_file": None, "warnings": []}
    assert emu.counts["total"] == 0


def test_validate_warns_of_client_key_tenants_without_a_provider_key(run_cli, write_tenant,
                                                                      tenants_dir):
    write_tenant("acme")  # auth_mode both, the default
    write_tenant("globex", auth_mode="client_key")
    write_tenant("initech", auth_mode="passthrough")
    path = write_tenant("umbrella", auth_mode="client_key")
    path.write_text(path.read_text() + "  secrets:\n"
                    "    ANTHROPIC_API_KEY: {from_env: LUTHIEN_ANTHROPIC_API_KEY}\n")
    result = run_cli("validate")
    assert result.exit_code == 0, result.stderr
    [count, warning] = lines(result.stderr)
    assert count == "4 manifests valid in tenants/"
    assert warning.startswith("Warning: 2 tenants (acme, globex) accept client keys")
    assert "declare no ANTHROPIC_API_KEY in gateway.secrets" in warning
    as_json = json.loads(run_cli("validate", "--json").stdout)
    assert [w[:32] for w in as_json["warnings"]] == ["2 tenants (acme, globex) accept "]


def test_validate_without_a_tenants_folder_is_an_error(run_cli, tenants_dir):
    tenants_dir.rmdir()
    result = run_cli("validate")
    assert result.exit_code == 1
    assert lines(result.stderr) == [
        "Error: no tenants folder at tenants/",
        "Hint: create it, or point --tenants-dir at your manifests",
    ]


# --- plan ----------------------------------------------------------------------------------


def test_plan_text_lists_each_action_and_a_summary(run_cli, write_tenant):
    write_tenant("acme")
    write_tenant("globex", image="ghcr.io/luthienresearch/luthien-proxy:1.2.3")
    result = run_cli("plan")
    assert (result.exit_code, result.stderr) == (0, f"Warning: {follows_warning('acme')}\n")
    assert lines(result.stdout) == [
        "  + acme    create           new tenant: no project on Railway",
        "  + globex  create           new tenant: no project on Railway",
        "Plan: 2 creates.",
    ]


def test_plan_detailed_exitcode_is_2_with_changes_and_0_without(run_cli, write_tenant):
    write_tenant("acme")
    assert run_cli("plan", "--detailed-exitcode").exit_code == 2
    assert run_cli("plan").exit_code == 0  # without the flag, changes are not an exit code
    applied(run_cli)
    converged = run_cli("plan", "--detailed-exitcode")
    assert (converged.exit_code, converged.stdout) == (0, "Plan: no changes.\n")


def test_plan_json_is_the_plan_with_a_summary(run_cli, write_tenant):
    write_tenant("acme")
    result = run_cli("plan", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["format"] == 2 and data["destructive"] is False
    assert data["summary"]["creates"] == 1 and data["guards"] == [] and data["targets"] == []
    [action] = data["actions"]
    assert (action["tenant"], action["kind"], action["project_id"]) == ("acme", "create", None)
    assert action["change"]["source"] == {"repo": "LuthienResearch/luthien-proxy",
                                           "branch": "main"}
    assert set(data["fingerprints"]) == {"acme"}


def test_plan_markdown_for_a_pull_request(run_cli, write_tenant):
    write_tenant("acme")
    result = run_cli("plan", "--markdown")
    assert result.exit_code == 0
    *body, stamp = lines(result.stdout)
    assert body == [
        "## saas-infra plan",
        "",
        "> [!NOTE]",
        f"> {follows_warning('acme')}",
        "",
        "| creates | updates | redeploys | scheduled deletions | cancelled deletions "
        "| deletions | blocked | orphans |",
        "|---|---|---|---|---|---|---|---|",
        "| 1 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |",
        "",
        "<details><summary><code>acme</code>: create</summary>",
        "",
        "- **create**: new tenant: no project on Railway",
        "",
        "</details>",
        "",
    ]
    assert re.fullmatch(r"<sub>planned at 2026-11-26T12:00:\d\d(\.\d{3})?Z</sub>", stamp)


def test_plan_out_then_apply_plan(run_cli, write_tenant, tenants_dir):
    write_tenant("acme")
    saved = run_cli("plan", "--out", "plan.json")
    assert saved.exit_code == 0
    assert saved.stderr == f"Saved the plan to plan.json\nWarning: {follows_warning('acme')}\n"
    assert json.loads((tenants_dir.parent / "plan.json").read_text())["actions"][0]["tenant"] == (
        "acme")
    result = run_cli("apply", "--plan", "plan.json")
    assert result.exit_code == 0, result.stderr
    assert lines(result.stdout) == [
        "  + acme  create           new tenant: no project on Railway",
        "Plan: 1 create.",
        f"  ok     acme: {CREATED}",
        "Applied 1 change to 1 tenant; converged.",
    ]
    assert run_cli("plan", "--detailed-exitcode").exit_code == 0


def test_apply_of_a_stale_saved_plan_is_refused(run_cli, write_tenant, emu):
    write_tenant("acme")
    run_cli("plan", "--out", "plan.json")
    write_tenant("globex")
    result = run_cli("apply", "--plan", "plan.json")
    assert result.exit_code == 1
    assert lines(result.stderr) == [
        "Error: the saved plan is stale: tenants changed since it was made: globex; "
        "run `saas-infra plan` again"
    ]
    assert fleet_projects(emu) == []


def test_plan_at_a_later_time_shows_the_deletion(run_cli, write_tenant):
    path = write_tenant("acme")
    applied(run_cli)
    set_tombstone(path, datetime(2026, 11, 25, 9, 30, tzinfo=UTC), grace_days=7)
    now = run_cli("plan")
    assert lines(now.stdout) == [
        "  ! acme  schedule-delete  deletion scheduled for 2026-12-02T09:30:00Z; "
        "the tenant keeps running until then",
        "Plan: 1 scheduled deletion.",
    ]
    applied(run_cli)
    later = run_cli("plan", "--at", "2026-12-03T12:00:00Z", "--detailed-exitcode")
    assert later.exit_code == 2
    assert lines(later.stdout) == [
        "  - acme  delete           deletion deadline 2026-12-02T09:30:00Z passed (1d 2h ago)",
        "Plan: 1 deletion.",
    ]
    assert run_cli("plan", "--detailed-exitcode").exit_code == 0  # nothing due yet


def test_plan_reports_orphans_as_findings(run_cli, write_tenant):
    path = write_tenant("initech")
    applied(run_cli)
    path.unlink()
    write_tenant("acme")
    result = run_cli("plan")
    assert result.exit_code == 0
    assert lines(result.stdout) == [
        "  + acme  create           new tenant: no project on Railway",
        "Findings (nothing will be changed for these):",
        "  ? orphan     initech: managed project with no manifest; never deleted by absence "
        "(`saas-infra adopt` writes a manifest for it)",
        "Plan: 1 create, 1 orphan.",
    ]


# --- apply ---------------------------------------------------------------------------------


def test_apply_yes_creates_and_reports_each_tenant(run_cli, write_tenant, emu):
    write_tenant("acme")
    write_tenant("globex")
    result = applied(run_cli)
    assert lines(result.stdout) == [  # without a terminal: the plan first, a verdict last
        "  + acme    create           new tenant: no project on Railway",
        "  + globex  create           new tenant: no project on Railway",
        "Plan: 2 creates.",
        f"  ok     acme: {CREATED}",
        f"  ok     globex: {CREATED}",
        "Applied 2 changes to 2 tenants; converged.",
    ]
    assert "acme: project created" in lines(result.stderr)
    again = applied(run_cli)
    assert (again.stdout, again.stderr) == ("Nothing to do: Railway matches the manifests.\n",
                                            f"Warning: {follows_warning('acme', 'globex')}\n")
    assert len(fleet_projects(emu)) == 2


def test_apply_target_touches_only_that_tenant(run_cli, write_tenant, emu):
    write_tenant("acme")
    write_tenant("globex")
    result = applied(run_cli, "--target", "globex")
    assert lines(result.stdout)[-2:] == [f"  ok     globex: {CREATED}",
                                         "Applied 1 change to 1 tenant; converged."]
    assert [p["name"] for p in fleet_projects(emu)] == ["luthien-globex"]
    assert run_cli("plan", "--target", "globex", "--detailed-exitcode").exit_code == 0
    assert run_cli("plan", "--detailed-exitcode").exit_code == 2


def test_apply_max_deletions_guard_exits_3_and_deletes_nothing(run_cli, write_tenant, emu):
    paths = [write_tenant(name) for name in ("acme", "globex")]
    applied(run_cli)
    for path in paths:
        set_tombstone(path, datetime(2026, 11, 1, tzinfo=UTC), grace_days=7)
    announce = run_cli("apply", "--yes")  # a deadline is written on Railway before it deletes
    assert announce.exit_code == 0, announce.stderr
    assert "acme: its deadline had already passed; it is now announced on Railway, and the " \
        "next pass deletes it." in announce.stderr
    before = railway(emu)
    result = run_cli("apply", "--yes", "--max-deletions", "1")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert lines(result.stderr) == [
        "Error: 2 deletions in one pass exceed --max-deletions 1: acme, globex"]
    assert railway(emu) == before
    assert emu.counts["ProjectScheduleDelete"] == 0
    planned = run_cli("plan", "--max-deletions", "1")
    assert planned.exit_code == 3
    assert "  x guard max-deletions: 2 deletions in one pass exceed --max-deletions 1: " \
        "acme, globex" in lines(planned.stdout)
    applied(run_cli, "--max-deletions", "2")
    assert all(p["deletedAt"] for p in fleet_projects(emu))


def test_apply_with_an_empty_tenants_folder_exits_3(run_cli, write_tenant, emu):
    path = write_tenant("acme")
    applied(run_cli)
    path.unlink()
    before = railway(emu)
    result = run_cli("apply", "--yes")
    assert result.exit_code == 3
    assert lines(result.stderr) == [
        "Error: no tenant manifests, but Railway holds 1 managed tenants; refusing to act on an "
        "empty or missing tenants/ folder"
    ]
    assert railway(emu) == before


def test_apply_json_report_shape(run_cli, write_tenant, emu):
    path = write_tenant("acme")
    result = run_cli("apply", "--yes", "--json")
    assert (result.exit_code, result.stderr) == (0, f"Warning: {follows_warning('acme')}\n")
    report = json.loads(result.stdout)
    assert set(report) == {"plan", "outcomes", "converged", "lost_lock", "remaining"}
    assert report["converged"] is True and report["remaining"] == [] and report["lost_lock"] is None
    assert [a["kind"] for a in report["plan"]["actions"]] == ["create"]
    [outcome] = report["outcomes"]
    assert set(outcome) == {"tenant", "ok", "error", "project_id", "deployment_id", "steps"}
    assert outcome["project_id"] == fleet_projects(emu)[0]["id"]
    assert (outcome["tenant"], outcome["ok"], outcome["error"]) == ("acme", True, None)
    assert [s["step"] for s in outcome["steps"]] == [
        "project", "Postgres", "Redis", "backups", "gateway", "settings", "source", "domain",
        "marker"]
    assert "sk-" not in result.stdout  # generated keys never reach the report
    set_tombstone(path, datetime(2026, 11, 26, tzinfo=UTC))
    clear_tombstone(path)
    assert json.loads(run_cli("apply", "--yes", "--json").stdout)["outcomes"] == []


# --- bad manifests and missing settings ----------------------------------------------------


def _install_case(case: dict[str, Any], tenants_dir: Path) -> list[dict[str, Any]]:
    """Copy one corpus case into tenants/ and return the problems it must report."""
    source = CORPUS / case["path"]
    if source.is_dir():
        for item in source.iterdir():
            shutil.copy(item, tenants_dir / item.name)
        return [{**want, "file": want["file"]} for want in case["expect"]]
    shutil.copy(source, tenants_dir / source.name)
    return [{**case, "file": source.name}]


def _where(want: dict[str, Any]) -> str:
    where = f"tenants/{want['file']}"
    if want["line"] is not None:
        where += f":{want['line']}"
    return f"{where}: {want['field']}: " if want["field"] else f"{where}: "


@pytest.mark.parametrize("case", CASES, ids=[c["path"] for c in CASES])
def test_bad_manifest_stops_every_command_before_railway(case, run_cli, tenants_dir, emu):
    expected = _install_case(case, tenants_dir)
    for args in (["validate"], ["plan"], ["apply", "--yes"]):
        result = run_cli(*args)
        assert result.exit_code == 1, (args, result.stdout, result.stderr)
        assert result.stdout == ""
        errors = lines(result.stderr)
        for want in expected:
            assert any(e.startswith(_where(want)) and want["message"] in e for e in errors), (
                args, want, errors)
        assert errors[-1].endswith("; nothing was sent to Railway.")
    assert emu.counts["total"] == 0


def test_missing_token_says_what_to_do(clock, tenants_dir, write_tenant):
    write_tenant("acme")
    runtime = Runtime(env={}, clock=clock, retry=RetryPolicy(sleep=clock.sleep),
                      stdin_interactive=False)
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "200"})
    for args in (["plan"], ["apply", "--yes"]):
        result = runner.invoke(cli, args, obj=runtime, catch_exceptions=False)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert lines(result.stderr) == [
            "Error: RAILWAY_TOKEN environment variable is required",
            "Hint: export RAILWAY_API_TOKEN=... (Railway's name for an account or workspace "
            "token; RAILWAY_TOKEN is read too when it is unset), or add --sandbox to try "
            "saas-infra against the local emulator",
        ]
    validated = runner.invoke(cli, ["validate"], obj=runtime, catch_exceptions=False)
    assert validated.exit_code == 0  # validate never needs Railway
