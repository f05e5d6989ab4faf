"""`saas-infra apply --sandbox` on a fresh clone: the embedded emulator, its state in .saas-infra/.

Each invocation gets a new Runtime (as a new process would), so the only thing linking two runs
is the state file. No token, no network: the sandbox must work before a user has either.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from saas_infra.cli import Runtime, cli
from saas_infra.clock import FakeClock
from saas_infra.emulator import commits
from tests.conftest import follows_warning

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CREATED = ("project created, Postgres created, Redis created, backups updated, gateway created, "
           "settings updated, source updated, domain created, marker updated")


@pytest.fixture
def clone(tmp_path: Path, monkeypatch) -> Path:
    """A folder laid out like a fresh clone: the sample tenants, the fleet file they inherit
    from and the schema, nothing else."""
    (tmp_path / "tenants").mkdir()
    for manifest in sorted((ROOT / "tenants").glob("*.yaml")):
        shutil.copy(manifest, tmp_path / "tenants" / manifest.name)
    shutil.copy(ROOT / "fleet.yaml", tmp_path / "fleet.yaml")
    shutil.copytree(ROOT / "schema", tmp_path / "schema")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str, at: datetime = START):
    """One run in a new Runtime, as a separate process would be (no token in its environment)."""
    runtime = Runtime(env={}, clock=FakeClock(at), stdin_interactive=False)
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "200"})
    return runner.invoke(cli, list(args), obj=runtime, catch_exceptions=False)


def sample_tenants() -> list[str]:
    return sorted(p.stem for p in (ROOT / "tenants").glob("*.yaml"))


def test_apply_sandbox_provisions_the_sample_tenants(clone):
    assert not (clone / ".saas-infra").exists()
    result = invoke("apply", "--sandbox")
    assert result.exit_code == 0, result.stderr
    expected = [f"  ok     {name}: {CREATED}" for name in sample_tenants()]
    out = result.stdout.splitlines()  # the plan it ran first, then each outcome, then a verdict
    assert out[len(expected) + 1:] == [*expected, f"Applied {len(expected)} changes to "
                                                  f"{len(expected)} tenants; converged."]
    assert out[len(expected)] == f"Plan: {len(expected)} creates."
    state = clone / ".saas-infra" / "emulator.json"
    assert state.is_file()
    assert (clone / ".saas-infra" / ".gitignore").read_text() == "*\n"
    stored = json.loads(state.read_text())
    names = sorted(p["name"] for p in stored["projects"].values())
    assert names == [f"luthien-{name}" for name in sample_tenants()] + ["saas-infra-control"]


def test_next_run_sees_the_persisted_state(clone):
    assert invoke("apply", "--sandbox").exit_code == 0
    later = START + timedelta(hours=1)
    result = invoke("plan", "--sandbox", "--detailed-exitcode", at=later)
    assert (result.exit_code, result.stdout) == (0, "Plan: no changes.\n")
    again = invoke("apply", "--sandbox", at=later)
    assert (again.exit_code, again.stdout) == (0, "Nothing to do: Railway matches the manifests.\n")
    assert again.stderr == f"Warning: {follows_warning('acme')}\n"  # the sample globex is pinned


def test_sandbox_state_follows_manifest_edits_across_runs(clone):
    assert invoke("apply", "--sandbox").exit_code == 0
    (clone / "tenants" / "initech.yaml").write_text(
        "version: 1\nname: initech\ngateway:\n  repo: LuthienResearch/luthien-proxy\n")
    later = START + timedelta(hours=1)
    planned = invoke("plan", "--sandbox", at=later)
    assert planned.stdout.splitlines() == [
        "  + initech  create           new tenant: no project on Railway",
        "Plan: 1 create.",
    ]
    assert invoke("apply", "--sandbox", at=later).exit_code == 0
    final = invoke("plan", "--sandbox", "--detailed-exitcode", at=later + timedelta(hours=1))
    assert final.exit_code == 0


def test_without_sandbox_a_fresh_clone_asks_for_a_token(clone):
    result = invoke("plan")
    assert result.exit_code == 1
    assert "RAILWAY_TOKEN environment variable is required" in result.stderr
    assert "--sandbox" in result.stderr
    assert not (clone / ".saas-infra").exists()


def test_a_command_waiting_for_the_sandbox_says_at_once_who_holds_it(clone):
    demo = Runtime(env={}, clock=FakeClock(START), sandbox_holder="the demo")
    with click.Context(click.Command("demo")):  # the demo holds it for as long as it runs
        demo.client(demo.settings(sandbox=True))

        waiting = invoke("list", "--sandbox", "--lock-timeout", "0")

    assert waiting.exit_code == 1
    assert waiting.stderr.splitlines()[0] == (
        f"Waiting for the sandbox (held by the demo, pid {os.getpid()}; up to 0 s)...")
    assert "another saas-infra command is using the sandbox" in waiting.stderr
    assert not (clone / ".saas-infra" / "sandbox.holder").exists()  # released with the demo
    free = invoke("list", "--sandbox")
    assert free.exit_code == 0 and "Waiting" not in free.stderr


def test_a_command_holding_the_sandbox_is_named_by_its_command_line(clone):
    first = Runtime(env={}, clock=FakeClock(START))
    with click.Context(click.Command("apply"), info_name="saas-infra apply"):
        first.client(first.settings(sandbox=True))

        waiting = invoke("plan", "--sandbox", "--lock-timeout", "0")

    assert "(held by `saas-infra apply`, pid " in waiting.stderr.splitlines()[0]


# --- the README's release walkthrough ("Try it in the sandbox") --------------------------------

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def walkthrough() -> str:
    """The README's "Try it in the sandbox" paragraphs, up to the next one."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("**Try it in the sandbox.**")
    return readme[start:readme.index("\nLimit: ", start)]


def fenced(text: str) -> list[str]:
    """The fenced blocks of `text`, in order, without their fences."""
    return re.findall(r"^```[a-z]*\n(.*?)^```$", text, flags=re.M | re.S)


def shown(block: str) -> list[str]:
    """Output lines as the README shows them, with deployment ids made comparable."""
    return [UUID.sub("<id>", line) for line in block.splitlines()]


def test_the_readme_lists_exactly_the_emulators_seeded_commits():
    table = re.findall(r"^\| `([0-9a-f]{40})` \| ([^|]+?) \|", walkthrough(), flags=re.M)
    assert table == [(sha, message) for sha, message, _ in commits.SEEDED_HISTORY]


def test_the_readme_release_walkthrough_runs_in_the_sandbox(clone):
    """Every step of the README's walkthrough, literally: its commands, its fleet.yaml edits,
    the commits it names, and the output it shows."""
    text = walkthrough()
    setup, fleet_tail, failed, status, fixed = fenced(text)
    commands = [line.split("#")[0].split() for line in setup.splitlines()]
    assert commands[0] == ["rm", "-rf", ".saas-infra"]
    for step in commands[1:]:
        assert step[:3] == ["uv", "run", "saas-infra"]
        assert invoke(*step[3:]).exit_code == 0
    fleet = clone / "fleet.yaml"
    assert "add `channel: stable` under `defaults:`" in text
    fleet.write_text(fleet.read_text().replace("defaults:\n", "defaults:\n  channel: stable\n", 1)
                     + fleet_tail)
    first, crashing, fix = re.findall(r"stable: \{commit: ([0-9a-f]{40})\}", text)
    assert f"stable: {{commit: {first}}}" in fleet_tail

    def release(sha: str, at: datetime):
        fleet.write_text(re.sub(r"stable: \{commit: [0-9a-f]{40}\}", f"stable: {{commit: {sha}}}",
                                fleet.read_text()))
        return invoke("apply", "--sandbox", at=at)

    created = invoke("apply", "--sandbox")
    assert created.exit_code == 0, created.output
    halted = release(crashing, START + timedelta(minutes=10))
    assert halted.exit_code == 1
    lines = shown(halted.stdout)
    assert all(line in lines for line in shown(failed)), halted.stdout
    later = invoke("rollout", "status", "--sandbox", at=START + timedelta(minutes=20))
    assert shown(later.stdout) == shown(status)
    done = release(fix, START + timedelta(minutes=30))
    assert done.exit_code == 0, done.output
    lines = shown(done.stdout)
    assert all(line in lines for line in shown(fixed)), done.stdout
    assert invoke("rollout", "status", "--sandbox", at=START + timedelta(minutes=40)).stdout == (
        f"Channel stable: {fix[:12]}, every tenant on it\n"
        "  wave 1: healthy: acme\n  wave 2: healthy: initech\n")
    # The build that fails: the README's words for it, and nothing rolled back.
    (failing,) = [sha for sha, message, _ in commits.SEEDED_HISTORY if "fails its build" in message]
    quoted = re.search(r"its build FAILED \(`(halted: [^`]+)`\)", text)
    assert quoted
    built = release(failing, START + timedelta(minutes=50))
    assert built.exit_code == 1
    assert " ".join(quoted[1].split()) in built.stdout
    assert "rolled back" not in built.stdout
