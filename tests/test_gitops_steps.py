"""A small stand-in for the GitHub Actions runner, so the example workflows' shell steps run here.

It runs each `run:` step with bash as GitHub does (`bash --noprofile --norc -eo pipefail`), with
the step's `env:` resolved from fake `secrets` and `github` contexts, GITHUB_OUTPUT / _PATH /
_STEP_SUMMARY files, and the `if:` conditions the workflows use. `uses:` steps and the install
step are skipped (a `saas-infra` shim on PATH replaces the install); `gh` is a fake that keeps
comments in a JSON file. The tests below check the runner itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / "examples" / "github-actions"
SKIPPED_STEP_IDS = {"install"}  # replaced by the saas-infra shim
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_COMPARE = re.compile(r"^steps\.([\w-]+)\.outputs\.([\w-]+)\s*(==|!=)\s*'([^']*)'$")


def load_workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads a bare `on` as true
    return data


@dataclass
class StepResult:
    name: str
    id: str | None
    code: int | None  # None: skipped
    stdout: str = ""
    stderr: str = ""


@dataclass
class JobRun:
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""

    @property
    def code(self) -> int:
        return next((s.code for s in self.steps if s.code), 0)

    def step(self, step_id: str) -> StepResult:
        return next(s for s in self.steps if s.id == step_id)

    @property
    def ran(self) -> list[str]:
        return [s.id or s.name for s in self.steps if s.code is not None]


class Runner:
    """Runs one job of a workflow in `workdir`, in a clean environment built from `base_env`."""

    def __init__(self, workdir: Path, base_env: dict[str, str], secrets: dict[str, str],
                 github: dict) -> None:
        self.workdir, self.base_env = workdir, base_env
        self.contexts = {"secrets": secrets, "github": github}

    def run(self, workflow: dict, job: str) -> JobRun:
        spec = workflow["jobs"][job]
        files = {name: self.workdir.parent / f"{job}.{name}" for name in
                 ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_ENV")}
        for path in files.values():
            path.write_text("")
        env = {**self.base_env, **{k: str(v) for k, v in workflow.get("env", {}).items()},
               **{k: str(p) for k, p in files.items()}}
        outputs: dict[str, dict[str, str]] = {}
        result = JobRun()
        for index, step in enumerate(spec["steps"]):
            if "uses" in step or step.get("id") in SKIPPED_STEP_IDS:
                continue
            if not self.condition(step.get("if"), outputs, failed=bool(result.code)):
                result.steps.append(StepResult(step.get("name", ""), step.get("id"), None))
                continue
            files["GITHUB_OUTPUT"].write_text("")
            step_env = {**env, **{k: self.resolve(str(v), outputs)
                                  for k, v in step.get("env", {}).items()}}
            step_env["PATH"] = self.path(files["GITHUB_PATH"], env["PATH"])
            script = self.workdir.parent / f"{job}.step{index}.sh"
            script.write_text(step["run"])
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                                  cwd=self.workdir, env=step_env, capture_output=True, text=True,
                                  timeout=120, check=False)
            outputs[step.get("id") or f"step{index}"] = _outputs(files["GITHUB_OUTPUT"])
            result.steps.append(StepResult(step.get("name", ""), step.get("id"), done.returncode,
                                           done.stdout, done.stderr))
        result.summary = files["GITHUB_STEP_SUMMARY"].read_text()
        return result

    def condition(self, expression: str | None, outputs: dict, *, failed: bool) -> bool:
        """The few `if:` forms the example workflows use; anything else is a test error."""
        if expression is None or expression.strip() == "success()":
            return not failed
        text = _EXPR.sub(r"\1", expression).strip()
        if text == "always()":
            return True
        if text == "failure()":
            return failed
        match = _COMPARE.match(text)
        if not match:
            raise AssertionError(f"the test runner does not know this condition: {expression}")
        step_id, name, op, literal = match.groups()
        value = outputs.get(step_id, {}).get(name, "")
        return not failed and ((value == literal) == (op == "=="))

    def resolve(self, value: str, outputs: dict) -> str:
        def lookup(match: re.Match) -> str:
            node: object = {**self.contexts, "steps": {k: {"outputs": v} for k, v in outputs.items()}}
            for part in match.group(1).split("."):
                if not isinstance(node, dict) or part not in node:
                    raise AssertionError(f"unknown expression in a step's env: {match.group(0)}")
                node = node[part]
            return str(node)

        return _EXPR.sub(lookup, value)

    @staticmethod
    def path(github_path: Path, path: str) -> str:
        added = [line for line in github_path.read_text().splitlines() if line.strip()]
        return os.pathsep.join([*reversed(added), path])


def _outputs(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


# --- shims ------------------------------------------------------------------------------------


def write_saas_infra_shim(directory: Path) -> None:
    """`saas-infra` on PATH: this checkout's, run by the test's Python (no install, no network),
    on the emulator's time when SAAS_INFRA_TIME_SCALE says so (tests/scaled_cli.py)."""
    shim = directory / "saas-infra"
    scaled = Path(__file__).with_name("scaled_cli.py")
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{scaled}" "$@"\n')
    shim.chmod(0o755)


FAKE_GH = '''\
import json, os, subprocess, sys
from pathlib import Path

state_file = Path(os.environ["FAKE_GH_STATE"])
state = json.loads(state_file.read_text()) if state_file.exists() else {
    "comments": [], "calls": [], "next_id": 1000}
if not os.environ.get("GH_TOKEN"):
    sys.exit("gh: GH_TOKEN is not set")
args = sys.argv[1:]
assert args.pop(0) == "api", args
method, jq, body_file, path = "GET", None, None, None
while args:
    arg = args.pop(0)
    if arg == "--method":
        method = args.pop(0)
    elif arg == "--jq":
        jq = args.pop(0)
    elif arg == "--input":
        body_file = args.pop(0)
    elif arg == "--paginate":
        pass
    else:
        path = arg
state["calls"].append([method, path])
if method == "GET":
    out = json.dumps(state["comments"])
    if jq:
        out = subprocess.run(["jq", "-r", jq], input=out, capture_output=True, text=True,
                             check=True).stdout
    sys.stdout.write(out)
else:
    body = json.loads(Path(body_file).read_text())["body"]
    if method == "POST":
        state["comments"].append({"id": state["next_id"], "body": body,
                                  "user": {"login": "github-actions[bot]"}})
        state["next_id"] += 1
    else:
        comment_id = int(path.rsplit("/", 1)[1])
        [comment] = [c for c in state["comments"] if c["id"] == comment_id]
        comment["body"] = body
state_file.write_text(json.dumps(state))
'''


def write_fake_gh(directory: Path) -> None:
    script = directory / "gh"
    script.write_text(f"#!{sys.executable}\n" + FAKE_GH)
    script.chmod(0o755)


def gh_state(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"comments": [], "calls": []}


# --- the runner's own behaviour -------------------------------------------------------------------


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    work = tmp_path / "repo"
    work.mkdir()
    return Runner(work, {"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
                  {"TOKEN": "s3cret-value"}, {"token": "gh-token", "event": {"number": 7}})


def test_the_runner_resolves_env_runs_bash_and_honours_conditions(runner: Runner) -> None:
    workflow = yaml.safe_load(textwrap.dedent("""
        env: {GREETING: hello}
        jobs:
          job:
            steps:
              - uses: actions/checkout@0000000000000000000000000000000000000000
              - id: first
                env: {TOKEN: "${{ secrets.TOKEN }}", NUMBER: "${{ github.event.number }}"}
                run: |
                  test "$TOKEN" = s3cret-value && test "$NUMBER" = 7
                  echo "code=3" >> "$GITHUB_OUTPUT"
                  echo "$GREETING" >> "$GITHUB_STEP_SUMMARY"
              - id: never
                if: steps.first.outputs.code == '4'
                run: exit 9
              - id: fails
                if: steps.first.outputs.code != '0'
                run: false; echo unreachable
              - id: after-failure
                run: echo skipped
              - id: cleanup
                if: always()
                run: echo cleaned
    """))
    run = runner.run(workflow, "job")
    assert run.ran == ["first", "fails", "cleanup"]
    assert run.code == 1 and run.step("fails").stdout == ""  # -e stops at the first failure
    assert run.summary == "hello\n" and run.step("cleanup").stdout == "cleaned\n"


def test_the_runner_refuses_conditions_it_does_not_understand(runner: Runner) -> None:
    workflow = {"jobs": {"job": {"steps": [{"if": "github.ref == 'main'", "run": "true"}]}}}
    with pytest.raises(AssertionError, match="does not know this condition"):
        runner.run(workflow, "job")


def test_the_fake_gh_posts_then_patches(tmp_path: Path) -> None:
    write_fake_gh(tmp_path)
    env = {**os.environ, "FAKE_GH_STATE": str(tmp_path / "gh.json"), "GH_TOKEN": "t"}
    (tmp_path / "body.json").write_text(json.dumps({"body": "first"}))
    gh = [str(tmp_path / "gh"), "api"]
    subprocess.run([*gh, "--method", "POST", "repos/o/r/issues/1/comments", "--input",
                    str(tmp_path / "body.json")], env=env, check=True)
    ids = subprocess.run([*gh, "repos/o/r/issues/1/comments", "--jq", ".[].id"], env=env,
                         check=True, capture_output=True, text=True).stdout
    assert ids == "1000\n"
    (tmp_path / "body.json").write_text(json.dumps({"body": "second"}))
    subprocess.run([*gh, "--method", "PATCH", "repos/o/r/issues/comments/1000", "--input",
                    str(tmp_path / "body.json")], env=env, check=True)
    assert [c["body"] for c in gh_state(tmp_path / "gh.json")["comments"]] == ["second"]
