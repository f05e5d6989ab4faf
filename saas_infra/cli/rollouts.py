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
@click.option("--force", is_flag=True,
              help="Write the resume even when Railway shows the rollout is not halted (e.g. "
                   "to forgive a failure ahead of the pass that would halt on it).")
@common
def resume(s: Session, channel: str, force: bool) -> int:
    """Resume CHANNEL's halted rollout: writes `resume: {commit, at}` under the channel in
    fleet.yaml (comments kept). It forgives that version's failures until now; commit it.
    Reads Railway first, as `rollout status` does: a rollout that is not halted is left as it
    is and nothing is written (exit 0), unless --force."""
    from saas_infra import manifest
    from saas_infra.manifest.fleet_edit import known_channel, set_channel_resume

    path = manifest.fleet_path(s.settings.tenants_dir, s.settings.fleet_file)
    if not path.exists():
        raise ConfigError(f"no fleet file at {path}", hint="channels live in fleet.yaml")
    known_channel(path, channel)  # offline, before Railway is asked anything
    shown = manifest.loader.display_path(path)
    if not force:
        fleet = s.fleet
        manifests, _ = fleet.read()
        found = [r for r in fleet.rollouts(manifests, fleet.observe()) if r.channel == channel]
        if not found or not found[0].halted:
            state = render.state_of(found[0]) if found else "no tenant follows it"
            s.show_or_emit(render.not_halted_lines(channel, state),
                           render.not_halted_data(channel, state))
            return EXIT_OK
    at = s.runtime.clock.now()
    resumed = set_channel_resume(path, channel, at)
    s.show_or_emit(render.resumed_lines(channel, resumed.version, resumed.at, shown),
                   render.resumed_data(channel, resumed.version, resumed.at, shown))
    return EXIT_OK


rollout.add_command(status)
rollout.add_command(resume)
COMMANDS: list[click.Command] = [rollout]
