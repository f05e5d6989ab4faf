"""Checking the fleet file's rollout canaries against the tenants, offline: warnings, not errors.

`rollout.canary` names tenants that go first. A name no manifest has (a typo, or a tenant still
to be added) or a tenant that does not follow the rollout's channel is simply not a canary: the
rollout goes on without it, so the first wave is someone else. That is worth a warning at the
name's file:line (with a did-you-mean), not a refusal: a canary may name a tenant whose manifest
lands in a later pull request, and refusing would block every other tenant's changes meanwhile.
Pure: no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from saas_infra.errors import ManifestProblem
from saas_infra.manifest.loader import LoadedFleet, LoadedManifest, display_path
from saas_infra.manifest.models import RolloutSpec


def canary_warnings(manifests: Sequence[LoadedManifest],
                    fleet: LoadedFleet | None) -> list[ManifestProblem]:
    """One warning per canary name that is not a tenant, or not a tenant of its channel(s)."""
    if fleet is None:
        return []
    model = fleet.fleet
    follows = {m.name: m.channel for m in manifests}
    problems = []
    own = [name for name, spec in model.channels.items() if spec.rollout is not None]
    for channel in own:
        rollout = model.channels[channel].rollout
        assert rollout is not None
        problems += _check(fleet, ("channels", channel, "rollout"), rollout, [channel], follows)
    if model.rollout is not None:
        shared = [name for name in model.channels if name not in own]
        problems += _check(fleet, ("rollout",), model.rollout, shared, follows)
    return sorted(problems, key=lambda p: p.line or 0)


def _check(fleet: LoadedFleet, at: tuple[str, ...], rollout: RolloutSpec,
           channels: list[str], follows: dict[str, str | None]) -> list[ManifestProblem]:
    problems = []
    for index, name in enumerate(rollout.canary):
        path: tuple[str | int, ...] = (*at, "canary", index)
        line = fleet.lines.get(path) or fleet.lines.get(path[:-1])
        field = ".".join(str(p) for p in path)
        message = _unknown(name, follows) if name not in follows else _elsewhere(
            name, follows[name], channels)
        if message is not None:
            problems.append(ManifestProblem(display_path(fleet.path), line, field, message))
    return problems


def _unknown(name: str, follows: dict[str, str | None]) -> str:
    close = difflib.get_close_matches(name, list(follows), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return (f"canary '{name}' is not a tenant (no manifest names it){hint}; the rollout goes "
            "on without it")


def _elsewhere(name: str, channel: str | None, channels: list[str]) -> str | None:
    if channel in channels:
        return None
    rolled = " or ".join(channels) or "none"
    runs = (f"it follows channel {channel}" if channel else
            "it follows no channel (a pin of its own, or a branch)")
    return (f"canary '{name}' is not a tenant of the channel this rollout is for ({rolled}): "
            f"{runs}, so it is nobody's canary")
