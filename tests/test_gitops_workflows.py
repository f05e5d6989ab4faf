"""The example GitHub Actions workflows, checked against GitHub's workflow JSON Schema (the one
check-jsonschema vendors as `vendor.github-workflows`) and linted by structure (actionlint cannot
be installed here): triggers, pinned actions, least permissions, secrets only into env,
concurrency, exit codes."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from saas_infra.settings import TOKEN_VARIABLES
from tests.test_gitops_steps import WORKFLOWS, load_workflow

PLAN, APPLY, SCHEDULED = "saas-infra-plan.yml", "saas-infra-apply.yml", "saas-infra-scheduled.yml"
ALL = (PLAN, APPLY, SCHEDULED)
SECRETS = {"RAILWAY_API_TOKEN", "RAILWAY_WORKSPACE_ID"}
# The workflows that apply also read the gateway secrets' from_env variables (a plan needs none).
APPLY_SECRETS = SECRETS | {"LUTHIEN_ANTHROPIC_API_KEY"}
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses: (\S+) # v\d+\.\d+\.\d+$", re.MULTILINE)


def steps(name: str) -> list[dict]:
    return [step for job in load_workflow(name)["jobs"].values() for step in job["steps"]]


def step(name: str, step_id: str) -> dict:
    return next(s for s in steps(name) if s.get("id") == step_id)


def runs(name: str) -> list[str]:
    return [s["run"] for s in steps(name) if "run" in s]


def test_the_three_workflows_are_there_and_parse() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == sorted(ALL)
    for name in ALL:
        workflow = load_workflow(name)
        assert workflow["name"].startswith("saas-infra") and workflow["jobs"], name


def test_triggers() -> None:
    plan = load_workflow(PLAN)["on"]
    assert set(plan) == {"pull_request"} and "tenants/**" in plan["pull_request"]["paths"]
    apply = load_workflow(APPLY)["on"]
    assert set(apply) == {"push"}
    assert apply["push"]["branches"] == ["main"] and "tenants/**" in apply["push"]["paths"]
    scheduled = load_workflow(SCHEDULED)["on"]
    assert set(scheduled) == {"schedule", "workflow_dispatch"}
    [cron] = [entry["cron"] for entry in scheduled["schedule"]]
    minute, *rest = cron.split()
    assert rest == ["*", "*", "*", "*"] and 0 <= int(minute) <= 59, "hourly, once an hour"


@pytest.mark.parametrize("name", ALL)
def test_every_action_is_pinned_to_a_commit_with_its_version(name: str) -> None:
    used = [s["uses"] for s in steps(name) if "uses" in s]
    assert used and all(PINNED.match(u) for u in used), used
    text = (WORKFLOWS / name).read_text()
    commented = VERSION_COMMENT.findall(text)
    assert sorted(commented) == sorted(used), "each `uses:` line ends with `# vX.Y.Z`"


def test_one_action_one_commit_across_the_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for name in ALL:
        for s in steps(name):
            if "uses" in s:
                action, sha = s["uses"].split("@")
                pins.setdefault(action, set()).add(sha)
    assert set(pins) == {"actions/checkout", "astral-sh/setup-uv"}
    assert all(len(shas) == 1 for shas in pins.values()), pins


@pytest.mark.parametrize(("name", "wanted"), [
    (PLAN, {"contents": "read", "pull-requests": "write"}),
    (APPLY, {"contents": "read"}),
    (SCHEDULED, {"contents": "read"}),
])
def test_permissions_are_the_least_each_needs(name: str, wanted: dict) -> None:
    workflow = load_workflow(name)
    assert workflow["permissions"] == wanted
    assert all("permissions" not in job for job in workflow["jobs"].values())
    checkout = next(s for s in steps(name) if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False  # no token left in .git/config


@pytest.mark.parametrize("name", ALL)
def test_secrets_only_travel_into_a_steps_env(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    in_env = [value for s in steps(name) for value in s.get("env", {}).values()]
    from_secrets = [v for v in in_env if "secrets." in v]
    names = [re.fullmatch(r"\$\{\{ secrets\.([A-Z_]+) \}\}", v) for v in from_secrets]
    wanted = SECRETS if name == "saas-infra-plan.yml" else APPLY_SECRETS
    assert all(names) and {m.group(1) for m in names} == wanted
    assert text.count("secrets.") == len(from_secrets), "secrets appear nowhere but in env"
    tokens = [v for v in in_env if "github.token" in v]
    assert text.count("github.token") == len(tokens)
    workflow = load_workflow(name)
    assert not any("secrets." in str(v) for v in workflow.get("env", {}).values())


@pytest.mark.parametrize("name", ALL)
def test_no_step_echoes_a_secret_or_traces_its_commands(name: str) -> None:
    for script in runs(name):
        assert "${{" not in script, "expressions go through env, never into a script"
        assert not re.search(r"set -[a-z]*x|set -o xtrace|bash -x", script)
        for name in (*TOKEN_VARIABLES, "GH_TOKEN"):  # both names a Railway token goes by
            assert name not in script, name
        assert not re.search(r"\benv\b\s*($|\|)|printenv", script, re.MULTILINE), "no env dumps"


@pytest.mark.parametrize("name", ALL)
def test_every_shell_step_is_valid_bash(name: str, tmp_path) -> None:
    for index, script in enumerate(runs(name)):
        path = tmp_path / f"step{index}.sh"
        path.write_text(script)
        checked = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True,
                                 check=False)
        assert checked.returncode == 0, checked.stderr


def test_applies_are_serialised_in_one_group_and_never_cancelled() -> None:
    groups = [load_workflow(name)["concurrency"] for name in (APPLY, SCHEDULED)]
    assert groups == [{"group": "saas-infra-fleet", "cancel-in-progress": False}] * 2
    plan = load_workflow(PLAN)["concurrency"]
    assert "github.event.pull_request.number" in plan["group"]
    assert plan["group"] != "saas-infra-fleet" and plan["cancel-in-progress"] is True


def test_the_scheduled_pass_is_the_merge_pass() -> None:
    assert step(APPLY, "apply") == step(SCHEDULED, "apply")
    assert "apply --yes" in step(APPLY, "apply")["run"]


@pytest.mark.parametrize("name", ALL)
def test_saas_infra_is_installed_with_uv_from_a_pinned_release(name: str) -> None:
    workflow = load_workflow(name)
    assert re.search(r"@v\d+\.\d+\.\d+$", workflow["env"]["SAAS_INFRA_PACKAGE"])
    assert 'uv tool install --python 3.12 "$SAAS_INFRA_PACKAGE"' in step(name, "install")["run"]
    for job in workflow["jobs"].values():
        assert job["runs-on"] == "ubuntu-24.04" and job["timeout-minutes"] <= 60
        assert job["defaults"]["run"]["shell"] == "bash"


def test_the_plan_steps_exit_code_decides_the_check() -> None:
    plan = step(PLAN, "plan")
    assert "--detailed-exitcode" in plan["run"] and "--max-chars 65000" in plan["run"]
    assert 'echo "exit-code=$code" >> "$GITHUB_OUTPUT"' in plan["run"]
    names = [s.get("id") or s["name"] for s in steps(PLAN)]
    assert names.index("validate") < names.index("plan") < names.index("comment")
    last = steps(PLAN)[-1]
    assert last["if"] == "steps.plan.outputs.exit-code == '3'" and "exit 3" in last["run"]


def test_the_apply_steps_pass_saas_infras_exit_code_through() -> None:
    script = step(APPLY, "apply")["run"]
    assert "code=${PIPESTATUS[0]}" in script and script.rstrip().endswith('exit "$code"')
    assert "--markdown" in script and "--lock-timeout 1200" in script


def check_workflow_schema(*paths) -> subprocess.CompletedProcess:
    """check-jsonschema with its vendored copy of GitHub's workflow schema (no download)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, paths)],
        capture_output=True, text=True, check=False, timeout=120,
    )


def test_the_workflows_pass_githubs_workflow_schema() -> None:
    checked = check_workflow_schema(*(WORKFLOWS / name for name in ALL))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok -- validation done" in checked.stdout


def test_the_schema_check_catches_a_broken_workflow(tmp_path) -> None:
    text = (WORKFLOWS / APPLY).read_text()
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace("runs-on:", "runs_on:", 1))  # a typo GitHub would reject

    checked = check_workflow_schema(broken)

    assert checked.returncode == 1
    assert "runs-on" in checked.stdout
