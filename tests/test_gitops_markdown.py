"""Plans and passes as Markdown for pull requests and CI job summaries: the verdict first, the
fleet summary table, per-tenant details folded away, and folding to fit GitHub's comment limit."""

from __future__ import annotations

import re

from saas_infra import render
from saas_infra.apply import Step, TenantOutcome
from saas_infra.plan import (
    Action,
    ActionKind,
    CancelDelete,
    Change,
    Create,
    Delete,
    DeleteMode,
    Finding,
    FindingKind,
    GatewayRef,
    Guard,
    Plan,
    Redeploy,
    Restore,
    ScheduleDelete,
    SetVariables,
    Source,
    UpdateSource,
)
from saas_infra.reconcile import ApplyReport, apply_pass

AT = "2026-11-26T12:00:00Z"
TABLE_HEADER = ("| creates | updates | redeploys | scheduled deletions | cancelled deletions "
                "| deletions | blocked | orphans |")


def act(tenant: str, kind: ActionKind, reason: str = "because", mode: str = "scheduled") -> Action:
    return Action(tenant, reason, sample_change(tenant, kind, mode), project_id=f"p-{tenant}")


def sample_change(tenant: str, kind: ActionKind, mode: str) -> Change:
    gateway, marker = GatewayRef("env", "svc"), f"[saas-infra tenant={tenant}]"
    return {
        ActionKind.CREATE: Create(f"luthien-{tenant}", marker, Source(image="img:1"), {}),
        ActionKind.UPDATE_SOURCE: UpdateSource(Source(image="img:2"), gateway),
        ActionKind.SET_VARIABLES: SetVariables({"A": "1"}, (), gateway),
        ActionKind.REDEPLOY: Redeploy(marker, gateway),
        ActionKind.SCHEDULE_DELETE: ScheduleDelete(marker, AT),
        ActionKind.CANCEL_DELETE: CancelDelete(marker),
        ActionKind.RESTORE: Restore(),
        ActionKind.DELETE: Delete(DeleteMode(mode), f"luthien-{tenant}"),
    }[kind]


def test_every_action_kind_has_a_symbol_and_a_summary_column():
    assert set(render.SYMBOLS) == set(ActionKind)
    assert sorted(k for *_, kinds in render.SUMMARY_COLUMNS for k in kinds) == sorted(ActionKind)


def table_row(text: str) -> list[int]:
    lines = text.splitlines()
    row = lines[lines.index(TABLE_HEADER) + 2]
    return [int(cell) for cell in row.strip("| ").split(" | ")]


def test_a_destructive_plan_says_so_before_anything_else():
    plan = Plan(at=AT, actions=(
        act("acme", ActionKind.CREATE, "new tenant"),
        act("initech", ActionKind.DELETE, "deadline passed", mode="scheduled"),
        act("umbrella", ActionKind.DELETE, "tombstone with force", mode="now"),
    ))
    lines = render.plan_markdown(plan).splitlines()
    assert lines[:4] == [
        "## saas-infra plan: DESTRUCTIVE, deletes 2 tenants",
        "",
        "> [!WARNING]",
        "> **Destructive: this plan deletes `initech`, `umbrella`.**",
    ]
    text = "\n".join(lines)
    assert ("  - `luthien-initech` goes to Railway's scheduled delete: restorable for 48 hours"
            in lines)
    assert "  - `luthien-umbrella` is deleted at once (`projectDelete`): it cannot be undone" in lines
    assert "<summary><code>initech</code>: <b>delete</b></summary>" in text


def test_the_summary_table_counts_every_kind_of_change_and_finding():
    plan = Plan(at=AT, actions=(
        act("a", ActionKind.CREATE), act("b", ActionKind.SET_VARIABLES),
        act("b", ActionKind.UPDATE_SOURCE), act("c", ActionKind.REDEPLOY),
        act("d", ActionKind.SCHEDULE_DELETE), act("e", ActionKind.CANCEL_DELETE),
        act("f", ActionKind.RESTORE), act("g", ActionKind.DELETE, mode="scheduled"),
    ), findings=(
        Finding(FindingKind.DUPLICATE, "two projects", tenant="h", project_id="p1"),
        Finding(FindingKind.BLOCKED, "duplicate projects", tenant="h"),
        Finding(FindingKind.ORPHAN, "no manifest", tenant="i", project_id="p2"),
        Finding(FindingKind.ORPHAN, "no manifest", tenant="j", project_id="p3"),
        Finding(FindingKind.UNMANAGED, "no marker", project_name="luthien-k"),
    ))
    text = render.plan_markdown(plan)
    assert table_row(text) == [1, 2, 1, 1, 2, 1, 1, 2]
    assert text.count("<details><summary><code>") == 7  # one folded block per tenant
    assert text.count("</details>") == 8  # and one for the findings
    assert "1 unmanaged `luthien-*` project not shown" in text and "luthien-k" not in text


def test_a_guard_heads_the_plan_and_an_empty_plan_says_no_changes():
    stopped = Plan(at=AT, guards=(Guard("max-deletions", "5 deletions exceed 3"),))
    lines = render.plan_markdown(stopped).splitlines()
    assert lines[0] == "## saas-infra plan: stopped by a safety guard"
    assert lines[2:5] == [
        "> [!CAUTION]", "> **A safety guard stopped this plan; nothing will be applied.**",
        "> - `max-deletions`: 5 deletions exceed 3"]
    assert "No changes: Railway matches the manifests." in lines
    assert table_row("\n".join(lines)) == [0] * 8


def test_text_from_railway_cannot_break_the_table_or_smuggle_html():
    plan = Plan(at=AT, actions=(act("acme", ActionKind.SET_VARIABLES, "x | y <img src=x> [a](b)"),))
    text = render.plan_markdown(plan)
    assert "- **set-variables**: x \\| y &lt;img src=x&gt; \\[a\\](b)" in text
    assert "<img" not in text


def big_plan(tenants: int) -> Plan:
    reason = "gateway variables differ from the manifest: " + ", ".join(
        f"VARIABLE_NUMBER_{n}" for n in range(12))
    return Plan(at=AT, actions=tuple(
        act(f"tenant-{n:04d}", ActionKind.SET_VARIABLES, reason) for n in range(tenants)
    ), findings=(Finding(FindingKind.ORPHAN, "no manifest", tenant="lost", project_id="p"),))


def test_a_plan_that_fits_is_left_whole():
    plan = big_plan(3)
    assert render.plan_markdown(plan, max_chars=65_000) == render.plan_markdown(plan)


def test_a_long_plan_folds_to_one_line_per_tenant_under_the_limit():
    plan = big_plan(400)
    full = render.plan_markdown(plan)
    assert len(full) > 65_000
    folded = render.plan_markdown(plan, max_chars=65_000)
    assert len(folded) <= 65_000
    assert "> Details folded to fit 65,000 characters; `saas-infra plan` shows them all." in folded
    assert table_row(folded) == table_row(full)
    assert all(f"- `tenant-{n:04d}`: set-variables\n" in folded for n in range(400))
    assert "- orphan: `lost`" in folded and "<summary><code>" not in folded
    assert folded.endswith(f"<sub>planned at {AT}</sub>\n")


def test_a_very_long_plan_keeps_what_fits_and_counts_the_rest():
    plan = big_plan(400)
    folded = render.plan_markdown(plan, max_chars=4_000)
    assert len(folded) <= 4_000
    shown = re.findall(r"^- `tenant-\d{4}`: set-variables$", folded, re.MULTILINE)
    [left] = re.findall(r"^- … and (\d+) more \(`saas-infra plan` lists them all\)$", folded, re.MULTILINE)
    assert shown and len(shown) + int(left) == 401  # the tenants and the one finding
    assert folded.startswith("## saas-infra plan\n") and TABLE_HEADER in folded


def test_a_plan_whose_head_alone_is_too_long_is_cut_at_a_line():
    guards = tuple(Guard(f"guard-{n}", "x" * 100) for n in range(60))
    text = render.plan_markdown(Plan(at=AT, guards=guards), max_chars=2_000)
    assert len(text) <= 2_000
    assert text.endswith("\n… (cut to fit; `saas-infra plan` shows the whole plan)\n")
    assert text.startswith("## saas-infra plan: stopped by a safety guard\n")


def test_plan_max_chars_on_the_command_line(run_cli, write_tenant):
    for n in range(30):
        write_tenant(f"tenant-{n:02d}")
    full = run_cli("plan", "--markdown")
    assert full.exit_code == 0 and len(full.stdout) > 2_500
    folded = run_cli("plan", "--markdown", "--max-chars", "2500", "--detailed-exitcode")
    assert folded.exit_code == 2 and len(folded.stdout) <= 2_500
    assert "Details folded to fit 2,500 characters" in folded.stdout
    refused = run_cli("plan", "--markdown", "--max-chars", "100")
    assert refused.exit_code == 1 and "--max-chars" in refused.stderr  # a usage error


# --- apply --------------------------------------------------------------------------------------


def test_apply_markdown_of_a_real_pass(fleet, write_tenant):
    write_tenant("acme")
    text = render.apply_markdown(apply_pass(fleet))
    lines = text.splitlines()
    assert lines[:4] == ["## saas-infra apply: converged", "", "| tenant | result | steps |",
                         "|---|---|---|"]
    assert lines[4].startswith("| `acme` | ok | project created, Postgres created, ")
    assert "### The plan it applied" in lines and "- **create**: new tenant: no project on Railway" in lines
    again = render.apply_markdown(apply_pass(fleet))
    assert again.startswith("## saas-infra apply: no changes\n") and "| tenant |" not in again


def test_apply_markdown_names_failures_and_what_is_left():
    plan = Plan(at=AT, actions=(act("acme", ActionKind.CREATE, "new tenant"),))
    failed = TenantOutcome("acme", ok=False, error="Railway said | <no>",
                           steps=[Step("project", "created")])
    text = render.apply_markdown(ApplyReport(plan, [failed], plan))
    assert text.startswith("## saas-infra apply: 1 tenant failed\n")
    assert "| `acme` | **failed** | Railway said \\| &lt;no&gt; |" in text
    assert "### Not converged: a new plan still has changes\n\n- `acme`: create: new tenant" in text


def test_apply_markdown_on_the_command_line(run_cli, write_tenant):
    write_tenant("acme")
    result = run_cli("apply", "--yes", "--markdown")
    assert result.exit_code == 0
    assert result.stdout.startswith("## saas-infra apply: converged\n")
    assert "acme: project created" in result.stderr  # progress stays on stderr


def test_a_cut_list_starts_with_the_deletions():
    plan = big_plan(400)
    plan = Plan(at=AT, actions=(*plan.actions, act("zz-last", ActionKind.DELETE, mode="now")))
    folded = render.plan_markdown(plan, max_chars=3_000)
    items = re.findall(r"^- `([\w-]+)`: ", folded, re.MULTILINE)
    assert items[:2] == ["zz-last", "tenant-0000"] and len(items) < 401
