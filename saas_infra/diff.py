"""(desired manifests, observed fleet, now) -> Plan. A pure function: no I/O, no clock, no secrets.

Railway-owned detail (ids, timestamps, generated keys, RAILWAY_* variables) is left out of every
comparison, so the plan made right after an apply is empty. A value Railway did not return
(masked or sealed) is unknown: never drift, never rewritten; the plan warns once instead.
Secrets by reference are compared by name only: one absent from Railway is set, one present is
left alone unless the pass's `resync_secrets` asks to rewrite it (its value is nothing a plan may hold).
What Railway shows only per service (the gateway's resource limits, the Postgres volume's backup
schedule) is compared with the record the last pass left in the project's marker, at no request;
a plan made `deep` compares it with what read_deep found on Railway too.
Output order is deterministic (tenants by name, each tenant's actions in the order apply must
run them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from enum import Enum

from saas_infra.clock import format_time
from saas_infra.manifest import GatewaySpec, LoadedManifest, TenantManifest, Tombstone
from saas_infra.manifest.models import BACKUP_KINDS, FleetFile, duration_seconds
from saas_infra.marker import FailureRecord, Marker
from saas_infra.marker import Limits as RecordedLimits
from saas_infra.plan import (
    Action,
    ActionKind,
    CancelDelete,
    Create,
    Delete,
    DeleteMode,
    Finding,
    FindingKind,
    GatewayRef,
    Guard,
    HealthGate,
    Limits,
    MoveRegion,
    PassOptions,
    PlacedService,
    Plan,
    RecordFailure,
    Redeploy,
    Restore,
    Rollback,
    RolloutView,
    RolloutWave,
    ScheduleDelete,
    SetBackups,
    SetLimits,
    SetSecrets,
    Settings,
    SetVariables,
    SetVersion,
    Source,
    UpdateSettings,
    UpdateSource,
    short_sha,
)
from saas_infra.railway.observed import (
    RAILWAY_RESTORE_WINDOW,
    DeepRead,
    Observed,
    ObservedProject,
    ObservedService,
    ObservedSettings,
)
from saas_infra.rollout import (
    ChannelRollout,
    Failure,
    State,
    TenantRollout,
    derive,
    describe_failure,
    short,
)
from saas_infra.tenancy import (
    DATABASE_URL,
    DEFAULT_REGION,
    KEY_NAMES,
    POSTGRES,
    RAILWAY_PREFIX,
    REDIS,
    REDIS_URL,
    SERVICES,
    TEMPLATES,
    project_name,
    tenant_of_project_name,
)


def desired_variables(gateway: GatewaySpec) -> dict[str, str]:
    """The gateway's variables as the manifest asks for them (generated keys excepted)."""
    auth_mode = getattr(gateway.auth_mode, "value", gateway.auth_mode)
    variables = dict(gateway.variables or {})
    variables.update(
        {"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL, "AUTH_MODE": str(auth_mode)}
    )
    return dict(sorted(variables.items()))


def desired_secrets(gateway: GatewaySpec) -> dict[str, str]:
    """The gateway's secrets as the manifest names them: NAME -> the environment variable."""
    return {name: ref.from_env for name, ref in sorted((gateway.secrets or {}).items())}


def desired_source(gateway: GatewaySpec) -> Source:
    if gateway.image:
        return Source(image=gateway.image)
    return Source(repo=gateway.repo, branch=gateway.branch or "main", commit=gateway.commit)


def desired_settings(gateway: GatewaySpec, region: str | None = None) -> Settings:
    """The gateway's deploy settings as the manifest asks for them, in Railway's terms. The
    retries count only under on_failure, so they are left out under always and never. `region`
    is the manifest's (None: the replicas stay where the gateway runs)."""
    on_failure = gateway.restart.policy == "on_failure"
    return Settings(
        healthcheck_path=gateway.healthcheck.path,
        healthcheck_timeout=gateway.healthcheck.timeout,
        restart_policy=gateway.restart.policy.upper(),
        restart_max_retries=gateway.restart.max_retries if on_failure else None,
        sleep=gateway.sleep,
        replicas=gateway.replicas,
        region=region,
    )


def settings_to_write(want: Settings, have: ObservedSettings) -> Settings:
    """The fields of `want` that Railway does not have yet (the rest None), with the region
    the replicas go to: the manifest's, else where the gateway runs now, else DEFAULT_REGION.
    A region to change writes the whole placement (multiRegionConfig replaces the map)."""
    changed = {name: value for name in _SETTING_FIELDS
               if (value := getattr(want, name)) is not None and getattr(have, name) != value}
    if want.region is not None and placed_in(have) != want.region:
        changed["replicas"] = want.replicas
    if not changed:
        return Settings()
    region = (want.region or have.region or DEFAULT_REGION) if "replicas" in changed else None
    return Settings(**changed, region=region)


def placed_in(settings: ObservedSettings | None) -> str | None:
    """The region a service is placed in, as one id; several regions read as "a+b", which no
    single region equals. None: Railway shows no placement."""
    if settings is None:
        return None
    return "+".join(settings.regions) if settings.regions else settings.region


class _Keep(Enum):
    KEEP = "keep"  # a tenant's marker failure record stays as observed


_KEEP = _Keep.KEEP
_SETTING_FIELDS = ("healthcheck_path", "healthcheck_timeout", "restart_policy",
                   "restart_max_retries", "sleep", "replicas")


def desired_limits(gateway: GatewaySpec) -> Limits:
    return Limits(gateway.resources.vcpus, gateway.resources.memory_gb)


def desired_backups(manifest: TenantManifest) -> tuple[str, ...]:
    """The backup schedule kinds in the manifest's terms, in one order (daily, weekly, monthly)."""
    return tuple(kind for kind in BACKUP_KINDS if kind in manifest.postgres.backups)


def railway_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    return tuple(kind.upper() for kind in kinds)


def desired_marker(manifest: TenantManifest) -> Marker:
    deletion = manifest.deletion
    deadline = deletion.deadline if deletion and not deletion.force else None
    redeploy = format_time(manifest.redeploy.requested_at) if manifest.redeploy else None
    return Marker(tenant=manifest.name, delete_after=deadline, redeploy=redeploy)


def compute_plan(
    manifests: Sequence[LoadedManifest],
    observed: Observed,
    now: datetime,
    *,
    targets: Iterable[str] = (),
    max_deletions: int = 3,
    workspace_id: str | None = None,
    options: PassOptions = PassOptions(),
    fleet: FleetFile | None = None,
) -> Plan:
    targets = tuple(sorted(set(targets)))
    wanted = {m.manifest.name: m for m in manifests}
    managed = observed.managed()
    pending = observed.pending()
    unmarked = {tenant_of_project_name(p.name): p for p in observed.unmanaged()}
    in_scope = (lambda name: name in targets) if targets else (lambda name: True)

    actions: list[Action] = []
    findings: list[Finding] = []
    channels = derive(manifests, fleet, observed, now)
    # What each tenant's marker failure record is to become, where the pass changes it.
    records = {t.name: t.to_record for r in channels for t in r.tenants
               if t.clear_record or t.to_record}
    for name in sorted(wanted):
        if not in_scope(name):
            continue
        restorable = [  # Railway may list a project long after it stopped being restorable
            p for p in pending.get(name, [])
            if p.deleted_at is None or now < p.deleted_at + RAILWAY_RESTORE_WINDOW
        ]
        tenant_actions, tenant_findings = _tenant_plan(
            wanted[name].manifest, managed.get(name, []), restorable, now,
            unmarked.get(name), options, records.get(name, _KEEP),
        )
        actions.extend(tenant_actions)
        findings.extend(tenant_findings)
    findings.extend(_orphans(wanted, managed, in_scope))
    findings.extend(
        Finding(FindingKind.UNMANAGED, "luthien-* project without the saas-infra marker; "
                "saas-infra never changes it", project_id=p.id, project_name=p.name)
        for p in sorted(observed.unmanaged(), key=lambda p: p.name)
        if not targets or tenant_of_project_name(p.name) in targets
    )
    rollouts = [r for r in channels if r.underway]
    actions = _roll_out(actions, rollouts, observed, wanted, in_scope)
    guards = _guards(manifests, observed, actions, max_deletions)
    checked = {name: wanted[name] for name in wanted if in_scope(name)}
    halts = [r.reason for r in rollouts if r.halted and r.reason]
    return Plan(
        at=format_time(now),
        actions=tuple(actions),
        findings=tuple(findings),
        guards=tuple(guards),
        warnings=tuple(_unchecked_values(checked, managed) + _following_branches(checked)
                       + _backups_lost(actions)
                       + [f"channel {r.channel}: {r.reason}" for r in rollouts
                          if r.halted and r.reason in halts]),
        rollouts=tuple(_view(r, actions) for r in rollouts),
        fingerprints={m.manifest.name: m.fingerprint for m in manifests if in_scope(m.manifest.name)},
        targets=targets,
        workspace_id=workspace_id,
        deep=options.deep,
    )


def _roll_out(actions: list[Action], rollouts: Sequence[ChannelRollout], observed: Observed,
              wanted: Mapping[str, LoadedManifest],
              in_scope: Callable[[str], bool]) -> list[Action]:
    """A channel's new version reaches only the wave that may start now: the deploys of its
    other tenants are left out (a trigger removal stays), its starting tenants deploy with
    the rollout's health gate, and its failed tenants roll back when the rollout says so. An
    image channel's version comes by a source change (serviceConnect deploys it): held and
    gated the same way. A redeploy of a tenant the rollout has not reached redeploys what it
    runs, a held-back image tenant whose source names another image than it runs gets its
    source set back first (no deploy), and a new tenant is created on the version the others
    ran before, joining the rollout in its wave."""
    if not rollouts:
        return actions
    members = {t.name: r for r in rollouts for t in r.tenants}
    out: list[Action] = []
    deploying = set()
    for action in actions:
        rollout = members.get(action.tenant)
        change = action.change
        if rollout is not None and isinstance(change, Redeploy):
            out.append(_redeploy_unreached(action, change, rollout, observed))
            continue
        if rollout is not None and isinstance(change, UpdateSource) and (
                change.source.image == rollout.version):
            tenant = rollout.tenant(action.tenant)
            if action.tenant in rollout.starting:
                deploying.add(action.tenant)
                out.append(replace(action, reason=f"{_wave_reason(rollout, action.tenant)}: "
                                   f"{action.reason}",
                                   change=replace(change, gate=_gate(rollout, action.tenant,
                                                                     observed))))
            elif tenant is None or (rollout.reached(tenant) and not _held_back(rollout, tenant)):
                out.append(action)
            continue  # held: the new image waits for the tenant's wave (or a resume)
        if rollout is not None and isinstance(change, Create):
            out.append(_create_on_previous(action, change, rollout))
            continue
        if rollout is None or not isinstance(change, SetVersion) or not change.deploy:
            out.append(action)
            continue
        if action.tenant in rollout.starting:
            deploying.add(action.tenant)
            out.append(replace(action, reason=_wave_reason(rollout, action.tenant),
                               change=replace(change, gate=_gate(rollout, action.tenant, observed))))
        elif change.source.commit and _has_triggers(observed, action.tenant):
            out.append(replace(action, reason="pinned: a push would deploy it (GitHub deployment"
                               f" trigger); {_held_reason(rollout, action.tenant)}",
                               change=replace(change, deploy=False)))
    for rollout in rollouts:
        for name in rollout.starting:
            project = observed.tenant_project(name)
            if name in deploying or not in_scope(name) or project is None or (
                    project.gateway is None or any(a.tenant == name for a in out
                                                   if a.kind is ActionKind.CREATE)):
                continue
            out.append(Action(name, _wave_reason(rollout, name), SetVersion(
                desired_source(wanted[name].manifest.gateway), True, _gateway_ref(project),
                gate=_gate(rollout, name, observed)), project_id=project.id))
        out += _rollbacks(rollout, observed, in_scope)
        out = _source_resets(out, rollout, observed, in_scope)
    return out


def _held_back(rollout: ChannelRollout, tenant: TenantRollout) -> bool:
    """Whether the channel's new version must not reach the tenant by any deploy now: the
    rollout has not come to it (halted, or its wave not started), or it failed on the version
    and was rolled back."""
    if tenant.running == rollout.version:
        return False
    return not rollout.reached(tenant) or tenant.state is State.FAILED


def _source_resets(actions: list[Action], rollout: ChannelRollout, observed: Observed,
                   in_scope: Callable[[str], bool]) -> list[Action]:
    """An image tenant held back whose source names another image than the one it runs (a pass
    died between its rollback and the source reset that follows it, in apply) gets its source
    set back without a deploy, before its other actions: each of those that deploys takes the
    source's image."""
    out = list(actions)
    for tenant in rollout.tenants:
        project = observed.tenant_project(tenant.name)
        gateway = project.gateway if project else None
        running = tenant.running
        if (project is None or gateway is None or not in_scope(tenant.name)
                or not _held_back(rollout, tenant) or running is None or _is_commit(running)
                or gateway.repo or not gateway.image or gateway.image == running
                or any(a.tenant == tenant.name and a.kind is ActionKind.CREATE for a in out)):
            continue
        reset = Action(tenant.name, f"gateway source {gateway.image} -> {running}, the image it "
                       f"runs, without a deploy ({_held_why(rollout, tenant)}): a later deploy would "
                       "take the source's",
                       UpdateSource(Source(image=running), _gateway_ref(project), deploy=False),
                       project_id=project.id)
        at = next((i for i, a in enumerate(out) if a.tenant == tenant.name), len(out))
        out.insert(at, reset)
    return out


def _held_why(rollout: ChannelRollout, tenant: TenantRollout) -> str:
    if tenant.state is State.FAILED:
        return f"{short(rollout.version)} {describe_failure(tenant)}"
    if rollout.halted:
        return f"the rollout of channel {rollout.channel} to {short(rollout.version)} is halted"
    return _held_reason(rollout, tenant.name)


def _redeploy_unreached(action: Action, change: Redeploy, rollout: ChannelRollout,
                        observed: Observed) -> Action:
    """A redeploy is no way past the rollout: a tenant it has not reached (its wave has not
    started, or the rollout is halted) redeploys the version it runs (unknown: the one the
    others ran before), never the channel's new version. An image is redeployed from the
    gateway's source (latestCommit), so a source that names another image (the tenant was
    rolled back) is set back to the running one, which deploys it."""
    tenant = rollout.tenant(action.tenant)
    if tenant is None or rollout.reached(tenant):
        return action
    version = tenant.running or rollout.previous_version
    if version is None:
        return action
    why = (f"the rollout of channel {rollout.channel} to {short(rollout.version)} is halted"
           if rollout.halted else _held_reason(rollout, tenant.name))
    head = action.reason.partition(" (")[0]
    if _is_commit(version):
        return replace(action, reason=f"{head} (of the commit it runs, {short(version)}: {why})",
                       change=replace(change, commit=version))
    project = observed.tenant_project(action.tenant)
    source = project.gateway.image if project and project.gateway else None
    return replace(action, reason=f"{head} (of the image it runs, {short(version)}: {why})",
                   change=replace(change, image=None if source == version else version))


def _create_on_previous(action: Action, change: Create, rollout: ChannelRollout) -> Action:
    """A new tenant of a channel whose rollout is under way or halted starts on the version
    the channel's tenants ran before it, ungated as a known version; the rollout then takes it
    to the new one in its wave. Without a rollout section, or with nothing else known, it is
    created on the channel's version."""
    tenant = rollout.tenant(action.tenant)
    previous = rollout.previous_version
    if rollout.spec is None or tenant is None or tenant.state is not State.OLD or (
            previous is None):
        return action
    source = change.source
    if _is_commit(previous) and source.repo:
        source = replace(source, commit=previous)
    elif not _is_commit(previous) and source.image:
        source = replace(source, image=previous)
    else:  # the channel changed kinds (commit and image): nothing to start it on but its own
        return action
    state = "halted" if rollout.halted else "in progress"
    return replace(action, change=replace(change, source=source), reason=(
        f"{action.reason}; created on {short(previous)}, the version channel {rollout.channel}'s "
        f"tenants ran before its rollout to {short(rollout.version)} ({state}); the rollout "
        f"deploys {short(rollout.version)} in its wave {tenant.wave + 1}"))


def _is_commit(version: str) -> bool:
    return len(version) == 40 and "/" not in version


def _wave_reason(rollout: ChannelRollout, tenant: str) -> str:
    wave = next(w.index for w in rollout.waves for t in w.tenants if t.name == tenant)
    return (f"channel {rollout.channel} -> {short(rollout.version)}: wave {wave + 1} of "
            f"{len(rollout.waves)}")


def _held_reason(rollout: ChannelRollout, tenant: str) -> str:
    found = rollout.tenant(tenant)
    wave = found.wave + 1 if found else "?"
    return f"its deploy of {short(rollout.version)} waits for wave {wave}"


def _has_triggers(observed: Observed, tenant: str) -> bool:
    project = observed.tenant_project(tenant)
    return bool(project and project.gateway and project.gateway.triggers)


def _gate(rollout: ChannelRollout, tenant: str, observed: Observed) -> HealthGate | None:
    spec = rollout.spec
    if spec is None:
        return None
    project = observed.tenant_project(tenant)
    wave = next((t.wave for t in rollout.tenants if t.name == tenant), 0)
    return HealthGate(rollout.channel, rollout.version, spec.health.path,
                      duration_seconds(spec.health.timeout), project.url if project else None,
                      rollback=spec.on_failure == "rollback", wave=wave + 1)


def _rollbacks(rollout: ChannelRollout, observed: Observed,
               in_scope: Callable[[str], bool]) -> list[Action]:
    """A failed tenant that still runs the failed version goes back (on_failure: rollback):
    crashed, or unhealthy or timed out by its marker's record (a pass that died between the
    record and the rollback, or held). One whose build failed keeps running its old deployment:
    nothing to go back to."""
    if rollout.on_failure != "rollback":
        return []
    actions = []
    for tenant in rollout.failed:
        project = observed.tenant_project(tenant.name)
        if (not in_scope(tenant.name) or project is None or project.gateway is None
                or tenant.rolled_back or tenant.failure in (None, Failure.BUILD_FAILED)):
            continue
        actions.append(Action(tenant.name, f"channel {rollout.channel}: "
                              f"{short(rollout.version)} {describe_failure(tenant)}; rolling "
                              "back to its last good deployment",
                              Rollback(rollout.version, _gateway_ref(project)),
                              project_id=project.id))
    return actions


def _view(rollout: ChannelRollout, actions: Sequence[Action]) -> RolloutView:
    starting = {a.tenant for a in actions
                if isinstance(a.change, SetVersion | UpdateSource) and a.change.gate is not None
                or (a.tenant in rollout.starting and a.kind is ActionKind.SET_VERSION)}
    waves = tuple(RolloutWave(
        wave.index + 1,
        **{state.value: tuple(n for n in wave.names(state) if n not in starting)
           for state in State},
        starting=tuple(n for n in wave.names(State.OLD) if n in starting))
        for wave in rollout.waves)
    left = rollout.soak_remaining
    seconds = None if left is None else math.ceil(left.total_seconds())
    return RolloutView(rollout.channel, rollout.version, waves,
                       advance=rollout.spec.advance if rollout.spec else "all",
                       halted=rollout.halted, reason=rollout.reason,
                       soak_remaining_seconds=seconds,
                       resume_command=rollout.resume_command if rollout.halted else None)


def _tenant_plan(manifest: TenantManifest, live: list[ObservedProject],
                 pending: list[ObservedProject], now: datetime,
                 unmarked: ObservedProject | None = None,
                 options: PassOptions = PassOptions(),
                 failure: FailureRecord | _Keep | None = _KEEP
                 ) -> tuple[list[Action], list[Finding]]:
    name = manifest.name
    if len(live) > 1:
        ids = ", ".join(p.id for p in live)
        return [], [
            Finding(FindingKind.DUPLICATE, f"{len(live)} managed projects for one tenant: {ids}",
                    tenant=name, project_id=p.id, project_name=p.name)
            for p in live
        ] + [Finding(FindingKind.BLOCKED, "duplicate projects; delete the extra one on Railway "
                     "(keep the one with the data), then run again", tenant=name)]
    project = live[0] if live else None
    deletion = manifest.deletion
    # A deadline nobody could see coming is announced first (written to Railway, shown by
    # `list`), and deleted only by a later pass: a tombstone written with a date long past
    # must not delete at once.
    announced = project is None or (
        deletion is not None and _marker_of(project).delete_after == _deadline(deletion))
    if deletion and (deletion.force or (now >= deletion.deadline and announced)):
        # Forced means now: that also ends Railway's 48-hour hold on a project it is deleting.
        target = project or (pending[0] if deletion.force and pending else None)
        return _deletion(name, target, deletion, now), []
    marker = desired_marker(manifest)
    if project is None:
        if pending:  # checked first: a deadline still ahead must not lose the project in 48 h
            restorable = pending[0]
            why = "the manifest's deadline is still ahead" if deletion else "the manifest has no tombstone"
            restore = Action(name, "Railway holds the project in its scheduled "
                             f"delete but {why}; cancelling that delete", Restore(),
                             project_id=restorable.id)
            # Once restored it is a live project: its marker still carries the old deadline.
            return [restore, *_update(manifest, restorable, marker, options, failure)], []
        if deletion:  # never created (or removed by hand), and going anyway: nothing to create
            return [], []
        if unmarked is not None:  # creating would make a second luthien-<name> beside it
            return [], [Finding(
                FindingKind.BLOCKED, f"project {unmarked.id} named {unmarked.name} exists on "
                "Railway without the saas-infra marker (edited by hand?); restore the marker "
                f"`[saas-infra tenant={name}]` in its description, or remove or rename it",
                tenant=name, project_id=unmarked.id, project_name=unmarked.name)]
        return [_create(manifest, None, marker)], []
    return _update(manifest, project, marker, options, failure), []


def _marker_of(project: ObservedProject) -> Marker:
    """A managed project's marker (every managed project has one)."""
    return project.marker or Marker(project.tenant or "")


def _deadline(deletion: Tombstone) -> datetime | None:
    return None if deletion.force else deletion.deadline


def _deletion(name: str, project: ObservedProject | None, deletion: Tombstone,
              now: datetime) -> list[Action]:
    if project is None:
        return []
    if deletion.force:
        reason = "tombstone with force: deleting now"
        mode = DeleteMode.NOW
    else:
        overdue = now - deletion.deadline
        reason = f"deletion deadline {format_time(deletion.deadline)} passed ({_ago(overdue)})"
        mode = DeleteMode.SCHEDULED
    return [Action(name, reason, Delete(mode, project.name), project_id=project.id)]


def _create(manifest: TenantManifest, project: ObservedProject | None, marker: Marker) -> Action:
    gateway = project.gateway if project else None
    missing = []
    if project is None:
        missing.append("project")
    services = project.services if project else {}
    missing += [s for s in SERVICES if s not in services]
    if gateway is not None and not set(KEY_NAMES) <= gateway.key_names:
        missing.append("keys")
    if gateway is None or not gateway.domain:
        missing.append("domain")
    reason = ("new tenant: no project on Railway" if project is None
              else "finishing an interrupted create: missing " + ", ".join(missing))
    secrets = desired_secrets(manifest.gateway) if gateway is None else {}
    if secrets:
        reason += f"; gateway secrets {_from_env(secrets, secrets)}"
    # A service made by this create gets its per-service settings here (a new gateway's limits
    # before its first deploy); the marker records them only once they are written.
    known = project.marker if project and project.marker else Marker(manifest.name)
    limits = desired_limits(manifest.gateway) if gateway is None else None
    backups = desired_backups(manifest) if POSTGRES not in services else None
    marker = replace(marker, limits=known.limits, backups=known.backups)
    recorded = replace(marker, limits=limits.as_tuple() if limits else marker.limits,
                       backups=backups if backups is not None else marker.backups)
    change = Create(
        project_name=project_name(manifest.name),
        description=marker.render(),
        limits=limits,
        backups=railway_kinds(backups) if backups is not None else None,
        recorded=recorded.render() if recorded != marker else None,
        source=desired_source(manifest.gateway),
        variables=desired_variables(manifest.gateway),
        missing=tuple(missing),
        settings=(settings_to_write(desired_settings(manifest.gateway, manifest.region),
                                    ObservedSettings())
                  if gateway is None else Settings()),
        # Only a gateway created by this action gets them here; an existing one by set-secrets.
        secrets=secrets,
        region=manifest.region,
    )
    return Action(manifest.name, reason, change, project_id=project.id if project else None)


def _update(manifest: TenantManifest, project: ObservedProject, marker: Marker,
            options: PassOptions = PassOptions(),
            failure: FailureRecord | _Keep | None = _KEEP) -> list[Action]:
    name = manifest.name
    actions: list[Action] = []
    # The rollout failure record goes into every marker this pass writes: as observed, unless
    # the rollout says to record one or to clear it.
    recorded_failure = _marker_of(project).failed
    marker = replace(marker, failed=recorded_failure if failure is _KEEP else failure)
    gateway = project.gateway
    if (
        POSTGRES not in project.services
        or REDIS not in project.services
        or gateway is None
        or not gateway.domain
        or not set(KEY_NAMES) <= gateway.key_names
    ):
        actions.append(_create(manifest, project, marker))
    creating = bool(actions)
    actions += _region_moves(manifest, project, confirmed=options.allow_region_move)
    sizing, marker = _sizing_changes(manifest, project, marker,
                                     actions[0].change if creating else None)
    pin = manifest.gateway.commit
    redeploying = bool(manifest.redeploy) and _marker_of(project).redeploy != marker.redeploy
    if gateway is not None:
        changes = _gateway_changes(manifest, project, gateway, options,
                                   pin_deployed_later=redeploying and not creating)
        # After the settings (so their redeploy can wait for the limits') and before the rest:
        # every later marker write then carries the new record.
        settings = [a for a in changes if a.kind is ActionKind.UPDATE_SETTINGS]
        actions += settings + sizing + [a for a in changes if a not in settings]
    else:
        actions += sizing
    # The create sets the pin up itself, as it does for a new gateway, unless the gateway is
    # empty (a create died before its connect): set-version pins it after its source change.
    empty = gateway is not None and not (gateway.repo or gateway.image)
    if creating and pin and not empty:
        actions = [a for a in actions if a.kind is not ActionKind.SET_VERSION]
    observed_marker = _marker_of(project)
    if redeploying and not creating:
        actions.append(Action(name, f"redeploy requested at {marker.redeploy}"
                              + (f" (of the pinned commit {short_sha(pin)})" if pin else ""),
                              Redeploy(marker.render(), _gateway_ref(project), commit=pin),
                              project_id=project.id))
    if marker.delete_after and observed_marker.delete_after != marker.delete_after:
        deadline = format_time(marker.delete_after)
        actions.append(Action(name, f"deletion scheduled for {deadline}; the tenant keeps "
                              "running until then", ScheduleDelete(marker.render(), deadline),
                              project_id=project.id))
    elif not marker.delete_after and observed_marker.delete_after:
        actions.append(Action(name, "tombstone removed from the manifest",
                              CancelDelete(marker.render()), project_id=project.id))
    if marker.failed != recorded_failure:
        actions.append(Action(name, _record_reason(recorded_failure, marker.failed),
                              RecordFailure(marker.render()), project_id=project.id))
    return actions


def _record_reason(old: FailureRecord | None, new: FailureRecord | None) -> str:
    if new is None:
        shown = old.render() if old else ""
        return (f"the marker's rollout failure record ({shown}) no longer halts: the tenant "
                "runs its channel's version healthily")
    return (f"recording the rollout failure the deployment history shows ({new.render()}) in "
            "the marker, so the halt outlasts that history")


def _region_moves(manifest: TenantManifest, project: ObservedProject, *,
                  confirmed: bool) -> list[Action]:
    """The databases placed elsewhere than the manifest's region. Each holds a volume, so a move
    migrates its data: the action says so, and apply runs it only when `confirmed`. A database
    placed there already but still running elsewhere (a pass died before its redeploy) is only
    redeployed; where Railway shows neither, it is placed."""
    region = manifest.region
    if region is None:
        return []
    moves = []
    for name, _code in TEMPLATES:
        service = project.services.get(name)
        if service is None:  # the create places a missing one
            continue
        placed, running = placed_in(service.settings), placed_in(service.deployed)
        if (placed or running) == region and running in (region, None):
            continue  # placed there (or, with no placement set, running there)
        moves.append(PlacedService(name, service.id, running or placed, write=placed != region))
    if not moves:
        return []
    shown = ", ".join(f"{m.name} {m.region or 'unknown region'}" for m in moves)
    reason = (f"databases in another region than the manifest's {region}: {shown}; moving them "
              "moves their data (Railway migrates each volume, and the tenant is offline until "
              "it is done)")
    if not confirmed:
        reason += "; apply runs it only with --allow-region-move"
    return [Action(manifest.name, reason,
                   MoveRegion(region, tuple(moves), project.environment_id, confirmed),
                   project_id=project.id)]


def _sizing_changes(manifest: TenantManifest, project: ObservedProject, marker: Marker,
                    create: object) -> tuple[list[Action], Marker]:
    """set-limits and set-backups for the services that exist (a create does those it makes),
    and the desired marker carrying the record as it will be once they ran."""
    observed = _marker_of(project)
    made = create if isinstance(create, Create) else None
    limits, backups = observed.limits, observed.backups
    if made and made.limits is not None:
        limits = made.limits.as_tuple()
    if made and made.backups is not None:
        backups = desired_backups(manifest)
    # What the marker says when these run: as the create leaves it, else as observed.
    base = (replace(marker, limits=limits, backups=backups) if made
            else replace(observed, failed=marker.failed))
    actions = []
    gateway, deep = project.gateway, project.deep
    want = desired_limits(manifest.gateway)
    if gateway is not None and (made is None or made.limits is None):
        why = _limits_drift(want, observed.limits, deep)
        if why:
            limits = want.as_tuple()
            note = replace(base, limits=limits)
            deploy = observed.limits is not None or want.as_tuple() != (None, None)
            actions.append(Action(manifest.name, why, SetLimits(
                want, note.render(), _gateway_ref(project), deploy=deploy),
                project_id=project.id))
    postgres = project.services.get(POSTGRES)
    kinds = desired_backups(manifest)
    if postgres is not None and (made is None or made.backups is None):
        why = _backups_drift(kinds, observed.backups, deep)
        if why:
            backups = kinds
            note = replace(base, limits=limits, backups=kinds)
            actions.append(Action(manifest.name, why, SetBackups(
                railway_kinds(kinds), note.render(), postgres.id, project.environment_id,
                project.postgres_volume), project_id=project.id))
    return actions, replace(marker, limits=limits, backups=backups)


def _limits_drift(want: Limits, recorded: RecordedLimits | None,
                  deep: DeepRead | None) -> str | None:
    """Why the gateway's limits must be written, or None. Deep: Railway reports a limit not set
    as the plan's maximum, so only the limits the manifest sets can be checked for real."""
    shown = want.describe()
    if recorded is None:
        return f"gateway resource limits not recorded on Railway yet: setting {shown}"
    if recorded != want.as_tuple():
        return (f"gateway resource limits {Limits(*recorded).describe()} -> {shown}")
    if deep is not None:
        real = (deep.vcpus, deep.memory_gb)
        if any(w is not None and r != w for w, r in zip(want.as_tuple(), real, strict=True)):
            return (f"gateway resource limits on Railway are {Limits(*real).describe()} "
                    f"(changed on Railway), the manifest says {shown}")
    return None


def _backups_drift(want: tuple[str, ...], recorded: tuple[str, ...] | None,
                   deep: DeepRead | None) -> str | None:
    shown = _kinds(want)
    if recorded is None:
        return f"Postgres backup schedule not recorded on Railway yet: setting {shown}"
    if tuple(sorted(recorded)) != tuple(sorted(want)):
        return f"Postgres backup schedule {_kinds(recorded)} -> {shown}"
    if deep is not None and deep.backups is not None:
        real = tuple(k.lower() for k in deep.backups)
        if sorted(real) != sorted(want):
            return (f"Postgres backup schedule on Railway is {_kinds(real)} (changed on "
                    f"Railway), the manifest says {shown}")
    return None


def _kinds(kinds: Iterable[str]) -> str:
    return ", ".join(kinds) or "none"


def _gateway_ref(project: ObservedProject) -> GatewayRef:
    assert project.gateway is not None  # only gateway changes are planned with one
    return GatewayRef(project.environment_id, project.gateway.id, project.gateway.triggers)


def _gateway_changes(manifest: TenantManifest, project: ObservedProject,
                     gateway: ObservedService, options: PassOptions = PassOptions(), *,
                     pin_deployed_later: bool = False) -> list[Action]:
    actions = _settings_changes(manifest, project, gateway)  # first: a later deploy carries them
    actions += _secret_changes(manifest, project, gateway, options.resync_secrets)
    want = desired_variables(manifest.gateway)
    # A value Railway did not return is left alone: comparing it would rewrite every one.
    to_set = {k: v for k, v in want.items()
              if k not in gateway.unknown and gateway.variables.get(k) != v}
    # Railway's own RAILWAY_* and the generated keys are never drift, whoever built `gateway`.
    to_unset = sorted(
        k for k in gateway.variables
        if k not in want and k not in KEY_NAMES and not k.startswith(RAILWAY_PREFIX)
    )
    if to_set or to_unset:
        changed = sorted(to_set) + [f"-{k}" for k in to_unset]
        actions.append(Action(manifest.name,
                              "gateway variables differ from the manifest: " + ", ".join(changed),
                              SetVariables(to_set, tuple(to_unset), _gateway_ref(project)),
                              project_id=project.id))
    source = desired_source(manifest.gateway)
    if not _same_source(source, gateway):
        actual = Source(gateway.repo, gateway.branch, gateway.image).describe()
        actions.append(Action(manifest.name, f"gateway source {actual} -> {source.describe()}",
                              UpdateSource(source, _gateway_ref(project)),
                              project_id=project.id))
    version = _version_change(manifest, project, gateway, source_changes=bool(
        actions and actions[-1].kind is ActionKind.UPDATE_SOURCE),
        pin_deployed_later=pin_deployed_later)
    return actions + ([version] if version else [])


def _version_change(manifest: TenantManifest, project: ObservedProject, gateway: ObservedService,
                    *, source_changes: bool, pin_deployed_later: bool) -> Action | None:
    """A pinned gateway runs its pin and nothing deploys it on a push; a branch-following one
    has the trigger that deploys every push. A source change (serviceConnect) deploys the
    source and brings a trigger back, so a pin is set up again after it."""
    spec = manifest.gateway
    source = desired_source(spec)
    ref = _gateway_ref(project)
    deployment = gateway.deployment
    if spec.image:  # an image has no trigger; it runs another image only after a rollback
        running = deployment.image if deployment else None
        if source_changes or running is None or running == spec.image or pin_deployed_later:
            return None
        return Action(manifest.name, f"pinned: the gateway runs {running}, the manifest pins "
                      f"{spec.image}", SetVersion(source, True, ref), project_id=project.id)
    branch = source.branch or "main"
    if spec.commit:
        commit = gateway.running_commit
        deploy = (source_changes or commit != spec.commit) and not pin_deployed_later
        if not deploy and not gateway.triggers and not source_changes:
            return None
        why = []
        if deploy:
            why.append(f"the gateway runs {short_sha(commit) if commit else 'an unknown commit'}"
                       f", the manifest pins {short_sha(spec.commit)}")
        if gateway.triggers or source_changes:
            why.append(f"a push to {branch} would deploy it (GitHub deployment trigger)")
        return Action(manifest.name, "pinned: " + "; ".join(why),
                      SetVersion(source, deploy, ref), project_id=project.id)
    if gateway.triggers is None or gateway.triggers or source_changes:
        return None  # not listed is unknown, never missing
    return Action(manifest.name, f"follows {branch} but has no GitHub deployment trigger (pinned "
                  "before, or removed on Railway): deploying the branch's newest commit, then "
                  "the trigger", SetVersion(source, True, ref), project_id=project.id)


def _secret_changes(manifest: TenantManifest, project: ObservedProject,
                    gateway: ObservedService, resync: bool) -> list[Action]:
    """Absent secrets set; present ones left alone (Railway may not even show their values, and
    a plan holds none to compare with) unless `resync` rewrites them all."""
    want = desired_secrets(manifest.gateway)
    to_set = want if resync else {k: v for k, v in want.items() if k not in gateway.secret_names}
    if not to_set:
        return []
    absent = [k for k in to_set if k not in gateway.secret_names]
    present = [k for k in to_set if k in gateway.secret_names]
    parts = [f"absent on Railway: {_from_env(absent, want)}"] if absent else []
    parts += [f"rewritten (--resync-secrets): {_from_env(present, want)}"] if present else []
    return [Action(manifest.name, "gateway secrets " + "; ".join(parts),
                   SetSecrets(to_set, _gateway_ref(project), resync=bool(present)),
                   project_id=project.id)]


def _from_env(names: Iterable[str], secrets: Mapping[str, str]) -> str:
    """`NAME from VAR, ...`: what a plan may say of secrets (never a value)."""
    return ", ".join(f"{name} from {secrets[name]}" for name in names)


def _settings_changes(manifest: TenantManifest, project: ObservedProject,
                      gateway: ObservedService) -> list[Action]:
    """Settings that differ from the manifest are written and redeployed. Settings already
    written but not in the latest deployment (a pass died between the write and its redeploy)
    are only redeployed."""
    have = gateway.settings
    if have is None:
        return []
    if have.region is None and gateway.deployed is not None:  # no placement set: where it runs
        have = replace(have, region=gateway.deployed.region)
    change = settings_to_write(desired_settings(manifest.gateway, manifest.region), have)
    if not change.empty:
        shown = [f"{name} {_shown(getattr(have, name))} -> {_shown(getattr(change, name))}"
                 for name in _SETTING_FIELDS if getattr(change, name) is not None
                 and getattr(change, name) != getattr(have, name)]
        if manifest.region is not None and placed_in(have) != manifest.region:
            shown.append(f"region {placed_in(have) or 'unset'} -> {manifest.region}")
        reason = f"gateway settings differ from the manifest: {', '.join(shown)}"
    elif gateway.deployed is not None and _undeployed(have, gateway.deployed):
        reason = ("gateway settings are set on Railway but not deployed yet: redeploying the "
                  "running version")
    else:
        return []
    return [Action(manifest.name, reason, UpdateSettings(change, _gateway_ref(project)),
                   project_id=project.id)]


def _undeployed(have: ObservedSettings, deployed: ObservedSettings) -> bool:
    # Unknown on either side is never a reason to redeploy.
    moved = bool(have.regions and deployed.regions) and have.regions != deployed.regions
    return moved or any(getattr(have, name) != getattr(deployed, name) for name in _SETTING_FIELDS)


def _shown(value: object) -> str:
    return "unset" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _same_source(source: Source, gateway: ObservedService) -> bool:
    if source.image:
        return gateway.image == source.image and not gateway.repo
    same_branch = gateway.branch is None or gateway.branch == source.branch
    return gateway.repo == source.repo and same_branch and not gateway.image


# What reading masked values takes. railwayapp/cli src/commands/postgres/mod.rs: the caller's
# access gates decryption; railwayapp/docs: project viewers cannot see variables
# (projects/project-members.md), nor anyone but admins in a restricted environment
# (enterprise/environment-rbac.md).
VALUES_ACCESS = ("a token whose owner may see the tenants' variables: not a project viewer, "
                 "and a workspace admin where the production environment is restricted")


def _unchecked_values(wanted: Mapping[str, LoadedManifest],
                      managed: Mapping[str, list[ObservedProject]]) -> list[str]:
    """One warning for every value the plan could not compare: the tenants whose values
    Railway masked, and sealed variables the manifests set (sealed keys need no check)."""
    masked, sealed = [], []
    for name in sorted(wanted):
        live = managed.get(name, [])
        gateway = live[0].gateway if len(live) == 1 else None
        if gateway is None:
            continue
        if gateway.masked:
            masked.append(name)
            continue
        unknown = sorted(gateway.unknown & set(desired_variables(wanted[name].manifest.gateway)))
        sealed += [f"{name}: {variable}" for variable in unknown]
    parts = []
    if masked:
        parts.append(f"Railway masked the variable values of {_some(masked, 'tenant')}, so "
                     "their variables were not checked for drift (their keys exist by name and "
                     f"are left alone); checking them needs {VALUES_ACCESS}.")
    if sealed:
        parts.append(f"Railway did not return {_some(sealed, 'variable value')} that the "
                     "manifests set (it never returns a sealed value), so they were not checked "
                     "for drift and are left as they are.")
    return [" ".join(parts)] if parts else []


def _following_branches(wanted: Mapping[str, LoadedManifest]) -> list[str]:
    """One warning naming every tenant that follows a branch: every push to their branch deploys
    them, untested and all at once. A tenant whose deletion is scheduled is left out: it is
    going, and moving it to a channel or a pin would be wasted work."""
    following = [f"{name} on {gateway.branch or 'main'}" for name in sorted(wanted)
                 if not (gateway := wanted[name].manifest.gateway).pinned
                 and wanted[name].manifest.deletion is None]
    if not following:
        return []
    one = len(following) == 1
    return [f"{_some(following, 'tenant', shown=len(following))} "
            f"follow{'s' if one else ''} a branch: every push to "
            f"{'its branch deploys it' if one else 'their branch deploys them'} at once, "
            "untested; to release deliberately, follow a "
            "release channel of fleet.yaml (channel: NAME) or pin a version (gateway.commit: a "
            "full commit SHA)."]


# railwayapp/docs (c2a634f1): content/docs/projects.md ("Deleting a project will delete all
# services, environments, and deployments"), content/docs/volumes/backups.md ("Wiping a volume
# deletes all backups"), content/guides/postgres-backups-restores.md ("Backups protect against
# data mistakes, not against deleting the volume itself").
BACKUPS_GO_WITH_THE_PROJECT = (
    "Railway deletes the Postgres volume's backups with the project: none of them can restore "
    "the data afterwards (take a logical dump, e.g. pg_dump, first if it may be needed)")


def _backups_lost(actions: list[Action]) -> list[str]:
    """One warning for the tenants a forced delete removes at once, with their backups."""
    now = [a.tenant for a in actions
           if isinstance(a.change, Delete) and a.change.mode is DeleteMode.NOW]
    if not now:
        return []
    return [f"{_some(now, 'tenant')} deleted now (forced): {BACKUPS_GO_WITH_THE_PROJECT}."]


def _some(names: list[str], noun: str, shown: int = 5) -> str:
    count = f"{len(names)} {noun}" + ("" if len(names) == 1 else "s")
    more = f", and {len(names) - shown} more" if len(names) > shown else ""
    return f"{count} ({', '.join(names[:shown])}{more})"


def _orphans(wanted: Mapping[str, LoadedManifest], managed: Mapping[str, list[ObservedProject]],
             in_scope: Callable[[str], bool]) -> list[Finding]:
    return [
        Finding(FindingKind.ORPHAN, "managed project with no manifest; never deleted by absence "
                "(`saas-infra adopt` writes a manifest for it)",
                tenant=name, project_id=p.id, project_name=p.name)
        for name in sorted(managed)
        if name not in wanted and in_scope(name)
        for p in managed[name]
    ]


def _guards(manifests: Sequence[LoadedManifest], observed: Observed, actions: list[Action],
            max_deletions: int) -> list[Guard]:
    guards = []
    if not manifests and observed.managed():
        guards.append(Guard("empty-desired-state",
                            f"no tenant manifests, but Railway holds {len(observed.managed())} "
                            "managed tenants; refusing to act on an empty or missing tenants/ folder"))
    if not observed.complete:
        guards.append(Guard("incomplete-listing",
                            f"the Railway listing is incomplete ({observed.problem}); "
                            "refusing to act on a partial picture"))
    deletions = [a for a in actions if a.kind is ActionKind.DELETE]
    if len(deletions) > max_deletions:
        guards.append(Guard("max-deletions",
                            f"{len(deletions)} deletions in one pass exceed --max-deletions "
                            f"{max_deletions}: {', '.join(a.tenant for a in deletions)}"))
    return guards


def _ago(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d {hours % 24}h ago" if hours >= 24 else f"{hours}h ago"
