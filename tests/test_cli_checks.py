"""A newcomer's mistakes fail loudly and early: a mistyped --target, flags that cannot go together,
a bad --repo or --image named as the flag, a verb's spinner only for work that runs, and a pass
that announces passed deadlines exiting 0 even when the next pass's deletion guard will trip."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from saas_infra import manifest as mf
from saas_infra.lock import CONTROL_PROJECT, control_description


def state(emu) -> list[tuple[str, str | None]]:
    """What Railway holds (names and descriptions), to show nothing changed."""
    return [(p["name"], p["description"]) for p in emu.snapshot()["projects"]]


# --- --target -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("plan",), ("apply", "--yes"), ("plan", "--json")])
def test_a_mistyped_target_is_an_error_with_a_suggestion(run_cli, write_tenant, emu, command):
    write_tenant("acme")
    before = state(emu)

    result = run_cli(*command, "--target", "acmee")

    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        "Error: no tenant named acmee; did you mean acme?",
        "Hint: `saas-infra list` shows the tenants; --target takes their names",
    ]
    assert "no changes" not in result.output.lower()
    assert state(emu) == before  # not even the fleet lock's control project


def test_a_target_without_any_close_name_has_no_suggestion(run_cli, write_tenant):
    write_tenant("acme")

    result = run_cli("plan", "--target", "nosuch", "--target", "zzz")

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "Error: no tenants named nosuch, zzz"


def test_a_target_known_only_on_railway_is_accepted(run_cli, write_tenant, tenants_dir):
    write_tenant("acme")
    write_tenant("globex")
    assert run_cli("apply", "--yes").exit_code == 0
    (tenants_dir / "globex.yaml").unlink()  # an orphan now: reported, not an unknown name

    result = run_cli("plan", "--target", "globex")

    assert result.exit_code == 0, result.stderr
    assert "orphan" in result.stdout


# --- flags that contradict each other ----------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (("plan", "--markdown", "--json"), "--json and --markdown cannot be used together; choose one"),
    (("apply", "--yes", "--markdown", "--json"),
     "--json and --markdown cannot be used together; choose one"),
    (("plan", "--max-chars", "5000"), "--max-chars folds the Markdown plan; it needs --markdown"),
    (("plan", "--json", "--max-chars", "5000"),
     "--max-chars folds the Markdown plan; it needs --markdown"),
])
def test_contradicting_flags_are_a_usage_error(run_cli, write_tenant, emu, args, message):
    write_tenant("acme")

    result = run_cli(*args)

    assert result.exit_code == 1
    # with --json the usage error is JSON on stdout as well
    expected = {"error": {"type": "UsageError", "message": message}} if "--json" in args else None
    assert (json.loads(result.stdout) if result.stdout else None) == expected
    assert result.stderr.splitlines()[-1] == f"Error: {message}"
    assert result.stderr.startswith("Usage: ")
    assert state(emu) == []  # nothing was created


# --- verbs: validate first, say only what happens ------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (("--repo", "https://github.com/acme/proxy"),
     "Error: --repo: give the GitHub repository as owner/repo, not a URL "
     "(e.g. LuthienResearch/luthien-proxy)"),
    (("--image", "ghcr.io/acme/proxy:latest"),
     "Error: --image: ':latest' is not a pin: use a version tag or an @sha256: digest"),
    (("--branch", "a b"),
     "Error: --branch: 'a b' contains characters git refuses in a branch name: ' '"),
    (("--image", "ghcr.io/acme/proxy:1.0", "--repo", "acme/proxy"),
     "Error: --image cannot be combined with --repo or --branch"),
])
@pytest.mark.parametrize("no_apply", [(), ("--no-apply",)])
def test_create_names_the_bad_flag_before_anything(run_cli, tenants_dir, emu, args, message,
                                                   no_apply):
    result = run_cli("create", "x1", *args, *no_apply)

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == message
    assert "Creating" not in result.stderr
    assert "tenants/x1.yaml" not in result.stderr
    assert list(tenants_dir.iterdir()) == []
    assert state(emu) == []


def test_create_no_apply_says_only_what_it_does(run_cli, tenants_dir):
    result = run_cli("create", "a--b", "--no-apply")

    assert result.exit_code == 0
    assert result.stderr == ""  # no "Creating a--b...": nothing is created
    assert result.stdout == ("Wrote tenants/a--b.yaml; nothing was sent to Railway. The next pass "
                             "(`saas-infra apply`) creates a--b.\n")


@pytest.mark.parametrize("no_apply", [(), ("--no-apply",)])
def test_redeploy_of_an_unknown_tenant_fails_before_redeploying_is_said(run_cli, no_apply):
    result = run_cli("redeploy", "x", *no_apply)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: no tenant named x (no tenants/x.yaml)",
        "Hint: `saas-infra list` shows the tenants",
    ]


def test_redeploy_no_apply_says_only_what_it_does(run_cli, write_tenant):
    write_tenant("acme")

    result = run_cli("redeploy", "acme", "--no-apply")

    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout == ("Wrote a redeploy request to tenants/acme.yaml; the next pass deploys "
                             "the newest commit.\n")


def test_redeploy_no_wait_json_names_the_deployment_it_started(run_cli, emu):
    assert run_cli("create", "acme").exit_code == 0

    result = run_cli("redeploy", "acme", "--no-wait", "--json")

    assert result.exit_code == 0, result.stderr
    gateway = next(s for p in emu.snapshot()["projects"] for s in p["services"]
                   if s["name"] == "gateway")
    started = gateway["deployments"][-1]
    deployment = json.loads(result.stdout)["deployment"]
    assert deployment["id"] == started["id"]
    assert len(gateway["deployments"]) == 2  # the first deploy, and this one
    assert deployment["waited_seconds"] is None


# --- credentials --rotate under CI ---------------------------------------------------------------


def test_rotate_under_ci_is_refused_and_changes_nothing(run_cli, emu):
    assert run_cli("create", "acme").exit_code == 0
    gateway = next(s for p in emu.snapshot()["projects"] for s in p["services"]
                   if s["name"] == "gateway")
    deploys = len(gateway["deployments"])

    result = run_cli("credentials", "acme", "--rotate", env={"CI": "true"})

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: refusing to rotate keys when CI is set")
    after = next(s for p in emu.snapshot()["projects"] for s in p["services"]
                 if s["name"] == "gateway")
    assert after["variables"] == gateway["variables"]
    assert len(after["deployments"]) == deploys


# --- passed deadlines beyond --max-deletions ------------------------------------------------------


def test_announcing_passed_deadlines_exits_0_and_the_next_pass_stops_with_one_message(
        run_cli, write_tenant, tenants_dir, clock, emu):
    names = ("a1", "a2", "a3", "a4")  # one more than the default --max-deletions 3
    for name in names:
        write_tenant(name)
    assert run_cli("apply", "--yes").exit_code == 0
    for name in names:
        mf.set_tombstone(tenants_dir / f"{name}.yaml", clock.now() - timedelta(days=30))

    announce = run_cli("apply", "--yes")

    assert announce.exit_code == 0, announce.stderr
    assert "Not converged" not in announce.stderr
    assert announce.stderr.splitlines()[-1] == (
        "The next pass will stop (exit code 3): 4 deletions in one pass exceed --max-deletions 3: "
        "a1, a2, a3, a4.")

    before = state(emu)
    result = run_cli("apply", "--yes")

    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        "Error: 4 deletions in one pass exceed --max-deletions 3: a1, a2, a3, a4"]
    assert state(emu) == before


# --- saved plans ----------------------------------------------------------------------------------


def test_an_edited_saved_plan_is_called_edited_not_stale(run_cli, write_tenant, tenants_dir, emu):
    write_tenant("acme")
    assert run_cli("plan", "--out", "plan.json").exit_code == 0
    path = tenants_dir.parent / "plan.json"
    path.write_text(path.read_text().replace('"AUTH_MODE": "both"', '"AUTH_MODE": "passthrough"'))

    result = run_cli("apply", "--plan", "plan.json")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: the saved plan does not match what would be planned now (edited?) for acme; "
        "make a new one with `saas-infra plan --out`"]
    assert state(emu) == [(CONTROL_PROJECT, control_description(None))]  # the lock's, free


def test_a_saved_plan_survives_its_round_trip_unedited(write_tenant, fleet):
    from saas_infra.plan import Plan

    write_tenant("acme")
    plan = fleet.plan()

    again = Plan.from_json(plan.to_json())

    assert again == plan and not again.edited
    assert Plan.from_json(plan.to_json().replace('"acme"', '"acme"  ')).edited is False
    assert Plan.from_json(plan.to_json().replace("new tenant", "New tenant")).edited is True


def test_a_truncated_saved_plan_is_a_clean_error_naming_the_file(run_cli, write_tenant,
                                                                 tenants_dir, emu):
    write_tenant("acme")
    assert run_cli("plan", "--out", "plan.json").exit_code == 0
    path = tenants_dir.parent / "plan.json"
    text = path.read_text()
    cut = text.index('"reason"') + len('"reason": "new')
    path.write_text(text[:cut])
    quote = cut - len('"new')  # the unterminated string starts here
    line, column = text[:quote].count("\n") + 1, quote - text.rindex("\n", 0, quote)

    result = run_cli("apply", "--plan", "plan.json")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: plan.json: the saved plan is not valid JSON: unterminated string at line {line}, "
        f"column {column} (cut short, or edited?)",
        "Hint: make a new one with `saas-infra plan --out FILE`",
    ]
    assert state(emu) == []


def test_a_plan_saved_by_an_older_version_is_refused_and_nothing_is_sent(run_cli, write_tenant,
                                                                         tenants_dir, emu):
    write_tenant("acme")
    old = {"format": 1, "at": "2026-11-26T12:00:00Z", "fingerprints": {}, "actions": [
        {"tenant": "acme", "kind": "create", "reason": "new tenant", "project_id": None,
         "details": {"project_name": "luthien-acme", "description": "[saas-infra tenant=acme]"}}]}
    (tenants_dir.parent / "plan.json").write_text(json.dumps(old))

    result = run_cli("apply", "--plan", "plan.json")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: plan.json: the saved plan was made by an older saas-infra (plan format 1; this "
        "version reads only format 2)",
        "Hint: make a new one with `saas-infra plan --out FILE`",
    ]
    assert state(emu) == []


def test_a_saved_plan_that_is_not_text_is_a_clean_error(run_cli, tenants_dir):
    (tenants_dir.parent / "plan.json").write_bytes(b"\xff\xfe\x00garbage")

    result = run_cli("apply", "--plan", "plan.json")

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "Error: plan.json: not a saved plan: the file is not UTF-8 text")
