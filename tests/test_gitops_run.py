"""The example workflows' shell steps, run for real against the emulator over loopback HTTP: a
pull request's plan and its one comment, the apply on merge, the hourly pass that reaps expired
tenants and repairs drift. The emulator and every saas-infra process share one clock running
20 times faster than real time, so Railway's waits take a twentieth of their time."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from saas_infra import manifest as mf
from saas_infra.emulator import Emulator, RateLimits
from saas_infra.emulator.server import start_in_thread
from saas_infra.emulator.timescale import ScaledClock
from saas_infra.lock import CONTROL_PROJECT, parse_lease
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.railway import operations as ops
from tests.test_gitops_steps import (
    JobRun,
    Runner,
    gh_state,
    load_workflow,
    write_fake_gh,
    write_saas_infra_shim,
)

PLAN, APPLY, SCHEDULED = "saas-infra-plan.yml", "saas-infra-apply.yml", "saas-infra-scheduled.yml"
SAMPLE_TENANTS = Path(__file__).resolve().parents[1] / "tenants"
RATE = 20.0
MARKER = "<!-- saas-infra plan -->"


@dataclass
class World:
    repo: Path
    emu: Emulator
    clock: ScaledClock
    env: dict[str, str]
    gh_file: Path

    def run(self, workflow: str, job: str, **github) -> JobRun:
        context = {"token": "ghs_not_a_real_token", "repository": "acme/tenants",
                   "event": {"pull_request": {"number": 12}}, **github}
        secrets = {"RAILWAY_API_TOKEN": self.emu.workspace_token,
                   "RAILWAY_WORKSPACE_ID": self.emu.workspace_id,
                   "LUTHIEN_ANTHROPIC_API_KEY": "sk-ant-not-a-real-key"}
        return Runner(self.repo, self.env, secrets, context).run(load_workflow(workflow), job)

    def projects(self) -> dict[str, dict]:
        return {p["name"]: p for p in self.emu.snapshot()["projects"]
                if p["name"].startswith("luthien-")}

    def controls(self) -> list[dict]:
        """The fleet lock's control project (one per workspace, once a pass has acted)."""
        return [p for p in self.emu.snapshot()["projects"] if p["name"] == CONTROL_PROJECT]

    def comments(self) -> list[dict]:
        return gh_state(self.gh_file)["comments"]

    def client(self) -> RailwayClient:
        return RailwayClient(self.emu.account_token, transport=self.emu.transport(),
                             retry=RetryPolicy(sleep=self.clock.sleep),
                             pacer=Pacer.unlimited(clock=self.clock), clock=self.clock)


@pytest.fixture
def world(tmp_path: Path):
    origin = time.time()
    clock = ScaledClock(RATE, origin)
    emu = Emulator(clock=clock, seed=5,
                   rate_limits=RateLimits(per_second=10_000, per_hour=1_000_000))
    server, base_url = start_in_thread(emu)
    repo, bin_dir = tmp_path / "repo", tmp_path / "bin"
    (repo / "tenants").mkdir(parents=True)
    bin_dir.mkdir()
    for sample in SAMPLE_TENANTS.glob("*.yaml"):
        shutil.copy(sample, repo / "tenants" / sample.name)
    shutil.copy(SAMPLE_TENANTS.parent / "fleet.yaml", repo / "fleet.yaml")  # what they inherit
    write_saas_infra_shim(bin_dir)
    write_fake_gh(bin_dir)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path),
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/tenants",
        "GITHUB_RUN_ID": "4242", "NO_COLOR": "1", "COLUMNS": "200",
        "RAILWAY_API_URL": f"{base_url}/graphql/v2",
        "SAAS_INFRA_TIME_SCALE": str(RATE), "SAAS_INFRA_TIME_ORIGIN": str(origin),
        "FAKE_GH_STATE": str(tmp_path / "gh.json"),
    }
    yield World(repo, emu, clock, env, tmp_path / "gh.json")
    server.stop()


def settled(world: World) -> list:
    """What a pass could change, without the deployment statuses that move with time."""
    return [(p["id"], p["name"], p["description"], p["deletedAt"],
             [(s["name"], s["source"], s["variables"], len(s["deployments"])) for s in p["services"]])
            for p in world.emu.snapshot()["projects"]]


def services(project: dict) -> list[str]:
    return sorted(s["name"] for s in project["services"])


def gateway(project: dict) -> dict:
    return next(s for s in project["services"] if s["name"] == "gateway")


# --- pull request ---------------------------------------------------------------------------


def test_a_pull_request_gets_its_plan_in_one_comment_updated_on_each_push(world: World):
    first = world.run(PLAN, "plan")
    assert (first.code, first.ran) == (0, ["validate", "plan", "comment"]), first.steps
    assert first.step("plan").stdout == ""  # the plan went to plan.md, nothing to the log
    assert "| 2 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |" in first.summary  # two creates
    assert "<code>acme</code>: create" in first.summary
    [comment] = world.comments()
    assert comment["body"] == f"{MARKER}\n{(world.repo / 'plan.md').read_text()}"
    assert world.projects() == {} and world.controls() == []  # a plan changes nothing

    mf.write_new_manifest(world.repo / "tenants", "initech")  # the next push
    second = world.run(PLAN, "plan")
    assert second.code == 0
    [updated] = world.comments()
    assert updated["id"] == comment["id"] and "<code>initech</code>: create" in updated["body"]
    calls = [method for method, _ in gh_state(world.gh_file)["calls"]]
    assert calls == ["GET", "POST", "GET", "PATCH"]


def test_an_invalid_manifest_fails_the_check_before_anything_reaches_railway(world: World):
    (world.repo / "tenants" / "broken.yaml").write_text(
        "version: 1\nname: broken\ngateway:\n  repo: not a repo\n")
    run = world.run(PLAN, "plan")
    assert (run.code, run.ran) == (1, ["validate"])
    assert run.summary.startswith("## saas-infra: invalid manifests\n")
    assert "tenants/broken.yaml:4: gateway.repo:" in run.summary
    assert world.emu.counts["total"] == 0 and world.comments() == []


def test_a_guard_is_shown_in_the_comment_and_fails_the_check(world: World):
    assert world.run(APPLY, "apply").code == 0
    for path in (world.repo / "tenants").glob("*.yaml"):
        path.unlink()  # a pull request that empties tenants/
    run = world.run(PLAN, "plan")
    assert run.code == 3
    assert run.ran == ["validate", "plan", "comment", "Fail the check on a safety guard"]
    [comment] = world.comments()
    assert "## saas-infra plan: stopped by a safety guard" in comment["body"]
    assert "`empty-desired-state`" in comment["body"]
    assert set(world.projects()) == {"luthien-acme", "luthien-globex"}


# --- merge and schedule ---------------------------------------------------------------------


def test_a_merge_applies_the_tenants_and_summarises_plan_and_outcome(world: World):
    run = world.run(APPLY, "apply")
    assert run.code == 0, run.step("apply").stderr
    projects = world.projects()
    assert set(projects) == {"luthien-acme", "luthien-globex"}
    assert all(services(p) == ["Postgres", "Redis", "gateway"] for p in projects.values())
    [control] = world.controls()
    assert parse_lease(control["description"]) is None  # the pass freed the lock
    assert run.summary.startswith("## saas-infra apply: converged\n")
    assert "| `acme` | ok | project created, Postgres created" in run.summary
    assert "### The plan it applied" in run.summary and run.summary.endswith(
        "\nExit code 0: success.\n")
    keys = [gateway(p)["variables"]["CLIENT_API_KEY"] for p in projects.values()]
    output = run.summary + run.step("apply").stderr + run.step("apply").stdout
    assert all(key not in output for key in keys) and world.emu.workspace_token not in output
    again = world.run(APPLY, "apply")
    assert again.code == 0 and again.summary.startswith("## saas-infra apply: no changes\n")


def test_the_hourly_pass_reaps_expired_tenants_and_repairs_drift(world: World):
    assert world.run(APPLY, "apply").code == 0
    acme = world.projects()["luthien-acme"]
    with world.client() as client:  # someone edits a variable by hand on Railway
        ops.variables_upsert(client, project_id=acme["id"],
                             environment_id=acme["environments"][0]["id"],
                             service_id=gateway(acme)["id"], variables={"LOG_LEVEL": "debug"})
    mf.set_tombstone(world.repo / "tenants" / "globex.yaml", world.clock.now(), grace_days=0)
    first = world.run(SCHEDULED, "apply", event={})  # repairs drift, announces the deadline
    assert first.code == 0, first.step("apply").stderr
    assert world.projects()["luthien-globex"]["deletedAt"] is None
    assert gateway(world.projects()["luthien-acme"])["variables"]["LOG_LEVEL"] == "info"
    assert "- **set-variables**: gateway variables differ from the manifest: LOG_LEVEL" in (
        first.summary)
    run = world.run(SCHEDULED, "apply", event={})  # the next hour: the deadline is due
    assert run.code == 0, run.step("apply").stderr
    projects = world.projects()
    assert projects["luthien-globex"]["deletedAt"] is not None  # Railway's 48-hour delete
    assert projects["luthien-acme"]["deletedAt"] is None
    assert "> **Destructive: this plan deletes `globex`.**" in run.summary


def test_apply_passes_a_guards_exit_code_through_and_changes_nothing(world: World):
    assert world.run(APPLY, "apply").code == 0
    for path in (world.repo / "tenants").glob("*.yaml"):
        path.unlink()
    before = settled(world)
    run = world.run(APPLY, "apply")
    assert run.code == 3 and run.step("apply").code == 3
    assert run.summary.startswith("## saas-infra apply: stopped\n")
    assert "Exit code 3: a safety guard stopped the pass; nothing was changed." in run.summary
    assert "Error: no tenant manifests, but Railway holds 2 managed tenants" in run.summary
    assert settled(world) == before
