"""Runs a Plan against Railway: each tenant's actions in order, tenants in parallel.

Apply reads only the plan. Every step looks before it creates and adopts what it finds, so a
pass that died at any point is finished by the next one without duplicates. A failing tenant
never stops the others (a lost fleet lock stops them all, through `guard`); each tenant's outcome
says what it got. Generated keys live only in the outcome's `credentials` (kept out of repr and
of every serialisation). Secrets by reference are read from `env` (the pass's environment) only
here, at apply time, and go nowhere but to Railway: a tenant whose variable is missing fails
before anything is sent for it.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, assert_never

from saas_infra.clock import Clock, SystemClock
from saas_infra.errors import (
    ConfigError,
    LockLostError,
    NotFoundError,
    PlanError,
    RailwayError,
    RolloutFailedError,
    SaasInfraError,
    TransientError,
)
from saas_infra.marker import Marker, failure_record
from saas_infra.plan import (
    Action,
    CancelDelete,
    Create,
    Delete,
    DeleteMode,
    GatewayRef,
    HealthGate,
    Limits,
    MoveRegion,
    Plan,
    RecordFailure,
    Redeploy,
    Restore,
    Rollback,
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
)
from saas_infra.railway import operations as ops
from saas_infra.railway.observed import ObservedProject, ObservedService, observe, parse_project
from saas_infra.rollout import Failure
from saas_infra.tenancy import FAILED, GATEWAY, IN_PROGRESS, KEY_NAMES, POSTGRES, RUNNING, TEMPLATES

_UNKNOWN = object()
_UNPROBED = object()  # no health client or no domain: the gate is the deployment's status
log = logging.getLogger(__name__)


def generate_key() -> str:
    return "sk-" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Step:
    name: str  # project, Postgres, Redis, gateway, domain, variables, source, deploy, ...
    result: str  # created, adopted, unchanged, updated, requested, deleted, restored


@dataclass
class TenantOutcome:
    tenant: str
    ok: bool = True
    steps: list[Step] = field(default_factory=list)
    error: str | None = None
    project_id: str | None = None
    deployment_id: str | None = None
    credentials: dict[str, str] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "ok": self.ok,
            "error": self.error,
            "project_id": self.project_id,
            "deployment_id": self.deployment_id,
            "steps": [{"step": s.name, "result": s.result} for s in self.steps],
        }


ProgressFn = Callable[[str, str, str], None]  # (tenant, step, state)


@dataclass
class Applier:
    client: ops.Executor
    workspace_id: str | None
    clock: Clock = field(default_factory=SystemClock)
    concurrency: int = 8
    progress: ProgressFn | None = None
    key_factory: Callable[[], str] = generate_key
    poll_interval: float = 1.0
    workflow_timeout: float = 600.0
    # Called between tenant steps; raises (LockLostError) once the pass may no longer act.
    guard: Callable[[], None] | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # where secrets are read
    # Probes gateways' health paths for a rollout's gate (runtime.health_client); None: the
    # gate is the deployment's status alone.
    health: Any = field(default=None, repr=False)
    # How often a wave's health gate looks at its deployments: they take a minute or more, and
    # each look costs a fleet listing (or a query per tenant, for a small wave).
    gate_poll: float = 10.0
    _templates: dict[str, dict] = field(default_factory=dict, repr=False)
    _template_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _gated: list[_Gated] = field(default_factory=list, repr=False)
    _gated_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _listing_pages: int | None = field(default=None, repr=False)  # learnt from a listing

    def apply(self, plan: Plan) -> list[TenantOutcome]:
        tenants = plan.tenants()
        if not tenants:
            return []
        workers = max(1, min(self.concurrency, len(tenants)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
            outcomes = list(pool.map(lambda t: self.apply_tenant(t, plan.for_tenant(t)),
                                     tenants))
        gated, self._gated = self._gated, []
        if gated:
            self.gate_wave(gated)
        return outcomes

    # --- a wave's health gate -----------------------------------------------------------------

    def defer_gate(self, run: _TenantRun, gate: HealthGate) -> None:
        """A wave's tenant deployed its version: its gate is judged with the whole wave's, once
        every tenant of the wave has deployed (so the wave takes one deploy time, not one per
        tenant)."""
        with self._gated_lock:
            self._gated.append(_Gated(run, gate, self.clock.monotonic() + gate.timeout))

    def gate_wave(self, gated: list[_Gated]) -> None:
        """Every gated tenant's deployment settles and its health path answers 200 within its
        timeout, or the tenant failed (rolled back when the rollout says so). Each look reads
        the whole fleet listing once for the wave, or, when that costs more pages than the
        tenants still waiting, each waiting tenant's newest deployment."""
        waiting = gated
        while waiting:
            self.clock.sleep(self.gate_poll)
            try:
                self.check_guard()
                seen = self._newest_deployments(waiting)
            except SaasInfraError as exc:  # the lock lost, or Railway failing: undecided gates
                for g in waiting:  # fail, as a tenant's own step would have
                    g.run.outcome.ok, g.run.outcome.error = False, str(exc)
                    self._report(g.tenant, "done", "failed")
                return
            now = self.clock.monotonic()
            waiting = [g for g in waiting if not g.judge(seen.get(g.tenant), now)]

    def _newest_deployments(self, waiting: list[_Gated]) -> dict[str, dict | None]:
        pages = self._listing_pages
        if len(waiting) == 1 or (pages is not None and len(waiting) <= pages):
            return {g.tenant: g.run.newest_deployment() for g in waiting}
        observed = observe(self.client, self.workspace_id, check_count=False)
        self._listing_pages = max(1, -(-len(observed.projects) // 50))  # observe's page size
        found: dict[str, dict | None] = {}
        for g in waiting:
            project = observed.tenant_project(g.tenant)
            latest = project.gateway.deployment if project and project.gateway else None
            found[g.tenant] = None if latest is None else {
                "status": latest.status, "version": latest.version}
        return found

    def apply_tenant(self, tenant: str, actions: list[Action]) -> TenantOutcome:
        outcome = TenantOutcome(tenant, project_id=actions[0].project_id if actions else None)
        run = _TenantRun(self, outcome)
        try:
            check_moves_confirmed(tenant, actions)
            run.secret_values = self.read_secrets(tenant, actions)
            for index, action in enumerate(actions):
                self.check_guard()
                self._report(tenant, action.kind.value, "start")
                run.later = actions[index + 1 :]
                run.do(action)
            self._report(tenant, "done", "ok")
        except SaasInfraError as exc:
            outcome.ok = False
            outcome.error = str(exc)
            self._report(tenant, "done", "failed")
        except Exception as exc:  # one tenant's bug must not cost the others their outcomes
            # A bug, not Railway saying no: its traceback goes to the log (the CLI shows it
            # with --debug), the outcome keeps one line.
            log.exception("tenant %s: unexpected error during apply", tenant)
            outcome.ok = False
            outcome.error = f"unexpected {type(exc).__name__}: {exc}"
            self._report(tenant, "done", "failed")
        return outcome

    def read_secrets(self, tenant: str, actions: list[Action]) -> dict[str, str]:
        """{environment variable: value} of every secret the tenant's actions set, read before
        its first step: a missing one fails the tenant with nothing sent for it."""
        wanted = sorted({var for action in actions for var in _secret_refs(action).values()})
        missing = [var for var in wanted if not self.env.get(var)]
        if missing:
            names = ", ".join(missing)
            raise ConfigError(
                f"tenant {tenant}: the environment variable{'s' if len(missing) > 1 else ''} "
                f"{names} (named by gateway.secrets from_env) {'is' if len(missing) == 1 else 'are'}"
                " not set or empty; nothing was sent for this tenant"
            )
        return {var: self.env[var] for var in wanted}

    def check_guard(self) -> None:
        if self.guard is not None:
            self.guard()

    def _report(self, tenant: str, step: str, state: str) -> None:
        if self.progress:
            self.progress(tenant, step, state)

    def template(self, code: str) -> dict:
        with self._template_lock:
            if code not in self._templates:
                found = ops.template(self.client, code)
                # Each variable's value filled in, as Railway's CLI sends it (operations.py).
                filled = ops.template_config_with_values(found)
                self._templates[code] = {**found, "serializedConfig": filled}
            return self._templates[code]


class _Stoppable:
    """A tenant run's client: once a pass has lost the fleet lock after a step, the tenant's
    next call to Railway raises the loss instead of being sent."""

    def __init__(self, client: ops.Executor, run: _TenantRun) -> None:
        self.client, self.run = client, run

    def execute(self, operation: ops.Operation, variables: dict[str, Any] | None = None) -> dict:
        if self.run.stopped is not None:
            raise self.run.stopped
        return self.client.execute(operation, variables)


class _TenantRun:
    """The steps of one tenant in one pass, with the ids it learns on the way."""

    def __init__(self, applier: Applier, outcome: TenantOutcome) -> None:
        self.a = applier
        self.client = _Stoppable(applier.client, self)
        self.outcome = outcome
        self.stopped: LockLostError | None = None  # the fleet lock was lost after a step
        self.project: ObservedProject | None = None
        self.later: list[Action] = []  # this tenant's actions still to come
        self.secret_values: dict[str, str] = {}  # env variable -> value, read by apply_tenant
        self._ids: tuple[str, str, str] | None = None
        self._gateway_domain: str | None | object = _UNKNOWN  # known without a read after create

    # --- dispatch -------------------------------------------------------------------------

    def do(self, action: Action) -> None:
        project_id = action.project_id
        match action.change:
            case Create() as change:
                self.create(project_id, change)
            case SetVariables() as change:
                self.set_variables(self.gateway_ids(project_id, change.gateway), change)
            case SetSecrets() as change:
                self.set_secrets(self.gateway_ids(project_id, change.gateway), change.secrets)
            case UpdateSource(source=source, gateway=gateway, deploy=False):
                self.gateway_ids(project_id, gateway)
                self.assign_image(source.image)
            case UpdateSource(source=source, gateway=gateway, gate=gate):
                self.update_source(self.gateway_ids(project_id, gateway), source)
                if gate is not None:  # an image channel's new image, in its rollout's wave
                    self.await_gate(gate)
            case UpdateSettings(settings=settings, gateway=gateway):
                self.update_settings(self.gateway_ids(project_id, gateway), settings)
            case MoveRegion() as change:
                self.move_region(project_id, change)
            case SetLimits() as change:
                self.set_limits(self.gateway_ids(project_id, change.gateway), change)
                self.write_marker(self.known(project_id), change.description)
            case SetBackups() as change:
                self.set_backups(self.known(project_id), change)
                self.write_marker(self.known(project_id), change.description)
            case Redeploy(description=description, gateway=gateway, commit=commit, image=image):
                ids = self.gateway_ids(project_id, gateway)
                if image:  # the source back to the image it runs: serviceConnect deploys it
                    self.update_source(ids, Source(image=image))
                    self.write_marker(self.known(project_id), description)
                else:
                    self.redeploy(self.known(project_id), description, commit)
            case SetVersion() as change:
                self.gateway_ids(project_id, change.gateway)
                self.set_version(change)
            case Rollback() as change:
                self.gateway_ids(project_id, change.gateway)
                self.rollback(change.failed)
            case (ScheduleDelete(description=description) | CancelDelete(description=description)
                  | RecordFailure(description=description)):
                self.write_marker(self.known(project_id), description)
            case Restore():
                self.restore(self.known(project_id))
            case Delete(mode=mode):
                self.delete(self.known(project_id), mode)
            case other:
                assert_never(other)

    def known(self, project_id: str | None) -> str:
        """The project an action on an existing tenant names: the plan always gives it one."""
        if project_id is None:
            raise PlanError(f"tenant {self.outcome.tenant}: the plan names no project to change")
        return project_id

    def step(self, name: str, result: str) -> None:
        self.outcome.steps.append(Step(name, result))
        self.a._report(self.outcome.tenant, name, result)
        try:
            self.a.check_guard()
        except LockLostError as exc:  # raised by this tenant's next call to Railway, if any:
            self.stopped = exc  # a tenant whose last step this was has finished

    def deploy_follows(self) -> bool:
        """Whether a later action of this pass certainly deploys the gateway, and is planned
        again if the process dies before it. Only then may a variable write skip its own deploy:
        a crash between a skipped-deploy write and a separate deploy leaves a change nothing
        re-plans. (A variable delete is no such action: deleting what is already gone deploys
        nothing.)"""
        return any(_deploys(action) for action in self.later)

    # --- reading --------------------------------------------------------------------------

    def load(self, project_id: str) -> ObservedProject:
        self.project = parse_project(ops.project(self.client, project_id))
        self.outcome.project_id = project_id
        self._ids = None
        self._gateway_domain = _UNKNOWN
        return self.project

    def gateway_ids(self, project_id: str | None, gateway: GatewayRef) -> tuple[str, str, str]:
        """(project, environment, gateway service) ids: from the plan, or learnt during create."""
        if gateway.environment_id and project_id:
            self.ids = (project_id, gateway.environment_id, gateway.service_id)
        elif self.project is None or self.project.gateway is None:
            project = self.load(self.known(project_id))
            if project.gateway is None or project.environment_id is None:
                raise NotFoundError(f"tenant {self.outcome.tenant}: the gateway service is missing")
        return self.ids

    @property
    def ids(self) -> tuple[str, str, str]:
        if self._ids is None:
            project = self.project
            if project is None or project.gateway is None or project.environment_id is None:
                raise NotFoundError(f"tenant {self.outcome.tenant}: the gateway service is missing")
            self._ids = (project.id, project.environment_id, project.gateway.id)
        return self._ids

    @ids.setter
    def ids(self, value: tuple[str, str, str]) -> None:
        self._ids = value

    # --- create (and resume) --------------------------------------------------------------

    def create(self, project_id: str | None, change: Create) -> None:
        project = self.ensure_project(project_id, change)
        self.ensure_templates(project, change.region)
        if change.backups is not None:  # the Postgres template made its volume just now
            self.schedule_new_backups(project.id, change.backups)
        project = self.ensure_gateway(change)
        connected = GATEWAY in change.missing
        if connected:
            self.connect_new_gateway(change)
        self.ensure_domain()
        if change.source.commit and (connected or _has_source(project.gateway)):
            # An empty gateway left by a dead pass cannot deploy: its source change, planned
            # after this create, connects it, and the pin follows (set-version).
            self.ensure_pin(change.source.commit)
        # Last: the record of the limits and schedules written above, once they are.
        description = change.recorded or change.description
        if (project.description or "") != description:
            ops.project_set_description(self.client, project.id, description)
            self.step("marker", "updated")

    def ensure_project(self, project_id: str | None, change: Create) -> ObservedProject:
        if project_id:
            self.step("project", "adopted")
            return self.load(project_id)
        # The plan saw no project for this tenant; only an ambiguous failure below needs a look.
        try:
            created = ops.project_create(
                self.client,
                name=change.project_name,
                description=change.description,
                workspace_id=self.a.workspace_id,
            )
        except TransientError:
            # The create may have happened (a 504 after the commit): look before trying again.
            found = self.find_own_project()
            if not found:
                raise
            self.step("project", "adopted")
            return self.load(found.id)
        self.step("project", "created")
        # The create answer carries the new environment: no need to read the project back.
        self.project = parse_project(created)
        self.outcome.project_id = created["id"]
        return self.project

    def find_own_project(self) -> ObservedProject | None:
        observed = observe(self.client, self.a.workspace_id, check_count=False)
        return observed.tenant_project(self.outcome.tenant)

    def ensure_templates(self, project: ObservedProject, region: str | None = None) -> None:
        """One template at a time, each waited for, as Railway's CLI adds databases
        (railwayapp/cli src/commands/add.rs and deploy.rs fetch_and_create, since c54342ae):
        nothing says Railway runs two template workflows of one environment at once."""
        for service_name, code in TEMPLATES:
            if service_name in self.current().services:
                self.step(service_name, "unchanged")
                continue
            template = self.a.template(code)
            config = _json_value(template["serializedConfig"])
            if region is not None:  # created in its region: its volume too, no migration
                config = ops.template_config_in_region(config, region)
            try:
                workflow = ops.template_deploy(
                    self.client,
                    template_id=template["id"],
                    serialized_config=config,
                    project_id=project.id,
                    environment_id=self.environment(project),
                    workspace_id=self.a.workspace_id,
                )
            except TransientError:
                if not self.appears(project.id, service_name):
                    raise
                self.step(service_name, "adopted")
                continue
            self.wait_workflow(service_name, workflow)
            self.step(service_name, "created")

    def appears(self, project_id: str, service_name: str, looks: int = 3) -> bool:
        """After an ambiguous template deploy: does its service show up? A template's workflow
        creates it asynchronously, so one look too early would deploy a second database."""
        for look in range(looks):
            if look:
                self.a.clock.sleep(self.a.poll_interval * 2)
            if service_name in self.load(project_id).services:
                return True
        return False

    def wait_workflow(self, service_name: str, workflow_id: str | None) -> None:
        if not workflow_id:
            return
        deadline = self.a.clock.monotonic() + self.a.workflow_timeout
        while True:
            status = ops.workflow_status(self.client, workflow_id)
            if status["status"] == "Complete":
                return
            if status["status"] == "Error":
                raise RailwayError(
                    f"tenant {self.outcome.tenant}: the {service_name} template failed: "
                    f"{status.get('error') or 'no reason given'}",
                    operation="WorkflowStatus",
                )
            if self.a.clock.monotonic() > deadline:
                raise RailwayError(
                    f"tenant {self.outcome.tenant}: the {service_name} template did not finish "
                    f"in {self.a.workflow_timeout:.0f}s",
                    operation="WorkflowStatus",
                )
            self.a.clock.sleep(self.a.poll_interval)  # NotFound right after deploy is normal lag

    def environment(self, project: ObservedProject) -> str:
        if project.environment_id is None:
            raise NotFoundError(f"tenant {self.outcome.tenant}: project {project.id} has no "
                                "environment")
        return project.environment_id

    def current(self) -> ObservedProject:
        """The project as last read or created in this run (create's first step sets it)."""
        if self.project is None:
            raise NotFoundError(f"tenant {self.outcome.tenant}: no project read yet")
        return self.project

    def ensure_gateway(self, change: Create) -> ObservedProject:
        """The gateway, created with every variable and the keys; returns the project, read
        again when an ambiguous create had to look."""
        project = self.current()
        gateway = project.gateway
        if gateway is None:
            keys = {name: self.a.key_factory() for name in KEY_NAMES}
            try:  # no source: an empty service does not deploy (connect_new_gateway does)
                created = ops.service_create(
                    self.client,
                    project_id=project.id,
                    name=GATEWAY,
                    variables={**change.variables, **self.values_of(change.secrets), **keys},
                )
            except TransientError:
                if self.load(project.id).gateway is None:
                    raise
                self.step(GATEWAY, "adopted")
                return self.current()
            self.outcome.credentials = keys  # the first deployment (serviceConnect) uses them
            self.step(GATEWAY, "created")
            self._ids = (project.id, self.environment(project), created["id"])
            self._gateway_domain = None
            return project
        # Judged by name: a key whose value Railway masks or seals exists all the same, and a new
        # one would break every client of the tenant.
        missing = [name for name in KEY_NAMES if name not in gateway.key_names]
        if missing:
            keys = {name: self.a.key_factory() for name in missing}
            ops.variables_upsert(
                self.client,
                project_id=project.id,
                environment_id=self.environment(project),
                service_id=gateway.id,
                variables=keys,
                skip_deploys=self.deploy_follows(),
            )
            self.outcome.credentials = keys
            self.step("keys", "created")
        self.step(GATEWAY, "unchanged" if not missing else "updated")
        return project

    def ensure_domain(self) -> None:
        project_id, environment_id, gateway_id = self.ids
        domain = self._gateway_domain
        if domain is _UNKNOWN:
            gateway = self.current().gateway
            domain = gateway.domain if gateway else None
        if domain:
            self.step("domain", "unchanged")
            return
        try:
            ops.service_domain_create(
                self.client, service_id=gateway_id, environment_id=environment_id
            )
        except TransientError:
            gateway = self.load(project_id).gateway
            if gateway is None or not gateway.domain:
                raise
            self.step("domain", "adopted")
            return
        self.step("domain", "created")

    # --- updates --------------------------------------------------------------------------

    def set_variables(self, ids: tuple[str, str, str], change: SetVariables) -> None:
        """Deletes first (each deploys by itself, variableDelete having no skipDeploys), then
        one write that deploys everything unless a later action deploys anyway. Railway's
        deploy after a variable write redeploys the running version ("Triggers a redeploy
        unless skip_deploys is true": railwayapp/cli src/commands/mcp/handler.rs), so a
        configuration change never ships a newer commit."""
        project_id, environment_id, service_id = ids
        for name in change.unset:
            try:
                ops.variable_delete(
                    self.client,
                    project_id=project_id,
                    environment_id=environment_id,
                    service_id=service_id,
                    name=name,
                )
            except NotFoundError as exc:
                if exc.status == 404:  # a wrong endpoint, not a missing variable
                    raise
        if change.values:
            ops.variables_upsert(
                self.client,
                project_id=project_id,
                environment_id=environment_id,
                service_id=service_id,
                variables=change.values,
                skip_deploys=self.deploy_follows(),
            )
        self.step("variables", "updated")

    def values_of(self, secrets: dict[str, str]) -> dict[str, str]:
        """NAME -> value of secrets given as NAME -> environment variable."""
        return {name: self.secret_values[var] for name, var in secrets.items()}

    def set_secrets(self, ids: tuple[str, str, str], secrets: dict[str, str]) -> None:
        project_id, environment_id, service_id = ids
        ops.variables_upsert(
            self.client,
            project_id=project_id,
            environment_id=environment_id,
            service_id=service_id,
            variables=self.values_of(secrets),
            skip_deploys=self.deploy_follows(),
        )
        self.step("secrets", "updated")

    def update_source(self, ids: tuple[str, str, str], source: Source) -> None:
        _, _, service_id = ids
        ops.service_connect(
            self.client,
            service_id,
            repo=source.repo,
            branch=source.branch,
            image=source.image,
        )
        self.step("source", "updated")  # serviceConnect deploys the new source

    def assign_image(self, image: str | None) -> None:
        """The gateway's source names `image`, deploying nothing (serviceInstanceUpdate: see
        the emulator's instances.py for Railway's evidence). Every later deploy from the source
        (a variable, secret, settings or limits change) then takes this image."""
        if not image:
            raise PlanError(f"tenant {self.outcome.tenant}: a source reset names no image")
        _, environment_id, service_id = self.ids
        ops.service_instance_update(self.client, service_id=service_id,
                                    environment_id=environment_id,
                                    settings={"source": {"image": image}})
        self.step("source", f"set to {image}, not deployed")

    def connect_new_gateway(self, change: Create) -> None:
        """A gateway created (or adopted) empty by this pass: its settings are written, then
        its source is connected, and that connect is its one deployment, settings included.
        A pass that dies in between leaves an empty gateway, which the next pass plans as
        settings drift (written, its redeploy skipped: a connect follows) and a source change."""
        ids = self.ids
        _, environment_id, service_id = ids
        if not change.settings.empty:
            ops.service_instance_update(self.client, service_id=service_id,
                                        environment_id=environment_id,
                                        settings=change.settings.to_input())
            self.step("settings", "updated")
        # Before the first deploy, which runs with them; a new service has no limit set.
        if change.limits is not None and change.limits != Limits():
            ops.service_instance_limits_set(self.client, service_id=service_id,
                                            environment_id=environment_id,
                                            vcpus=change.limits.vcpus,
                                            memory_gb=change.limits.memory_gb)
            self.step("limits", "updated")
        if _has_source(self.current().gateway):  # adopted, connected already
            return
        self.update_source(ids, change.source)

    def update_settings(self, ids: tuple[str, str, str], settings: Settings) -> None:
        """serviceInstanceUpdate, then serviceInstanceRedeploy of the running version (settings
        apply from the next deployment), unless a later action of this pass deploys anyway. A
        pass that dies in between is finished by the next: diff compares the settings with the
        latest deployment's."""
        _, environment_id, service_id = ids
        if not settings.empty:
            ops.service_instance_update(self.client, service_id=service_id,
                                        environment_id=environment_id,
                                        settings=settings.to_input())
            self.step("settings", "updated")
        if self.deploy_follows():
            return
        ops.redeploy(self.client, service_id=service_id, environment_id=environment_id)
        self.step("redeploy", "requested")

    def move_region(self, project_id: str | None, change: MoveRegion) -> None:
        """Each database placed in the region (one replica: it holds a volume), then redeployed:
        placement applies from the next deployment, which Railway starts by migrating the
        volume (check_moves_confirmed has made sure the operator asked for it)."""
        environment_id = change.environment_id or self.environment(
            self.project or self.load(self.known(project_id)))
        for service in change.services:
            if service.write:
                ops.service_instance_update(
                    self.client, service_id=service.service_id, environment_id=environment_id,
                    settings={"multiRegionConfig": {change.region: {"numReplicas": 1}}})
            ops.redeploy(self.client, service_id=service.service_id,
                         environment_id=environment_id)
            self.step(service.name, f"moving to {change.region}")

    def set_limits(self, ids: tuple[str, str, str], change: SetLimits) -> None:
        """serviceInstanceLimitsUpdate with both limits (null: the plan's), then a redeploy of the
        running version (limits apply from the next deployment) unless a later action deploys;
        the caller then writes the marker's record."""
        _, environment_id, service_id = ids
        ops.service_instance_limits_set(self.client, service_id=service_id,
                                        environment_id=environment_id,
                                        vcpus=change.limits.vcpus,
                                        memory_gb=change.limits.memory_gb)
        self.step("limits", "updated")
        if change.deploy and not self.deploy_follows():
            ops.redeploy(self.client, service_id=service_id, environment_id=environment_id)
            self.step("redeploy", "requested")

    def set_backups(self, project_id: str, change: SetBackups) -> None:
        volume = change.volume_instance_id
        if volume is None:
            volume = self.postgres_volume(project_id, change.postgres_service_id,
                                          change.environment_id)
        ops.volume_backup_schedule_update(self.client, volume_instance_id=volume,
                                          kinds=list(change.kinds))
        self.step("backups", "updated")

    def schedule_new_backups(self, project_id: str, kinds: tuple[str, ...]) -> None:
        """The schedule of a Postgres this create made: its service and volume instance read
        from the project (the template's workflow made them)."""
        project = self.load(project_id)
        postgres = project.services.get(POSTGRES)
        if postgres is None:
            raise NotFoundError(f"tenant {self.outcome.tenant}: no Postgres service after its "
                                "template finished")
        volume = project.postgres_volume or self.postgres_volume(
            project_id, postgres.id, project.environment_id)
        ops.volume_backup_schedule_update(self.client, volume_instance_id=volume,
                                          kinds=list(kinds))
        self.step("backups", "updated")

    def postgres_volume(self, project_id: str, service_id: str, environment_id: str | None
                        ) -> str:
        """The Postgres service's volume instance, found among the environment's volume
        instances by its serviceId, as Railway's CLI finds it (railwayapp/cli
        src/commands/postgres/pitr.rs resolve_volume_instance_id, at df3838bf)."""
        if environment_id is None:
            environment_id = self.environment(self.load(project_id))
        for node in ops.volume_instances(self.client, project_id=project_id,
                                         environment_id=environment_id):
            if node.get("serviceId") == service_id:
                return str(node["id"])
        raise NotFoundError(f"tenant {self.outcome.tenant}: the Postgres service has no volume "
                            "on Railway, so its backup schedule cannot be set")

    def redeploy(self, project_id: str, description: str, commit: str | None = None) -> None:
        self.deploy(commit)
        ops.project_set_description(self.client, project_id, description)
        self.step("marker", "updated")

    def deploy(self, commit: str | None = None) -> None:
        """Exactly `commit` (a pinned gateway), or the newest commit of the branch: only an
        explicit redeploy request or a version change ships new code."""
        _, environment_id, service_id = self.ids
        if commit:
            deployment_id = ops.deploy_commit(self.client, service_id=service_id,
                                              environment_id=environment_id, commit_sha=commit)
            self.outcome.deployment_id = deployment_id
        else:
            ops.deploy_latest_commit(self.client, service_id=service_id,
                                     environment_id=environment_id)
        self.step("deploy", "requested")

    def set_version(self, change: SetVersion) -> None:
        source = change.source
        if source.commit:
            self.drop_triggers(change.gateway)
            if change.deploy:
                self.deploy(source.commit)
                if change.gate is not None:
                    self.await_gate(change.gate)
            return
        if change.deploy:
            self.deploy()  # latestCommit: the branch's head, or the source's image pulled again
            if change.gate is not None:
                self.await_gate(change.gate)
        if source.image or source.repo is None or source.branch is None:
            return
        project_id, environment_id, service_id = self.ids
        if ops.deployment_triggers(self.client, project_id=project_id,
                                   environment_id=environment_id, service_id=service_id):
            self.step("trigger", "unchanged")
            return
        ops.deployment_trigger_create(self.client, project_id=project_id,
                                      environment_id=environment_id, service_id=service_id,
                                      repository=source.repo, branch=source.branch)
        self.step("trigger", "created")

    # --- rollouts -------------------------------------------------------------------------

    def await_gate(self, gate: HealthGate) -> None:
        """The tenant's last action: its gate waits with its wave's (Applier.gate_wave). With
        actions still to come, it is judged here first, so they follow a healthy deploy."""
        if self.later:
            self.health_gate(gate)
        else:
            self.a.defer_gate(self, gate)

    def health_gate(self, gate: HealthGate) -> None:
        """The deployment of the gate's version reaches SUCCESS and the health path answers 200,
        within the timeout (on the applier's clock); else the tenant failed: it is rolled back
        when the rollout says so, and the failure raised (the rollout halts)."""
        deadline = self.a.clock.monotonic() + gate.timeout
        status = self.wait_deployed(gate.version, deadline)
        answer = self.probe(gate, deadline) if status in RUNNING else None
        self.gate_verdict(gate, status, answer)

    def newest_deployment(self) -> dict | None:
        """The gateway's newest deployment as {status, version}, or None."""
        project_id, environment_id, service_id = self.ids
        found = ops.deployment_history(self.client, project_id=project_id,
                                       environment_id=environment_id, service_id=service_id,
                                       first=1)
        if not found:
            return None
        meta = _json_value(found[0].get("meta")) or {}
        return {"status": found[0]["status"],
                "version": meta.get("commitHash") or meta.get("image")}

    def gate_verdict(self, gate: HealthGate, status: str, answer: int | None | object) -> None:
        """Passed (a step), or the failure raised: how it failed, the rollback, the resume."""
        if status in RUNNING:
            if answer == 200 or answer is _UNPROBED:
                self.step("health", "passed")
                return
            how = (f"its health path {gate.path} answered {answer}" if answer is not None
                   else f"its health path {gate.path} did not answer")
            failure = Failure.UNHEALTHY
        elif status in FAILED:
            how = "crashed" if status == "CRASHED" else "failed to build or deploy (FAILED)"
            failure = Failure.CRASHED if status == "CRASHED" else Failure.BUILD_FAILED
        else:
            how = f"did not become healthy within {gate.timeout}s (still {status})"
            failure = Failure.TIMED_OUT
        self.step("health", "failed")
        self.record_failure(gate.version, failure.value)
        rolled = ""
        if gate.rollback and (status == "CRASHED" or status in RUNNING):  # FAILED: old serves
            rolled = "; " + self.rollback(gate.version)
        raise RolloutFailedError(
            f"tenant {self.outcome.tenant}: {_short(gate.version)} {how} (channel "
            f"{gate.channel}, wave {gate.wave}){rolled}. The rollout of {gate.channel} is "
            "halted: no further wave starts, in this pass or a later one. Fix the version "
            f"(change the channel), or resume: `saas-infra rollout resume {gate.channel}`")

    def record_failure(self, version: str, how: str) -> None:
        """The failure in the tenant's marker (rollout.py reads it back from the fleet listing),
        before any rollback: the halt then outlives the deployment history the listing shows,
        and holds for a deployment Railway calls SUCCESS. The marker is read first, as this
        pass may have written it already. A crash before this write leaves the deployment
        history as the evidence, where it still shows the failure."""
        project_id = self.ids[0]
        marker = self.load(project_id).marker or Marker(self.outcome.tenant)
        record = failure_record(version, self.a.clock.now(), how)
        ops.project_set_description(self.client, project_id,
                                    replace(marker, failed=record).render())
        self.step("marker", "failure recorded")

    def wait_deployed(self, version: str, deadline: float) -> str:
        """The status the newest deployment of `version` settles in, or its status when the
        deadline passed first."""
        project_id, environment_id, service_id = self.ids
        status = "NONE"
        while True:
            found = ops.deployment_history(self.client, project_id=project_id,
                                           environment_id=environment_id,
                                           service_id=service_id, first=1)
            newest = found[0] if found else None
            meta = _json_value((newest or {}).get("meta")) or {}
            if newest is not None and version in (meta.get("commitHash"), meta.get("image")):
                status = newest["status"]
                if status not in IN_PROGRESS:
                    return str(status)
            if self.a.clock.monotonic() >= deadline:
                return status
            self.a.clock.sleep(self.a.poll_interval)
            self.a.check_guard()  # keeps the fleet lock renewed while the gate waits

    def probe(self, gate: HealthGate, deadline: float) -> int | None | object:
        """The health path's last answer (200 as soon as it gives one), None when it never
        answered, _UNPROBED when there is no way to ask (no client, or no domain)."""
        http = self.a.health
        if http is None or not gate.url:
            return _UNPROBED
        answer: int | None = None
        while True:
            try:
                answer = http.get(gate.url + gate.path, timeout=5.0).status_code
            except Exception:  # noqa: BLE001 - an unreachable gateway is an answer here
                answer = None
            if answer == 200 or self.a.clock.monotonic() >= deadline:
                return answer
            self.a.clock.sleep(self.a.poll_interval)
            self.a.check_guard()

    def probe_once(self, gate: HealthGate) -> int | None | object:
        """One answer of the health path (None: none), _UNPROBED when there is no way to ask."""
        http = self.a.health
        if http is None or not gate.url:
            return _UNPROBED
        try:
            return int(http.get(gate.url + gate.path, timeout=5.0).status_code)
        except Exception:  # noqa: BLE001 - an unreachable gateway is an answer here
            return None

    def rollback(self, failed: str) -> str:
        """deploymentRollback to the newest deployment that can be rolled back to and runs
        another version than `failed`; what happened, in words. A rollback restores the image
        but not the source, which still names the failed image its update-source connected: it
        is set back to the image now running, or the next deploy from the source (a variable
        change, say) would ship the failed one ungated. A pass that dies in between is repaired
        by the next (diff plans the same reset for a tenant the rollout has not reached)."""
        project_id, environment_id, service_id = self.ids
        history = ops.deployment_history(self.client, project_id=project_id,
                                         environment_id=environment_id, service_id=service_id,
                                         first=20)
        for deployment in history:
            meta = _json_value(deployment.get("meta")) or {}
            version = meta.get("commitHash") or meta.get("image")
            if deployment.get("canRollback") and version and version != failed:
                ops.deployment_rollback(self.client, deployment["id"])
                self.step("rollback", "requested")
                if not _is_commit(version) and not _is_commit(failed):
                    self.assign_image(version)
                return f"rolled back to {_short(version)} (deployment {deployment['id']})"
        self.step("rollback", "nothing to roll back to")
        return "no earlier deployment can be rolled back to"

    def ensure_pin(self, commit: str) -> None:
        """A created (or resumed) gateway pinned to `commit`: Railway gave it a trigger and
        deployed the branch when its repo was connected, so the trigger goes and the pin is
        deployed, unless it already runs it."""
        self.drop_triggers()
        gateway = self.current().gateway
        if gateway is not None and gateway.running_commit == commit:  # None: created just now
            self.step("deploy", "unchanged")
            return
        self.deploy(commit)

    def drop_triggers(self, gateway: GatewayRef | None = None) -> None:
        """Delete the gateway's GitHub deployment triggers (read here, not from the plan: a
        serviceConnect earlier in the pass makes a new one). A gateway the plan saw without
        any, untouched so far in this pass, has none to read."""
        if gateway is not None and gateway.triggers == () and not self.outcome.steps:
            self.step("trigger", "none")
            return
        project_id, environment_id, service_id = self.ids
        found = ops.deployment_triggers(self.client, project_id=project_id,
                                        environment_id=environment_id, service_id=service_id)
        for trigger in found:
            try:
                ops.deployment_trigger_delete(self.client, trigger["id"])
            except NotFoundError as exc:
                if exc.status == 404:  # a wrong endpoint, not a trigger already gone
                    raise
        self.step("trigger", "removed" if found else "none")

    def write_marker(self, project_id: str, description: str) -> None:
        ops.project_set_description(self.client, project_id, description)
        self.outcome.project_id = project_id
        self.step("marker", "updated")

    def restore(self, project_id: str) -> None:
        ops.project_schedule_delete_cancel(self.client, project_id)
        self.outcome.project_id = project_id
        self.step("project", "restored")

    def delete(self, project_id: str, mode: DeleteMode) -> None:
        self.outcome.project_id = project_id
        try:
            if mode is DeleteMode.NOW:
                ops.project_delete(self.client, project_id)
            else:
                ops.project_schedule_delete(self.client, project_id)
        except NotFoundError as exc:
            if exc.status == 404:  # a wrong endpoint, not a vanished project
                raise
            self.step("project", "already gone")
            return
        self.step("project", "deleted" if mode is DeleteMode.NOW else "scheduled on Railway")


def check_moves_confirmed(tenant: str, actions: list[Action]) -> None:
    """A move that migrates database volumes runs only when the operator confirmed it; otherwise
    the tenant fails before anything is sent for it, and says how to confirm."""
    for action in actions:
        change = action.change
        if isinstance(change, MoveRegion) and not change.confirmed:
            names = ", ".join(s.name for s in change.services)
            raise ConfigError(
                f"tenant {tenant}: moving {names} to {change.region} moves their data (Railway "
                "migrates each database volume, and the tenant is offline until it is done); "
                "nothing was sent for this tenant. To confirm, run `saas-infra apply "
                "--allow-region-move` (or save the plan with `saas-infra plan "
                "--allow-region-move --out FILE` and apply that)"
            )


@dataclass
class _Gated:
    """One tenant of a wave whose health gate is still open."""

    run: _TenantRun
    gate: HealthGate
    deadline: float  # on the applier's clock

    @property
    def tenant(self) -> str:
        return self.run.outcome.tenant

    def judge(self, newest: dict | None, now: float) -> bool:
        """Whether the gate is decided by this look (the outcome then says how)."""
        status = newest["status"] if newest and newest["version"] == self.gate.version else "NONE"
        late = now >= self.deadline
        if status in IN_PROGRESS or status == "NONE":
            if not late:
                return False
            return self.verdict(status, None)
        answer = self.run.probe_once(self.gate) if status in RUNNING else None
        if status in RUNNING and answer not in (200, _UNPROBED) and not late:
            return False  # not answering yet: looked at again until the timeout
        return self.verdict(status, answer)

    def verdict(self, status: str, answer: int | None | object) -> bool:
        run = self.run
        try:
            run.gate_verdict(self.gate, status, answer)
        except SaasInfraError as exc:
            run.outcome.ok = False
            run.outcome.error = str(exc)
            run.a._report(self.tenant, "done", "failed")
        return True


def _short(version: str) -> str:
    return version[:12] if _is_commit(version) else version


def _is_commit(version: str) -> bool:
    return len(version) == 40 and "/" not in version


def _has_source(gateway: ObservedService | None) -> bool:
    return gateway is not None and bool(gateway.repo or gateway.image)


def _deploys(action: Action) -> bool:
    match action.change:
        case SetVariables(values=values):
            return bool(values)
        case SetSecrets():
            return True
        case UpdateSource(deploy=deploy):
            return deploy
        case Redeploy() | UpdateSettings():
            return True
        case SetLimits(deploy=deploy):
            return deploy
        case SetVersion(deploy=deploy):
            return deploy
        case Rollback():
            return True
        case _:
            return False


def _secret_refs(action: Action) -> dict[str, str]:
    match action.change:
        case Create(secrets=secrets) | SetSecrets(secrets=secrets):
            return secrets
        case _:
            return {}


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
