"""What the command line says on a terminal, for every verb and command but the plan's own
lines (plan.py): results on stdout, messages, warnings and progress on stderr.

Each function takes a verb's typed result and returns Lines; the CLI prints them in order and
decides nothing about their words. The demo's job messages come from here too (summaries).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from saas_infra.clock import format_time
from saas_infra.diff import BACKUPS_GO_WITH_THE_PROJECT, VALUES_ACCESS
from saas_infra.errors import CooldownError, RateLimitedError, SaasInfraError
from saas_infra.render import words
from saas_infra.render.plan import plan_text
from saas_infra.tenancy import IN_PROGRESS
from saas_infra.verbs import (
    Credentials,
    Identity,
    InstanceRow,
    Storage,
    TenantDetail,
    UnreadableKey,
    VerbResult,
)


class Line(NamedTuple):
    """One line of output: its text, a rich style, and whether it is a message (stderr)."""

    text: str
    style: str | None = None
    err: bool = False


def out(text: str, style: str | None = None) -> Line:
    return Line(text, style)


def say(text: str, style: str | None = None) -> Line:
    return Line(text, style, err=True)


def warn(text: str) -> Line:
    return Line(text, "yellow", err=True)


def error(text: str) -> Line:
    return Line(text, "red", err=True)


def lines_of(styled: Iterable[tuple[str, str | None]]) -> list[Line]:
    """The plan layer's (text, style) pairs, for stdout."""
    return [Line(text, style) for text, style in styled]


# --- errors and warnings --------------------------------------------------------------------


def error_lines(exc: SaasInfraError) -> list[Line]:
    from saas_infra.errors import ManifestError

    if isinstance(exc, ManifestError):
        lines = [error(str(problem)) for problem in exc.problems]
        lines.append(error(f"Error: {exc.args[0]}; nothing was sent to Railway."))
    else:
        lines = [error(f"Error: {exc}")]
    if exc.hint:
        lines.append(say(f"Hint: {exc.hint}"))
    return lines


def unexpected_lines(exc: Exception, debug: bool) -> list[Line]:
    lines = [error(f"Error: unexpected {type(exc).__name__}: {exc}")]
    if not debug:
        lines.append(say("Hint: rerun with --debug to see the traceback."))
    return lines


PROJECT_TOKEN_HINT = (
    "the token came from RAILWAY_TOKEN, the name Railway's own tools use for project tokens; a "
    "project token reaches one environment of one project and cannot manage a fleet. Create an "
    "account or workspace token and export it as RAILWAY_API_TOKEN")


def with_project_token_hint(hint: str | None) -> str:
    """An auth failure's hint for a token from RAILWAY_TOKEN: the project-token hint after the
    error's own (which may name another cause, such as a workspace the token does not reach)."""
    if not hint:
        return PROJECT_TOKEN_HINT
    return hint if PROJECT_TOKEN_HINT in hint else f"{hint}; {PROJECT_TOKEN_HINT}"


TOKEN_CONFLICT = ("RAILWAY_API_TOKEN and RAILWAY_TOKEN are both set and differ; using "
                  "RAILWAY_API_TOKEN")


def skipped(message: str) -> Line:
    return warn(f"Warning: {message}")


def warnings(items: Iterable[str]) -> list[Line]:
    return [warn(f"Warning: {item}") for item in items]


def unreadable_manifests(problems: Sequence[str]) -> list[Line]:
    """Manifests a read-only view had to leave out: named, so nobody mistakes the view for whole."""
    lines = warnings(problems)
    if problems:
        lines.append(warn("Warning: the manifests above could not be read (shown as 'invalid "
                          "manifest'); `saas-infra validate` lists every problem."))
    return lines


def retry_line(event: Any) -> str:
    """What a retry waits for, from a RetryEvent: 429s and cooldowns name Railway's limit."""
    wait = f"{event.wait:.0f} s" if event.wait >= 1 else f"{event.wait:.1f} s"
    if isinstance(event.error, RateLimitedError):
        return f"Railway rate limit: waiting {wait} ({event.operation})"
    if isinstance(event.error, CooldownError):
        return f'Railway says "Endpoint too recently updated": waiting {wait} ({event.operation})'
    message = getattr(event.error, "message", None) or str(event.error)
    return (f"Railway {event.operation} failed ({message}); retrying in {wait} "
            f"(attempt {event.attempt + 1})")


def sandbox_wait(holder: tuple[str, int] | None, timeout: float) -> str:
    who = f"held by {holder[0]}, pid {holder[1]}" if holder else (
        "held by another saas-infra command")
    return f"Waiting for the sandbox ({who}; up to {timeout:.0f} s)..."


# --- validate / plan / apply ----------------------------------------------------------------


def validated(count: int, directory: str, fleet_file: str | None = None) -> list[Line]:
    with_fleet = f", with the fleet file {fleet_file}" if fleet_file else ""
    return [say(f"{words.plural(count, 'manifest')} valid in {directory}/{with_fleet}")]


def provider_key_warning(tenants: Sequence[str]) -> list[str]:
    """validate's warning for gateways serving client-key traffic without the provider key."""
    if not tenants:
        return []
    from saas_infra.manifest import PROVIDER_KEY

    shown = ", ".join(tenants[:5]) + (f", and {len(tenants) - 5} more" if len(tenants) > 5 else "")
    verb = "accepts" if len(tenants) == 1 else "accept"
    return [f"{words.plural(len(tenants), 'tenant')} ({shown}) {verb} client keys (auth_mode "
            f"client_key or both) but {'declares' if len(tenants) == 1 else 'declare'} no "
            f"{PROVIDER_KEY} in gateway.secrets: luthien-proxy "
            "answers that traffic with HTTP 500 unless the key was set on Railway by hand. "
            f"Declare it, e.g. in fleet.yaml defaults: gateway.secrets: {{{PROVIDER_KEY}: "
            "{from_env: VAR}}"]


def saved_plan(path: str) -> Line:
    return say(f"Saved the plan to {path}")


def progress(tenant: str, step: str, state: str) -> Line:
    return Line(f"{tenant}: {step} {state}", "dim", err=True)


def apply_lines(report: Any) -> list[Line]:
    """What a pass did, after it: each tenant's outcome, what is left, and the verdict last."""
    lines = lines_of(outcome_lines(report.outcomes))
    for tenant in sorted(report.due_next_pass):
        lines.append(warn(f"{tenant}: its deadline had already passed; it is now announced on "
                          "Railway, and the next pass deletes it."))
    for guard in report.next_pass_guards:
        lines.append(warn(f"The next pass will stop (exit code 3): {guard.message}."))
    for finding in report.blocked:
        lines.append(error(f"Blocked: {finding.tenant}: {finding.reason}"))
    lines += lost_lock(report.lost)
    halted = getattr(report, "halted", [])
    if not report.converged:
        if report.after.actions or not halted:
            lines.append(warn("Not converged: a new plan still has changes:"))
        lines += lines_of(plan_text(report.after))
    lines.append(Line(apply_verdict(report), "bold"))
    return lines


def lost_lock(lost: str | None) -> list[Line]:
    """A pass that lost the fleet lock says so after what it did (its keys included)."""
    if not lost:
        return []
    return [error(f"Error: {lost}"), say("Hint: `saas-infra unlock` shows who holds the lock")]


def outcome_lines(outcomes: Iterable[Any]) -> list[tuple[str, str | None]]:
    lines: list[tuple[str, str | None]] = []
    for outcome in outcomes:
        steps = ", ".join(f"{s.name} {s.result}" for s in outcome.steps) or "nothing to do"
        if outcome.ok:
            lines.append((f"  ok     {outcome.tenant}: {steps}", "green"))
        else:
            lines.append((f"  FAILED {outcome.tenant}: {outcome.error}", "red"))
    return lines


def apply_verdict(report: Any) -> str:
    """One line: what the pass did and whether the fleet converged."""
    plan = report.plan
    halted = ", ".join(r.channel for r in getattr(report, "halted", []))
    if plan.empty and not report.outcomes:
        if report.blocked:
            return f"Nothing applied; {words.plural(len(report.blocked), 'tenant')} blocked."
        if halted:
            return f"Nothing applied; the rollout of {halted} is halted (see above)."
        return NOTHING_TO_DO
    # Only what was applied: the actions of tenants whose outcome is ok. A failed tenant's
    # changes (refused, or stopped part-way) are its failure, counted as such below.
    ok = {o.tenant for o in report.outcomes if o.ok}
    applied = [a for a in plan.actions if a.tenant in ok]
    tenants = {a.tenant for a in applied}
    done = (f"Applied {words.plural(len(applied), 'change')} to "
            f"{words.plural(len(tenants), 'tenant')}" if applied else "No change completed")
    if report.failed:
        stop = f"; the rollout of {halted} is halted" if halted else ""
        return (f"{done}; {words.plural(len(report.failed), 'tenant')} failed{stop}; "
                "not converged.")
    if halted:
        return f"{done}; the rollout of {halted} is halted; not converged."
    if not report.converged:
        return f"{done}; not converged."
    return f"{done}; converged{_continues(report)}."


def _continues(report: Any) -> str:
    """`advance: wave`: each rollout a later pass goes on with, and the wave it starts next
    (the pass converged, yet the fleet is not all on the new version)."""
    after = getattr(report, "after", None)
    said = ""
    for rollout in after.rollouts if after is not None else ():
        wave = next((w.wave for w in rollout.waves if w.old or w.starting), None)
        if rollout.advance == "wave" and not rollout.halted and wave is not None:
            said += (f"; the rollout of {rollout.channel} continues on the next pass (wave "
                     f"{wave} of {len(rollout.waves)})")
    return said


NOTHING_TO_DO = "Nothing to do: Railway matches the manifests."
APPLY_QUESTION = "Apply this plan?"
NOTHING_APPLIED = "Nothing applied."


# --- list / status ------------------------------------------------------------------------------


TABLE_HEADER = ("NAME", "STATUS", "URL", "CREATED")


def instances_lines(rows: Sequence[InstanceRow], width: int | None = None) -> list[Line]:
    """An aligned table. Within `width` (COLUMNS) it drops whole columns, CREATED then URL,
    rather than cut a value short; without a width it is never cut."""
    if not rows:
        return [say("No tenants.")]
    cells = [(row.name, words.status_text(row), row.url or "-",
              format_time(row.created_at)[:10] if row.created_at else "-") for row in rows]
    keep = len(TABLE_HEADER)
    while keep > 2 and width is not None and _table_width(cells, keep) > width:
        keep -= 1
    table = [TABLE_HEADER[:keep], *(c[:keep] for c in cells)]
    widths = [max(len(line[i]) for line in table) for i in range(keep)]

    def line(values: Sequence[str]) -> str:
        padded = [v.ljust(w) for v, w in zip(values[:-1], widths[:-1], strict=True)]
        return "  ".join([*padded, values[-1]])

    styles = [_status_style(row) for row in rows]
    return [out(line(table[0]), "bold")] + [out(line(c), s) for c, s in zip(table[1:], styles, strict=True)]


def _table_width(cells: Sequence[tuple[str, ...]], keep: int) -> int:
    widths = [max(len(line[i]) for line in [TABLE_HEADER, *cells]) for i in range(keep)]
    return sum(widths) + 2 * (keep - 1)


STATUS_STYLES = {"running": "green", "deploying": "yellow", "awaiting_approval": "yellow",
                 "failed": "red", "deletion_scheduled": "magenta", "orphan": "magenta",
                 "duplicate": "red", "unmanaged": "dim", "invalid_manifest": "red"}


def _status_style(row: InstanceRow) -> str | None:
    return STATUS_STYLES.get(row.status.value)


def settings_text(settings: dict) -> str:
    """e.g. `health check /health (300 s), restart on_failure (10 retries), sleep off, 1 replica`."""
    check, restart, replicas = settings["healthcheck"], settings["restart"], settings["replicas"]
    health = (f"health check {check['path']} ({check['timeout'] or 300} s)" if check["path"]
              else "no health check")
    retries = (f" ({restart['max_retries']} retries)" if restart["policy"] == "on_failure"
               else "")
    return (f"{health}, restart {restart['policy']}{retries}, "
            f"sleep {'on' if settings['sleep'] else 'off'}, "
            f"{replicas} replica{'s' if replicas != 1 else ''}")


def region_text(row: InstanceRow) -> str:
    """e.g. `europe-west4-drams3a (gateway, Postgres, Redis)`, or each service's region when
    they differ, with the manifest's when Railway has another."""
    shown = {name: region or "unknown" for name, region in row.regions.items()}
    places = set(shown.values())
    if len(places) == 1:
        [place] = places
        text = f"{place} ({', '.join(shown)})"
    else:
        text = ", ".join(f"{name} {region}" for name, region in shown.items()) or "-"
    if row.region and places != {row.region}:
        text += f"; the manifest asks for {row.region}"
    return text


def limits_text(resources: dict | None) -> str:
    """e.g. `2 vCPU, 4 GB memory per replica` as Railway reports them."""
    if not resources:
        return "unknown"
    vcpus, memory = resources.get("vcpus"), resources.get("memory_gb")
    cpu = f"{vcpus:g} vCPU" if vcpus is not None else "the plan's vCPU"
    mem = f"{memory:g} GB memory" if memory is not None else "the plan's memory"
    return f"{cpu}, {mem} per replica"


def backups_text(storage: Storage) -> str:
    """e.g. `daily, weekly; newest 2026-11-27T12:00:00Z (3 kept)`."""
    if storage.backups is None:
        return "no Postgres volume found"
    schedule = ", ".join(storage.backups) or "off (no schedule)"
    newest = (f"newest {words.time(storage.newest_backup)} ({storage.backup_count} kept)"
              if storage.newest_backup else "none made yet")
    return f"{schedule}; {newest}"


def status_lines(detail: TenantDetail) -> list[Line]:
    row = detail.row
    lines = [out(f"{row.name}: {words.status_text(row)}", "bold")]
    lines.append(out(f"  Project:  {row.project_id or '-'}  {row.console_url or ''}".rstrip()))
    lines.append(out(f"  URL:      {row.url or '-'}"))
    if row.commit or row.image or row.pinned is not None:
        lines.append(out(f"  Version:  {version_text(row)}"))
    if row.settings:
        lines.append(out(f"  Settings: {settings_text(row.settings)}"))
    if row.region or len(set(row.regions.values())) > 1:  # asked for, or split across regions
        lines.append(out(f"  Region:   {region_text(row)}"))
    storage = detail.storage
    if storage is not None:
        lines.append(out(f"  Limits:   {limits_text(storage.resources)}"))
        lines.append(out(f"  Backups:  {backups_text(storage)}"))
    health = detail.health
    if health:
        lines.append(out(f"  Health:   {'ok' if health.ok else 'failing'} "
                         f"({health_detail(health)})", "green" if health.ok else "red"))
    if row.deletion_deadline:
        lines.append(out(f"  Deletion: {words.time(row.deletion_deadline)} (requested "
                         f"{words.time(row.deletion_scheduled_at) or '-'})", "magenta"))
    for name, secret in row.secrets.items():
        there = {True: "set on Railway", False: "not on Railway yet", None: "no gateway yet"}
        lines.append(out(f"  Secret:   {name} from {secret.from_env} "
                         f"({there[secret.on_railway]})"))
    for service in detail.services:
        status = service.deployment_status or "no deployment"
        source = f"  {service.source}" if service.source else ""
        lines.append(out(f"  - {service.name:<9} {status}{source}"))
    drift_kinds = {d.kind for d in detail.drift}
    for drift in detail.drift:
        lines.append(out(f"  drift: {drift.kind.value}: {drift.reason}", "yellow"))
    for pending in detail.pending:
        if pending.kind not in drift_kinds:
            lines.append(out(f"  pending: {pending.kind.value}: {pending.reason}", "cyan"))
    lines += [out(f"  warning: {warning}", "yellow") for warning in detail.warnings]
    return lines


def version_text(row: InstanceRow) -> str:
    """What the gateway serves, whether a push can change that, the channel whose version it
    is to run, and a newest deployment that did not replace it."""
    running = row.image or row.commit
    # A first deploy still on its way: the version it brings, not "nothing serves".
    first = not running and row.newest is not None and row.deployment_status in IN_PROGRESS
    shown = row.newest if first else running
    text = _short(shown) if shown else "nothing serves" if row.newest else "no commit known"
    source = row.source or {}
    if row.pinned and row.channel:
        text += (f" (pinned, channel {row.channel})" if shown == row.pin else
                 f" (channel {row.channel} is at {_short(row.pin)}: rolling out)")
    elif row.pinned:
        text += " (pinned)" if shown == row.pin else f" (pinned to {_short(row.pin)})"
    elif row.pinned is False:
        text += f" (follows {source.get('branch', 'its branch')})"
    if first:
        text += f"; deploying ({row.deployment_status}), not serving yet"
    elif row.newest:
        text += f"; the newest deploy of {_short(row.newest)} {row.deployment_status}"
    return text


def _short(version: str | None) -> str:
    """A commit's first 12 digits; an image as named."""
    if version is None:
        return "-"
    return version[:12] if len(version) == 40 and "/" not in version else version


def health_detail(health: Any) -> str:
    if not health.probed:
        return "not probed"
    if health.error:
        return f"unreachable ({health.error})"
    return f"HTTP {health.http_status}"


# --- create / redeploy --------------------------------------------------------------------------


def working(verb: str, name: str) -> str:
    """The spinner's text (or its one line) while a verb's pass runs: 'Creating acme...'."""
    return f"{verb} {name}..."


def deployment_state(verb: str, name: str, status: str, waited: float) -> str:
    """A change of the gateway deployment's state while a verb waits for it."""
    return f"{verb} {name}: gateway deployment {status} ({words.seconds(waited)})"


def create_lines(result: VerbResult, keys: Mapping[str, str] | None) -> list[Line]:
    """What `create` prints: the tenant, its URLs and deployment, its keys once, what failed."""
    if not result.applied:
        return [out(create_message(result) or "")]
    name = result.tenant
    lines = [] if result.finished else pass_trouble(result)
    if result.project_id:
        title = f"Created tenant {name}" if result.finished else f"Tenant {name} (not finished)"
        lines.append(out(title, "green bold" if result.finished else "yellow bold"))
        lines.append(out(f"  Gateway URL:     {result.url or '(no domain yet)'}"))
        lines.append(out(f"  Railway console: {result.console_url}"))
        if result.finished:
            lines.append(out(f"  Deployment:      {_deployment_text(result)}"))
    lines += [out(f"  {key + ':':<16} {value}") for key, value in (keys or {}).items()]
    if keys:
        lines.append(warn("Save these keys now: they are shown only once "
                          f"(`saas-infra credentials {name}` reads them back from Railway)."))
    elif result.credentials:
        lines.append(say(f"Keys not shown because CI is set; `saas-infra credentials {name}`, "
                         "run outside CI, reads them from Railway."))
    if result.wait_error:
        lines.append(error(f"Error: {result.wait_error}"))
    if result.deploy_failed:
        assert result.deployment is not None
        lines.append(error(f"Error: the gateway deployment {result.deployment.status}; the "
                           f"Railway console has its logs. {result.manifest_path} is kept: fix "
                           f"the cause, then `saas-infra redeploy {name}`."))
    if result.deploy_stopped:
        lines.append(error(f"Error: {deploy_stopped(result)}"))
    return lines


def create_message(result: VerbResult) -> str | None:
    """The one-line summary of a create that ran no pass (--no-apply); None otherwise."""
    if result.applied:
        return None
    return (f"Wrote {result.manifest_path}; nothing was sent to Railway. "
            f"The next pass (`saas-infra apply`) creates {result.tenant}.")


def created_summary(result: VerbResult, keys_hidden: bool) -> str:
    """The demo's line for a finished create."""
    deployment = result.deployment.status if result.deployment else "not deployed yet"
    text = f"Created {result.tenant}: gateway {deployment}, {result.url or 'no domain yet'}."
    if keys_hidden:
        text += (f" Keys not shown (CI is set); `saas-infra credentials {result.tenant}` "
                 "reads them.")
    return text


def _deployment_text(result: VerbResult) -> str:
    deployment = result.deployment
    if result.wait_error:
        return f"unknown (`saas-infra status {result.tenant}` shows it)"
    if not deployment:
        return f"not waited for (`saas-infra status {result.tenant}` follows it)"
    return f"{deployment.status} after {words.seconds(result.waited or 0)} ({deployment.id})"


def deploy_stopped(result: VerbResult) -> str | None:
    """Why the deployment waited for will not run by itself (approval, removal)."""
    deployment = result.deployment
    if deployment is None:
        return None
    if result.awaiting_approval:
        return (f"the gateway deployment {deployment.id} awaits approval in Railway: "
                f"approve it in the Railway console ({result.console_url}); "
                f"`saas-infra status {result.tenant}` follows it")
    if result.deploy_removed:
        return (f"the gateway deployment {deployment.id} was removed on Railway "
                f"({deployment.status}); `saas-infra redeploy {result.tenant}` deploys it again")
    return None


def deploy_failed(result: VerbResult) -> str:
    assert result.deployment is not None
    return (f"the gateway deployment {result.deployment.status}; the Railway console has its "
            f"logs: {result.console_url}")


def pass_trouble(result: VerbResult) -> list[Line]:
    """Why a verb's pass did not finish, on stderr, and that the manifest edit stays."""
    report = result.report
    assert report is not None
    lines = lost_lock(report.lost)
    lines += [error(f"Error: {o.tenant}: {o.error}") for o in report.failed]
    for action in [] if report.failed else report.after.actions:  # a failure explains these
        lines.append(warn(f"Not converged: {action.tenant}: {action.kind.value}: {action.reason}"))
    lines.append(say(f"{result.manifest_path} keeps the change; `saas-infra apply --target "
                     f"{result.tenant}` runs the pass again."))
    return lines


def redeploy_lines(result: VerbResult) -> list[Line]:
    name, deployment = result.tenant, result.deployment
    if not result.applied:
        return [out(redeploy_message(result) or "")]
    if not result.finished:
        return pass_trouble(result)
    if result.deploy_failed:
        assert deployment is not None
        return [error(f"Error: the redeploy of {name} {deployment.status} (deployment "
                      f"{deployment.id}); the Railway console has its logs: "
                      f"{result.console_url}")]
    if result.deploy_stopped:
        return [error(f"Error: {deploy_stopped(result)}")]
    if deployment and result.waited is None:  # --no-wait: the deployment it started
        return [out(f"Redeploy of {name} requested: deployment {deployment.id} is "
                    f"{deployment.status}; `saas-infra status {name}` follows it.")]
    if deployment:
        at = f", commit {deployment.commit[:7]}" if deployment.commit else ""
        return [out(f"Redeployed {name}: {deployment.status} after "
                    f"{words.seconds(result.waited or 0)} (deployment {deployment.id}{at})")]
    return [out(f"Redeploy of {name} requested; `saas-infra status {name}` follows it.")]


def redeploy_message(result: VerbResult) -> str | None:
    if result.applied:
        return None
    return (f"Wrote a redeploy request to {result.manifest_path}; the next pass deploys the "
            "newest commit.")


def redeployed_summary(result: VerbResult) -> str:
    """The demo's line for a finished redeploy."""
    if result.deployment:
        return f"Redeployed {result.tenant}: {result.deployment.status}."
    return f"Redeploy of {result.tenant} requested."


# --- delete / cancel-delete / adopt -------------------------------------------------------------


def delete_question(name: str, force: bool, grace_days: int) -> str:
    if force:
        return (f"Delete {name} NOW, with its database? This cannot be undone by saas-infra, "
                "and Railway deletes the database's backups with the project.")
    return (f"Schedule {name} for deletion in {words.plural(grace_days, 'day')}? It keeps "
            "running until then.")


NOTHING_DELETED = "Nothing deleted."


def forced_delete_warning(name: str) -> str:
    return f"Warning: {name} is deleted now: {BACKUPS_GO_WITH_THE_PROJECT}."


def delete_lines(result: VerbResult) -> list[Line]:
    lines = pass_trouble(result) if result.applied and not result.finished else []
    return lines + [out(delete_message(result))]


def delete_message(result: VerbResult) -> str:
    name, shown, deletion = result.tenant, result.manifest_path, result.deletion
    assert deletion is not None
    if deletion.force:
        if not result.applied:
            return f"Wrote a forced tombstone to {shown}; the next pass deletes {name} at once."
        if not result.ok:
            return (f"Deleting {name} did not finish; the tombstone stays in {shown} and the "
                    "next pass tries again.")
        gone = f"project {result.project_id}" if result.project_id else "nothing on Railway"
        return f"Deleted {name} now ({gone}); removed {shown}."
    assert result.deadline is not None and result.at is not None
    left = words.time_left(result.deadline - result.at)
    when = f"at {words.time(result.deadline)} ({left})"
    undo = f"`saas-infra cancel-delete {name}` undoes it."
    if result.unchanged:
        return f"{name} was already scheduled for deletion {when}; the deadline stays. {undo}"
    if not result.applied:
        return (f"Wrote the tombstone to {shown}: deletion {when}; the next pass marks it on "
                f"Railway. {undo}")
    return f"{name} is scheduled for deletion {when}; it keeps running until then. {undo}"


def cancel_lines(result: VerbResult) -> list[Line]:
    lines = pass_trouble(result) if result.applied and not result.finished else []
    return lines + [out(cancel_message(result))]


def cancel_message(result: VerbResult) -> str:
    name = result.tenant
    if not result.applied:
        return (f"Removed the tombstone from {result.manifest_path}; the next pass takes the "
                "mark off Railway.")
    if result.restored:
        return f"Restored {name} from Railway's scheduled delete; it keeps running."
    return f"Cancelled the scheduled deletion of {name}; it keeps running."


def adopt_message(result: VerbResult) -> str:
    text = f"Wrote {result.manifest_path} for the project {result.project_id}."
    if result.deadline:
        text += (f" It carries the deletion Railway announces for {words.time(result.deadline)}"
                 f" (`saas-infra cancel-delete {result.tenant}` cancels it).")
    if result.left_out:
        text += (f" Not carried over (a manifest may not hold them): {', '.join(result.left_out)};"
                 " the next pass would change them on Railway.")
    if result.not_returned:
        text += (f" Not carried over (Railway did not return their values): "
                 f"{', '.join(result.not_returned)}; passes leave them as they are on Railway.")
    if result.pending:
        kinds = ", ".join(p.kind.value for p in result.pending)
        return text + f" Review it: `saas-infra plan --target {result.tenant}` still shows {kinds}."
    return text + " `saas-infra plan` shows no changes for it."


def message(result: VerbResult, verb: str) -> str | None:
    """The verb's one-line summary, for JSON's `message` (None where it has none)."""
    summaries = {"create": create_message, "redeploy": redeploy_message,
                 "delete": delete_message, "cancel-delete": cancel_message,
                 "adopt": adopt_message}
    return summaries[verb](result)


# --- whoami / credentials -----------------------------------------------------------------------


def whoami_lines(identity: Identity, token_source: str | None) -> list[Line]:
    if identity.user:
        user = identity.user
        who = user.get("name") or user.get("username") or user.get("id")
        lines = [out(f"Personal account token: {who} <{user.get('email') or '-'}>")]
    else:
        lines = [out("Workspace token: Railway does not answer `me` for it, so it has no user; "
                     "it reaches these workspaces:")]
    for ws in identity.workspaces:
        projects = "? projects" if ws.projects is None else words.plural(ws.projects, "project")
        lines.append(out(f"  Workspace: {ws.name} ({ws.id}), {ws.plan or '?'} plan, {projects}"))
    chosen = identity.workspace
    if chosen:
        how = "from RAILWAY_WORKSPACE_ID" if chosen["source"] == "RAILWAY_WORKSPACE_ID" else (
            chosen["source"])
        lines.append(out(f"Manages: {chosen['name'] or '?'} ({chosen['id']}), {how}"))
    if token_source == "sandbox":
        lines.append(out("Token: the sandbox's own (--sandbox)"))
    elif token_source:
        lines.append(out(f"Token from: {token_source}"))
    return lines


def workspace_problem(identity: Identity) -> list[Line]:
    """A RAILWAY_WORKSPACE_ID this token does not reach is an error; no choice only a warning."""
    if not identity.workspace_problem:
        return []
    if identity.workspace_configured:
        return [error(f"Error: {identity.workspace_problem}"),
                say(f"Hint: {identity.workspace_hint}")]
    return [warn(f"{identity.workspace_problem}; {identity.workspace_hint}")]


def credentials_lines(creds: Credentials, name: str) -> list[Line]:
    lines = [out(f"{key + ':':<16} {value}") for key, value in creds.keys.items()
             if value is not None]
    lines += [error(f"Error: {unreadable_reason(key, why, name)}")
              for key, why in creds.unreadable.items()]
    if creds.rotated:
        lines.append(warn("New keys set; the gateway is redeploying and the old keys stop "
                          "working."))
    if creds.lost:
        lines.append(error(f"Error: {creds.lost}"))
    return lines


def unreadable_reason(key: str, why: UnreadableKey, name: str) -> str:
    """Why Railway did not give a key's value: sealed, masked, or simply not there."""
    rotate = (f"`saas-infra credentials {name} --rotate` sets new keys (clients of the old ones "
              "break)")
    if why is UnreadableKey.SEALED:
        return f"{key} is sealed on Railway, which never returns a sealed value; {rotate}"
    if why is UnreadableKey.MASKED:
        return (f"Railway masked the value of {key}: this token may not read the tenant's "
                f"variable values; reading them needs {VALUES_ACCESS}")
    if why is UnreadableKey.NOT_RETURNED:
        return f"Railway did not return the value of {key} (sealed, or not readable by this token)"
    return f"{key} is not set on Railway; the next `saas-infra apply` generates it"


# --- emulator ---------------------------------------------------------------------------------


def exposed(host: str, what: str, guard: str) -> Line:
    """A server listening beyond this machine: say so (the emulator, the demo)."""
    return warn(f"Listening on {host}: other machines can reach {what}{guard}. Use 127.0.0.1 "
                "unless you mean it.")


def emulator_lines(info: Mapping[str, Any]) -> list[Line]:
    """The served emulator's address, and the tokens it made up (never one it was given)."""
    url, account = info["url"], info["account_token"]
    lines = [say(f"Railway emulator listening on {url}"),
             say(f"  workspace id     {info['workspace_id']}")]
    if account:
        lines.append(say(f"  account token    {account}"))
    if info["workspace_token"]:
        lines.append(say(f"  workspace token  {info['workspace_token']}"))
    token = account or "<your --account-token>"
    lines.append(say(f"  export RAILWAY_API_URL={url} RAILWAY_API_TOKEN={token}"))
    return lines


# --- the demo's job summaries -------------------------------------------------------------------


def applied_summary(report: Any, name: str) -> str:
    """The demo's line for `apply --target NAME` from its page."""
    steps = [f"{s.name} {s.result}" for o in report.outcomes for s in o.steps]
    text = f"Applied {name}: {', '.join(steps) or 'nothing to do'}."
    if any(o.credentials for o in report.outcomes):
        text += f" `saas-infra credentials {name}` reads its new keys from Railway."
    return text


def pass_failed_summary(report: Any) -> str:
    """Why a pass run from the demo did not finish: the failures, or what is left to do."""
    if report.failed:
        return "; ".join(f"{o.tenant}: {o.error}" for o in report.failed)
    left = [f"{a.kind.value} ({a.reason})" for a in report.after.actions]
    left += [g.message for g in report.after.guards]
    return "not converged; still to do: " + "; ".join(left)


def demo_ready(url: str) -> list[Line]:
    """The demo's start: the one URL that carries its token."""
    return [say("saas-infra demo (a demo tool, not a production service). Open:"),
            say(f"    {url}"), say("Stop it with Ctrl-C.")]


def demo_mode(sandbox_dir: object | None, workspace: str, tenants_dir: object) -> str:
    """The demo page's header line: which Railway, which manifests."""
    where = (f"Sandbox: the embedded Railway emulator ({sandbox_dir}/)" if sandbox_dir
             else f"Railway workspace {workspace}")
    return f"{where}; manifests in {tenants_dir}/"


# --- unlock -------------------------------------------------------------------------------------


def unlock_lines(state: Any, force: bool, held: bool, now: Any) -> list[Line]:
    """Who holds the fleet lock (or that it was freed), and per-pass lock projects left over."""
    from saas_infra.lock import LEGACY_TICKET

    lease = state.lease
    if lease is None:
        lines = [say("The fleet lock is free.")]
    else:
        label = "Freed the fleet lock:" if force else "Fleet lock:"
        lines = [out(f"{label} {lease.describe(now)}")]
        if held and not force:
            lines.append(say("`saas-infra unlock --force` frees it, if that pass is dead."))
    if state.legacy:
        verb = "Removed" if force else "Found"
        lines.append(say(f"{verb} {words.plural(len(state.legacy), 'fleet-lock project')} named "
                         f"{LEGACY_TICKET} that an earlier saas-infra left" +
                         ("." if force else "; `saas-infra unlock --force` removes them.")))
    return lines
