"""Plans, outcomes and fleet views as text, JSON and Markdown. Decides nothing, calls nothing.

Symbols and colours of the plan's actions live here, not in the plan.
"""

from __future__ import annotations

import json
from typing import Any

from saas_infra.plan import ActionKind, FindingKind, Plan

SYMBOLS = {
    ActionKind.CREATE: ("+", "green"),
    ActionKind.UPDATE_SOURCE: ("~", "yellow"),
    ActionKind.SET_VARIABLES: ("~", "yellow"),
    ActionKind.REDEPLOY: ("^", "cyan"),
    ActionKind.SCHEDULE_DELETE: ("!", "magenta"),
    ActionKind.CANCEL_DELETE: ("=", "green"),
    ActionKind.RESTORE: ("=", "green"),
    ActionKind.DELETE: ("-", "red"),
}
SUMMARY_COLUMNS = (
    ("creates", (ActionKind.CREATE,)),
    ("updates", (ActionKind.UPDATE_SOURCE, ActionKind.SET_VARIABLES)),
    ("redeploys", (ActionKind.REDEPLOY,)),
    ("scheduled deletions", (ActionKind.SCHEDULE_DELETE,)),
    ("cancelled deletions", (ActionKind.CANCEL_DELETE, ActionKind.RESTORE)),
    ("deletions", (ActionKind.DELETE,)),
)


def summary_counts(plan: Plan) -> dict[str, int]:
    counts = {
        label: sum(1 for a in plan.actions if a.kind in kinds) for label, kinds in SUMMARY_COLUMNS
    }
    counts["blocked"] = sum(1 for f in plan.findings if f.kind is FindingKind.BLOCKED)
    counts["orphans"] = sum(1 for f in plan.findings if f.kind is FindingKind.ORPHAN)
    return counts


def summary_line(plan: Plan) -> str:
    counts = summary_counts(plan)
    shown = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
    return f"Plan: {shown or 'no changes'}."


def plan_text(plan: Plan, *, show_unmanaged: bool = False) -> list[tuple[str, str | None]]:
    """Lines of (text, style) for a terminal."""
    lines: list[tuple[str, str | None]] = []
    width = max((len(a.tenant) for a in plan.actions), default=0)
    for action in plan.actions:
        symbol, style = SYMBOLS[action.kind]
        lines.append(
            (f"  {symbol} {action.tenant:<{width}}  {action.kind.value:<15}  {action.reason}", style)
        )
    findings = [
        f for f in plan.findings if show_unmanaged or f.kind is not FindingKind.UNMANAGED
    ]
    if findings:
        lines.append(("Findings (nothing will be changed for these):", None))
        for finding in findings:
            who = finding.tenant or finding.project_name or "?"
            lines.append((f"  ? {finding.kind.value:<10} {who}: {finding.reason}", "yellow"))
    for guard in plan.guards:
        lines.append((f"  x guard {guard.name}: {guard.message}", "red bold"))
    lines.append((summary_line(plan), "bold"))
    return lines


def plan_json(plan: Plan) -> str:
    data = plan.to_dict()
    data["summary"] = summary_counts(plan)
    data["destructive"] = plan.destructive
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def plan_markdown(plan: Plan) -> str:
    counts = summary_counts(plan)
    out = ["## saas-infra plan", ""]
    if plan.guards:
        out += ["> [!CAUTION]", "> **A safety guard stopped this plan; nothing will be applied.**"]
        out += [f"> - `{g.name}`: {_md(g.message)}" for g in plan.guards] + [""]
    if plan.destructive:
        deleted = ", ".join(f"`{a.tenant}`" for a in plan.actions if a.kind is ActionKind.DELETE)
        out += ["> [!WARNING]", f"> **Destructive: this plan deletes {deleted}.**", ""]
    out += ["| " + " | ".join(counts) + " |", "|" + "---|" * len(counts)]
    out += ["| " + " | ".join(str(n) for n in counts.values()) + " |", ""]
    if plan.empty:
        out += ["No changes: Railway matches the manifests.", ""]
    for tenant in plan.tenants():
        actions = plan.for_tenant(tenant)
        kinds = ", ".join(a.kind.value for a in actions)
        out += [f"<details><summary><code>{_html(tenant)}</code>: {_html(kinds)}</summary>", ""]
        out += [f"- **{a.kind.value}**: {_md(a.reason)}" for a in actions]
        out += ["", "</details>", ""]
    findings = [f for f in plan.findings if f.kind is not FindingKind.UNMANAGED]
    if findings:
        out += ["<details><summary>Findings (nothing changes for these)</summary>", ""]
        out += [
            f"- {f.kind.value}: `{f.tenant or f.project_name}`: {_md(f.reason)}" for f in findings
        ]
        out += ["", "</details>", ""]
    out.append(f"<sub>planned at {plan.at}</sub>")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def outcome_lines(outcomes) -> list[tuple[str, str | None]]:
    lines = []
    for outcome in outcomes:
        steps = ", ".join(f"{s.name} {s.result}" for s in outcome.steps) or "nothing to do"
        if outcome.ok:
            lines.append((f"  ok     {outcome.tenant}: {steps}", "green"))
        else:
            lines.append((f"  FAILED {outcome.tenant}: {outcome.error}", "red"))
    return lines


def report_json(report) -> dict[str, Any]:
    return {
        "plan": json.loads(plan_json(report.plan)),
        "outcomes": [o.to_dict() for o in report.outcomes],
        "converged": report.converged,
        "remaining": [
            {"tenant": a.tenant, "kind": a.kind.value, "reason": a.reason}
            for a in report.after.actions
        ],
    }


def instances_lines(rows) -> list[tuple[str, str | None]]:
    """An aligned table that is never cut short, whatever the terminal width."""
    header = ("NAME", "STATUS", "URL", "CREATED")
    cells = [
        (row["name"], row["status"], row["url"] or "-", (row["created_at"] or "-")[:10])
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(3)]

    def line(values) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths)) + "  " + values[3]

    return [(line(header), "bold")] + [(line(c), _status_style(c[1])) for c in cells]


def _status_style(status: str) -> str | None:
    if status.startswith("deletion"):
        return "magenta"
    return {"running": "green", "deploying": "yellow", "failed": "red", "orphan": "magenta",
            "duplicate": "red", "unmanaged": "dim"}.get(status)


def status_lines(data) -> list[tuple[str, str | None]]:
    lines = [(f"{data['name']}: {data['status']}", "bold")]
    lines.append((f"  Project:  {data['project_id'] or '-'}  {data['console_url'] or ''}".rstrip(), None))
    lines.append((f"  URL:      {data['url'] or '-'}", None))
    health = data.get("health")
    if health:
        lines.append((f"  Health:   {'ok' if health['ok'] else 'failing'} ({health['detail']})",
                      "green" if health["ok"] else "red"))
    if data.get("deletion_deadline"):
        lines.append((f"  Deletion: scheduled for {data['deletion_deadline']}", "magenta"))
    for service in data.get("services", []):
        status = service["deployment_status"] or "no deployment"
        source = f"  {service['source']}" if service.get("source") else ""
        lines.append((f"  - {service['name']:<9} {status}{source}", None))
    for drift in data.get("drift", []):
        lines.append((f"  drift: {drift['kind']}: {drift['reason']}", "yellow"))
    return lines


def whoami_lines(data) -> list[tuple[str, str | None]]:
    lines = []
    if data["user"]:
        user = data["user"]
        lines.append((f"Personal account token: {user.get('name') or user.get('username')} "
                      f"<{user.get('email')}>", None))
    else:
        lines.append(("Workspace token (Railway does not let it read the user)", None))
    for ws in data["workspaces"]:
        lines.append((f"  workspace {ws['name']} ({ws['id']}), plan {ws.get('plan') or '?'}, "
                      f"{ws.get('projects')} projects", None))
    return lines
