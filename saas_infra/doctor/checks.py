"""The read-only doctor: one Check per question an operator asks before trusting saas-infra with
a Railway account. Reads only, through the client saas-infra runs: at most 10 API calls plus one
per listing page. Never prints; never keeps a variable value beyond judging whether it was
readable.

Check ids, in order (stable, for `--json`): token, workspace, rate-limits, templates, listing,
variable-values, tenant-keys, fleet, lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from saas_infra import lock as fleet_lock
from saas_infra import manifest as mf
from saas_infra.diff import VALUES_ACCESS, compute_plan
from saas_infra.doctor import expect
from saas_infra.doctor.report import Check, Status
from saas_infra.doctor.wire import Tap, Wire
from saas_infra.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ManifestError,
    NotFoundError,
    RailwayError,
)
from saas_infra.railway import operations as ops
from saas_infra.railway.observed import (
    RAILWAY_RESTORE_WINDOW,
    Observed,
    VariableSpec,
    observe,
    parse_project,
    service_variables,
)
from saas_infra.railway.workspaces import (
    PERSONAL,
    WORKSPACE_TOKEN,
    WORKSPACE_VARIABLE,
    resolve_workspace,
    token_identity,
)
from saas_infra.tenancy import KEY_NAMES, POSTGRES, REDIS

CHECK_IDS = ("token", "workspace", "rate-limits", "templates", "listing", "variable-values",
             "tenant-keys", "fleet", "lock")
# What the gateway's references need from each database template (tenancy.DATABASE_URL, REDIS_URL).
TEMPLATE_NEEDS = (("postgres", POSTGRES, "DATABASE_URL"), ("redis", REDIS, "REDIS_URL"))
TEMPLATE_SOURCE = ("railwayapp/cli 991d8f0b (PR #837): Railway's template lookups reject "
                   "authenticated requests")
DOCTOR_PREFIX = "saas-infra-doctor-"


@dataclass(frozen=True)
class Setup:
    """What the environment and flags say, as doctor needs it (no token: the client has it)."""

    token_source: str  # RAILWAY_API_TOKEN, RAILWAY_TOKEN or sandbox
    token_conflict: bool = False
    workspace_id: str | None = None
    workspace_variable: str = "RAILWAY_WORKSPACE_ID"  # or RAILWAY_TEAM_ID, whichever was set
    plan_name: str = "HOBBY"  # the pacing preset
    per_second: float | None = 10
    per_hour: int | None = 1_000
    tenants_dir: Path = Path("tenants")
    fleet_file: Path | None = None  # None: fleet.yaml beside tenants_dir, when there is one


@dataclass
class Facts:
    """What the checks learnt, for the live run and the report."""

    kind: str | None = None  # workspaces.PERSONAL or WORKSPACE_TOKEN
    user: dict | None = None
    reach: list[dict] | None = None  # the workspaces the token reaches, when Railway lists them
    workspace: dict | None = None  # the one saas-infra acts on: id, name, plan, projectCount
    observed: Observed | None = None
    nodes: list[dict] = field(default_factory=list, repr=False)  # the listing's raw projects
    pages: int = 0


def run_checks(setup: Setup, tap: Tap, wire: Wire, now: datetime) -> tuple[list[Check], Facts]:
    facts = Facts()
    reads = _Memo(tap)
    checks = {"token": _token(setup, reads, facts)}
    checks["workspace"] = _workspace(setup, reads, facts) if facts.kind else _skip(
        "workspace", "needs a token Railway accepts")
    checks["templates"] = _templates(tap, wire)
    ready = checks["workspace"].status is not Status.FAIL and facts.kind is not None
    if ready:
        checks["listing"] = _listing(tap, facts, now)
    listed = ready and facts.observed is not None
    for check_id, judge in (("variable-values", _values), ("tenant-keys", _keys),
                            ("lock", _lock)):
        checks[check_id] = judge(facts, now) if listed else _skip(check_id, "needs the listing")
    checks["fleet"] = _fleet(setup, facts, now) if listed else _skip("fleet", "needs the listing")
    checks.setdefault("listing", _skip("listing", "needs a workspace"))
    checks["rate-limits"] = _rate_limits(setup, wire, facts)
    return [checks[i] for i in CHECK_IDS], facts


def _skip(check_id: str, why: str) -> Check:
    return Check(check_id, Status.SKIP, f"not checked: {why}")


# --- token and workspace ------------------------------------------------------------------------


class _Memo:
    """The same read asked twice gets Railway's first answer (or error): doctor asks who the
    token is, then lets the pass's own resolve_workspace decide, without paying twice."""

    _CACHED = ("Me", "ApiToken", "Workspace")

    def __init__(self, inner: Tap) -> None:
        self.inner = inner
        self._answers: dict[str, object] = {}

    def execute(self, operation, variables=None) -> dict:
        if operation.name not in self._CACHED:
            return self.inner.execute(operation, variables)
        key = f"{operation.name}:{sorted((variables or {}).items())}"
        if key not in self._answers:
            try:
                self._answers[key] = self.inner.execute(operation, variables)
            except RailwayError as exc:
                self._answers[key] = exc
        answer = self._answers[key]
        if isinstance(answer, RailwayError):
            raise answer
        return answer


def _token(setup: Setup, reads: _Memo, facts: Facts) -> Check:
    try:
        identity = token_identity(reads)
    except AuthError as exc:
        return _refused(setup, exc)
    except ConfigError:  # a workspace token whose workspaces Railway would not list
        facts.kind = WORKSPACE_TOKEN  # the workspace check says what to set
        return _token_verdict(setup, facts)
    except RailwayError as exc:
        return Check("token", Status.FAIL, f"Railway could not be asked: {exc}",
                     fix=exc.hint or "check RAILWAY_API_URL and the network, then run again")
    facts.kind, facts.user, facts.reach = identity.kind, identity.user, list(identity.workspaces)
    return _token_verdict(setup, facts)


def _refused(setup: Setup, error: RailwayError) -> Check:
    fix = ("create an account token (no workspace) or a workspace token in Railway's account "
           "settings and export it as RAILWAY_API_TOKEN")
    if setup.token_source == "RAILWAY_TOKEN":
        fix = ("the token came from RAILWAY_TOKEN, the name Railway's tools use for project "
               "tokens, which cannot manage a fleet; " + fix)
    return Check("token", Status.FAIL, f"Railway refused the token from {setup.token_source} "
                 f"({error})", fix=fix)


def _token_verdict(setup: Setup, facts: Facts) -> Check:
    source = "the sandbox emulator" if setup.token_source == "sandbox" else setup.token_source
    if facts.kind == PERSONAL:
        user = facts.user or {}
        who = user.get("name") or user.get("username") or user.get("id")
        summary = f"account token from {source} (user {who})"
    else:
        summary = (f"workspace token from {source} (Railway refuses `me` to workspace tokens, "
                   "as it should)")
    details = {"source": setup.token_source, "kind": facts.kind}
    if setup.token_conflict:
        return Check("token", Status.WARN, summary, details=details,
                     fix="RAILWAY_API_TOKEN and RAILWAY_TOKEN are both set and differ; "
                     "saas-infra uses RAILWAY_API_TOKEN: unset the other")
    if setup.token_source == "RAILWAY_TOKEN":
        return Check("token", Status.WARN, summary, details=details,
                     fix="Railway's own tools read RAILWAY_TOKEN as a project token; export "
                     "this token as RAILWAY_API_TOKEN instead (saas-infra reads both)")
    return Check("token", Status.OK, summary, details=details)


def _workspace(setup: Setup, reads: _Memo, facts: Facts) -> Check:
    """The workspace a pass would manage, decided by the pass's own resolve_workspace."""
    details = {"reaches": [{"id": w.get("id"), "name": w.get("name")} for w in facts.reach or []]}
    older = (f" (set as {setup.workspace_variable}, its older name)"
             if setup.workspace_variable != WORKSPACE_VARIABLE else "")
    try:
        choice = resolve_workspace(reads, setup.workspace_id)
    except (ConfigError, AuthError) as exc:
        return Check("workspace", Status.FAIL, f"{exc}{older}", details=details, fix=exc.hint)
    known = next((w for w in facts.reach or [] if w.get("id") == choice.id), {})
    facts.workspace = {"id": choice.id, "name": choice.name, **known}
    if not facts.workspace.get("plan"):
        try:
            facts.workspace.update(ops.workspace(reads, choice.id))
        except RailwayError:
            pass  # the plan only refines the rate-limit check
    via = ""
    if facts.kind == WORKSPACE_TOKEN and not setup.workspace_id:
        via = (" (found through apiToken { workspaces }, a field no Railway client uses; "
               f"setting {setup.workspace_variable} avoids it)")
    source = f"from {setup.workspace_variable}" if setup.workspace_id else choice.source
    return Check("workspace", Status.OK, f"{_ws_name(facts.workspace)}: {source}{via}",
                 details=details)


def _ws_name(workspace: dict) -> str:
    plan = f", {workspace['plan']}" if workspace.get("plan") in expect.PLANS else ""
    return f"{workspace.get('name')} ({workspace.get('id')}{plan})"


# --- rate limits ----------------------------------------------------------------------------------


def _rate_limits(setup: Setup, wire: Wire, facts: Facts) -> Check:
    headers = wire.rate_headers
    preset = f"SAAS_INFRA_RAILWAY_PLAN={setup.plan_name}" if setup.token_source != "sandbox" else (
        "the sandbox's PRO pacing")
    pacing = f"{preset} paces at {_rate(setup.per_second, 's')}, {_rate(setup.per_hour, 'h')}"
    plan = (facts.workspace or {}).get("plan")
    plan = plan if plan in expect.PLANS else None
    limit, remaining = _int(headers.get("x-ratelimit-limit")), _int(headers.get(
        "x-ratelimit-remaining"))
    details = {"headers": headers, "preset": setup.plan_name, "workspace_plan": plan}
    if not headers:
        return Check("rate-limits", Status.WARN, f"Railway sent no X-RateLimit-* headers; "
                     f"{pacing}", details=details,
                     fix="nothing to do if passes run without 429s; a Cloudflare 429 (error "
                     "1015) carries none either")
    seen = f"Railway reports a limit of {limit}, {remaining} left" if limit is not None else (
        f"Railway reports {remaining} left")
    summary = f"{seen} (X-RateLimit-*); {pacing}"
    if limit is not None and setup.per_hour and limit < setup.per_hour:
        return Check("rate-limits", Status.WARN, summary, details=details,
                     fix=f"the preset is faster than Railway allows: passes will hit 429s and "
                     f"wait; set SAAS_INFRA_RAILWAY_PLAN{'=' + plan if plan else ''} to match")
    if plan and setup.token_source != "sandbox" and plan != setup.plan_name:
        return Check("rate-limits", Status.WARN, summary + f"; the workspace is on {plan}",
                     details=details, fix=f"set SAAS_INFRA_RAILWAY_PLAN={plan}")
    if remaining is not None and limit and remaining < max(50, limit // 10):
        return Check("rate-limits", Status.WARN, summary, details=details,
                     fix="few requests left in this window: a pass on a large fleet will wait "
                     "for the reset (X-RateLimit-Reset)")
    return Check("rate-limits", Status.OK, summary, details=details)


def _rate(value, unit: str) -> str:
    return f"{value:g}/{unit}" if value else f"no limit/{unit}"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# --- templates ----------------------------------------------------------------------------------


def _templates(tap: Tap, wire: Wire) -> Check:
    """Look both templates up as `create` does (ops.template), and check what the gateway's
    references need: a service named Postgres with DATABASE_URL, Redis with REDIS_URL; and that
    `create` can fill every required variable (ops.template_config_with_values)."""
    found, problems, differences, unfillable = [], [], [], False
    for code, service, variable in TEMPLATE_NEEDS:
        mark = tap.mark()
        try:
            template = ops.template(tap, code)
        except RailwayError as exc:
            return _template_refused(code, exc, wire.credentials.get("Template", False))
        call = tap.since(mark)[-1]
        differences += expect.check(call.operation, call.variables, call.data)
        problem = _template_problem(template, service, variable)
        if problem:
            problems.append(f"{code}: {problem}")
        elif (gap := _unfillable(template)) is not None:
            problems.append(f"{gap}: every `create` would fail deploying it")
            unfillable = True
        else:
            found.append(f"{code} → {service} ({variable})")
    how = ("with this token's credentials; Railway's CLI sends none" if
           wire.credentials.get("Template") else "without credentials, as Railway's CLI does")
    if problems or differences:
        fix = ("report this to saas-infra: a template asks for a value `create` cannot give"
               if unfillable else "the gateway's DATABASE_URL/REDIS_URL references need these "
               "services and variables; report this difference to saas-infra")
        return Check("templates", Status.FAIL, "; ".join(problems) or "answers differ",
                     differences=differences, fix=fix)
    return Check("templates", Status.OK, f"{', '.join(found)}; looked up {how}")


def _unfillable(template: dict) -> str | None:
    """Why `create` could not fill the template for templateDeployV2, or None."""
    try:
        ops.template_config_with_values(template)
    except ApiError as exc:
        return exc.message
    return None


def _template_refused(code: str, exc: RailwayError, with_token: bool) -> Check:
    if isinstance(exc, AuthError) and with_token:
        return Check("templates", Status.FAIL,
                     f"Railway refused the {code} template lookup, sent with this token "
                     f"({TEMPLATE_SOURCE}): every `create` would fail at its first step",
                     fix="upgrade saas-infra: it must look templates up without credentials")
    if isinstance(exc, NotFoundError):
        return Check("templates", Status.FAIL, f"Railway has no template `{code}`: {exc}",
                     fix="report this to saas-infra: the official templates moved")
    sent = "with this token" if with_token else "without credentials"
    return Check("templates", Status.FAIL, f"the {code} template lookup ({sent}) failed: {exc}",
                 fix=exc.hint or "run doctor again; if it persists, report it: Railway's CLI "
                 "looks templates up the same way")


def _template_problem(template: dict, service: str, variable: str) -> str | None:
    config = template.get("serializedConfig")
    if isinstance(config, str):
        config = json.loads(config) if config.strip().startswith("{") else None
    services = list(((config or {}).get("services") or {}).values())
    if len(services) != 1:
        return f"expected one service, the template has {len(services)}"
    if services[0].get("name") != service:
        return f"its service is not named {service} (the gateway's reference uses that name)"
    if variable not in (services[0].get("variables") or {}):
        return f"its service defines no {variable}"
    return None


# --- the listing ----------------------------------------------------------------------------------


def _listing(tap: Tap, facts: Facts, now: datetime) -> Check:
    """The fleet listing exactly as a pass takes it (observe), judged by the same guard."""
    mark = tap.mark()
    try:
        facts.observed = observe(tap, facts.workspace["id"])
    except RailwayError as exc:
        return Check("listing", Status.FAIL, f"the fleet listing failed: {exc}",
                     fix=exc.hint or "run doctor again; every pass would fail the same way")
    calls = tap.since(mark)
    differences = [d for c in calls if c.data is not None
                   for d in expect.check(c.operation, c.variables, c.data)]
    facts.nodes = _last_listing(calls)
    facts.pages = sum(1 for c in calls if c.name == "Fleet")
    counts = [c.data["workspace"]["projectCount"] for c in calls
              if c.name == "WorkspaceProjectCount" and c.data]
    facts.workspace["projectCount"] = counts[-1] if counts else None
    return _listing_verdict(facts, now, differences)


def _last_listing(calls) -> list[dict]:
    """The raw projects of the listing's last take (a short one is taken twice)."""
    nodes: dict[str, dict] = {}
    for call in calls:
        if call.name == "Fleet" and call.data:
            if not call.variables.get("after"):
                nodes = {}
            for edge in call.data["projects"]["edges"]:
                nodes[edge["node"]["id"]] = edge["node"]
    return list(nodes.values())


def _listing_verdict(facts: Facts, now: datetime, differences) -> Check:
    observed = facts.observed
    projects = observed.projects
    pending = [p for p in projects if p.pending_deletion]
    gone = [p for p in pending if p.deleted_at and now >= p.deleted_at + RAILWAY_RESTORE_WINDOW]
    count = facts.workspace.get("projectCount")
    live = len(projects) - len(pending)
    pages = f"{facts.pages} page{'' if facts.pages == 1 else 's'}"
    summary = (f"{len(projects)} projects in {pages}: {live} live, {len(pending)} pending "
               f"deletion; {_counted(count, live, len(pending), observed.checked_against)}")
    details = {"projects": len(projects), "pages": facts.pages, "live": live,
               "pending_deletion": len(pending), "deleted_long_ago": len(gone),
               "project_count": count, "checked_against": observed.checked_against,
               "complete": observed.complete}
    if not observed.complete:
        return Check("listing", Status.FAIL, f"{summary}; incomplete: {observed.problem}",
                     details=details, differences=differences,
                     fix="every apply stops on it (guard, exit 3) until the listing is whole")
    if differences:
        return Check("listing", Status.FAIL, summary, details=details, differences=differences,
                     fix="saas-infra may misread this listing; report these differences")
    if gone:
        return Check("listing", Status.WARN, summary + f"; {len(gone)} deleted long ago still "
                     "listed", details=details,
                     fix="every listing pays for projects Railway keeps listing after deletion")
    return Check("listing", Status.OK, summary, details=details)


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _counted(count, live: int, pending: int, against: str | None) -> str:
    """What Railway's projectCount (a field no Railway client uses) turned out to count."""
    if count is None:
        checked = f"checked against the {against}" if against else "not checked"
        return f"Railway gave no projectCount ({checked})"
    if pending and count == live + pending:
        return f"Railway counts {count}, pending deletions included"
    if pending and count == live:
        return f"Railway counts {count}, pending deletions left out"
    return f"Railway counts {count}"


# --- values and keys ------------------------------------------------------------------------


def _variable_specs(node: dict) -> dict[str, dict[str, VariableSpec]]:
    """{service name: {variable name: spec}} of a project's config, read as a pass reads it."""
    names = {e["node"]["id"]: e["node"]["name"] for e in (node.get("services") or {}).get(
        "edges", [])}
    return {names.get(sid, sid): specs for sid, specs in service_variables(node).items()}


def _live_nodes(facts: Facts) -> list[dict]:
    return [n for n in facts.nodes if not n.get("deletedAt")]


def _values(facts: Facts, _now) -> Check:
    """Whether this token reads values. Masked (every open value null) and sealed values are
    unknown to a pass, never missing: it checks and rewrites none of them (diff.py)."""
    readable, sealed, unreadable = 0, set(), {}
    for node in _live_nodes(facts):
        for variables in _variable_specs(node).values():
            for name, spec in variables.items():
                if spec.sealed:
                    sealed.add(name)
                elif spec.value is not None:
                    readable += 1
                else:
                    unreadable[name] = unreadable.get(name, 0) + 1
    hidden = sum(unreadable.values())
    details = {"readable": readable, "unreadable": hidden, "unreadable_names": sorted(unreadable),
               "sealed_names": sorted(sealed)}
    sealed_note = f"; sealed (never returned): {_names(sealed)}" if sealed else ""
    if not readable and not hidden:
        return Check("variable-values", Status.SKIP, "no variables in this workspace to read yet"
                     f"{sealed_note}; `doctor --live` reads a throwaway project's", details=details)
    if not readable:
        return Check("variable-values", Status.WARN,
                     f"all {hidden} values came back masked (null): this token cannot decrypt "
                     "variables, so passes cannot check values for drift and `credentials` cannot "
                     f"show keys (saas-infra leaves them as they are){sealed_note}",
                     details=details, fix=f"to check them, use {VALUES_ACCESS}")
    if hidden:
        return Check("variable-values", Status.WARN,
                     f"{readable} values readable, {hidden} came back null without being sealed "
                     f"({_names(unreadable)}){sealed_note}", details=details,
                     fix="saas-infra leaves unknown values as they are; tell the project if "
                     "you know why Railway hides them")
    return Check("variable-values", Status.OK, f"readable: {readable} values (this token decrypts "
                 f"variables){sealed_note}", details=details)


def _names(names, shown: int = 6) -> str:
    ordered = sorted(names)
    return ", ".join(ordered[:shown]) + ("…" if len(ordered) > shown else "")


def _keys(facts: Facts, _now) -> Check:
    missing, unreadable, fine = [], [], []
    for node in _live_nodes(facts):
        project = parse_project(node)
        if project.marker is None or project.gateway is None:
            continue
        gateway = project.gateway  # a key shown empty is missing: the next pass makes it
        absent = [k for k in KEY_NAMES if k not in gateway.key_names]
        hidden = [k for k in KEY_NAMES if k in gateway.unreadable_keys]
        if hidden:
            unreadable.append(f"{project.tenant} ({', '.join(hidden)})")
        if absent:
            missing.append(f"{project.tenant} ({', '.join(absent)})")
        if not hidden and not absent:
            fine.append(project.tenant)
    details = {"readable": len(fine), "unreadable": unreadable, "missing": missing}
    if not (missing or unreadable or fine):
        return Check("tenant-keys", Status.SKIP, "no tenant with a gateway yet", details=details)
    if missing:
        return Check("tenant-keys", Status.WARN,
                     f"keys missing for {len(missing)} tenants: {', '.join(missing[:5])}",
                     details=details, fix="the next pass generates the missing keys")
    if unreadable:
        return Check("tenant-keys", Status.WARN,
                     f"keys present but unreadable (masked or sealed) for {len(unreadable)} "
                     f"tenants: {', '.join(unreadable[:5])}; passes leave them as they are, "
                     "and `credentials` cannot show them", details=details,
                     fix=f"to read them, use {VALUES_ACCESS} (a sealed key stays unreadable: "
                     "`credentials --rotate` makes new ones)")
    return Check("tenant-keys", Status.OK,
                 f"CLIENT_API_KEY and ADMIN_API_KEY readable for {len(fine)} tenants",
                 details=details)


# --- fleet and lock -----------------------------------------------------------------------------


def _fleet(setup: Setup, facts: Facts, now: datetime) -> Check:
    observed = facts.observed
    managed, pending = observed.managed(), observed.pending()
    unmanaged = observed.unmanaged()
    leftovers = [p.name for p in observed.projects if is_doctor_project(p.name, p.description)
                 and not p.pending_deletion]
    summary = (f"{_count(len(managed), 'tenant')}, {len(pending)} pending deletion, "
               f"{_count(len(unmanaged), 'unmanaged luthien-* project')}")
    details: dict[str, Any] = {
        "tenants": sorted(managed), "pending_deletion": sorted(pending),
        "unmanaged": sorted(p.name for p in unmanaged), "doctor_projects": leftovers,
        "duplicates": sorted(t for t, ps in managed.items() if len(ps) > 1),
    }
    if not setup.tenants_dir.is_dir():
        summary += f"; no {setup.tenants_dir}/ here, so no manifests to compare"
        return _fleet_leftovers(Check("fleet", Status.OK, summary, details=details), leftovers)
    try:
        manifests = mf.load_tenants(setup.tenants_dir, fleet_file=setup.fleet_file)
    except ManifestError as exc:
        return Check("fleet", Status.FAIL, f"{summary}; {exc.args[0]} in {setup.tenants_dir}/",
                     details=details, fix="`saas-infra validate` names each one")
    plan = compute_plan(manifests, observed, now, workspace_id=facts.workspace.get("id"))
    orphans = sorted({f.tenant for f in plan.findings if f.kind.value == "orphan"})
    blocked = sorted({f.tenant for f in plan.findings if f.kind.value == "blocked"})
    details.update(manifests=len(manifests), orphans=orphans, blocked=blocked,
                   pending_actions=len(plan.actions))
    summary += (f"; {_count(len(manifests), 'manifest')}, {_count(len(orphans), 'orphan')}; a "
                f"pass now would make {_count(len(plan.actions), 'change')}")
    if plan.guards:
        return Check("fleet", Status.FAIL, summary, details=details,
                     fix="a pass would stop: " + "; ".join(g.message for g in plan.guards))
    if blocked:
        return Check("fleet", Status.WARN, summary + f"; blocked: {', '.join(blocked)}",
                     details=details, fix="`saas-infra plan` says what blocks each")
    return _fleet_leftovers(Check("fleet", Status.OK, summary, details=details), leftovers)


def _fleet_leftovers(check: Check, leftovers: list[str]) -> Check:
    if leftovers and check.status is Status.OK:
        check.status = Status.WARN
        check.summary += f"; {len(leftovers)} doctor projects left: {', '.join(leftovers)}"
        check.fix = ("another `doctor --live` may be running; if not, `saas-infra doctor "
                     "--cleanup` removes them")
    return check


def is_doctor_project(name: str | None, description: str | None) -> bool:
    """A project `doctor --live` made: its name and its marker both say so."""
    return bool(name and name.startswith(DOCTOR_PREFIX)
                and "[saas-infra-doctor " in (description or ""))


def _lock(facts: Facts, now: datetime) -> Check:
    state = fleet_lock.lock_state(facts.nodes)
    lease = state.lease
    details = {"control_project": state.control_id,
               "lease": lease.to_dict(now) if lease else None,
               "earlier_tickets": list(state.legacy)}
    if state.legacy:
        return Check("lock", Status.WARN, f"{len(state.legacy)} lock projects named "
                     f"{fleet_lock.LEGACY_TICKET} left by an earlier saas-infra", details=details,
                     fix="`saas-infra unlock --force` removes them (once no older saas-infra runs)")
    if lease and not lease.expired(now):
        return Check("lock", Status.OK, f"held: {lease.describe(now)} (a pass is running)",
                     details=details)
    if lease:
        return Check("lock", Status.WARN, f"free, but an expired lock left by a pass that died "
                     f"({lease.describe(now)})", details=details,
                     fix="the next pass takes it over by itself")
    if state.control_id is None:
        return Check("lock", Status.OK, f"free (no {fleet_lock.CONTROL_PROJECT} yet: the first "
                     "pass that acts makes it)", details=details)
    return Check("lock", Status.OK, "free", details=details)
