"""`rollout status` and `rollout resume` as text and JSON. Decides nothing, calls nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from saas_infra.clock import format_time
from saas_infra.render.text import Line, out, say
from saas_infra.rollout import ChannelRollout, State, describe_failure, short

_COLUMNS = ((State.FAILED, "failed"), (State.IN_PROGRESS, "in progress"),
            (State.HEALTHY, "healthy"), (State.OLD, "old version"))


def status_lines(rollouts: Sequence[ChannelRollout]) -> list[Line]:
    if not rollouts:
        return [say("No release channels: fleet.yaml defines no `channels`.")]
    lines: list[Line] = []
    for rollout in rollouts:
        lines.append(out(f"Channel {rollout.channel}: {short(rollout.version)}, "
                         f"{_verdict(rollout)}", "red bold" if rollout.halted else "bold"))
        for wave in rollout.waves:
            parts = []
            for state, word in _COLUMNS:
                names = [_named(t) for t in wave.tenants if t.state is state]
                if names:
                    parts.append(f"{word}: {', '.join(names)}")
            starting = " (starts now)" if rollout.next_wave == wave.index else ""
            lines.append(out(f"  wave {wave.index + 1}{starting}: " + "; ".join(parts)))
        if rollout.reason:
            lines.append(out(f"  {rollout.reason}", "red" if rollout.halted else None))
    return lines


def _named(tenant: Any) -> str:
    return f"{tenant.name} ({describe_failure(tenant)})" if tenant.state is State.FAILED else (
        tenant.name)


def state_of(rollout: ChannelRollout) -> str:
    """Where a channel's rollout stands, in the words of `rollout status`."""
    return _verdict(rollout)


def _verdict(rollout: ChannelRollout) -> str:
    if rollout.halted:
        return "HALTED"
    if rollout.done:
        return "every tenant on it"
    if rollout.soak_remaining is not None:
        left = int(rollout.soak_remaining.total_seconds())
        return f"soaking ({left // 60}m {left % 60}s left)"
    if rollout.next_wave is not None:
        return f"wave {rollout.next_wave + 1} starts on the next pass"
    return "rolling out"


def status_data(rollouts: Sequence[ChannelRollout]) -> dict[str, Any]:
    return {"channels": [r.to_dict() for r in rollouts]}


def resumed_lines(channel: str, version: str, at: datetime, path: str) -> list[Line]:
    return [out(f"Resumed channel {channel} at {short(version)} ({format_time(at)}) in {path}."),
            say("Commit and merge it: the next pass forgives that version's failures before "
                "this time and goes on with the rollout; a new failure halts it again.")]


def not_halted_lines(channel: str, state: str) -> list[Line]:
    return [out(f"Channel {channel}'s rollout is not halted ({state}); nothing was written."),
            say(f"`saas-infra rollout status {channel}` shows it wave by wave; "
                "`--force` writes the resume all the same.")]


def not_halted_data(channel: str, state: str) -> dict[str, Any]:
    return {"channel": channel, "resumed": False, "halted": False, "state": state}


def resumed_data(channel: str, version: str, at: datetime, path: str) -> dict[str, Any]:
    return {"channel": channel, "resumed": True, "version": version, "at": format_time(at),
            "file": path}
