"""Read-only views of the tenants: `list`, `status`, and `credentials` (which reads keys back
from Railway and, with --rotate, makes new ones)."""

from __future__ import annotations

import click

from saas_infra import verbs
from saas_infra.errors import ConfigError
from saas_infra.render import data, text

from .base import EXIT_ERROR, EXIT_OK, Session, command, common
from .lifecycle import NAME


@command(name="list")
@common
@click.option("--all", "include_unmanaged", is_flag=True,
              help="Also list luthien-* projects saas-infra does not manage.")
def list_(s: Session, include_unmanaged: bool) -> int:
    """List every tenant: manifests and Railway together, with status and deadline."""
    rows, problems = verbs.list_view(s.fleet, include_unmanaged=include_unmanaged)
    s.show(text.unreadable_manifests([str(p) for p in problems]))
    s.show_or_emit(text.instances_lines(rows, s.console.width), data.instances(rows, problems))
    return EXIT_OK


@command()
@NAME
@common
def status(s: Session, name: str) -> int:
    """One tenant in detail: services, deployments, URL, health, deadline, drift."""
    with s.runtime.health_client(s.settings) as http:
        detail = verbs.status(s.fleet, name, health_client=http)
    s.show(text.unreadable_manifests(detail.manifest_problems))
    s.show_or_emit(text.status_lines(detail), data.detail(detail))
    return EXIT_OK


@command()
@NAME
@common
@click.option("--rotate", is_flag=True, help="Make new keys, set them and redeploy the gateway.")
def credentials(s: Session, name: str, rotate: bool) -> int:
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
    creds = verbs.credentials(s.fleet, name, rotate=rotate)
    s.show_or_emit(text.credentials_lines(creds, name), data.credentials(creds, name))
    return EXIT_ERROR if creds.unreadable or creds.lost else EXIT_OK


COMMANDS = [list_, status, credentials]
