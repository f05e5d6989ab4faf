"""One reconcile pass, end to end: load manifests, observe Railway, plan, guard, apply, re-plan.

This is the seam the command line and the demo UI share, so that both go through the same path.
It decides nothing about presentation and never prints; progress goes to a callback.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from saas_infra import lock as fleet_lock
from saas_infra import manifest as manifests_mod
from saas_infra.apply import Applier, ProgressFn, TenantOutcome
from saas_infra.clock import Clock
from saas_infra.diff import compute_plan
from saas_infra.errors import (
    ConfigError,
    GuardError,
    LockLostError,
    ManifestError,
    ManifestProblem,
    NotConvergedError,
    RailwayError,
    StalePlanError,
)
from saas_infra.manifest import (
    KnownRegion,
    LoadedFleet,
    LoadedManifest,
    canary_warnings,
    fleet_region_problems,
    region_problems,
)
from saas_infra.manifest.models import FleetFile
from saas_infra.marker import parse_marker
from saas_infra.plan import (
    Action,
    ActionKind,
    Change,
    Create,
    Finding,
    FindingKind,
    Guard,
    MoveRegion,
    PassOptions,
    Plan,
    RecordFailure,
    RolloutView,
    SetSecrets,
)
from saas_infra.railway import operations as ops
from saas_infra.railway.observed import Observed, ObservedProject, observe, read_deep
from saas_infra.railway.workspaces import WorkspaceChoice, resolve_workspace
from saas_infra.rollout import ChannelRollout, derive
from saas_infra.tenancy import IN_PROGRESS, tenant_of_project_name


@dataclass
class Fleet:
    """What a pass needs: where the manifests are, a Railway client, a clock, the workspace."""

    client: ops.Executor
    clock: Clock
    tenants_dir: Path
    fleet_file: Path | None = None  # None: fleet.yaml beside tenants_dir, if any
    workspace_id: str | None = None
    concurrency: int = 8
    max_deletions: int = 3
    poll_interval: float = 2.0
    lock_timeout: float = fleet_lock.DEFAULT_TIMEOUT  # seconds apply_pass waits for the fleet lock
    lock_notify: Callable[[str], None] | None = None  # the lock's messages (waiting, taken over)
    warn: Callable[[str], None] | None = None  # tenants/ entries skipped, and why
    chosen: WorkspaceChoice | None = field(default=None, repr=False)  # set by workspace()
    # The pass's environment: apply reads the manifests' secrets (from_env) from it, nothing else.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Railway's regions, read once by the first plan that needs them (a manifest sets a region).
    known_regions: dict[str, KnownRegion] | None = field(default=None, repr=False)
    # Makes the HTTP client a rollout's health gate probes gateways with (runtime.health_client);
    # None: the gate is the deployment's status alone.
    health: Callable[[], Any] | None = field(default=None, repr=False)

    def workspace(self) -> str:
        """The workspace's id, resolved once (railway/workspaces.py): a configured one is first
        confirmed with Railway, so a wrong RAILWAY_WORKSPACE_ID is named as such."""
        if self.chosen is None:
            self.chosen = resolve_workspace(self.client, self.workspace_id)
            self.workspace_id = self.chosen.id
        return self.chosen.id

    def load(self) -> list[LoadedManifest]:
        if not self.tenants_dir.is_dir():
            return []
        return manifests_mod.load_tenants(self.tenants_dir, self.warn, self.fleet_file)

    def read(self) -> tuple[list[LoadedManifest], list[ManifestProblem]]:
        """(valid manifests, problems of the others): for views that work while one is broken."""
        if not self.tenants_dir.is_dir():
            return [], []
        return manifests_mod.read_tenants(self.tenants_dir, self.warn, self.fleet_file)

    def observe(self) -> Observed:
        return observe(self.client, self.workspace())

    def fleet_model(self) -> FleetFile | None:
        """The fleet file's model (channels, rollout), or None without one. Its problems are
        the manifests' to report (load/read), so they are not raised here."""
        loaded = self.loaded_fleet()
        return loaded.fleet if loaded else None

    def loaded_fleet(self) -> LoadedFleet | None:
        """The fleet file with its lines (for problems at file:line), or None without one."""
        if not self.tenants_dir.is_dir():
            return None
        loaded, _ = manifests_mod.read_fleet(self.tenants_dir, self.fleet_file)
        return loaded

    def rollouts(self, manifests: list[LoadedManifest], observed: Observed,
                 at: datetime | None = None) -> list[ChannelRollout]:
        """Every channel's rollout as git and Railway say it stands (rollout.py)."""
        return derive(manifests, self.fleet_model(), observed, at or self.clock.now())

    def plan(self, *, targets: Iterable[str] = (), at: datetime | None = None,
             options: PassOptions = PassOptions()) -> Plan:
        return self.plan_from(self.load(), self.observe(), targets=targets, at=at,
                              options=options)

    def check_regions(self, manifests: list[LoadedManifest]) -> None:
        """Refuse the pass, before anything is sent, when a manifest or the fleet file (its
        defaults, a tier) names a region Railway does not offer (unknown, or deprecated).
        Railway's list is read only when some region is set, once per Fleet: one request per
        pass."""
        loaded = self.loaded_fleet()
        written = loaded is not None and (loaded.fleet.defaults.region is not None or any(
            tier.region is not None for tier in loaded.fleet.tiers.values()))
        if not written and not any(m.manifest.region for m in manifests):
            return
        if self.known_regions is None:
            self.known_regions = {
                r.name: KnownRegion(r.name, r.location, r.deprecated, r.replacement)
                for r in ops.deploy_regions(self.client)
            }
        problems = region_problems(manifests, self.known_regions)
        problems += fleet_region_problems(loaded, self.known_regions, problems)
        if problems:
            raise ManifestError(problems)

    def plan_from(self, manifests: list[LoadedManifest], observed: Observed, *,
                  targets: Iterable[str] = (), at: datetime | None = None,
                  options: PassOptions = PassOptions()) -> Plan:
        check_targets(targets, manifests, observed)
        self.check_regions(manifests)
        if options.deep:
            observed = self.look_deeper(observed, manifests, targets)
        plan = compute_plan(
            manifests,
            observed,
            at or self.clock.now(),
            targets=targets,
            max_deletions=self.max_deletions,
            workspace_id=self.workspace(),
            options=options,
            fleet=self.fleet_model(),
        )
        missing = missing_secret_sources(plan, self.env)
        canaries = [str(p) for p in canary_warnings(manifests, self.loaded_fleet())]
        extra = (*canaries, *([missing] if missing else []))
        return replace(plan, warnings=(*plan.warnings, *extra)) if extra else plan

    def look_deeper(self, observed: Observed, manifests: list[LoadedManifest],
                    targets: Iterable[str] = ()) -> Observed:
        """`--deep`: the per-service settings of every tenant in scope that has one live project,
        read on Railway (read_deep: 2 calls a tenant), instead of the marker's record alone."""
        scope = set(targets) or {m.manifest.name for m in manifests}
        live = {name: projects[0] for name, projects in observed.managed().items()
                if len(projects) == 1 and name in scope}
        deeper = {p.id: read_deep(self.client, p) for p in live.values()}
        return replace(observed, projects=tuple(deeper.get(p.id, p) for p in observed.projects))

    def applier(self, progress: ProgressFn | None = None,
                guard: Callable[[], None] | None = None) -> Applier:
        return Applier(
            self.client,
            self.workspace(),
            clock=self.clock,
            concurrency=self.concurrency,
            progress=progress,
            poll_interval=min(self.poll_interval, 1.0),
            guard=guard,
            env=self.env,
            health=self._health_client(),
        )

    def _health_client(self) -> Any:
        if self.health is None:
            return None
        if not hasattr(self, "_health"):
            self._health = self.health()
        return self._health


@dataclass
class ApplyReport:
    plan: Plan
    outcomes: list[TenantOutcome]
    after: Plan  # the plan made again once apply finished: empty means converged
    observed: Observed | None = field(default=None, repr=False)
    lost: str | None = None  # why the fleet lock was lost during the pass (then never converged)

    @property
    def converged(self) -> bool:
        left = [a for a in self.after.actions if a.tenant not in self.due_next_pass
                and a.tenant not in self.next_waves]
        guards = [g for g in self.after.guards if g not in self.next_pass_guards]
        return (not left and not guards and not self.blocked and not self.lost
                and not self.halted)

    @property
    def next_waves(self) -> set[str]:
        """Tenants of a rollout's next wave, left to a later pass (`advance: wave`): the
        rollout goes on as configured, the fleet is not out of step."""
        return {name for rollout in self.after.rollouts for name in rollout.starting}

    @property
    def halted(self) -> list[RolloutView]:
        """Rollouts halted by a failed tenant: each needs a person (a fix, or a resume)."""
        return [r for r in self.after.rollouts if r.halted]

    @property
    def next_pass_guards(self) -> list[Guard]:
        """A deletion guard that only the deadlines this pass announced trip: it stops the next
        pass, not this one, which did what it should."""
        deletions = {a.tenant for a in self.after.actions if a.kind is ActionKind.DELETE}
        if not deletions or not deletions <= self.due_next_pass:
            return []
        return [g for g in self.after.guards if g.name == "max-deletions"]

    @property
    def due_next_pass(self) -> set[str]:
        """Tenants whose deadline had already passed when this pass announced it on Railway:
        by design they are deleted by the next pass, not this one."""
        announced = {a.tenant for a in self.plan.actions if a.kind is ActionKind.SCHEDULE_DELETE}
        return {a.tenant for a in self.after.actions
                if a.kind is ActionKind.DELETE and a.tenant in announced}

    @property
    def blocked(self) -> list[Finding]:
        """Tenants no pass will touch until a person acts (e.g. duplicate projects)."""
        return [f for f in self.after.findings if f.kind is FindingKind.BLOCKED]

    @property
    def failed(self) -> list[TenantOutcome]:
        return [o for o in self.outcomes if not o.ok]


def missing_secret_sources(plan: Plan, env: Mapping[str, str]) -> str | None:
    """One warning naming the from_env variables the plan's secrets need that this process's
    environment lacks (or holds empty), and their tenants: apply would fail those tenants.
    Names only: a value is never read here."""
    needed: dict[str, set[str]] = {}
    for action in plan.actions:
        change = action.change
        refs = change.secrets if isinstance(change, Create | SetSecrets) else {}
        for var in refs.values():
            if not env.get(var):
                needed.setdefault(var, set()).add(action.tenant)
    if not needed:
        return None
    shown = "; ".join(f"{var} (for {', '.join(sorted(tenants))})"
                      for var, tenants in sorted(needed.items()))
    return ("gateway secrets are read from environment variables that are not set (or empty) "
            f"here: {shown}; apply fails each such tenant before sending anything for it "
            "(set them where apply runs).")


def check_targets(targets: Iterable[str], manifests: list[LoadedManifest],
                  observed: Observed) -> None:
    """A --target that names no tenant is a typo: planning it would say "no changes"."""
    known = {m.manifest.name for m in manifests} | set(observed.managed()) | set(observed.pending())
    known |= {tenant_of_project_name(p.name) or p.name for p in observed.unmanaged()}
    unknown = sorted(set(targets) - known)
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
    guess = f"; did you mean {close[0]}?" if close else ""
    noun = "tenant" if len(unknown) == 1 else "tenants"
    raise ConfigError(f"no {noun} named {', '.join(unknown)}{guess}",
                      hint="`saas-infra list` shows the tenants; --target takes their names")


def check_guards(plan: Plan) -> None:
    if plan.guards:
        raise GuardError("; ".join(g.message for g in plan.guards))


def check_fresh(plan: Plan, manifests: list[LoadedManifest]) -> None:
    """A saved plan applies only to the manifests it was made from."""
    current = {m.manifest.name: m.fingerprint for m in manifests}
    if plan.targets:
        current = {k: v for k, v in current.items() if k in plan.targets}
    if current != plan.fingerprints:
        changed = sorted(
            name
            for name in set(current) | set(plan.fingerprints)
            if current.get(name) != plan.fingerprints.get(name)
        )
        raise StalePlanError(
            _edited(plan, changed) or
            f"the saved plan is stale: tenants changed since it was made: {', '.join(changed)}; "
            "run `saas-infra plan` again"
        )


def check_railway_unchanged(saved: Plan, fresh: Plan) -> None:
    """A saved plan applies only to the Railway it was made against: applied a second time, its
    creates would make a second project for every tenant it created the first time."""

    def steps(plan: Plan, tenant: str) -> list[tuple[str | None, Change]]:
        return [(a.project_id, a.change) for a in plan.for_tenant(tenant)]

    changed = sorted(t for t in set(saved.tenants()) | set(fresh.tenants())
                     if steps(saved, t) != steps(fresh, t))
    if changed:
        raise StalePlanError(
            _edited(saved, changed) or
            f"the saved plan is stale: Railway changed since it was made for {', '.join(changed)}; "
            "run `saas-infra plan` again"
        )
    check_guards(fresh)


def _edited(saved: Plan, changed: list[str]) -> str | None:
    """The refusal of a saved plan whose checksum fails: it was changed after it was saved."""
    if not saved.edited:
        return None
    return (f"the saved plan does not match what would be planned now (edited?) for "
            f"{', '.join(changed)}; make a new one with `saas-infra plan --out`")


def apply_pass(
    fleet: Fleet,
    *,
    plan: Plan | None = None,
    targets: Iterable[str] = (),
    progress: ProgressFn | None = None,
    observed: Observed | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    options: PassOptions = PassOptions(),
) -> ApplyReport:
    """Plan (or take a saved plan), refuse on a guard, apply, then plan again: under the fleet
    lock (lock.py), so that two passes never act on the fleet at once. `on_plan` is shown the
    plan it is about to apply, once the guards let it. `options` are the operator's choices
    (PassOptions): a saved plan carries its own, and `allow_region_move` given with a saved plan
    confirms that plan's moves; the checks after apply compare secrets by name, as every pass
    does (PassOptions.for_recheck)."""
    manifests = fleet.load()  # first: a bad manifest stops the pass before Railway is asked
    if plan is None:
        # Look first without the lock: a pass with nothing to do (most hourly passes) must not
        # take it, since on Railway taking it costs four calls and a settle time.
        observed = observed or fleet.observe()  # a caller's fresh look serves as the first
        first = fleet.plan_from(manifests, observed, targets=targets, options=options)
        check_guards(first)
        if first.empty and _next_wave(first, [], None) is None:
            return ApplyReport(first, [], first, observed)
    else:
        if options.allow_region_move:
            plan = confirm_region_moves(plan)
        options = options.with_saved(plan)
    if plan is not None and plan.workspace_id and plan.workspace_id != fleet.workspace():
        raise StalePlanError(
            f"the saved plan was made for workspace {plan.workspace_id}, not {fleet.workspace()}"
        )
    report: ApplyReport | None = None
    try:
        with fleet_lock.hold(fleet, observed) as held:
            # Read the manifests again once the lock is ours: waiting for it may have taken
            # minutes, in which a tombstone may have been removed or a tenant edited.
            manifests = fleet.load()
            fresh = fleet.plan_from(manifests, fleet.observe(),
                                    targets=plan.targets if plan else targets,
                                    options=options)
            if plan is None:
                plan = fresh
            else:
                check_fresh(plan, manifests)
                targets = plan.targets
                check_railway_unchanged(plan, fresh)
            check_guards(plan)
            if on_plan:
                on_plan(plan)
            # Between tenant steps the lease is checked: once lost, no tenant takes another step.
            applier = fleet.applier(progress, guard=held.check)
            outcomes = applier.apply(plan)
            lost = _lost(held)
            observed = fleet.observe()  # reads only: what the pass did, even with the lock lost
            # The checks after apply plan as the pass did (moves confirmed as the operator
            # confirmed them), but compare secrets by name again.
            recheck = options.for_recheck()
            after = fleet.plan_from(fleet.load(), observed, targets=targets, options=recheck)
            done = list(plan.actions)
            # `advance: all`: wave after wave in this pass, each once the one before soaked.
            for _ in range(_MAX_WAVES):
                wait = _next_wave(after, outcomes, lost)
                if wait is None:
                    break
                _soak(fleet, held, wait)
                if wait:
                    after = fleet.plan_from(fleet.load(), fleet.observe(), targets=targets,
                                            options=recheck)
                if not after.rollouts or not any(r.starting for r in after.rollouts):
                    continue
                check_guards(after)
                if on_plan:
                    on_plan(after)
                outcomes += applier.apply(after)
                done += after.actions
                lost = _lost(held)
                observed = fleet.observe()
                after = fleet.plan_from(fleet.load(), observed, targets=targets,
                                        options=recheck)
            # A failure record the pass's own deploys left stale (the tenant now runs its
            # channel's version healthily) is housekeeping, not a change left undone: cleared
            # here, as a later pass would clear it, before the pass is judged converged.
            tidy = [] if lost else _stale_records(after)
            if tidy:
                if on_plan:
                    on_plan(Plan(at=after.at, actions=tuple(tidy), targets=after.targets))
                outcomes += applier.apply(replace(after, actions=tuple(tidy)))
                done += tidy
                lost = _lost(held)
                observed = fleet.observe()
                after = fleet.plan_from(fleet.load(), observed, targets=targets,
                                        options=recheck)
            report = ApplyReport(replace(plan, actions=tuple(done)), outcomes, after, observed,
                                 lost=lost)
    except LockLostError as exc:  # on release: what the pass did (new keys too) is still told
        if report is None:
            raise
        report.lost = report.lost or str(exc)
    return report


def confirm_region_moves(plan: Plan) -> Plan:
    """The plan with its database moves confirmed (`--allow-region-move` given at apply time)."""
    def confirmed(action: Action) -> Action:
        if isinstance(action.change, MoveRegion):
            return replace(action, change=replace(action.change, confirmed=True))
        return action
    return replace(plan, actions=tuple(confirmed(a) for a in plan.actions))


def _soak(fleet: Fleet, held: fleet_lock.FleetLock, seconds: float) -> None:
    """Wait a soak on the fleet's clock, in steps that keep the fleet lock's lease renewed."""
    step = fleet_lock.CHECK_EVERY
    while seconds > 0:
        fleet.clock.sleep(min(step, seconds))
        seconds -= step
        held.check()


_MAX_WAVES = 100  # a bound on one pass's waves, so a rollout can never loop a pass forever


def _next_wave(after: Plan, outcomes: list[TenantOutcome], lost: str | None) -> float | None:
    """Seconds to wait before the next wave of an `advance: all` rollout starts in this pass
    (0: now), or None when the pass stops here: a tenant failed, the lock was lost, a rollout
    halted, or none goes on."""
    if lost or any(not o.ok for o in outcomes):
        return None
    going = [r for r in after.rollouts if r.advance == "all" and not r.halted
             and (r.starting or r.soak_remaining_seconds is not None)]
    if not going:
        return None
    if any(r.starting for r in going):
        return 0.0
    return float(min(r.soak_remaining_seconds or 0 for r in going))


def _stale_records(after: Plan) -> list[Action]:
    """The record-failure actions that only clear a marker's failure record, of tenants with
    nothing else left to do: the pass applies them before it judges convergence."""
    clears = {a.tenant for a in after.actions if isinstance(a.change, RecordFailure)
              and (found := parse_marker(a.change.description)) is not None
              and found.failed is None}
    others = {a.tenant for a in after.actions if not isinstance(a.change, RecordFailure)}
    return [a for a in after.actions if a.tenant in clears - others]


def _lost(held: fleet_lock.FleetLock) -> str | None:
    try:
        held.check()
    except LockLostError as exc:
        return str(exc)
    return None


def wait_for_gateway(
    fleet: Fleet,
    tenant: str,
    *,
    timeout: float = 900.0,
    on_status: Callable[[str], None] | None = None,
    project: ObservedProject | None = None,
) -> dict[str, Any]:
    """Poll the tenant's gateway until its newest deployment settles; return that deployment.
    Pass the tenant's observed project when the caller has one, to spare a fleet listing."""
    project = project or fleet.observe().tenant_project(tenant)
    if project is None or project.gateway is None or project.environment_id is None:
        raise RailwayError(f"tenant {tenant} has no gateway on Railway")
    deadline = fleet.clock.monotonic() + timeout
    while True:
        latest = ops.latest_deployments(
            fleet.client,
            project_id=project.id,
            environment_id=project.environment_id,
            service_id=project.gateway.id,
        )
        deployment = latest[0] if latest else None
        status = deployment["status"] if deployment else "NONE"
        if on_status:
            on_status(status)
        if deployment and status not in IN_PROGRESS:
            return deployment
        if fleet.clock.monotonic() > deadline:
            raise NotConvergedError(
                f"tenant {tenant}: the gateway deployment is still {status} after {timeout:.0f}s"
            )
        fleet.clock.sleep(fleet.poll_interval)

