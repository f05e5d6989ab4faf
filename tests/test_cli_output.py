"""Output that tells the truth, as a new user meets it: apply shows what it runs and ends with a
verdict, long waits show progress in CI logs, validate --json names every problem, plurals and
nouns are right, NO_COLOR means no styles at all, tables fit COLUMNS; and the command line's
frame: global options before or after the command, usage errors as JSON under --json."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from saas_infra.plan import (
    Action,
    GatewayRef,
    Plan,
    ScheduleDelete,
    SetVariables,
    Source,
    UpdateSource,
)
from saas_infra.render import summary_line, text

ESCAPE = re.compile(r"\x1b\[")
GATEWAY = GatewayRef(environment_id="e", service_id="s")


def _set(tenant: str) -> Action:
    return Action(tenant, "r", SetVariables(values={"A": "1"}, unset=(), gateway=GATEWAY))


def _waits(output: str) -> str:
    return re.sub(r"\(\d+ s\)", "(N s)", output)


# --- apply: the plan first, a one-line verdict last ------------------------------------------


def test_apply_without_a_terminal_prints_the_plan_it_runs_and_a_verdict(run_cli, write_tenant):
    write_tenant("acme")
    write_tenant("globex")
    assert run_cli("apply", "--yes").exit_code == 0
    result = run_cli("redeploy", "acme", "--no-apply")
    assert result.exit_code == 0
    applied = run_cli("apply")  # no terminal: no question, and the plan is shown first

    out = applied.stdout.splitlines()
    assert applied.exit_code == 0, applied.stderr
    assert out[0].startswith("  ^ acme  redeploy")
    assert out[1] == "Plan: 1 redeploy."
    assert out[-1] == "Applied 1 change to 1 tenant; converged."


def test_an_empty_pass_says_nothing_to_do(run_cli, write_tenant):
    write_tenant("acme")
    run_cli("apply", "--yes")

    again = run_cli("apply", "--yes")

    assert (again.exit_code, again.stdout) == (0, "Nothing to do: Railway matches the manifests.\n")


def _report(actions: int, tenants: int, failed: int = 0, converged: bool = True):
    plan = Plan(at="2026-11-26T12:00:00Z",
                actions=tuple(_set(f"t{i % tenants}") for i in range(actions)))
    outcomes = [SimpleNamespace(tenant=f"t{i}", ok=i >= failed) for i in range(tenants)]
    return SimpleNamespace(plan=plan, outcomes=outcomes, blocked=[],
                           failed=[o for o in outcomes if not o.ok], converged=converged)


@pytest.mark.parametrize(("report", "verdict"), [
    (_report(3, 2), "Applied 3 changes to 2 tenants; converged."),
    (_report(1, 1), "Applied 1 change to 1 tenant; converged."),
    (_report(2, 2, failed=1, converged=False),
     "Applied 1 change to 1 tenant; 1 tenant failed; not converged."),
    (_report(3, 2, failed=1, converged=False),  # t0's two changes failed: not applied
     "Applied 1 change to 1 tenant; 1 tenant failed; not converged."),
    (_report(2, 1, failed=1, converged=False), "No change completed; 1 tenant failed; not "
     "converged."),
    (_report(2, 1, converged=False), "Applied 2 changes to 1 tenant; not converged."),
])
def test_the_verdict_counts_changes_and_tenants(report, verdict):
    assert text.apply_verdict(report) == verdict


# --- progress in CI logs ----------------------------------------------------------------------


def test_redeploy_without_a_terminal_prints_each_state_change_once(run_cli, write_tenant):
    write_tenant("acme")
    run_cli("apply", "--yes")

    plain = run_cli("redeploy", "acme")
    as_json = run_cli("redeploy", "acme", "--json")

    states = [line for line in _waits(plain.stderr).splitlines() if "gateway deployment" in line]
    assert states == [f"Redeploying acme: gateway deployment {status} (N s)"
                      for status in ("INITIALIZING", "BUILDING", "SUCCESS")]
    json.loads(as_json.stdout)  # stdout stays JSON: the state lines went to stderr
    assert "Redeploying acme: gateway deployment SUCCESS" in as_json.stderr


# --- validate --json ----------------------------------------------------------------------------


def test_validate_json_lists_every_problem_with_file_line_and_field(run_cli, tenants_dir):
    (tenants_dir / "acme.yaml").write_text("version: 1\nname: acme\ngateway:\n  repo: nope\n")
    (tenants_dir / "globex.yaml").write_text("version: 1\nname: globex\nbogus: 1\ngateway: {}\n")

    result = run_cli("validate", "--json")

    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert data["valid"] is False and len(data["problems"]) >= 2
    assert all(set(p) == {"file", "line", "field", "message"} for p in data["problems"])
    acme = next(p for p in data["problems"] if p["file"].endswith("acme.yaml"))
    assert (acme["line"], acme["field"]) == (4, "gateway.repo")
    assert any(p["file"].endswith("globex.yaml") and p["field"] == "bogus"
               for p in data["problems"])


# --- words ----------------------------------------------------------------------------------


def test_plurals_are_right():
    one = Plan(at="x", actions=(_set("a"),))
    two = Plan(at="x", actions=(
        _set("a"),
        Action("b", "r", UpdateSource(source=Source(image="i"), gateway=GATEWAY)),
        Action("b", "r", ScheduleDelete(description="d", deadline="x"))))
    assert summary_line(one) == "Plan: 1 update."
    assert summary_line(two) == "Plan: 2 updates, 1 scheduled deletion."
    assert text.validated(1, "tenants")[0].text == "1 manifest valid in tenants/"
    assert text.delete_question("acme", False, 1).startswith("Schedule acme for deletion in 1 day?")


def test_messages_say_tenant_and_keep_the_original_promises(run_cli, write_tenant):
    empty = run_cli("list")
    bad = run_cli("create", "Acme")
    write_tenant("acme")
    taken = run_cli("create", "acme")

    assert empty.stderr == "No tenants.\n"
    assert "invalid tenant name" in bad.stderr
    assert "Error: Instance already exists: acme" in taken.stderr  # the original tool's words


# --- the terminal: NO_COLOR and COLUMNS -------------------------------------------------------


def test_no_color_removes_bold_and_dim_too(run_cli, write_tenant):
    write_tenant("acme")
    colour = {"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"}

    styled = run_cli("plan", env={**colour, "NO_COLOR": None})
    plain = run_cli("plan", env={**colour, "NO_COLOR": "1"})

    assert "\x1b[1m" in styled.stdout  # the summary line is bold on a terminal
    assert not ESCAPE.search(plain.stdout + plain.stderr)


def test_the_list_fits_columns_by_dropping_whole_columns(run_cli, write_tenant):
    write_tenant("acme")
    run_cli("apply", "--yes")

    wide = run_cli("list", env={"COLUMNS": "200"}).stdout.splitlines()
    narrow = run_cli("list", env={"COLUMNS": "30"}).stdout.splitlines()

    assert wide[0].split() == ["NAME", "STATUS", "URL", "CREATED"]
    assert max(len(line) for line in wide) > 30  # the test would notice a table that is too wide
    assert narrow[0].split() == ["NAME", "STATUS"]
    assert narrow[1].split() == ["acme", "deploying"]  # values are never cut
    assert all(len(line) <= 30 for line in narrow)


# --- global options, usage errors -------------------------------------------------------------


@pytest.mark.parametrize("args", [("--json", "list"), ("list", "--json")])
def test_global_options_go_before_or_after_the_command(run_cli, write_tenant, args):
    write_tenant("acme")

    result = run_cli(*args)

    assert result.exit_code == 0, result.stderr
    assert [row["name"] for row in json.loads(result.stdout)["instances"]] == ["acme"]


def test_a_tenants_dir_given_before_the_command_is_used(run_cli, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = run_cli("--tenants-dir", str(elsewhere), "validate")

    assert result.stderr == f"0 manifests valid in {elsewhere}/\n"


@pytest.mark.parametrize(("args", "message"), [
    (("--json", "frobnicate"), "No such command 'frobnicate'."),
    (("list", "--json", "--bogus"), "No such option '--bogus'."),
    (("plan", "--markdown", "--json"), "--json and --markdown cannot be used together; choose one"),
    (("--json", "status"), "Missing argument 'NAME'."),
])
def test_with_json_a_usage_error_is_a_json_error_on_stdout(run_cli, args, message):
    result = run_cli(*args)

    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": {"type": "UsageError", "message": message}}
    assert "Usage:" in result.stderr  # the usual help for a person, on stderr


def test_without_json_a_usage_error_leaves_stdout_empty(run_cli):
    result = run_cli("frobnicate")

    assert (result.exit_code, result.stdout) == (1, "")


def test_plan_json_summary_keys_are_identifiers(run_cli, write_tenant):
    write_tenant("acme")

    summary = json.loads(run_cli("plan", "--json").stdout)["summary"]

    assert summary == {"creates": 1, "updates": 0, "redeploys": 0, "scheduled_deletions": 0,
                       "cancelled_deletions": 0, "deletions": 0, "blocked": 0, "orphans": 0}


# --- a tenant's bug: its traceback with --debug ---------------------------------------------


def test_apply_debug_shows_the_traceback_of_one_tenants_bug(run_cli, write_tenant, monkeypatch):
    from saas_infra.railway import operations as ops

    real = ops.project_create

    def buggy(client, *, name, **kwargs):
        if name == "luthien-globex":
            return {}["projectCreate"]
        return real(client, name=name, **kwargs)

    monkeypatch.setattr(ops, "project_create", buggy)
    for name in ("acme", "globex"):
        write_tenant(name)

    plain = run_cli("apply", "--yes")
    debug = run_cli("apply", "--yes", "--target", "globex", "--debug")

    assert plain.exit_code == 1
    assert "  FAILED globex: unexpected KeyError: 'projectCreate'" in plain.stdout
    assert "  ok     acme: " in plain.stdout  # the bug cost the other tenant nothing
    assert "Traceback" not in plain.stderr
    assert "saas_infra.apply: tenant globex: unexpected error during apply" in debug.stderr
    assert "Traceback (most recent call last)" in debug.stderr
    assert 'return {}["projectCreate"]' in debug.stderr
