"""`validate`, `plan` and `apply`: the reconciler's own commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from saas_infra import render
from saas_infra.clock import parse_time
from saas_infra.errors import ConfigError, ManifestError
from saas_infra.manifest import canary_warnings, lacks_provider_key, read_fleet
from saas_infra.plan import PassOptions
from saas_infra.render import data, text

from .base import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_GUARD,
    EXIT_OK,
    Session,
    command,
    common,
    one_format,
    usage_error,
)


@command()
@common
def validate(s: Session) -> int:
    """Check every manifest; errors name the file, line and field. Sends nothing to Railway."""
    try:
        manifests = s.load_manifests()
    except ManifestError as exc:
        if not s.as_json:
            raise
        s.show(text.error_lines(exc))
        s.emit(data.invalid(exc.problems))
        return exc.exit_code
    names = [m.manifest.name for m in manifests]
    fleet = s.fleet_file_in_use()
    loaded_fleet, _ = read_fleet(s.settings.tenants_dir, s.settings.fleet_file)
    warnings = [str(p) for p in canary_warnings(manifests, loaded_fleet)]
    warnings += text.provider_key_warning(
        [m.manifest.name for m in manifests if lacks_provider_key(m.manifest)])
    s.show_or_emit(text.validated(len(manifests), str(s.settings.tenants_dir), fleet),
                   data.validation(names, fleet, warnings))
    if not s.as_json:
        s.show(text.warnings(warnings))
    return EXIT_OK


@command()
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
@click.option("--resync-secrets", is_flag=True,
              help="Rewrite every gateway secret from its from_env variable, also those Railway "
                   "already has (secrets are otherwise compared by name only).")
@click.option("--allow-region-move", is_flag=True,
              help="Mark the plan's database moves as confirmed. Plan moves nothing: with --out "
                   "the saved plan records the confirmation, so `apply --plan FILE` moves them "
                   "(Railway migrates each volume; the tenant is offline until it is done).")
@click.option("--deep", is_flag=True,
              help="Also read each tenant's resource limits and backup schedule on Railway (2 "
                   "calls a tenant) instead of trusting the record of the last pass.")
def plan(s: Session, detailed_exitcode: bool, markdown: bool, out_file: Path | None,
         at_time: str | None, targets: tuple[str, ...], max_deletions: int | None,
         show_all: bool, max_chars: int | None, resync_secrets: bool,
         allow_region_move: bool, deep: bool) -> int:
    """Show what a reconcile pass would do. Changes nothing.

    \b
    Exit codes: 0 done (no changes, or changes without --detailed-exitcode),
    2 changes found with --detailed-exitcode, 3 a safety guard tripped, 1 error.
    """
    one_format(s.as_json, markdown)
    if max_chars is not None and not markdown:
        raise usage_error("--max-chars folds the Markdown plan; it needs --markdown")
    manifests = s.load_manifests(allow_missing=True)  # the empty-state guard decides
    try:
        at = parse_time(at_time) if at_time else None
    except ValueError:
        raise ConfigError(f"--at {at_time!r} is not a time; e.g. 2026-12-31T00:00:00Z") from None
    options = PassOptions(resync_secrets, allow_region_move, deep)
    result = s.fleet.plan_from(manifests, s.fleet.observe(), targets=targets, at=at,
                               options=options)
    if out_file:
        out_file.write_text(result.to_json() + "\n")
        s.show([text.saved_plan(str(out_file))])
    if s.as_json:
        s.console.data(render.plan_json(result))
    elif markdown:
        s.console.data(render.plan_markdown(result, max_chars=max_chars))
    else:
        s.show(text.lines_of(render.plan_text(result, show_unmanaged=show_all)))
    s.warn_plan(result)
    if result.guards:
        return EXIT_GUARD
    return EXIT_CHANGES if detailed_exitcode and not result.empty else EXIT_OK


@command()
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
@click.option("--resync-secrets", is_flag=True,
              help="Rewrite every gateway secret from its from_env variable, also those Railway "
                   "already has (secrets are otherwise compared by name only).")
@click.option("--allow-region-move", is_flag=True,
              help="Confirm moving tenants' databases to their manifest's region: Railway "
                   "migrates each volume, and the tenant is offline until it is done.")
@click.option("--deep", is_flag=True,
              help="Also read each tenant's resource limits and backup schedule on Railway (2 "
                   "calls a tenant) instead of trusting the record of the last pass.")
def apply(s: Session, yes: bool, plan_file: Path | None, targets: tuple[str, ...],
          max_deletions: int | None, concurrency: int | None, markdown: bool,
          resync_secrets: bool, allow_region_move: bool, deep: bool) -> int:
    """Run a reconcile pass: plan, show it, apply it, then check it converged.

    On a terminal it asks before applying unless --yes; without one it prints the plan it is
    about to run. Every step looks before it creates, so a pass that died is finished by the
    next one.

    \b
    Exit codes: 0 converged, 1 a tenant failed, a tenant is blocked or the fleet did not
    converge (or any error), 3 a safety guard stopped the pass before it changed anything.
    """
    one_format(s.as_json, markdown)
    if plan_file and targets:
        raise ConfigError("--target cannot narrow a saved plan; make the plan with --target")
    from saas_infra.reconcile import apply_pass, check_guards

    fleet = s.fleet
    options = PassOptions(resync_secrets, allow_region_move, deep)
    saved = _saved_plan(plan_file) if plan_file else None
    shown = False
    if saved is None and s.interactive and not yes:
        preview = fleet.plan(targets=targets, options=options)
        if s.as_json:  # stdout is for the JSON report: the question goes to stderr
            s.console.message(render.summary_line(preview))
        else:
            s.show(text.lines_of(render.plan_text(preview)))
        check_guards(preview)
        if preview.empty:
            if not s.as_json:
                s.warn_plan(preview)
                s.show([text.out(text.NOTHING_TO_DO, "bold")])
                return EXIT_OK
        elif not click.confirm(text.APPLY_QUESTION, default=False, err=True):
            s.console.message(text.NOTHING_APPLIED)
            return EXIT_OK
        else:
            saved, shown = preview, True
    on_plan = None if shown or s.as_json or markdown else _show_plan(s)
    report = apply_pass(fleet, plan=saved, targets=targets, progress=s.progress(),
                        on_plan=on_plan, options=options)
    return _finish(s, report, markdown=markdown)


def _show_plan(s: Session) -> Any:
    """The plan a pass is about to run, printed before it runs (CI logs show what it did)."""
    def show(plan: Any) -> None:
        if not plan.empty:
            s.show(text.lines_of(render.plan_text(plan)))

    return show


def _saved_plan(path: Path) -> Any:
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


def _finish(s: Session, report: Any, markdown: bool = False) -> int:
    s.warn_plan(report.plan)
    if s.as_json:
        s.emit(render.report_json(report))
    elif markdown:
        s.console.data(render.apply_markdown(report))
    else:
        s.show(text.apply_lines(report))
    if report.failed or not report.converged:
        return EXIT_ERROR
    return EXIT_OK
