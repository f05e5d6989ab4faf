"""Where each release channel's rollout stands, derived only from git and Railway. Pure: no I/O.

Inputs are the loaded manifests (LoadedManifest.channel names the channel whose version a tenant
runs), the fleet file (its channels and `rollout`), the observed fleet (each gateway's latest
deployment, the environment's newest deployments and the project marker's failure record, all
from the one fleet listing), `now`, and, when a caller probed them, the tenants whose health
path did not answer 200. Nothing else: no local file, so a crash, a new machine or a second
runner derive the same state.

- Tenant order: the canary tenants first (in the order `canary` names them), then by name.
  Waves are cumulative (`[1, "25%", "100%"]`: the first tenant, then up to a quarter, then all).
- A tenant is `old` (runs another version), `in_progress` (a deployment of the version is
  building or deploying), `healthy` (its latest deployment of the version is SUCCESS) or
  `failed`: a deployment of the version FAILED (`build_failed`: Railway's word for a build or
  a health check that failed), CRASHED (`crashed`), or answered its health path with anything
  but 200 (`unhealthy`), or was still deploying when the gate's timeout ran out (`timed_out`).
  Two pieces of evidence, either enough: a failed deployment of the version in the history the
  listing shows (the newest few), and the marker's failure record, which apply writes when the
  gate fails (before it rolls back) and which no later deployment pushes out of view. A tenant
  rolled back since, or left on a SUCCESS deployment whose health path failed, still counts as
  failed. A record of another version, or one a resume forgave, is cleared by the pass once the
  tenant runs the channel's version healthily (`clear_record`); a failure the history shows but
  the marker lacks (a pass died before its gate wrote it) is recorded by the pass (`to_record`).
- A rollout is halted when more tenants failed than `max_failed`, failures of the version
  before the channel's `resume` (same version, earlier time) excepted. A halted rollout starts
  no wave until the channel's version changes or an operator resumes it.
- The next wave may start once every earlier wave is settled (healthy, or failed within
  `max_failed`) and the last of them has soaked (`soak` after its last tenant became healthy,
  by Railway's statusUpdatedAt).
Without a `rollout` section every tenant of a channel is one wave, as before, and never halts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from saas_infra.manifest import LoadedManifest
from saas_infra.manifest.models import (
    ChannelSpec,
    FleetFile,
    ResumeRequest,
    RolloutSpec,
    duration_seconds,
)
from saas_infra.marker import FailureRecord, failure_record
from saas_infra.railway.observed import Observed, ObservedDeployment, ObservedService
from saas_infra.tenancy import IN_PROGRESS

RESUME_COMMAND = "saas-infra rollout resume {channel}"
_GOOD = ("SUCCESS", "SLEEPING")  # a sleeping gateway succeeded, and wakes on a request
_FAILED = {"FAILED": "build_failed", "CRASHED": "crashed"}


class State(StrEnum):
    OLD = "old"
    IN_PROGRESS = "in_progress"
    HEALTHY = "healthy"
    FAILED = "failed"


class Failure(StrEnum):
    BUILD_FAILED = "build_failed"  # FAILED: the build, or Railway's own health check, failed
    CRASHED = "crashed"  # CRASHED: the process exited after it went live
    UNHEALTHY = "unhealthy"  # SUCCESS, but the health path did not answer 200
    TIMED_OUT = "timed_out"  # still building or deploying when the gate's timeout ran out


@dataclass(frozen=True)
class TenantRollout:
    name: str
    wave: int  # 0-based
    state: State
    # The version of its latest deployment: what its state is decided on (and a pass acts on).
    running: str | None = None
    failure: Failure | None = None
    since: datetime | None = None  # when its latest deployment reached its status
    deployment_id: str | None = None  # the deployment that decided its state
    rolled_back: bool = False  # failed, and runs another version since
    forgiven: bool = False  # a failure before the channel's resume: redeployed, not halting
    clear_record: bool = False  # healthy, and its marker's failure record no longer applies
    # A failure the deployment history shows and the marker does not record yet (a pass died
    # between its gate and the marker write): the pass records it.
    to_record: FailureRecord | None = None
    # The version that serves: the newest deployment that went live, which a newer FAILED one
    # did not replace (ObservedService.serving); None: nothing serves, or none is listed. What
    # `rollout status` shows as `running`.
    serving: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.name, "state": self.state.value,
                "failure": self.failure.value if self.failure else None,
                "running": self.serving, "rolled_back": self.rolled_back,
                "deployment_id": self.deployment_id}


@dataclass(frozen=True)
class Wave:
    index: int  # 0-based; people read index + 1
    tenants: tuple[TenantRollout, ...]

    def names(self, state: State) -> list[str]:
        return [t.name for t in self.tenants if t.state is state]

    @property
    def settled(self) -> bool:
        """Every tenant healthy or failed: nothing of this wave is still to do or under way."""
        return all(t.state in (State.HEALTHY, State.FAILED) for t in self.tenants)

    @property
    def settled_at(self) -> datetime | None:
        times = [t.since for t in self.tenants if t.since is not None]
        return max(times) if times else None

    def to_dict(self) -> dict[str, Any]:
        return {"wave": self.index + 1, **{state.value: self.names(state) for state in State},
                "tenants": [t.to_dict() for t in self.tenants]}


@dataclass(frozen=True)
class ChannelRollout:
    channel: str
    version: str
    spec: RolloutSpec | None  # None: no rollout section, every tenant at once
    waves: tuple[Wave, ...]
    failed: tuple[TenantRollout, ...] = ()  # failures that count (not forgiven by a resume)
    halted: bool = False
    reason: str | None = None  # why it is halted, or why no wave starts now
    next_wave: int | None = None  # 0-based: the wave whose old tenants may be deployed now
    soak_remaining: timedelta | None = None
    resume: ResumeRequest | None = None

    @property
    def tenants(self) -> list[TenantRollout]:
        return [t for wave in self.waves for t in wave.tenants]

    def tenant(self, name: str) -> TenantRollout | None:
        return next((t for t in self.tenants if t.name == name), None)

    @property
    def done(self) -> bool:
        return all(t.state is State.HEALTHY for t in self.tenants)

    @property
    def previous_version(self) -> str | None:
        """The version the channel's tenants ran before this rollout: the one most of those not
        on the channel's version run (None: none runs another version)."""
        runs = Counter(t.running for t in self.tenants if t.running and t.running != self.version)
        return runs.most_common(1)[0][0] if runs else None

    def reached(self, tenant: TenantRollout) -> bool:
        """Whether the rollout has come to the tenant: it is not old, or its wave starts now,
        and the rollout is not halted (or the tenant runs the channel's version already)."""
        if tenant.running == self.version:
            return True
        return not self.halted and (tenant.state is not State.OLD
                                    or tenant.name in self.starting)

    @property
    def underway(self) -> bool:
        """Whether some tenant of the channel does not run its version healthily yet."""
        return not self.done

    @property
    def starting(self) -> list[str]:
        """The tenants a pass deploys now: the old ones of the wave that may start."""
        if self.next_wave is None:
            return []
        return self.waves[self.next_wave].names(State.OLD)

    @property
    def resume_command(self) -> str:
        return RESUME_COMMAND.format(channel=self.channel)

    @property
    def on_failure(self) -> str:
        return self.spec.on_failure if self.spec else "hold"

    def to_dict(self) -> dict[str, Any]:
        left = self.soak_remaining  # whole seconds, rounded up as the plan's
        seconds = None if left is None else math.ceil(left.total_seconds())
        return {
            "channel": self.channel, "version": self.version, "done": self.done,
            "halted": self.halted, "reason": self.reason,
            "next_wave": None if self.next_wave is None else self.next_wave + 1,
            "starting": self.starting,
            "soak_remaining_seconds": seconds,
            "failed": [t.name for t in self.failed],
            "resume_command": self.resume_command if self.halted else None,
            "rollout": self.spec is not None,
            "waves": [w.to_dict() for w in self.waves],
        }


def derive(manifests: Sequence[LoadedManifest], fleet: FleetFile | None, observed: Observed,
           now: datetime, *, unhealthy: Collection[str] = ()) -> list[ChannelRollout]:
    """Every channel's rollout, by channel name."""
    if fleet is None:
        return []
    members: dict[str, list[str]] = {name: [] for name in fleet.channels}
    for loaded in manifests:
        if loaded.channel in members and loaded.manifest.deletion is None:
            members[loaded.channel].append(loaded.name)
    return [channel_rollout(name, fleet.channels[name], fleet.rollout_of(name), members[name],
                            observed, now, unhealthy=unhealthy)
            for name in sorted(members)]


def channel_rollout(channel: str, spec: ChannelSpec, rollout: RolloutSpec | None,
                    tenants: Iterable[str], observed: Observed, now: datetime, *,
                    unhealthy: Collection[str] = ()) -> ChannelRollout:
    version = spec.version
    ordered = order(tenants, rollout.canary if rollout else ())
    bounds = wave_bounds(rollout.waves if rollout else ["100%"], len(ordered))
    resume = spec.resume if spec.resume is not None and spec.resume.version == version else None
    waves, start = [], 0
    for index, end in enumerate(bounds):
        waves.append(Wave(index, tuple(
            tenant_state(name, index, version, _gateway(observed, name), resume,
                         name in unhealthy, record=_record(observed, name))
            for name in ordered[start:end])))
        start = end
    if rollout is None:  # nothing halts: no failure worth a marker write
        waves = [replace(w, tenants=tuple(replace(t, to_record=None) for t in w.tenants))
                 for w in waves]
    failed = tuple(t for wave in waves for t in wave.tenants if t.state is State.FAILED)
    halted = rollout is not None and len(failed) > rollout.max_failed
    result = ChannelRollout(channel, version, rollout, tuple(waves), failed, halted,
                            resume=resume)
    return _next(result, now)


def order(tenants: Iterable[str], canary: Sequence[str]) -> list[str]:
    """Canary tenants first, in their order, then the rest by name."""
    names = set(tenants)
    first = [name for name in dict.fromkeys(canary) if name in names]
    return first + sorted(names - set(first))


def wave_bounds(waves: Sequence[int | str], total: int) -> list[int]:
    """Where each wave ends in the tenant order (cumulative), waves that add nobody left out."""
    bounds: list[int] = []
    for size in waves:
        end = math.ceil(total * int(size.rstrip("%")) / 100) if isinstance(size, str) else size
        end = min(total, max(end, bounds[-1] if bounds else 0))
        if end > (bounds[-1] if bounds else 0):
            bounds.append(end)
    return bounds


def _gateway(observed: Observed, tenant: str) -> ObservedService | None:
    project = observed.tenant_project(tenant)
    return project.gateway if project else None


def _record(observed: Observed, tenant: str) -> FailureRecord | None:
    project = observed.tenant_project(tenant)
    return project.marker.failed if project and project.marker else None


def tenant_state(name: str, wave: int, version: str, gateway: ObservedService | None,
                 resume: ResumeRequest | None = None, unhealthy: bool = False, *,
                 record: FailureRecord | None = None) -> TenantRollout:
    """The tenant's state from its deployments, then from the marker's failure record: a record
    of this version that no resume forgave makes it failed, whatever the history shows."""
    serving = gateway.serving if gateway else None
    found, failed_at = _from_deployments(name, wave, version, gateway, resume, unhealthy)
    found = replace(found, serving=serving.version if serving else None)
    halting = record is not None and record.of(version) and not (
        resume is not None and record.at <= resume.at)
    if found.state is State.FAILED:
        if halting or failed_at is None or found.failure is None:
            return found
        return replace(found, to_record=failure_record(version, failed_at, found.failure.value))
    if halting and record is not None:
        return replace(found, state=State.FAILED, failure=_failure(record.how),
                       since=record.at, forgiven=False,
                       rolled_back=found.running is not None and found.running != version)
    return replace(found, clear_record=record is not None and found.state is State.HEALTHY)


def _failure(how: str) -> Failure:
    try:
        return Failure(how)
    except ValueError:  # a word of a later version, or edited by hand: failed all the same
        return Failure.UNHEALTHY


def _from_deployments(name: str, wave: int, version: str, gateway: ObservedService | None,
                      resume: ResumeRequest | None, unhealthy: bool
                      ) -> tuple[TenantRollout, datetime | None]:
    """The state the deployments show, and when the failed deployment was made (if failed)."""
    latest = gateway.deployment if gateway else None
    if latest is None:
        return TenantRollout(name, wave, State.OLD), None
    running = latest.version
    if running == version:
        state, failure = _state_of(latest, unhealthy)
        if failure is None or not _forgiven(latest, resume):
            return (TenantRollout(name, wave, state, running, failure, latest.since, latest.id),
                    latest.created_at if failure else None)
        return TenantRollout(name, wave, State.OLD, running, failure, latest.since, latest.id,
                             forgiven=True), None
    bad = _failed_before(gateway, version, latest)
    if bad is None:
        return TenantRollout(name, wave, State.OLD, running, since=latest.since), None
    failure = Failure(_FAILED[bad.status])
    if _forgiven(bad, resume):
        return TenantRollout(name, wave, State.OLD, running, failure, latest.since, bad.id,
                             rolled_back=True, forgiven=True), None
    return TenantRollout(name, wave, State.FAILED, running, failure, bad.since, bad.id,
                         rolled_back=True), bad.created_at


def _state_of(latest: ObservedDeployment, unhealthy: bool) -> tuple[State, Failure | None]:
    if latest.status in _FAILED:
        return State.FAILED, Failure(_FAILED[latest.status])
    if latest.status in IN_PROGRESS:
        return State.IN_PROGRESS, None
    if latest.status in _GOOD:
        return (State.FAILED, Failure.UNHEALTHY) if unhealthy else (State.HEALTHY, None)
    return State.OLD, None  # REMOVED, SKIPPED, ...: the version is not running


def _failed_before(gateway: ObservedService | None, version: str,
                   latest: ObservedDeployment) -> ObservedDeployment | None:
    """A failed deployment of `version` older than the latest one (the tenant was rolled back,
    or another deployment followed): the evidence that survives a rollback."""
    for deployment in (gateway.history or ()) if gateway else ():
        if deployment.id == latest.id:
            continue
        if deployment.version == version and deployment.status in _FAILED:
            return deployment
    return None


def _forgiven(deployment: ObservedDeployment, resume: ResumeRequest | None) -> bool:
    at = deployment.created_at
    return resume is not None and at is not None and at <= resume.at


def _next(rollout: ChannelRollout, now: datetime) -> ChannelRollout:
    """Which wave may start now, or why none does."""
    previous = None
    for wave in rollout.waves:
        if wave.settled:
            previous = wave
            continue
        if rollout.halted:
            return _with(rollout, reason=halt_reason(rollout))
        if previous is not None and rollout.spec is not None:
            settled = previous.settled_at
            soak = timedelta(seconds=duration_seconds(rollout.spec.soak))
            if settled is not None and now < settled + soak:
                left = settled + soak - now
                return _with(rollout, soak_remaining=left,
                             reason=f"wave {previous.index + 1} is soaking")
        if wave.names(State.OLD):
            return _with(rollout, next_wave=wave.index)
        return _with(rollout, reason=f"wave {wave.index + 1} is deploying")
    if rollout.halted:
        return _with(rollout, reason=halt_reason(rollout))
    return rollout


def _with(rollout: ChannelRollout, **changes: Any) -> ChannelRollout:
    return replace(rollout, **changes)


def halt_reason(rollout: ChannelRollout) -> str:
    """Which tenants failed, how, and how to resume."""
    failed = ", ".join(f"{t.name} ({describe_failure(t)})" for t in rollout.failed)
    allowed = rollout.spec.max_failed if rollout.spec else 0
    return (f"halted: {failed} failed on {short(rollout.version)} (max_failed {allowed}); "
            f"fix the version (change the channel) or resume: `{rollout.resume_command}`")


def describe_failure(tenant: TenantRollout) -> str:
    words = {Failure.BUILD_FAILED: "build or health check failed", Failure.CRASHED: "crashed",
             Failure.UNHEALTHY: "health check did not answer 200",
             Failure.TIMED_OUT: "not healthy within the gate's timeout"}
    text = words[tenant.failure] if tenant.failure else "failed"
    return text + (", rolled back" if tenant.rolled_back else "")


def short(version: str) -> str:
    """A version as people read it: a commit's first 12 digits, an image as named."""
    return version[:12] if len(version) == 40 and "/" not in version else version


def failed_statuses() -> tuple[str, ...]:
    return tuple(_FAILED)


__all__ = [
    "RESUME_COMMAND",
    "ChannelRollout",
    "Failure",
    "State",
    "TenantRollout",
    "Wave",
    "channel_rollout",
    "derive",
    "halt_reason",
    "order",
    "tenant_state",
    "wave_bounds",
]
