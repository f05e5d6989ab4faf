"""Plans and pass reports as text, JSON and Markdown. Decides nothing, calls nothing.

Symbols and colours of the plan's actions live here, not in the plan. The verbs' own output is
text.py's (terminal) and data.py's (JSON).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from saas_infra.plan import (
    Action,
    ActionKind,
    Create,
    Delete,
    DeleteMode,
    FindingKind,
    MoveRegion,
    Plan,
    RolloutView,
    SetBackups,
)

if TYPE_CHECKING:
    from saas_infra.apply import TenantOutcome
    from saas_infra.reconcile import ApplyReport


SYMBOLS = {
    ActionKind.CREATE: ("+", "green"),
    ActionKind.UPDATE_SOURCE: ("~", "yellow"),
    ActionKind.SET_VARIABLES: ("~", "yellow"),
    ActionKind.UPDATE_SETTINGS: ("~", "yellow"),
    ActionKind.SET_SECRETS: ("~", "yellow"),
    ActionKind.MOVE_REGION: ("~", "magenta"),  # moves data: not the colour of a plain update
    ActionKind.SET_LIMITS: ("~", "yellow"),
    ActionKind.SET_BACKUPS: ("~", "yellow"),
    ActionKind.REDEPLOY: ("^", "cyan"),
    ActionKind.SET_VERSION: ("^", "cyan"),
    ActionKind.ROLLBACK: ("<", "magenta"),
    ActionKind.SCHEDULE_DELETE: ("!", "magenta"),
    ActionKind.CANCEL_DELETE: ("=", "green"),
    ActionKind.RECORD_FAILURE: ("~", "yellow"),
    ActionKind.RESTORE: ("=", "green"),
    ActionKind.DELETE: ("-", "red"),
}
SUMMARY_COLUMNS = (  # (identifier, one, many, kinds): JSON keys are identifiers
    ("creates", "create", "creates", (ActionKind.CREATE,)),
    ("updates", "update", "updates",
     (ActionKind.UPDATE_SOURCE, ActionKind.SET_VARIABLES, ActionKind.SET_SECRETS,
      ActionKind.UPDATE_SETTINGS, ActionKind.MOVE_REGION, ActionKind.SET_LIMITS,
      ActionKind.SET_BACKUPS, ActionKind.SET_VERSION, ActionKind.RECORD_FAILURE)),
    ("redeploys", "redeploy", "redeploys", (ActionKind.REDEPLOY, ActionKind.ROLLBACK)),
    ("scheduled_deletions", "scheduled deletion", "scheduled deletions",
     (ActionKind.SCHEDULE_DELETE,)),
    ("cancelled_deletions", "cancelled deletion", "cancelled deletions",
     (ActionKind.CANCEL_DELETE, ActionKind.RESTORE)),
    ("deletions", "deletion", "deletions", (ActionKind.DELETE,)),
)
FINDING_COLUMNS = (("blocked", "blocked", "blocked", FindingKind.BLOCKED),
                   ("orphans", "orphan", "orphans", FindingKind.ORPHAN))
SUMMARY_WORDS = {key: (one, many) for key, one, many, _ in SUMMARY_COLUMNS + FINDING_COLUMNS}


def summary_counts(plan: Plan) -> dict[str, int]:
    counts = {
        key: sum(1 for a in plan.actions if a.kind in kinds) for key, _, _, kinds in SUMMARY_COLUMNS
    }
    for key, _, _, kind in FINDING_COLUMNS:
        counts[key] = sum(1 for f in plan.findings if f.kind is kind)
    return counts


def summary_line(plan: Plan) -> str:
    counts = summary_counts(plan)
    shown = ", ".join(_counted(n, key) for key, n in counts.items() if n)
    return f"Plan: {shown or 'no changes'}."


def _counted(count: int, key: str) -> str:
    one, many = SUMMARY_WORDS[key]
    return f"{count} {one if count == 1 else many}"


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
    created = new_tenants(plan)
    for rollout in plan.rollouts:
        lines.append((rollout_title(rollout), "bold"))
        lines += [(f"  {line}", "red" if "failed" in line else None)
                  for line in rollout_wave_lines(rollout, created)]
        if rollout.reason:
            lines.append((f"  {rollout.reason}", "red bold" if rollout.halted else None))
    lines.append((summary_line(plan), "bold"))
    return lines


_WAVE_STATES = (("starting", "deploying now"), ("failed", "failed"),
                ("in_progress", "in progress"), ("healthy", "healthy"), ("old", "old version"))


def rollout_title(rollout: RolloutView) -> str:
    state = "HALTED" if rollout.halted else (
        "one wave per pass" if rollout.advance == "wave" else "all waves in one pass")
    return (f"Rollout of channel {rollout.channel} to {short(rollout.version)} "
            f"({_plural(len(rollout.waves), 'wave')}; {state}):")


def new_tenants(plan: Plan) -> dict[str, str]:
    """The tenants this plan creates from nothing (no project yet), each with the version it is
    created on ("" for none). A rollout counts them among its old tenants, since they are not
    on the new version; the rollout view names them as new instead, a plan reader's word."""
    return {a.tenant: a.change.source.commit or a.change.source.image or ""
            for a in plan.actions
            if isinstance(a.change, Create) and "project" in a.change.missing}


def _split_new(names: tuple[str, ...],
               created: dict[str, str]) -> tuple[list[str], dict[str, list[str]]]:
    """The old tenants that are old indeed, and the new ones by the version they are created on."""
    old = [n for n in names if n not in created]
    by_version: dict[str, list[str]] = {}
    for name in (n for n in names if n in created):
        by_version.setdefault(created[name], []).append(name)
    return old, by_version


def _created_on(version: str) -> str:
    return f" (created on {short(version)})" if version else ""


def rollout_wave_lines(rollout: RolloutView, created: dict[str, str] | None = None) -> list[str]:
    """`wave N: deploying now: a, b; old version: c; new (created on v): d`, one line per wave."""
    out = []
    for wave in rollout.waves:
        old, new = _split_new(wave.old, created or {})
        parts = [f"{word}: {', '.join(names)}" for key, word in _WAVE_STATES
                 if (names := old if key == "old" else getattr(wave, key))]
        parts += [f"new{_created_on(version)}: {', '.join(names)}"
                  for version, names in new.items()]
        out.append(f"wave {wave.wave}: " + ("; ".join(parts) or "no tenants"))
    return out


def _rollout_markdown(plan: Plan) -> list[str]:
    out = []
    created = new_tenants(plan)
    for rollout in plan.rollouts:
        out += [f"### {_md(rollout_title(rollout).rstrip(':'))}", ""]
        if rollout.halted:
            out += ["> [!CAUTION]", f"> {_md(rollout.reason or 'halted')}", ""]
        # A "new" column only when this plan creates some of the channel's tenants.
        with_new = any(n in created for wave in rollout.waves for n in wave.old)
        out += ["| wave | deploying now | failed | in progress | healthy | old version |"
                + (" new |" if with_new else ""),
                "|---|---|---|---|---|---|" + ("---|" if with_new else "")]
        for wave in rollout.waves:
            old, new = _split_new(wave.old, created)
            cells = [", ".join(f"`{_md(n)}`" for n in (
                old if key == "old" else getattr(wave, key))) or "-" for key, _ in _WAVE_STATES]
            if with_new:
                cells.append(", ".join(f"`{_md(n)}`{_md(_created_on(v))}"
                                       for v, names in new.items() for n in names) or "-")
            out.append(f"| {wave.wave} | " + " | ".join(cells) + " |")
        out.append("")
        if rollout.reason and not rollout.halted:
            out += [_md(rollout.reason), ""]
    return out


def short(version: str) -> str:
    return version[:12] if len(version) == 40 and "/" not in version else version


def plan_json(plan: Plan) -> str:
    data = plan.to_dict()
    data["summary"] = summary_counts(plan)
    data["destructive"] = plan.destructive
    data["moves_data"] = [_data_move(a) for a in region_moves(plan)]
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def region_moves(plan: Plan) -> list[Action]:
    """The actions that move a tenant's databases, and so their data, to another region."""
    return [a for a in plan.actions if a.kind is ActionKind.MOVE_REGION]


def _data_move(action: Action) -> dict[str, Any]:
    change = action.change
    assert isinstance(change, MoveRegion)
    return {"tenant": action.tenant, "region": change.region, "confirmed": change.confirmed,
            "services": {s.name: s.region for s in change.services}}


MARKDOWN_MIN_CHARS = 2000  # below this even the summary of a plan may not fit
_FOLDED = ("> [!NOTE]\n> Details folded to fit {limit:,} characters; `saas-infra plan` shows them "
           "all.")


def plan_markdown(plan: Plan, *, max_chars: int | None = None) -> str:
    """The plan for a pull request or a CI job summary: destructive or stopped first, then the
    fleet summary table, then each tenant's actions folded away. With max_chars the details
    shrink to one line per tenant, then to as many tenants as fit (GitHub comments end at 65,536)."""
    head = [_plan_title(plan), "", *_plan_head(plan), *_rollout_markdown(plan)]
    foot = [_plan_stamp(plan)]
    text = _lines(head + _tenant_details(plan) + _findings_details(plan) + foot)
    if max_chars is None or len(text) <= max_chars:
        return text
    items = _folded_items(plan)
    note = [_FOLDED.format(limit=max_chars), "",
            f"<details><summary>Each change and finding, one line each ({len(items)})</summary>", ""]
    return _fit(head + note, items, ["", "</details>", "", *foot], max_chars)


def _plan_title(plan: Plan) -> str:
    deletions = [a.tenant for a in plan.actions if a.kind is ActionKind.DELETE]
    if plan.guards:
        return "## saas-infra plan: stopped by a safety guard"
    if deletions:
        return f"## saas-infra plan: DESTRUCTIVE, deletes {_plural(len(deletions), 'tenant')}"
    return "## saas-infra plan"


def _plan_head(plan: Plan) -> list[str]:
    """Alerts (destructive first), the summary table, and what the details leave out."""
    out = []
    if plan.destructive:
        deleted = ", ".join(f"`{a.tenant}`" for a in plan.actions if a.kind is ActionKind.DELETE)
        out += ["> [!WARNING]", f"> **Destructive: this plan deletes {deleted}.**", ""]
    moves = region_moves(plan)
    if moves:
        named = ", ".join(f"`{a.tenant}`" for a in moves)
        out += ["> [!WARNING]", f"> **Moves data: this plan moves the databases of {named} to "
                "another region** (Railway migrates each volume; the tenant is offline until it "
                "is done). `apply` runs it only with `--allow-region-move`.", ""]
    if plan.guards:
        out += ["> [!CAUTION]", "> **A safety guard stopped this plan; nothing will be applied.**"]
        out += [f"> - `{g.name}`: {_md(g.message)}" for g in plan.guards] + [""]
    for warning in plan.warnings:
        out += ["> [!NOTE]", f"> {_md(warning)}", ""]
    counts = summary_counts(plan)
    out += ["| " + " | ".join(SUMMARY_WORDS[k][1] for k in counts) + " |",
            "|" + "---|" * len(counts)]
    out += ["| " + " | ".join(str(n) for n in counts.values()) + " |", ""]
    if plan.empty:
        out += ["No changes: Railway matches the manifests.", ""]
    unmanaged = sum(1 for f in plan.findings if f.kind is FindingKind.UNMANAGED)
    if unmanaged:
        out += [(f"{_plural(unmanaged, 'unmanaged `luthien-*` project')} not shown "
                 "(never changed; `saas-infra plan --all` lists them)."), ""]
    return out


def _tenant_details(plan: Plan) -> list[str]:
    out = []
    for tenant in plan.tenants():
        actions = plan.for_tenant(tenant)
        kinds = ", ".join(_kind_html(a.kind) for a in actions)
        out += [f"<details><summary><code>{_html(tenant)}</code>: {kinds}</summary>", ""]
        for action in actions:
            out.append(f"- **{action.kind.value}**: {_md(action.reason)}")
            out += [f"  - {fact}" for fact in _action_facts(action)]
        out += ["", "</details>", ""]
    return out


def _action_facts(action: Action) -> list[str]:
    """What a reviewer must not miss beyond the reason: how final a deletion is."""
    match action.change:
        case Delete(mode=DeleteMode.NOW, project_name=name):
            return [f"`{_md(name)}` is deleted at once (`projectDelete`): it cannot be undone",
                    "Railway deletes the Postgres volume's backups with the project"]
        case Delete(project_name=name):
            return [f"`{_md(name)}` goes to Railway's scheduled delete: restorable for 48 hours"]
        case MoveRegion(region=region, services=services, confirmed=confirmed):
            moved = ", ".join(f"{s.name} ({s.region or 'unknown region'})" for s in services)
            said = "confirmed (`--allow-region-move`)" if confirmed else "not confirmed"
            return [f"moves data: {_md(moved)} to `{region}`; {said}"]
        case SetBackups(kinds=()):
            return ["scheduled backups of the Postgres volume stop (kept ones expire as "
                    "scheduled)"]
        case _:
            return []


def _findings_details(plan: Plan) -> list[str]:
    findings = _shown_findings(plan)
    if not findings:
        return []
    out = ["<details><summary>Findings (nothing changes for these)</summary>", ""]
    out += [f"- {f.kind.value}: `{f.tenant or f.project_name}`: {_md(f.reason)}" for f in findings]
    return out + ["", "</details>", ""]


def _folded_items(plan: Plan) -> list[str]:
    """One line per tenant with changes (deletions first: a cut must not hide them), then one
    per finding: the details, folded."""
    tenants = sorted(plan.tenants(), key=lambda t: not any(
        a.kind.destructive for a in plan.for_tenant(t)))
    items = [
        f"- `{tenant}`: " + ", ".join(a.kind.value for a in plan.for_tenant(tenant))
        for tenant in tenants
    ]
    items += [f"- {f.kind.value}: `{f.tenant or f.project_name}`" for f in _shown_findings(plan)]
    return items


def _shown_findings(plan: Plan) -> list:
    return [f for f in plan.findings if f.kind is not FindingKind.UNMANAGED]


def _plan_stamp(plan: Plan) -> str:
    scope = f", only {', '.join(plan.targets)}" if plan.targets else ""
    return f"<sub>planned at {plan.at}{scope}</sub>"


def _fit(head: list[str], items: list[str], foot: list[str], max_chars: int) -> str:
    """head, as many items as fit, a line saying how many were left out, foot."""
    more = "- … and {n} more (`saas-infra plan` lists them all)"
    fixed = len(_lines([*head, more.format(n=len(items)), *foot]))
    kept, used = 0, 0
    while kept < len(items) and fixed + used + len(items[kept]) + 1 <= max_chars:
        used += len(items[kept]) + 1
        kept += 1
    left = [more.format(n=len(items) - kept)] if kept < len(items) else []
    text = _lines([*head, *items[:kept], *left, *foot])
    return text if len(text) <= max_chars else _cut(text, max_chars)


def _cut(text: str, max_chars: int) -> str:
    """The last resort (a guard listing thousands of tenants): whole lines up to the limit."""
    tail = "\n… (cut to fit; `saas-infra plan` shows the whole plan)\n"
    kept = text[: max(0, max_chars - len(tail))]
    return kept[: kept.rfind("\n") + 1].rstrip("\n") + tail


def apply_markdown(report: ApplyReport) -> str:
    """A pass for a CI job summary: the verdict, each tenant's outcome, what is left, the plan."""
    out = [_apply_title(report), ""]
    if report.lost:
        out += [f"**{_md(report.lost)}**", ""]
    if report.outcomes:
        out += ["| tenant | result | steps |", "|---|---|---|"]
        out += [_outcome_row(o) for o in report.outcomes] + [""]
    if not report.converged:
        out += ["### Not converged: a new plan still has changes", ""]
        out += [f"- `{a.tenant}`: {a.kind.value}: {_md(a.reason)}" for a in report.after.actions]
        out += [f"- guard `{g.name}`: {_md(g.message)}" for g in report.after.guards] + [""]
    out += [f"The next pass will stop (exit code 3): guard `{g.name}`: {_md(g.message)}\n"
            for g in report.next_pass_guards]
    plan = report.plan
    out += ["### The plan it applied", "", *_plan_head(plan), *_tenant_details(plan)]
    out += [*_findings_details(plan), _plan_stamp(plan)]
    return _lines(out)


def _apply_title(report: ApplyReport) -> str:
    if report.failed:
        return f"## saas-infra apply: {_plural(len(report.failed), 'tenant')} failed"
    if not report.converged:
        return "## saas-infra apply: not converged"
    if report.plan.empty:
        return "## saas-infra apply: no changes"
    return "## saas-infra apply: converged"


def _outcome_row(outcome: TenantOutcome) -> str:
    steps = ", ".join(f"{s.name} {s.result}" for s in outcome.steps) or "nothing to do"
    if outcome.ok:
        return f"| `{outcome.tenant}` | ok | {_md(steps)} |"
    return f"| `{outcome.tenant}` | **failed** | {_md(outcome.error or 'no reason given')} |"


def _kind_html(kind: ActionKind) -> str:
    return f"<b>{kind.value}</b>" if kind.destructive else kind.value


def _lines(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Text from plans and Railway, inert in Markdown: no tables broken, no HTML, no links."""
    for char in "\\*[]|":  # backticks stay: reasons quote commands as code
        text = text.replace(char, "\\" + char)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def report_json(report: ApplyReport) -> dict[str, Any]:
    return {
        "plan": json.loads(plan_json(report.plan)),
        "outcomes": [o.to_dict() for o in report.outcomes],
        "converged": report.converged,
        "lost_lock": report.lost,
        "remaining": [
            {"tenant": a.tenant, "kind": a.kind.value, "reason": a.reason}
            for a in report.after.actions
        ],
    }


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
