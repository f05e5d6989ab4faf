"""The `saas-infra` command line: parse, call the core, render, pick the exit code. No logic.

Exit codes: 0 success, 1 error, 2 `plan --detailed-exitcode` found changes, 3 a safety guard
stopped the pass. Data goes to stdout, messages to stderr. `python -m saas_infra.cli` is the
same program.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import click

from saas_infra import __version__, render
from saas_infra.clock import Clock, SystemClock, clock_from_env, parse_time
from saas_infra.console import Console
from saas_infra.errors import ConfigError, SaasInfraError
from saas_infra.settings import Settings

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_GUARD = 0, 1, 2, 3
SANDBOX_API_URL = "http://sandbox.saas-infra.invalid/graphql/v2"

EPILOG = """\b
Exit codes: 0 success, 1 error, 2 changes found (plan --detailed-exitcode),
3 a safety guard stopped the pass.
Environment: RAILWAY_API_TOKEN (or RAILWAY_TOKEN), RAILWAY_WORKSPACE_ID (or RAILWAY_TEAM_ID),
RAILWAY_API_URL, CI. Add --sandbox to any command to use the local emulator."""


@dataclass
class Runtime:
    """What the outside world gives a run. Tests pass their own (fake clock, emulator transport)."""

    env: Mapping[str, str] | None = None
    clock: Clock = field(default_factory=SystemClock)
    transport: object | None = None  # an httpx transport; None = the network
    retry: object | None = None  # a RetryPolicy; None = the default, sleeping on `clock`
    emulator_options: dict = field(default_factory=dict)  # extra Emulator(...) args for --sandbox
    stdin_interactive: bool | None = None
    sandbox_holder: str | None = None  # who holds the sandbox, for those waiting [the command]

    def environ(self) -> Mapping[str, str]:
        return os.environ if self.env is None else self.env

    def settings(self, **overrides) -> Settings:
        return Settings.from_env(self.environ(), **overrides)

    def client(self, settings: Settings, on_retry=None, wrap=None):
        """The Railway client; `wrap(transport)`, when given, wraps its transport (doctor)."""
        from saas_infra.railway import Pacer, RailwayClient, RetryPolicy

        if settings.sandbox:
            emulator = self.sandbox_emulator(settings)
            token, api_url, transport = emulator.account_token, SANDBOX_API_URL, emulator.transport()
            pacer = Pacer.for_plan("PRO", clock=self.clock)
        else:
            token, api_url, transport = settings.require_token(), settings.api_url, self.transport
            pacer = Pacer.for_plan(settings.plan_name, clock=self.clock)
        retry = self.retry or RetryPolicy(sleep=self.clock.sleep)
        transport = wrap(transport) if wrap else transport
        return RailwayClient(
            token, api_url=api_url, transport=transport, retry=retry, pacer=pacer, clock=self.clock,
            on_retry=on_retry,
        )

    def sandbox_emulator(self, settings: Settings):
        from saas_infra.emulator import Emulator

        settings.sandbox_dir.mkdir(parents=True, exist_ok=True)
        ignore = settings.sandbox_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
        state = settings.sandbox_dir / "emulator.json"
        self._hold_sandbox(settings)
        if not hasattr(self, "_emulator"):
            self._emulator = Emulator(clock=self.clock, state_file=state, **self.emulator_options)
        return self._emulator

    def _hold_sandbox(self, settings: Settings) -> None:
        """One sandbox command at a time, until the command ends: each rewrites the state file.
        A command that has to wait says at once for whom (the demo holds it while it runs)."""
        from saas_infra.errors import LockHeldError
        from saas_infra.lock import lock_sandbox

        held = getattr(self, "_sandbox_lock", None)
        ctx = click.get_current_context(silent=True)
        if (held is not None and held.is_locked) or ctx is None:
            return
        directory = settings.sandbox_dir
        try:
            lock = lock_sandbox(directory, timeout=0)
        except LockHeldError:
            Console().message(f"Waiting for the sandbox ({_sandbox_holder(directory)}; up to "
                              f"{settings.lock_timeout:.0f} s)...")
            lock = lock_sandbox(directory, settings.lock_timeout)
        self._sandbox_lock = lock
        holder = directory / SANDBOX_HOLDER
        holder.write_text(json.dumps({"holder": self.sandbox_holder or f"`{ctx.command_path}`",
                                      "pid": os.getpid()}))

        def release() -> None:
            holder.unlink(missing_ok=True)  # first: the next holder writes its own once it has it
            lock.release()

        ctx.call_on_close(release)

    def health_client(self, settings: Settings):
        """An HTTP client for probing gateways' /health (the emulator's in the sandbox)."""
        import httpx

        if settings.sandbox:
            return httpx.Client(transport=self.sandbox_emulator(settings).transport())
        return httpx.Client(transport=self.transport) if self.transport else httpx.Client()

    def fleet(self, settings: Settings, on_retry=None):
        from saas_infra.reconcile import Fleet

        return Fleet(
            client=self.client(settings, on_retry),
            clock=self.clock,
            tenants_dir=settings.tenants_dir,
            workspace_id=settings.workspace_id,
            concurrency=settings.concurrency,
            max_deletions=settings.max_deletions,
            lock_timeout=settings.lock_timeout,
        )


SANDBOX_HOLDER = "sandbox.holder"  # beside sandbox.lock: who holds it, for those who wait


def _sandbox_holder(directory: Path) -> str:
    try:
        data = json.loads((directory / SANDBOX_HOLDER).read_text())
        return f"held by {data['holder']}, pid {int(data['pid'])}"
    except (OSError, ValueError, KeyError, TypeError):
        return "held by another saas-infra command"


class Session:
    """One command's view: console, settings, and (lazily) the fleet."""

    def __init__(self, runtime: Runtime, *, as_json: bool, sandbox: bool, tenants_dir, debug: bool,
                 **overrides) -> None:
        self.runtime = runtime
        self.console = Console()
        self.as_json = as_json
        self.debug = debug
        self.settings = runtime.settings(sandbox=sandbox, tenants_dir=tenants_dir, **overrides)
        self._fleet = None
        self._skipped: set[str] = set()

    @property
    def fleet(self):
        if self._fleet is None:
            if self.settings.token_conflict and not self.settings.sandbox:
                self.console.warn("RAILWAY_API_TOKEN and RAILWAY_TOKEN are both set and differ; "
                                  "using RAILWAY_API_TOKEN")
            self._fleet = self.runtime.fleet(self.settings, on_retry=self._retry_notice)
            self._fleet.lock_notify = self.console.message  # waiting for, or taking over, the lock
            self._fleet.warn = self.skipped
        return self._fleet

    def skipped(self, message: str) -> None:
        """Warn of a tenants/ entry that is not read, once: a pass reads the folder often."""
        if message not in self._skipped:
            self._skipped.add(message)
            self.console.warn(f"Warning: {message}")

    def _retry_notice(self, event) -> None:
        """Say what a Railway retry waits for (a 429, a cooldown), so a pause is not a hang."""
        self.console.message(render.retry_line(event), style="yellow")

    def emit(self, data) -> None:
        self.console.data(json.dumps(data, indent=2, sort_keys=False, default=str))

    def lines(self, lines) -> None:
        for text, style in lines:
            self.console.print(text, style=style, markup=False)

    def load_manifests(self, *, allow_missing: bool = False) -> list:
        """The manifests; a missing folder is an error unless the caller guards it itself."""
        from saas_infra import manifest

        directory = self.settings.tenants_dir
        if not directory.is_dir():
            if allow_missing:
                return []
            raise ConfigError(f"no tenants folder at {directory}/",
                              hint="create it, or point --tenants-dir at your manifests")
        return manifest.load_tenants(directory, self.skipped)

    @property
    def interactive(self) -> bool:
        if self.runtime.stdin_interactive is not None:
            return self.runtime.stdin_interactive
        return sys.stdin.isatty()


def common(command: Callable) -> Callable:
    """The options every command takes, and the one place errors become exit codes."""

    @click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
    @click.option("--sandbox", is_flag=True,
                  help="Use the embedded Railway emulator (state in .saas-infra/), not Railway.")
    @click.option("--tenants-dir", type=click.Path(path_type=Path), default=None,
                  help="Folder of tenant manifests [default: ./tenants].")
    @click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
    @click.option("--lock-timeout", type=click.FloatRange(min=0), metavar="SECONDS",
                  help="How long a pass waits for the fleet lock another pass holds [900].")
    @click.pass_context
    @functools.wraps(command)
    def wrapper(ctx: click.Context, as_json, sandbox, tenants_dir, debug, lock_timeout, **kwargs):
        runtime = ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()
        session = None
        try:
            session = Session(runtime, as_json=as_json, sandbox=sandbox, tenants_dir=tenants_dir,
                              debug=debug, lock_timeout=lock_timeout, **_setting_overrides(kwargs))
            code = command(session, **kwargs)
        except SaasInfraError as exc:
            code = _report_error(session or _fallback(as_json), exc)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # the last line of defence: one line, and a hint
            code = _report_unexpected(session or _fallback(as_json), exc, debug)
        ctx.exit(code or EXIT_OK)

    return wrapper


def _setting_overrides(kwargs: dict) -> dict:
    keys = ("concurrency", "max_deletions")
    return {k: kwargs[k] for k in keys if kwargs.get(k) is not None}


def _fallback(as_json: bool) -> Session:
    session = Session.__new__(Session)
    session.console, session.as_json, session.debug = Console(), as_json, False
    return session


def _report_error(session: Session, exc: SaasInfraError) -> int:
    from saas_infra.errors import AuthError, ManifestError

    settings = getattr(session, "settings", None)
    if isinstance(exc, AuthError) and settings and settings.token_source == "RAILWAY_TOKEN" \
            and not settings.sandbox:
        exc.hint = _PROJECT_TOKEN_HINT

    if isinstance(exc, ManifestError):
        for problem in exc.problems:
            session.console.error(str(problem))
        session.console.error(f"Error: {exc.args[0]}; nothing was sent to Railway.")
    else:
        session.console.error(f"Error: {exc}")
    if exc.hint:
        session.console.message(f"Hint: {exc.hint}")
    if session.as_json:
        session.emit({"error": {"type": type(exc).__name__, "message": str(exc)}})
    return exc.exit_code


_PROJECT_TOKEN_HINT = (
    "the token came from RAILWAY_TOKEN, the name Railway's own tools use for project tokens; a "
    "project token reaches one environment of one project and cannot manage a fleet. Create an "
    "account or workspace token and export it as RAILWAY_API_TOKEN")


def _report_unexpected(session: Session, exc: Exception, debug: bool) -> int:
    if debug:
        session.console.err.print(traceback.format_exc(), markup=False, highlight=False)
    session.console.error(f"Error: unexpected {type(exc).__name__}: {exc}")
    if not debug:
        session.console.message("Hint: rerun with --debug to see the traceback.")
    return EXIT_ERROR


def usage_error(message: str) -> click.UsageError:
    """A bad combination of flags, found inside a command: exits 1 like any usage error."""
    error = click.UsageError(message, click.get_current_context(silent=True))
    error.exit_code = EXIT_ERROR
    return error


def _one_format(as_json: bool, markdown: bool) -> None:
    if as_json and markdown:
        raise usage_error("--json and --markdown cannot be used together; choose one")


class _UsageExitsOne:
    """Bad flags exit 1, not click's 2: exit code 2 means `plan --detailed-exitcode` found
    changes, and CI must never mistake a typo for that."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR
            raise


class _Command(_UsageExitsOne, click.Command):
    pass


class _Group(_UsageExitsOne, click.Group):
    command_class = _Command

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR
            raise


@click.group(cls=_Group, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="saas-infra")
def cli() -> None:
    """Keep a fleet of luthien-proxy tenants on Railway in the state tenants/*.yaml describes.

    Each tenant is one Railway project `luthien-<name>` with Postgres, Redis and a `gateway`
    service. `plan` shows what a reconcile pass would do; `apply` does it. The verbs (create,
    delete, redeploy, ...) edit a manifest and then run a pass for that tenant.
    """


# --- the reconciler ---------------------------------------------------------------------------


@cli.command()
@common
def validate(s: Session) -> int:
    """Check every manifest; errors name the file, line and field. Sends nothing to Railway."""
    manifests = s.load_manifests()
    if s.as_json:
        s.emit({"valid": True, "tenants": [m.manifest.name for m in manifests]})
    else:
        s.console.message(f"{len(manifests)} manifests valid in {s.settings.tenants_dir}/")
    return EXIT_OK




@cli.command()
@common
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when the plan has changes, 0 when it is empty.")
@click.option("--markdown", is_flag=True, help="Print the plan as Markdown (for pull requests).")
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="Save the plan to FILE for `apply --plan FILE`.")
@click.option("--at", "at_time", help="Plan as if it were TIME (RFC 3339), e.g. for deadlines.")
@click.option("--target", "targets", multiple=True, help="Only this tenant (repeatable).")
@click.option("--max-deletions", type=click.IntRange(min=0),
              help="Guard: most deletions one pass may make [3].")
@click.option("--all", "show_all", is_flag=True, help="Also list unmanaged luthien-* projects.")
@click.option("--max-chars", type=click.IntRange(min=render.MARKDOWN_MIN_CHARS), metavar="N",
              help="Fold the Markdown to at most N characters (a GitHub comment takes 65536).")
def plan(s: Session, detailed_exitcode, markdown, out_file, at_time, targets, max_deletions,
         show_all, max_chars) -> int:
    """Show what a reconcile pass would do. Changes nothing.

    \b
    Exit codes: 0 done (no changes, or changes without --detailed-exitcode),
    2 changes found with --detailed-exitcode, 3 a safety guard tripped, 1 error.
    """
    _one_format(s.as_json, markdown)
    if max_chars is not None and not markdown:
        raise usage_error("--max-chars folds the Markdown plan; it needs --markdown")
    manifests = s.load_manifests(allow_missing=True)  # the empty-state guard decides
    try:
        at = parse_time(at_time) if at_time else None
    except ValueError:
        raise ConfigError(f"--at {at_time!r} is not a time; e.g. 2026-12-31T00:00:00Z") from None
    result = s.fleet.plan_from(manifests, s.fleet.observe(), targets=targets, at=at)
    if out_file:
        out_file.write_text(result.to_json() + "\n")
        s.console.message(f"Saved the plan to {out_file}")
    if s.as_json:
        s.console.data(render.plan_json(result))
    elif markdown:
        s.console.data(render.plan_markdown(result, max_chars=max_chars))
    else:
        s.lines(render.plan_text(result, show_unmanaged=show_all))
    _warn(s, result)
    if result.guards:
        return EXIT_GUARD
    return EXIT_CHANGES if detailed_exitcode and not result.empty else EXIT_OK


@cli.command()
@common
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (always, when not a TTY).")
@click.option("--plan", "plan_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Apply a plan saved with `plan --out`; refused if its tenants changed.")
@click.option("--target", "targets", multiple=True, help="Only this tenant (repeatable).")
@click.option("--max-deletions", type=click.IntRange(min=0),
              help="Guard: most deletions one pass may make [3].")
@click.option("--concurrency", type=click.IntRange(min=1), help="Tenants applied in parallel [8].")
@click.option("--markdown", is_flag=True,
              help="Print the plan and the outcome as Markdown (for a CI job summary).")
def apply(s: Session, yes, plan_file, targets, max_deletions, concurrency, markdown) -> int:
    """Run a reconcile pass: plan, show it, apply it, then check it converged.

    On a terminal it asks before applying unless --yes. Every step looks before it
    creates, so a pass that died is finished by the next one.

    \b
    Exit codes: 0 converged, 1 a tenant failed, a tenant is blocked or the fleet did not
    converge (or any error), 3 a safety guard stopped the pass before it changed anything.
    """
    _one_format(s.as_json, markdown)
    if plan_file and targets:
        raise ConfigError("--target cannot narrow a saved plan; make the plan with --target")
    from saas_infra.reconcile import apply_pass, check_guards

    fleet = s.fleet
    saved = _saved_plan(plan_file) if plan_file else None
    if saved is None and s.interactive and not yes:
        preview = fleet.plan(targets=targets)
        if s.as_json:  # stdout is for the JSON report: the question goes to stderr
            s.console.message(render.summary_line(preview))
        else:
            s.lines(render.plan_text(preview))
        check_guards(preview)
        if preview.empty:
            if not s.as_json:
                _warn(s, preview)
                return EXIT_OK
        elif not click.confirm("Apply this plan?", default=False, err=True):
            s.console.message("Nothing applied.")
            return EXIT_OK
        else:
            saved = preview
    report = apply_pass(fleet, plan=saved, targets=targets, progress=_progress(s))
    return _finish_apply(s, report, markdown=markdown)


def _saved_plan(path: Path):
    """A plan saved by `plan --out`; any damage is an error naming the file."""
    from saas_infra.errors import PlanError
    from saas_infra.plan import Plan

    try:
        return Plan.from_json(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        error = PlanError(f"{path}: not a saved plan: the file is not UTF-8 text")
    except OSError as exc:
        error = PlanError(f"{path}: cannot read the saved plan: {exc.strerror or exc}")
    except PlanError as exc:
        error = PlanError(f"{path}: {exc}")
    error.hint = "make a new one with `saas-infra plan --out FILE`"
    raise error


def _progress(s: Session):
    """Progress of a pass on stderr: one line per step done ("acme: project created")."""
    if s.as_json:
        return None

    def show(tenant: str, step: str, state: str) -> None:
        if state != "start" and step != "done":
            s.console.message(f"{tenant}: {step} {state}", style="dim")

    return show


def _warn(s: Session, plan) -> None:
    """The plan's warnings (values it could not check), once, on stderr."""
    for warning in plan.warnings:
        s.console.warn(f"Warning: {warning}")


def _finish_apply(s: Session, report, markdown: bool = False) -> int:
    _warn(s, report.plan)
    if s.as_json:
        s.emit(render.report_json(report))
    elif markdown:
        s.console.data(render.apply_markdown(report))
    else:
        if report.plan.empty and not report.blocked:
            s.console.message("No changes: Railway matches the manifests.")
        s.lines(render.outcome_lines(report.outcomes))
        for tenant in sorted(report.due_next_pass):
            s.console.warn(f"{tenant}: its deadline had already passed; it is now announced on "
                           "Railway, and the next pass deletes it.")
        for guard in report.next_pass_guards:
            s.console.warn(f"The next pass will stop (exit code 3): {guard.message}.")
        for finding in report.blocked:
            s.console.error(f"Blocked: {finding.tenant}: {finding.reason}")
        if not report.converged:
            s.console.warn("Not converged: a new plan still has changes:")
            s.lines(render.plan_text(report.after))
    if report.failed or not report.converged:
        return EXIT_ERROR
    return EXIT_OK


@cli.command()
@common
@click.option("--force", is_flag=True,
              help="Free the lock. Only when the pass holding it is dead: two at once can "
                   "duplicate projects.")
def unlock(s: Session, force) -> int:
    """Show who holds the fleet lock; with --force, free it.

    A pass that acts (apply and the verbs) holds the lock on Railway, as a lease in the
    description of the project saas-infra-control, and frees it when it ends. The lock of a pass
    that died expires by itself after 10 minutes; --force is for not waiting (it also removes
    the per-pass lock projects an earlier saas-infra left). Exit code 1: held and not freed.
    """
    from saas_infra import lock

    fleet = s.fleet
    now = fleet.clock.now()
    state = (lock.break_lock if force else lock.inspect)(fleet.client, fleet.workspace())
    lease = state.lease
    held = lease is not None and not lease.expired(now)
    if s.as_json:
        s.emit({"removed": force, "control_project": state.control_id,
                "lease": lease.to_dict(now) if lease else None,
                "earlier_tickets": list(state.legacy)})
    elif lease is None:
        s.console.message("The fleet lock is free.")
    else:
        label = "Freed the fleet lock:" if force else "Fleet lock:"
        s.console.print(f"{label} {lease.describe(now)}", markup=False)
        if held and not force:
            s.console.message("`saas-infra unlock --force` frees it, if that pass is dead.")
    if state.legacy and not s.as_json:
        verb = "Removed" if force else "Found"
        s.console.message(f"{verb} {len(state.legacy)} fleet-lock project(s) named "
                          f"{lock.LEGACY_TICKET} that an earlier saas-infra left" +
                          ("." if force else "; `saas-infra unlock --force` removes them."))
    return EXIT_ERROR if held and not force else EXIT_OK


@cli.command()
@common
def schema(s: Session) -> int:
    """Print the JSON Schema of the tenant manifest format."""
    from saas_infra import manifest

    s.console.data(json.dumps(manifest.json_schema(), indent=2))
    return EXIT_OK


@cli.command()
@common
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback lets other machines in.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--state", "state_file", type=click.Path(path_type=Path),
              help="Keep the emulator's state in this JSON file across restarts.")
@click.option("--account-token", help="The personal account token it accepts [random].")
@click.option("--workspace-token", help="The workspace token it accepts [random].")
@click.option("--rate-per-second", type=click.IntRange(min=1), default=50, show_default=True,
              help="Requests a token may make per second before a 429 (Railway Pro: 50).")
@click.option("--rate-per-hour", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Requests a token may make per hour before a 429 (Railway Pro: 10,000).")
def emulator(s: Session, host, port, state_file, account_token, workspace_token,
             rate_per_second, rate_per_hour) -> int:
    """Serve the local Railway emulator over HTTP (POST /graphql/v2).

    Point saas-infra at it with RAILWAY_API_URL=http://HOST:PORT/graphql/v2 and one of the
    printed tokens as RAILWAY_API_TOKEN.
    """
    from saas_infra.emulator import Emulator, RateLimits
    from saas_infra.emulator.server import serve

    emu = Emulator(
        state_file=state_file,
        account_token=account_token,
        workspace_token=workspace_token,
        rate_limits=RateLimits(per_second=rate_per_second, per_hour=rate_per_hour),
    )
    listening = []

    def ready(base_url: str) -> None:  # only once the port is ours: a busy one fails first
        listening.append(base_url)
        _emulator_ready(s, emu, host, base_url, account_token, workspace_token)

    try:
        serve(emu, host=host, port=port, on_ready=ready)
    except OSError as exc:
        if listening:
            raise
        raise ConfigError(f"the emulator cannot listen on {host}:{port}: {exc.strerror or exc}",
                          hint="choose another --port (0 picks a free one) or --host") from None
    return EXIT_OK


def _emulator_ready(s: Session, emu, host: str, base_url: str, account_token, workspace_token):
    port = base_url.rsplit(":", 1)[1]
    url = f"http://{url_host(host)}:{port}/graphql/v2"
    # Tokens are printed only when the emulator made them up: one given on the command line
    # may be a real token reused, and the token never appears in output.
    info = {
        "url": url,
        "workspace_id": emu.workspace_id,
        "account_token": None if account_token else emu.account_token,
        "workspace_token": None if workspace_token else emu.workspace_token,
    }
    if not is_loopback(host):
        s.console.warn(f"Listening on {host}: other machines can reach the emulator, and anyone "
                       "with a printed token can use it. Use 127.0.0.1 unless you mean it.")
    if s.as_json:
        s.emit(info)
        return
    s.console.message(f"Railway emulator listening on {url}")
    s.console.message(f"  workspace id     {emu.workspace_id}")
    if not account_token:
        s.console.message(f"  account token    {emu.account_token}")
    if not workspace_token:
        s.console.message(f"  workspace token  {emu.workspace_token}")
    if account_token:
        s.console.message(
            f"  export RAILWAY_API_URL={url} RAILWAY_API_TOKEN=<your --account-token>")
    else:
        s.console.message(f"  export RAILWAY_API_URL={url} RAILWAY_API_TOKEN={emu.account_token}")


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (the emulator and the demo warn otherwise)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def url_host(host: str) -> str:
    """`host` as a client puts it in a URL: a wildcard address is reached through loopback."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


# --- the operator's verbs -----------------------------------------------------------------------
# Each verb is the operator module's function plus its text and JSON; the result line goes to
# stdout, progress and warnings to stderr. Keys reach stdout only from `create` and
# `credentials`, and never when CI is set.

NAME = click.argument("name")
NO_APPLY = click.option("--no-apply", is_flag=True,
                        help="Only edit tenants/NAME.yaml (for a pull request); run no pass.")

# The console reports retries (Session._retry_notice); without a handler of its own, logging's
# last resort would print the client's warnings about the same retries a second time.
logging.getLogger("saas_infra").addHandler(logging.NullHandler())


def _ops():
    from saas_infra import operator

    return operator


def _fleet(s: Session, apply: bool):
    """The session's fleet; without a pass (--no-apply) one with no client, so no token needed."""
    if apply:
        return s.fleet
    from saas_infra.reconcile import Fleet

    return Fleet(client=None, clock=s.runtime.clock, tenants_dir=s.settings.tenants_dir,
                 warn=s.skipped)


@contextlib.contextmanager
def _working(s: Session, text: str | None):
    """The spinner (or one line) of a verb that runs a pass; nothing for a file edit alone."""
    if text is None:
        yield lambda _text: None
        return
    with s.console.status(text) as update:
        yield update


def _deploy_status(update, clock, what: str):
    started = clock.monotonic()

    def show(status: str) -> None:
        update(f"{what}: gateway deployment {status} ({clock.monotonic() - started:.0f} s)")

    return show


def _exit(result) -> int:
    return EXIT_OK if result.ok else EXIT_ERROR


def _seconds(value) -> str:
    return f"{value:.0f} s"


@cli.command()
@NAME
@common
@click.option("--repo", help="GitHub repo owner/repo [LuthienResearch/luthien-proxy].")
@click.option("--branch", help="Branch to deploy from [main].")
@click.option("--image", help="Deploy a pinned image instead of a repo (digest or tag).")
@NO_APPLY
@click.option("--no-wait", is_flag=True, help="Return once provisioned, before the deploy ends.")
def create(s: Session, name, repo, branch, image, no_apply, no_wait) -> int:
    """Create a tenant: write tenants/NAME.yaml, provision it, show its keys once.

    Waits until the gateway's first deployment succeeds. The keys are printed once, and never
    when CI is set; `saas-infra credentials NAME` reads them back from Railway.
    """
    _ops().check_tenant_name(name)
    _ops().check_source(repo, branch, image)
    _ops().check_manifests(_fleet(s, False))  # before "Creating": a broken file stops it
    with _working(s, None if no_apply else f"Creating {name}...") as update:
        fleet = _fleet(s, not no_apply)
        result = _ops().create(
            fleet, name, repo=repo, branch=branch, image=image, apply=not no_apply,
            wait=not no_wait, progress=_progress(s),
            on_status=_deploy_status(update, fleet.clock, f"Creating {name}"),
        )
    keys = result.credentials if result.credentials and not s.settings.ci else None
    if s.as_json:
        s.emit({**_verb_json(result), "wait_error": result.wait_error, "credentials": keys})
    elif not result.applied:
        s.console.print(result.message, markup=False)
    else:
        _created_text(s, result, keys)
    return _exit(result)


def _created_text(s: Session, result, keys) -> None:
    name, report = result.tenant, result.report
    finished = not report.failed and report.converged
    if not finished:
        _pass_trouble(s, result)
    if result.project_id:
        title = f"Created instance {name}" if finished else f"Instance {name} (not finished)"
        s.console.print(title, style="green bold" if finished else "yellow bold", markup=False)
        s.console.print(f"  Gateway URL:     {result.url or '(no domain yet)'}", markup=False)
        s.console.print(f"  Railway console: {result.console_url}", markup=False)
        if finished:
            s.console.print(f"  Deployment:      {_deployment_text(result)}", markup=False)
    for key, value in (keys or {}).items():
        s.console.print(f"  {key + ':':<16} {value}", markup=False)
    if keys:
        s.console.warn("Save these keys now: they are shown only once "
                       f"(`saas-infra credentials {name}` reads them back from Railway).")
    elif result.credentials:
        s.console.message(f"Keys not shown because CI is set; `saas-infra credentials {name}`, "
                          "run outside CI, reads them from Railway.")
    if result.wait_error:
        s.console.error(f"Error: {result.wait_error}")
    if result.deploy_failed:
        s.console.error(f"Error: the gateway deployment {result.deployment['status']}; the "
                        f"Railway console has its logs. {result.manifest_path} is kept: fix the "
                        f"cause, then `saas-infra redeploy {name}`.")
    if result.deploy_stopped:
        s.console.error(f"Error: {result.deploy_stopped}")


def _deployment_text(result) -> str:
    deployment = result.deployment
    if result.wait_error:
        return f"unknown (`saas-infra status {result.tenant}` shows it)"
    if not deployment:
        return f"not waited for (`saas-infra status {result.tenant}` follows it)"
    return f"{deployment['status']} after {_seconds(result.waited or 0)} ({deployment['id']})"


def _pass_trouble(s: Session, result) -> None:
    """Why a verb's pass did not finish, on stderr, and that the manifest edit stays."""
    report = result.report
    for outcome in report.failed:
        s.console.error(f"Error: {outcome.tenant}: {outcome.error}")
    for action in [] if report.failed else report.after.actions:  # a failure explains these
        s.console.warn(f"Not converged: {action.tenant}: {action.kind.value}: {action.reason}")
    s.console.message(f"{result.manifest_path} keeps the change; `saas-infra apply --target "
                      f"{result.tenant}` runs the pass again.")


def _verb_json(result) -> dict:
    return {
        "name": result.tenant,
        "ok": result.ok,
        "project_id": result.project_id,
        "url": result.url,
        "console_url": result.console_url,
        "manifest": result.manifest_path,
        "applied": result.applied,
        "deployment": _deployment_json(result.deployment, result.waited),
        "message": result.message or None,
        "apply": render.report_json(result.report) if result.report is not None else None,
    }


def _deployment_json(deployment, waited) -> dict | None:
    if not deployment:
        return None
    meta = deployment.get("meta") or {}
    meta = json.loads(meta) if isinstance(meta, str) else meta
    return {"id": deployment["id"], "status": deployment["status"],
            "created_at": deployment.get("createdAt"), "commit": meta.get("commitHash"),
            "waited_seconds": round(waited, 1) if waited is not None else None}


@cli.command(name="list")
@common
@click.option("--all", "include_unmanaged", is_flag=True,
              help="Also list luthien-* projects saas-infra does not manage.")
def list_(s: Session, include_unmanaged) -> int:
    """List every tenant: manifests and Railway together, with status and deadline."""
    rows, problems = _ops().list_view(s.fleet, include_unmanaged=include_unmanaged)
    _unreadable(s, [str(p) for p in problems])
    if s.as_json:
        s.emit({"instances": rows, "manifest_problems": [str(p) for p in problems]})
    elif not rows:
        s.console.message("No instances.")
    else:
        s.lines(render.instances_lines(rows))
    return EXIT_OK


@cli.command()
@NAME
@common
def status(s: Session, name) -> int:
    """One tenant in detail: services, deployments, URL, health, deadline, drift."""
    with s.runtime.health_client(s.settings) as http:
        data = _ops().status(s.fleet, name, health_client=http)
    _unreadable(s, data["manifest_problems"])
    if s.as_json:
        s.emit(data)
    else:
        s.lines(render.status_lines(data))
    return EXIT_OK


def _unreadable(s: Session, problems: list[str]) -> None:
    """Manifests a read-only view had to leave out: named, so nobody mistakes the view for whole."""
    for problem in problems:
        s.console.warn(f"Warning: {problem}")
    if problems:
        s.console.warn("Warning: the manifests above could not be read (shown as 'invalid "
                       "manifest'); `saas-infra validate` lists every problem.")


@cli.command()
@NAME
@common
@NO_APPLY
@click.option("--no-wait", is_flag=True, help="Return once the deploy is requested.")
def redeploy(s: Session, name, no_apply, no_wait) -> int:
    """Deploy the gateway again from the newest commit of its branch, and wait for it."""
    _ops().require_manifest(_fleet(s, False), name)  # a typo fails before "Redeploying"
    _ops().check_manifests(_fleet(s, False))
    with _working(s, None if no_apply else f"Redeploying {name}...") as update:
        fleet = _fleet(s, not no_apply)
        on_status = _deploy_status(update, fleet.clock, f"Redeploying {name}")
        result = _ops().redeploy(fleet, name, wait=not no_wait, apply=not no_apply,
                                 progress=_progress(s), on_status=on_status)
    if s.as_json:
        s.emit(_verb_json(result))
    else:
        _redeployed_text(s, result)
    return _exit(result)


def _redeployed_text(s: Session, result) -> None:
    name, deployment = result.tenant, result.deployment
    if not result.applied:
        s.console.print(result.message, markup=False)
    elif result.report.failed or not result.report.converged:
        _pass_trouble(s, result)
    elif result.deploy_failed:
        s.console.error(f"Error: the redeploy of {name} {deployment['status']} (deployment "
                        f"{deployment['id']}); the Railway console has its logs: "
                        f"{result.console_url}")
    elif result.deploy_stopped:
        s.console.error(f"Error: {result.deploy_stopped}")
    elif deployment and result.waited is None:  # --no-wait: the deployment it started
        s.console.print(f"Redeploy of {name} requested: deployment {deployment['id']} is "
                        f"{deployment['status']}; `saas-infra status {name}` follows it.",
                        markup=False)
    elif deployment:
        commit = _deployment_json(deployment, None)["commit"]
        at = f", commit {commit[:7]}" if commit else ""
        s.console.print(f"Redeployed {name}: {deployment['status']} after "
                        f"{_seconds(result.waited or 0)} (deployment {deployment['id']}{at})",
                        markup=False)
    else:
        s.console.print(f"Redeploy of {name} requested; `saas-infra status {name}` follows it.",
                        markup=False)


@cli.command()
@NAME
@common
@click.option("--force", is_flag=True, help="Delete now, without the grace period.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--grace-days", type=click.IntRange(0, 365), default=7, show_default=True,
              help="Days the tenant keeps running before it is deleted.")
@NO_APPLY
def delete(s: Session, name, force, yes, grace_days, no_apply) -> int:
    """Schedule a tenant's deletion (7-day grace period), or delete now with --force.

    The tenant keeps running until the deadline; the scheduled pass (`saas-infra apply` from
    cron) then hands it to Railway's scheduled delete. Running delete twice keeps the deadline.
    """
    _ops().require_manifest(_fleet(s, False), name)  # a typo fails before the question
    _ops().check_manifests(_fleet(s, False))  # as does another manifest that is broken
    if not yes and not _confirm_delete(s, name, force, grace_days):
        s.console.message("Nothing deleted.")
        if s.as_json:
            s.emit({"name": name, "ok": True, "confirmed": False, "message": "Nothing deleted."})
        return EXIT_OK
    result = _ops().delete(_fleet(s, not no_apply), name, force=force, grace_days=grace_days,
                           apply=not no_apply, progress=_progress(s))
    if s.as_json:
        s.emit({**_verb_json(result), "deletion": _deletion_json(result),
                "unchanged": result.unchanged})
        return _exit(result)
    if result.applied and (result.report.failed or not result.report.converged):
        _pass_trouble(s, result)
    s.console.print(result.message, markup=False)
    return _exit(result)


def _confirm_delete(s: Session, name: str, force: bool, grace_days: int) -> bool:
    if not s.interactive:
        raise ConfigError(f"refusing to delete {name} without confirmation (stdin is not a "
                          "terminal)", hint="add --yes to confirm in a script")
    question = (f"Delete {name} NOW, with its database? This cannot be undone by saas-infra."
                if force else
                f"Schedule {name} for deletion in {grace_days} days? It keeps running until then.")
    return click.confirm(question, default=False, err=True)


def _deletion_json(result) -> dict:
    tombstone = result.deletion
    return {
        "requested_at": tombstone.requested_at.isoformat().replace("+00:00", "Z"),
        "grace_days": tombstone.grace_days,
        "force": tombstone.force,
        "deadline": result.deadline.isoformat().replace("+00:00", "Z") if result.deadline else None,
    }


@cli.command(name="cancel-delete")
@NAME
@common
@NO_APPLY
def cancel_delete(s: Session, name, no_apply) -> int:
    """Cancel a scheduled deletion: remove the tombstone and the mark on Railway."""
    result = _ops().cancel_delete(_fleet(s, not no_apply), name, apply=not no_apply,
                                  progress=_progress(s))
    if s.as_json:
        s.emit({**_verb_json(result), "restored": result.restored})
        return _exit(result)
    if result.applied and (result.report.failed or not result.report.converged):
        _pass_trouble(s, result)
    s.console.print(result.message, markup=False)
    return _exit(result)


@cli.command()
@common
def whoami(s: Session) -> int:
    """Show the token's identity and kind, and the workspaces it reaches."""
    data = {**_ops().whoami(s.fleet), "token_source": _token_source(s.settings)}
    if s.as_json:
        s.emit(data)
    else:
        s.lines(render.whoami_lines(data))
    if data["workspace_problem"] and data["workspace_configured"]:
        # A RAILWAY_WORKSPACE_ID this token does not reach fails every pass: fail here too.
        s.console.error(f"Error: {data['workspace_problem']}")
        s.console.message(f"Hint: {data['workspace_hint']}")
        return EXIT_ERROR
    if data["workspace_problem"]:
        s.console.warn(f"{data['workspace_problem']}; {data['workspace_hint']}")
    return EXIT_OK


def _token_source(settings: Settings) -> str:
    return "sandbox" if settings.sandbox else str(settings.token_source)


@cli.command()
@common
@click.option("--live", is_flag=True,
              help="Also run every mutation saas-infra uses on a throwaway project, then "
                   "delete it.")
@click.option("--cleanup", is_flag=True, help="Delete every project `doctor --live` left behind.")
@click.option("--record", "record_dir", type=click.Path(path_type=Path, file_okay=False),
              metavar="DIR", help="Write every request and answer, scrubbed, as vcrpy cassettes.")
@click.option("--yes", "-y", is_flag=True,
              help="Do not ask before --live or --cleanup (CI needs it).")
def doctor(s: Session, live, cleanup, record_dir, yes) -> int:
    """Check this setup against Railway, read-only: token, workspace, rate limits, readable
    values, templates, the fleet listing and the lock, one line each. --live also exercises
    every mutation on a throwaway project saas-infra-doctor-*, and always deletes it.

    Exit code 0 when nothing failed, 1 otherwise.
    """
    from saas_infra import doctor as dr
    from saas_infra.lock import default_holder

    if live and cleanup:
        raise ConfigError("choose --live or --cleanup, not both")
    if (live or cleanup) and not yes:
        what = "doctor --live" if live else "doctor --cleanup"
        if s.settings.ci:
            raise ConfigError(f"{what} changes Railway; under CI it needs --yes")
        if not s.interactive:
            raise ConfigError(f"refusing to run {what} without confirmation (stdin is not a "
                              "terminal)", hint="add --yes to confirm in a script")
    env = s.runtime.environ()
    setup = dr.Setup(
        token_source=_token_source(s.settings), token_conflict=s.settings.token_conflict,
        workspace_id=s.settings.workspace_id, plan_name=s.settings.plan_name,
        workspace_variable="RAILWAY_TEAM_ID" if env.get("RAILWAY_TEAM_ID") and not env.get(
            "RAILWAY_WORKSPACE_ID") else "RAILWAY_WORKSPACE_ID",
        tenants_dir=s.settings.tenants_dir)
    options = dr.Options(live=live, cleanup=cleanup, record=record_dir, holder=default_holder(env))
    report = dr.run(lambda wrap: s.runtime.client(s.settings, s._retry_notice, wrap), setup,
                    s.runtime.clock, options, say=lambda text: s.console.message(text, "dim"),
                    confirm=lambda q: yes or click.confirm(q, default=False, err=True))
    if s.as_json:
        s.emit(report.to_dict())
    else:
        s.lines(dr.report_lines(report))
    return EXIT_OK if report.ok else EXIT_ERROR


@cli.command()
@NAME
@common
@click.option("--rotate", is_flag=True, help="Make new keys, set them and redeploy the gateway.")
def credentials(s: Session, name, rotate) -> int:
    """Read a tenant's API keys back from Railway (never from git); --rotate makes new ones.

    Keys are never printed when CI is set.
    """
    if s.settings.ci and rotate:  # keys nobody sees would lock every client of the tenant out
        raise ConfigError("refusing to rotate keys when CI is set: the new keys would never be "
                          "shown, and the old ones stop working; nothing was changed",
                          hint=f"run `saas-infra credentials {name} --rotate` from a terminal")
    if s.settings.ci:
        raise ConfigError("keys are never printed when CI is set",
                          hint=f"run `saas-infra credentials {name}` from a terminal")
    creds = _ops().credentials(s.fleet, name, rotate=rotate)
    keys = creds.keys
    code = EXIT_ERROR if creds.unreadable else EXIT_OK
    if s.as_json:
        data = {"name": name, "project_id": creds.project_id, "rotated": creds.rotated,
                "credentials": keys}
        if creds.unreadable:
            data["unreadable"] = creds.unreadable
        s.emit(data)
        return code
    for key, value in (keys or {}).items():
        if value is not None:
            s.console.print(f"{key + ':':<16} {value}", markup=False)
    for reason in creds.unreadable.values():
        s.console.error(f"Error: {reason}")
    if rotate:
        s.console.warn("New keys set; the gateway is redeploying and the old keys stop working.")
    return code


@cli.command()
@NAME
@common
def adopt(s: Session, name) -> int:
    """Write a manifest for an orphan: a managed project on Railway with no manifest.

    Carries its source, AUTH_MODE and non-secret variables over, so the next plan is empty.
    """
    result = _ops().adopt(s.fleet, name)
    if s.as_json:
        s.emit({**_verb_json(result), "pending": result.pending,
                "deletion": _deletion_json(result) if result.deletion else None})
    else:
        s.console.print(result.message, markup=False)
    return EXIT_OK


def main() -> None:
    # SAAS_INFRA_TIME_SCALE speeds every wait up, for chaos and load runs on the emulator only.
    try:
        clock = clock_from_env(os.environ)
    except ValueError as exc:
        raise SystemExit(f"Error: SAAS_INFRA_TIME_SCALE / SAAS_INFRA_TIME_ORIGIN: {exc}") from None
    cli(prog_name="saas-infra", obj=Runtime(clock=clock))


if __name__ == "__main__":
    main()
