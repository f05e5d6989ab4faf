"""The tenants/ folder as a newcomer fills it: entries that cannot be manifests are named, not
ignored; a symlinked manifest is edited through its link; one broken manifest stops the verbs
before they write anything, while `list` and `status` still work and name the broken file."""

from __future__ import annotations

import json
import os

import pytest

from saas_infra import manifest as mf

BROKEN = "version: 1\nname: bad\ngateway:\n  repo: https://github.com/acme/proxy\n"
BROKEN_PROBLEM = ("tenants/bad.yaml:4: gateway.repo: give the GitHub repository as owner/repo, "
                  "not a URL (e.g. LuthienResearch/luthien-proxy)")


def state(emu) -> list[tuple[str, str | None]]:
    return [(p["name"], p["description"]) for p in emu.snapshot()["projects"]]


# --- entries that are skipped -------------------------------------------------------------------


@pytest.fixture
def odd_entries(tenants_dir, write_tenant):
    write_tenant("acme", auth_mode="passthrough")  # no provider-key warning among the skips
    (tenants_dir / "gone.yaml").symlink_to(tenants_dir / "nowhere.yaml")
    (tenants_dir / "d1.yaml").mkdir()
    (tenants_dir / "up.YAML").write_text("version: 1\nname: up\n")
    (tenants_dir / ".hidden.yaml").write_text("not read, on purpose\n")
    (tenants_dir / "notes.txt").write_text("not a manifest, plainly\n")


WARNINGS = [
    "Warning: tenants/d1.yaml: skipped: a directory, not a manifest",
    "Warning: tenants/gone.yaml: skipped: a symbolic link to a file that does not exist",
    "Warning: tenants/up.YAML: skipped: a manifest's name ends in .yaml or .yml, in lower case; "
    "rename it up.yaml",
]


def test_validate_warns_about_each_skipped_entry(run_cli, odd_entries):
    result = run_cli("validate")

    assert result.exit_code == 0
    assert result.stderr.splitlines() == [*WARNINGS, "1 manifest valid in tenants/"]


def test_a_pass_warns_once_per_entry_and_keeps_its_exit_code(run_cli, odd_entries):
    result = run_cli("apply", "--yes")  # reads the folder several times

    assert result.exit_code == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "skipped" in line] == WARNINGS
    again = run_cli("plan", "--detailed-exitcode")
    assert again.exit_code == 0
    assert [line for line in again.stderr.splitlines() if "skipped" in line] == WARNINGS


def test_the_loader_reports_skips_to_its_caller(tenants_dir, odd_entries):
    told = []

    loaded = mf.load_tenants(tenants_dir, told.append)

    assert [m.name for m in loaded] == ["acme"]
    assert told == [w.removeprefix("Warning: ") for w in WARNINGS]


# --- a symlinked manifest -----------------------------------------------------------------------


def test_a_symlinked_manifest_is_edited_through_its_link(run_cli, tenants_dir, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    target = mf.write_new_manifest(shared, "acme")
    link = tenants_dir / "acme.yaml"
    link.symlink_to(os.path.relpath(target, tenants_dir))

    result = run_cli("redeploy", "acme", "--no-apply")

    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == os.path.relpath(target, tenants_dir)
    assert "redeploy:\n  requested_at: " in target.read_text()
    assert [p.name for p in shared.iterdir()] == ["acme.yaml"]  # no temporary file left behind
    delete = run_cli("delete", "acme", "--yes", "--no-apply")
    assert delete.exit_code == 0, delete.stderr
    assert link.is_symlink() and "deletion:\n" in target.read_text()


# --- one broken manifest ------------------------------------------------------------------------


@pytest.fixture
def one_broken(run_cli, write_tenant, tenants_dir, clock):
    write_tenant("acme")
    assert run_cli("apply", "--yes").exit_code == 0
    clock.advance(600)  # the gateway's first deployment has finished
    (tenants_dir / "bad.yaml").write_text(BROKEN)
    return tenants_dir


@pytest.mark.parametrize("args", [
    ("create", "foo"), ("create", "foo", "--no-apply"), ("redeploy", "acme"),
    ("redeploy", "acme", "--no-apply"), ("delete", "acme", "--yes"), ("adopt", "acme2"),
    ("delete", "acme"),  # refused before the confirmation is even asked for
    ("cancel-delete", "acme"),
])
def test_a_verb_writes_nothing_while_another_manifest_is_broken(run_cli, one_broken, emu, args):
    files = {p.name: p.read_bytes() for p in one_broken.iterdir()}
    before = state(emu)

    result = run_cli(*args)

    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        BROKEN_PROBLEM, "Error: 1 manifest problem; nothing was sent to Railway."]
    assert {p.name: p.read_bytes() for p in one_broken.iterdir()} == files
    assert state(emu) == before


def test_list_still_works_and_names_the_broken_file(run_cli, one_broken):
    result = run_cli("list")

    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(rows) == {"acme", "bad"}
    assert "running" in rows["acme"] and "invalid manifest" in rows["bad"]
    assert result.stderr.splitlines() == [
        f"Warning: {BROKEN_PROBLEM}",
        "Warning: the manifests above could not be read (shown as 'invalid manifest'); "
        "`saas-infra validate` lists every problem.",
    ]
    data = json.loads(run_cli("list", "--json").stdout)
    assert data["manifest_problems"] == [BROKEN_PROBLEM]
    assert [(r["name"], r["status"]) for r in data["instances"]] == [
        ("acme", "running"), ("bad", "invalid_manifest")]


def test_status_still_works_and_names_the_broken_file(run_cli, one_broken):
    result = run_cli("status", "acme")

    assert result.exit_code == 0
    assert result.stdout.startswith("acme: running\n")
    assert result.stderr.splitlines()[0] == f"Warning: {BROKEN_PROBLEM}"
    broken = run_cli("status", "bad", "--json")
    assert broken.exit_code == 0
    data = json.loads(broken.stdout)
    assert (data["status"], data["manifest_problems"]) == ("invalid_manifest", [BROKEN_PROBLEM])


def test_validate_plan_and_apply_still_refuse(run_cli, one_broken):
    for args in (("validate",), ("plan",), ("apply", "--yes")):
        result = run_cli(*args)
        assert result.exit_code == 1, args
        assert result.stderr.splitlines()[0] == BROKEN_PROBLEM
