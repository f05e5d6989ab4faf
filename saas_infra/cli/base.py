"""The command line's frame: the one Session a command gets (console, settings, fleet), the
global options (before or after the command), and the one place errors become exit codes.

Commands never print for themselves: they hand the render layer's Lines or JSON to the Session.
Exit codes: 0 success, 1 error, 2 `plan --detailed-exitcode` found changes, 3 a safety guard.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from saas_infra.errors import ConfigError, SaasInfraError
from saas_infra.render import data, text
from saas_infra.render.text import Line
from saas_infra.runtime import Runtime

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_GUARD = 0, 1, 2, 3

# The console reports retries (Session.retry_notice); without a handler of its own, logging's
# last resort would print the client's warnings about the same retries a second time.
logging.getLogger("saas_infra").addHandler(logging.NullHandler())


class Session:
    """One command's view: console, settings, and (lazily) the fleet."""

    def __init__(self, runtime: Runtime, *, as_json: bool, debug: bool, **settings: Any) -> None:
        self.runtime = runtime
        self.console = runtime.console()
        self.as_json = as_json
        self.debug = debug
        self.settings = runtime.settings(**settings)
        self._fleet: Any = None
        self._skipped: set[str] = set()

    @property
    def fleet(self) -> Any:
        if self._fleet is None:
            if self.settings.token_conflict and not self.settings.sandbox:
                self.show([text.warn(text.TOKEN_CONFLICT)])
            self._fleet = self.runtime.fleet(self.settings, on_retry=self.retry_notice)
            self._fleet.lock_notify = self.console.message  # waiting for, or taking over, the lock
            self._fleet.warn = self.skipped
        return self._fleet

    def fleet_for(self, apply: bool) -> Any:
        """The fleet; without a pass (--no-apply) one with no client, so no token needed."""
        return self.fleet if apply else self.runtime.manifests_only(self.settings, self.skipped)

    def skipped(self, message: str) -> None:
        """Warn of a tenants/ entry that is not read, once: a pass reads the folder often."""
        if message not in self._skipped:
            self._skipped.add(message)
            self.show([text.skipped(message)])

    def retry_notice(self, event: Any) -> None:
        """Say what a Railway retry waits for (a 429, a cooldown), so a pause is not a hang."""
        self.console.message(text.retry_line(event), style="yellow")

    def emit(self, value: Any) -> None:
        self.console.data(json.dumps(value, indent=2, sort_keys=False, default=str))

    def show(self, lines: Iterable[Line]) -> None:
        """Lines from the render layer: stdout for results, stderr for messages."""
        for line in lines:
            if line.err:
                self.console.message(line.text, style=line.style)
            else:
                self.console.print(line.text, style=line.style, markup=False)

    def show_or_emit(self, lines: Iterable[Line], value: Any) -> None:
        self.emit(value) if self.as_json else self.show(lines)

    def load_manifests(self, *, allow_missing: bool = False) -> list[Any]:
        """The manifests; a missing folder is an error unless the caller guards it itself."""
        from saas_infra import manifest

        directory = self.settings.tenants_dir
        if not directory.is_dir():
            if allow_missing:
                return []
            raise ConfigError(f"no tenants folder at {directory}/",
                              hint="create it, or point --tenants-dir at your manifests")
        return manifest.load_tenants(directory, self.skipped, self.settings.fleet_file)

    def fleet_file_in_use(self) -> str | None:
        """The fleet file manifests inherit from, as the user would write it; None without one."""
        from saas_infra import manifest

        path = manifest.fleet_path(self.settings.tenants_dir, self.settings.fleet_file)
        return str(path) if path.exists() else None

    @property
    def interactive(self) -> bool:
        return self.runtime.interactive

    def progress(self) -> Callable[[str, str, str], None] | None:
        """Progress of a pass on stderr: one line per step done ("acme: project created")."""
        if self.as_json:
            return None

        def show(tenant: str, step: str, state: str) -> None:
            if state != "start" and step != "done":
                self.show([text.progress(tenant, step, state)])

        return show

    @contextlib.contextmanager
    def working(self, verb: str, name: str, active: bool) -> Iterator[Callable[[str], None]]:
        """The spinner (or one line) of a verb that runs a pass; yields what a deployment's
        state is reported to. Without a terminal each change of state is a line of its own."""
        if not active:
            yield lambda _status: None
            return
        clock = self.runtime.clock
        with self.console.status(text.working(verb, name)) as update:
            started, last = clock.monotonic(), [""]

            def on_status(status: str) -> None:
                line = text.deployment_state(verb, name, status, clock.monotonic() - started)
                update(line)
                if not self.console.animated and status != last[0]:
                    self.console.message(line)
                last[0] = status

            yield on_status

    def warn_plan(self, plan: Any) -> None:
        """The plan's warnings (values it could not check), once, on stderr."""
        self.show(text.warnings(plan.warnings))


GLOBAL_OPTIONS = (
    "as_json", "sandbox", "tenants_dir", "fleet_file", "debug", "lock_timeout"
)


def global_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command takes, before or after its name (`saas-infra --json list`)."""
    options = [
        click.option("--json", "as_json", is_flag=True, default=None,
                     help="Print machine-readable JSON on stdout."),
        click.option("--sandbox", is_flag=True, default=None,
                     help="Use the embedded Railway emulator (state in .saas-infra/), not "
                          "Railway."),
        click.option("--tenants-dir", type=click.Path(path_type=Path), default=None,
                     help="Folder of tenant manifests [default: ./tenants]."),
        click.option("--fleet-file", type=click.Path(path_type=Path), default=None,
                     help="The fleet file manifests inherit from [default: fleet.yaml beside "
                          "the tenants folder, when there is one]."),
        click.option("--debug", is_flag=True, default=None,
                     help="Show the traceback of an unexpected error."),
        click.option("--lock-timeout", type=click.FloatRange(min=0), metavar="SECONDS",
                     help="How long a pass waits for the fleet lock another pass holds [900]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _merged(ctx: click.Context, given: Mapping[str, Any]) -> dict[str, Any]:
    """A command's global options: its own, else those given before its name."""
    before = ctx.parent.params if ctx.parent is not None else {}
    merged = {key: given[key] if given.get(key) is not None else before.get(key)
              for key in GLOBAL_OPTIONS}
    merged["as_json"] = bool(merged["as_json"])
    merged["sandbox"] = bool(merged["sandbox"])
    merged["debug"] = bool(merged["debug"])
    return merged


def common(command: Callable[..., int]) -> Callable[..., None]:
    """The global options, and the one place errors become exit codes."""

    @global_options
    @click.pass_context
    @functools.wraps(command)
    def wrapper(ctx: click.Context, **kwargs: Any) -> None:
        runtime = ctx.find_object(Runtime) or Runtime()
        options = _merged(ctx, kwargs)
        for key in GLOBAL_OPTIONS:
            kwargs.pop(key)
        as_json, debug = options["as_json"], options["debug"]
        ctx.meta["json"] = as_json
        session = None
        try:
            session = Session(runtime, as_json=as_json, debug=debug, sandbox=options["sandbox"],
                              tenants_dir=options["tenants_dir"],
                              fleet_file=options["fleet_file"],
                              lock_timeout=options["lock_timeout"], **_setting_overrides(kwargs))
            with _logged_errors(debug):
                code = command(session, **kwargs)
        except SaasInfraError as exc:
            code = _report_error(session or _fallback(runtime, as_json), exc)
        except click.UsageError as exc:
            if as_json:
                _json_usage_error(exc)
            raise
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # the last line of defence: one line, and a hint
            code = _report_unexpected(session or _fallback(runtime, as_json), exc, debug)
        ctx.exit(code or EXIT_OK)

    return wrapper


@contextlib.contextmanager
def _logged_errors(debug: bool) -> Iterator[None]:
    """With --debug, errors saas-infra logs (a tenant's unexpected failure in a pass, with its
    traceback) go to stderr; without it the outcome's one line says enough."""
    if not debug:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.ERROR)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger = logging.getLogger("saas_infra")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _setting_overrides(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("concurrency", "max_deletions")
    return {k: kwargs[k] for k in keys if kwargs.get(k) is not None}


def _fallback(runtime: Runtime, as_json: bool) -> Session:
    session = Session.__new__(Session)
    session.console, session.as_json, session.debug = runtime.console(), as_json, False
    return session


def _report_error(session: Session, exc: SaasInfraError) -> int:
    from saas_infra.errors import AuthError

    settings = getattr(session, "settings", None)
    if isinstance(exc, AuthError) and settings and settings.token_source == "RAILWAY_TOKEN" \
            and not settings.sandbox:
        exc.hint = text.with_project_token_hint(exc.hint)
    session.show(text.error_lines(exc))
    if session.as_json:
        session.emit(data.error(exc))
    return exc.exit_code


def _report_unexpected(session: Session, exc: Exception, debug: bool) -> int:
    if debug:
        session.console.err.print(traceback.format_exc(), markup=False, highlight=False)
    session.show(text.unexpected_lines(exc, debug))
    return EXIT_ERROR


def usage_error(message: str) -> click.UsageError:
    """A bad combination of flags, found inside a command: exits 1 like any usage error."""
    error = click.UsageError(message, click.get_current_context(silent=True))
    error.exit_code = EXIT_ERROR  # type: ignore[misc]  # click reads it per instance
    return error


def one_format(as_json: bool, markdown: bool) -> None:
    if as_json and markdown:
        raise usage_error("--json and --markdown cannot be used together; choose one")


def _json_usage_error(exc: click.UsageError) -> None:
    """With --json, a usage error is also a JSON error on stdout (the usual text on stderr)."""
    if getattr(exc, "json_shown", False):
        return
    exc.json_shown = True  # type: ignore[attr-defined]
    exc.exit_code = EXIT_ERROR  # type: ignore[misc]  # click reads it per instance
    error = {"error": {"type": "UsageError", "message": exc.format_message()}}
    sys.stdout.write(json.dumps(error, indent=2) + "\n")
    sys.stdout.flush()


def _wants_json(args: Iterable[str], parent: click.Context | None) -> bool:
    if any(arg == "--json" for arg in args):
        return True
    while parent is not None:
        if parent.params.get("as_json") or parent.meta.get("json"):
            return True
        parent = parent.parent
    return False


class _UsageExitsOne:
    """Bad flags exit 1, not click's 2: exit code 2 means `plan --detailed-exitcode` found
    changes, and CI must never mistake a typo for that. With --json they are JSON too."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        wanted = _wants_json(args, parent)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)  # type: ignore[misc]
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR  # type: ignore[misc]  # click reads it per instance
            if wanted:
                _json_usage_error(exc)
            raise


class Command(_UsageExitsOne, click.Command):
    pass


class Group(_UsageExitsOne, click.Group):
    command_class = Command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR  # type: ignore[misc]  # click reads it per instance
            if _wants_json(args, ctx):
                _json_usage_error(exc)
            raise

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["json"] = "--json" in args
        return super().parse_args(ctx, args)


def command(name: str | None = None, **attrs: Any) -> Callable[[Callable[..., Any]], Command]:
    """click.command, made with this package's Command (usage errors exit 1; JSON with --json)."""
    return click.command(name, cls=Command, **attrs)
