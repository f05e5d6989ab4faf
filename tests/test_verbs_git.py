"""The verbs' manifest edits as git sees them: `git diff` shows only the lines that changed.

A real repository in tmp_path (git init / add / diff); the manifest carries comments, blank
lines and quoting that must survive every edit byte for byte.
"""

from __future__ import annotations

import os
import subprocess

import pytest

COMMENTED = """\
# Acme Corp: builds the gateway from luthien-proxy's main branch.
# Owner: platform team (#acme-oncall)
version: 1
name: acme

gateway:
  repo: LuthienResearch/luthien-proxy   # the upstream
  branch: 'main'
  auth_mode: both  # client_key | passthrough | both
  variables:
    LOG_LEVEL: "info"
# trailing note: keep this line
"""


def git(repo, *args: str) -> str:
    env = {**os.environ, "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout


def changed_lines(repo) -> list[str]:
    """The +/- lines of `git diff` (no headers, no context)."""
    diff = git(repo, "diff", "--unified=0", "--no-color")
    return [line for line in diff.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.fixture
def repo(tmp_path, tenants_dir, run_cli):
    """tenants/acme.yaml (commented) provisioned on the emulator and staged in a fresh repo."""
    (tenants_dir / "acme.yaml").write_text(COMMENTED)
    applied = run_cli("apply", "--yes")
    assert applied.exit_code == 0, applied.stderr
    git(tmp_path, "init", "--quiet")
    git(tmp_path, "add", "tenants/acme.yaml")
    assert changed_lines(tmp_path) == []
    return tmp_path


def test_delete_touches_only_the_tombstone_lines_and_keeps_the_comments(repo, run_cli, clock):
    stamp = clock.now().replace(microsecond=0).isoformat().replace("+00:00", "Z")

    result = run_cli("delete", "acme", "--yes")

    assert result.exit_code == 0, result.stderr
    assert changed_lines(repo) == [
        "+deletion:", f"+  requested_at: {stamp}", "+  grace_days: 7", "+  force: false"]
    added = {line[1:] for line in changed_lines(repo)}
    kept = [line for line in (repo / "tenants" / "acme.yaml").read_text().splitlines()
            if line not in added]
    assert kept == COMMENTED.splitlines()  # every comment, blank line and quote as it was


def test_delete_then_cancel_delete_leaves_no_diff(repo, run_cli):
    assert run_cli("delete", "acme", "--yes").exit_code == 0

    result = run_cli("cancel-delete", "acme")

    assert result.exit_code == 0, result.stderr
    assert git(repo, "diff") == ""
    assert (repo / "tenants" / "acme.yaml").read_text() == COMMENTED


def test_a_second_delete_changes_nothing_in_git(repo, run_cli, clock):
    assert run_cli("delete", "acme", "--yes").exit_code == 0
    git(repo, "add", "tenants/acme.yaml")
    clock.advance(days=3)

    assert run_cli("delete", "acme", "--yes").exit_code == 0

    assert git(repo, "diff") == ""


def test_redeploy_adds_then_replaces_only_the_request_time(repo, run_cli, clock):
    first = clock.now().replace(microsecond=0)
    assert run_cli("redeploy", "acme", "--no-wait").exit_code == 0
    git(repo, "add", "tenants/acme.yaml")
    clock.advance(hours=1)
    second = clock.now().replace(microsecond=0)

    result = run_cli("redeploy", "acme", "--no-wait")

    assert result.exit_code == 0, result.stderr
    assert changed_lines(repo) == [
        f"-  requested_at: {first.isoformat().replace('+00:00', 'Z')}",
        f"+  requested_at: {second.isoformat().replace('+00:00', 'Z')}",
    ]


def test_delete_no_apply_writes_the_same_lines_for_a_pull_request(repo, run_cli, emu):
    before = emu.counts["total"]

    result = run_cli("delete", "acme", "--yes", "--no-apply", env={"RAILWAY_TOKEN": None})

    assert result.exit_code == 0, result.stderr
    assert [line.split(":")[0] for line in changed_lines(repo)] == [
        "+deletion", "+  requested_at", "+  grace_days", "+  force"]
    assert emu.counts["total"] == before  # nothing sent: the pass after merge applies it
