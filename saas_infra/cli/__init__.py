"""The `saas-infra` command line: parse, call the core, render, pick the exit code. No logic.

One small module per command group over the one console (base.Session):

    base.py        the session, global options, the error boundary, exit codes
    reconciler.py  validate, plan, apply
    lifecycle.py   create, redeploy, delete, cancel-delete, adopt
    tenants.py     list, status, credentials
    account.py     whoami, doctor, unlock
    tools.py       schema, emulator
    rollouts.py    rollout status, rollout resume

Global options (--json, --sandbox, --tenants-dir, --debug, --lock-timeout) go before or after
the command. Data goes to stdout, messages to stderr. `python -m saas_infra.cli` is the same
program.
"""

from __future__ import annotations

import click

from saas_infra import __version__
from saas_infra.runtime import Runtime

from . import account, lifecycle, reconciler, rollouts, tenants, tools
from .base import EXIT_CHANGES, EXIT_ERROR, EXIT_GUARD, EXIT_OK, Group, global_options

EPILOG = """\b
Exit codes: 0 success, 1 error, 2 changes found (plan --detailed-exitcode),
3 a safety guard stopped the pass.
Environment: RAILWAY_API_TOKEN (or RAILWAY_TOKEN), RAILWAY_WORKSPACE_ID (or RAILWAY_TEAM_ID),
RAILWAY_API_URL, CI. Add --sandbox to any command to use the local emulator."""


@click.group(cls=Group, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="saas-infra")
@global_options
def cli(**_options: object) -> None:
    """Keep a fleet of luthien-proxy tenants on Railway in the state tenants/*.yaml describes.

    Each tenant is one Railway project `luthien-<name>` with Postgres, Redis and a `gateway`
    service. `plan` shows what a reconcile pass would do; `apply` does it. The verbs (create,
    delete, redeploy, ...) edit a manifest and then run a pass for that tenant.
    """


for _command in (reconciler.validate, reconciler.plan, reconciler.apply, *lifecycle.COMMANDS,
                 *tenants.COMMANDS, *account.COMMANDS, *tools.COMMANDS, *rollouts.COMMANDS):
    cli.add_command(_command)


def main() -> None:
    """The `saas-infra` console script: the real clock, the real network."""
    cli(prog_name="saas-infra", obj=Runtime())


__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_GUARD", "EXIT_OK", "Runtime", "cli", "main"]
