"""The setup and the fleet lock: `whoami`, `doctor` and `unlock`."""

from __future__ import annotations

from pathlib import Path

import click

from saas_infra import verbs
from saas_infra.errors import ConfigError
from saas_infra.render import data, text
from saas_infra.settings import Settings

from .base import EXIT_ERROR, EXIT_OK, Session, command, common


def token_source(settings: Settings) -> str:
    return "sandbox" if settings.sandbox else str(settings.token_source)


@command()
@common
def whoami(s: Session) -> int:
    """Show the token's identity and kind, and the workspaces it reaches."""
    identity = verbs.whoami(s.fleet)
    source = token_source(s.settings)
    s.show_or_emit(text.whoami_lines(identity, source), data.identity(identity, source))
    s.show(text.workspace_problem(identity))
    # A RAILWAY_WORKSPACE_ID this token does not reach fails every pass: fail here too.
    return EXIT_ERROR if identity.workspace_problem and identity.workspace_configured else EXIT_OK


@command()
@common
@click.option("--live", is_flag=True,
              help="Also run every mutation saas-infra uses on a throwaway project, then "
                   "delete it.")
@click.option("--cleanup", is_flag=True, help="Delete every project `doctor --live` left behind.")
@click.option("--record", "record_dir", type=click.Path(path_type=Path, file_okay=False),
              metavar="DIR", help="Write every request and answer, scrubbed, as vcrpy cassettes.")
@click.option("--yes", "-y", is_flag=True,
              help="Do not ask before --live or --cleanup (CI needs it).")
def doctor(s: Session, live: bool, cleanup: bool, record_dir: Path | None, yes: bool) -> int:
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
        token_source=token_source(s.settings), token_conflict=s.settings.token_conflict,
        workspace_id=s.settings.workspace_id, plan_name=s.settings.plan_name,
        workspace_variable="RAILWAY_TEAM_ID" if env.get("RAILWAY_TEAM_ID") and not env.get(
            "RAILWAY_WORKSPACE_ID") else "RAILWAY_WORKSPACE_ID",
        tenants_dir=s.settings.tenants_dir, fleet_file=s.settings.fleet_file)
    options = dr.Options(live=live, cleanup=cleanup, record=record_dir, holder=default_holder(env))
    report = dr.run(lambda wrap: s.runtime.client(s.settings, s.retry_notice, wrap), setup,
                    s.runtime.clock, options, say=lambda line: s.console.message(line, "dim"),
                    confirm=lambda q: yes or click.confirm(q, default=False, err=True))
    if s.as_json:
        s.emit(report.to_dict())
    else:
        s.show(text.lines_of(dr.report_lines(report)))
    return EXIT_OK if report.ok else EXIT_ERROR


@command()
@common
@click.option("--force", is_flag=True,
              help="Free the lock. Only when the pass holding it is dead: two at once can "
                   "duplicate projects.")
def unlock(s: Session, force: bool) -> int:
    """Show who holds the fleet lock; with --force, free it.

    A pass that acts (apply and the verbs) holds the lock on Railway, as a lease in the
    description of the project saas-infra-control, and frees it when it ends. The lock of a pass
    that died expires by itself after 10 minutes; --force is for not waiting (it also removes
    the per-pass lock projects an earlier saas-infra left). Exit code 1: held and not freed.
    """
    from saas_infra import lock

    fleet = s.fleet
    now = fleet.clock.now()
    if force:
        state = lock.break_lock(fleet.client, fleet.workspace(), sleep=fleet.clock.sleep,
                                say=fleet.lock_notify)
    else:
        state = lock.inspect(fleet.client, fleet.workspace())
    lease = state.lease
    held = lease is not None and not lease.expired(now)
    s.show_or_emit(text.unlock_lines(state, force, held, now), {
        "removed": force, "control_project": state.control_id,
        "lease": lease.to_dict(now) if lease else None, "earlier_tickets": list(state.legacy)})
    return EXIT_ERROR if held and not force else EXIT_OK


COMMANDS = [whoami, doctor, unlock]
