"""`rollout status [CHANNEL]` and `rollout resume CHANNEL`: release channels' rollouts."""

from __future__ import annotations

import click

from saas_infra.errors import ConfigError
from saas_infra.render import rollout as render

from .base import EXIT_OK, Group, Session, command, common


@click.group(cls=Group)
def rollout() -> None:
    """Release channels' rollouts: where each stands, and resuming a halted one."""


@command()
@click.argument("channel", required=False)
@common
def status(s: Session, channel: str | None) -> int:
    """Per wave: tenants on the old version, in progress, healthy, failed; halted or not, and
    why. Derived from fleet.yaml, the manifests and Railway alone."""
    fleet = s.fleet
    manifests, _ = fleet.read()
    rollouts = fleet.rollouts(manifests, fleet.observe())
    if channel is not None:
        rollouts = [r for r in rollouts if r.channel == channel]
        if not rollouts:
            raise ConfigError(f"no channel named {channel}",
                              hint="`saas-infra rollout status` lists every channel")
    s.show_or_emit(render.status_lines(rollouts), render.status_data(rollouts))
    return EXIT_OK


@command()
@click.argument("channel")
@common
def resume(s: Session, channel: str) -> int:
    """Resume CHANNEL's halted rollout: writes `resume: {commit, at}` under the channel in
    fleet.yaml (comments kept). It forgives that version's failures until now; commit it."""
    from saas_infra import manifest
    from saas_infra.manifest.fleet_edit import set_channel_resume

    path = manifest.fleet_path(s.settings.tenants_dir, s.settings.fleet_file)
    if not path.exists():
        raise ConfigError(f"no fleet file at {path}", hint="channels live in fleet.yaml")
    at = s.runtime.clock.now()
    resumed = set_channel_resume(path, channel, at)
    shown = manifest.loader.display_path(path)
    s.show_or_emit(render.resumed_lines(channel, resumed.version, resumed.at, shown),
                   render.resumed_data(channel, resumed.version, resumed.at, shown))
    return EXIT_OK


rollout.add_command(status)
rollout.add_command(resume)
COMMANDS: list[click.Command] = [rollout]
