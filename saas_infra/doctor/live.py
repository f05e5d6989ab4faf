"""`doctor --live`: every mutation saas-infra uses, on a throwaway project, in the order `create`
uses them, each answer compared with what saas-infra expects; then the project is deleted.

The project is `saas-infra-doctor-<run>`, marked `[saas-infra-doctor run=... expires=...]`:
not `luthien-*` and no tenant marker, so no pass, listing or guard takes it for a tenant, and
not `saas-infra-control`, so the fleet lock ignores it. The create, the variable change and the
redeploy go through apply's own Applier, so doctor tests the code a pass runs. Clean-up always
runs (failure, Ctrl-C, SIGTERM); a run killed outright leaves a project whose lease ends, and
the next `doctor --live` removes it (`doctor --cleanup` at once). Never prints; `say` reports.
"""

from __future__ import annotations

import json
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from saas_infra import manifest as mf
from saas_infra.apply import Applier, generate_key
from saas_infra.clock import Clock, format_time, parse_time
from saas_infra.diff import desired_source, desired_variables
from saas_infra.doctor import expect
from saas_infra.doctor.checks import DOCTOR_PREFIX, is_doctor_project
from saas_infra.doctor.report import Cleanup, Difference, Status, StepResult
from saas_infra.doctor.wire import Call, Tap
from saas_infra.errors import AuthError, NotFoundError, RailwayError, SaasInfraError
from saas_infra.marker import mark_fields
from saas_infra.plan import Action, Create, GatewayRef, Redeploy, SetVariables
from saas_infra.railway import operations as ops
from saas_infra.railway.observed import VariableSpec, parse_project, service_variables
from saas_infra.tenancy import AWAITING_APPROVAL, IN_PROGRESS, RUNNING, SERVICES

LEASE = timedelta(hours=1)  # a run outliving it stops; a leftover past it is anyone's to remove
CONSOLE = "https://railway.com/project/{id}"
PROBE = "SAAS_INFRA_DOCTOR"  # the non-secret variable the run sets, then changes
_ABOUT = ("Throwaway project of `saas-infra doctor --live`, which deletes it when it ends; "
          "`saas-infra doctor --cleanup` removes one left behind.")
DEPLOY_TIMEOUT = 900.0

Say = Callable[[str], None]


# --- the marker, and finding doctor projects -----------------------------------------------------


def description(run: str, holder: str, started: datetime) -> str:
    fields = (f"run={run} holder={holder} started={format_time(started)} "
              f"expires={format_time(started + LEASE)}")
    return f"{_ABOUT} [saas-infra-doctor {fields}]"


@dataclass(frozen=True)
class DoctorProject:
    id: str
    name: str
    run: str | None
    holder: str | None
    expires: datetime | None
    pending: bool  # already in Railway's scheduled delete

    def expired(self, now: datetime) -> bool:
        return self.expires is None or now >= self.expires

    def label(self) -> str:
        return f"{self.name} ({self.id})"


def parse_doctor_project(node: dict) -> DoctorProject | None:
    if not is_doctor_project(node.get("name"), node.get("description")):
        return None
    fields = mark_fields(node.get("description"), "-doctor") or {}
    try:
        expires = parse_time(fields["expires"]) if "expires" in fields else None
    except ValueError:
        expires = None
    return DoctorProject(node["id"], node["name"], fields.get("run"), fields.get("holder"),
                         expires, bool(node.get("deletedAt")))


def doctor_projects(client: ops.Executor, workspace_id: str | None) -> list[DoctorProject]:
    found = (parse_doctor_project(n) for n in ops.project_list(client, workspace_id))
    return [p for p in found if p is not None]


def remove(client: ops.Executor, project: DoctorProject, cleanup: Cleanup, now: datetime) -> None:
    """Delete a doctor project; when the token may not delete at once, schedule it."""
    try:
        ops.project_delete(client, project.id)
    except NotFoundError:
        cleanup.removed.append(f"{project.label()} (already gone)")
        return
    except AuthError as exc:
        _schedule_instead(client, project, cleanup, now, exc)
        return
    except RailwayError as exc:
        cleanup.left.append(_left(project, exc))
        return
    cleanup.removed.append(project.label())


def _schedule_instead(client, project: DoctorProject, cleanup: Cleanup, now: datetime,
                      refused: RailwayError) -> None:
    if project.pending:
        cleanup.scheduled.append(f"{project.label()} is already in Railway's scheduled delete")
        return
    try:
        ops.project_schedule_delete(client, project.id)
    except RailwayError as exc:
        cleanup.left.append(_left(project, exc))
        return
    until = format_time(now + timedelta(hours=48))
    cleanup.scheduled.append(f"{project.label()}: Railway refused an immediate delete "
                             f"({refused.message}); scheduled instead, gone by {until}")


def _left(project: DoctorProject, error: RailwayError) -> str:
    return (f"{project.label()}: {error}; delete it in the Railway console "
            f"({CONSOLE.format(id=project.id)}) or run `saas-infra doctor --cleanup`")


def sweep(client: ops.Executor, workspace_id: str | None, now: datetime, *,
          everything: bool) -> Cleanup:
    """Remove leftover doctor projects: those whose lease ended, or all (`doctor --cleanup`)."""
    cleanup = Cleanup()
    for project in doctor_projects(client, workspace_id):
        if not everything and not project.expired(now):
            cleanup.skipped.append(
                f"{project.label()} of {project.holder or 'another run'}, in use until "
                f"{format_time(project.expires)} (`saas-infra doctor --cleanup` removes it now)")
            continue
        remove(client, project, cleanup, now)
    return cleanup


# --- interrupts ---------------------------------------------------------------------------------


@contextmanager
def interrupts_as_keyboard(say: Say) -> Iterator[None]:
    """SIGTERM (a CI cancel) ends the run as Ctrl-C does, so clean-up still runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum, _frame) -> None:
        say("Terminated: cleaning up the doctor project first")
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def shielded(say: Say) -> Iterator[None]:
    """During clean-up the first Ctrl-C is answered with a message; the second abandons it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    presses = []

    def press(_signum, _frame) -> None:
        presses.append(1)
        if len(presses) > 1:
            raise KeyboardInterrupt
        say("Cleaning up the doctor project; Ctrl-C again abandons it "
            "(`saas-infra doctor --cleanup` removes it later)")

    previous = signal.signal(signal.SIGINT, press)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- the run ------------------------------------------------------------------------------------


class LiveRun:
    """One `doctor --live` run on one workspace. `steps` fills as it goes; `clean_up` always."""

    def __init__(self, tap: Tap, workspace_id: str, clock: Clock, *, holder: str,
                 say: Say | None = None, key_factory: Callable[[], str] = generate_key,
                 poll_interval: float = 2.0, deploy_timeout: float = DEPLOY_TIMEOUT,
                 on_step: Callable[[str], None] | None = None) -> None:
        self.tap = tap
        self.workspace_id = workspace_id
        self.clock = clock
        self.say = say or (lambda _text: None)
        self.key_factory = key_factory
        self.poll_interval = poll_interval
        self.deploy_timeout = deploy_timeout
        self.on_step = on_step  # told each step's name before it starts (--record's cassettes)
        self.run = secrets.token_hex(3)
        self.name = DOCTOR_PREFIX + self.run
        self.started = clock.now()
        self.description = description(self.run, holder, self.started)
        self.project_id: str | None = None
        self.environment_id: str | None = None
        self.gateway_id: str | None = None
        self.written: dict[str, str] = {}  # what the run set on the gateway, to read back
        self.deployment: dict | None = None
        self.deleted = False
        self.steps: list[StepResult] = []

    # --- driving ------------------------------------------------------------------------------

    def execute(self) -> list[StepResult]:
        """Every step in order until one fails; raises KeyboardInterrupt (the caller cleans up)."""
        for name, step in (("create", self.create), ("read-back", self.read_back),
                           ("deploy", self.first_deploy), ("variables", self.change_variables),
                           ("redeploy", self.redeploy), ("schedule-delete", self.schedule_delete),
                           ("cancel-delete", self.cancel_delete), ("delete", self.delete)):
            if self.clock.now() >= self.started + LEASE - timedelta(minutes=5):
                self.steps.append(StepResult(name, Status.FAIL, "not run: the run reached the "
                                             "end of its lease"))
                break
            self.say(f"doctor --live: {name}...")
            if self.on_step is not None:
                self.on_step(f"live-{name}")
            if not self._run_step(name, step):
                break
        return self.steps

    def _run_step(self, name: str, step: Callable[[StepResult], None]) -> bool:
        mark, began = self.tap.mark(), self.clock.monotonic()
        result = StepResult(name, Status.OK, "")
        try:
            step(result)
        except _StepFailed as exc:
            result.status, result.summary = Status.FAIL, str(exc)
        except SaasInfraError as exc:
            result.status = Status.FAIL
            done = f"{result.summary}; " if result.summary else ""
            result.summary = f"{done}failed: {exc}"
        finally:
            calls = self.tap.since(mark)
            self._learn(calls)
            result.calls = len(calls)
            result.seconds = self.clock.monotonic() - began
            result.differences += _differences(calls)
            if result.differences and result.status is Status.OK:
                result.status = Status.FAIL
            self.steps.append(result)
        return result.status is not Status.FAIL

    def _learn(self, calls: list[Call]) -> None:
        """The project's id as soon as Railway gave it: clean-up needs it whatever happens next."""
        for call in calls:
            if call.name == "ProjectCreate" and call.data:
                self.project_id = call.data["projectCreate"]["id"]

    # --- the steps ------------------------------------------------------------------------------

    def create(self, result: StepResult) -> None:
        gateway = mf.GatewaySpec(repo=mf.DEFAULT_REPO, branch="main", variables={PROBE: "1"})
        variables = desired_variables(gateway)
        action = Action(self.name, "doctor --live", Create(
            project_name=self.name, description=self.description,
            source=desired_source(gateway), variables=variables,
            missing=("project", *SERVICES, "domain")))
        done: list[str] = []
        outcome = self._applier(lambda step, state: done.append(f"{step} {state}")).apply_tenant(
            self.name, [action])
        self.project_id = outcome.project_id or self.project_id
        self.written = {**variables, **(outcome.credentials or {})}
        result.summary = ", ".join(done) or "nothing"
        if not outcome.ok:
            raise _StepFailed(f"{result.summary}; then {outcome.error}")
        project = parse_project(ops.project(self.tap, self.project_id))
        missing = [s for s in SERVICES if s not in project.services]
        if missing or project.gateway is None or not project.gateway.domain:
            raise _StepFailed(f"the project lacks {', '.join(missing) or 'a gateway domain'}")
        self.environment_id, self.gateway_id = project.environment_id, project.gateway.id
        result.summary = f"{self.name}: {result.summary}"

    def read_back(self, result: StepResult) -> None:
        """Read the gateway's variables back, as a pass (the listing) and `credentials`
        (`variables`) do. A masked or sealed value is unknown to saas-infra, never missing."""
        specs = _config_specs(ops.project(self.tap, self.project_id), self.gateway_id)
        values = ops.variables(self.tap, project_id=self.project_id,
                               environment_id=self.environment_id, service_id=self.gateway_id)
        sealed = sorted(n for n in self.written if n in specs and specs[n].sealed)
        masked = sorted(n for n in self.written if n not in sealed and n in specs
                        and specs[n].value is None)
        for name, value in self.written.items():
            if name not in specs:
                result.differences.append(Difference("Project", f"config.{name}",
                                                     "the variable just written", "missing"))
            elif name not in sealed and name not in masked and specs[name].value != value:
                result.differences.append(Difference("Project", f"config.{name}.value",
                                                     "the value written", "another value"))
            if name not in values and name not in sealed:
                result.differences.append(Difference("Variables", f"variables.{name}",
                                                     "the variable just written", "missing"))
        if sealed:
            result.notes.append(f"sealed as soon as written (never returned): {', '.join(sealed)}")
        if masked:
            result.status = Status.WARN
            result.summary = (f"masked (null) with this token: {', '.join(masked)}; passes cannot "
                              "check these values and `credentials` cannot show the keys")
        else:
            result.summary = (f"{len(self.written) - len(sealed)} variables read back as written "
                              "(listing and `variables`)")

    def _gateway(self) -> GatewayRef:
        if self.gateway_id is None:
            raise _StepFailed("the gateway was never created")
        return GatewayRef(self.environment_id, self.gateway_id)

    def first_deploy(self, result: StepResult) -> None:
        self._wait(result, "first deploy (serviceCreate with a source)", previous=None)

    def change_variables(self, result: StepResult) -> None:
        before = self.deployment
        value = f"changed-{self.run}"
        action = Action(self.name, "doctor --live",
                        SetVariables({PROBE: value}, (), self._gateway()),
                        project_id=self.project_id)
        self._act(action)
        self.written[PROBE] = value
        seen = _config_specs(ops.project(self.tap, self.project_id), self.gateway_id)
        probe = seen.get(PROBE)
        if probe is not None and probe.value not in (value, None):
            result.differences.append(Difference("VariableCollectionUpsert", PROBE,
                                                 "the new value on the next read", "the old one"))
        self._wait(result, f"{PROBE} changed, deployed", previous=before)
        _commit_note(result, before, self.deployment, "the variable change")
        if _commit(before) and _commit(self.deployment) and _commit(before) != _commit(
                self.deployment):
            result.differences.append(Difference(
                "VariableCollectionUpsert", "deployment.meta.commitHash",
                "the commit already running (a configuration change ships no new code)",
                "another commit"))

    def redeploy(self, result: StepResult) -> None:
        before = self.deployment
        action = Action(self.name, "doctor --live",
                        Redeploy(self.description, self._gateway()), project_id=self.project_id)
        self._act(action)
        self._wait(result, "redeployed", previous=before)
        _commit_note(result, before, self.deployment, "the redeploy")

    def schedule_delete(self, result: StepResult) -> None:
        ops.project_schedule_delete(self.tap, self.project_id)
        node = ops.project(self.tap, self.project_id)
        if not node.get("deletedAt"):
            result.differences.append(Difference(
                "ProjectScheduleDelete", "project.deletedAt",
                "a time (how saas-infra tells a scheduled delete)", "null"))
        listed = {n["id"]: n for n in ops.project_list(self.tap, self.workspace_id)}
        shown = self.project_id in listed
        result.notes.append("a listing without includeDeleted "
                            + ("shows" if shown else "does not show")
                            + " a project pending deletion")
        result.summary = "Railway holds the project in its scheduled delete (deletedAt set)"

    def cancel_delete(self, result: StepResult) -> None:
        ops.project_schedule_delete_cancel(self.tap, self.project_id)
        node = ops.project(self.tap, self.project_id)
        if node.get("deletedAt"):
            result.differences.append(Difference("ProjectScheduleDeleteCancel", "project.deletedAt",
                                                 "null once cancelled", "a time"))
        result.summary = "the scheduled delete is cancelled (deletedAt null again)"

    def delete(self, result: StepResult) -> None:
        try:
            ops.project_delete(self.tap, self.project_id)
        except AuthError as exc:
            ops.project_schedule_delete(self.tap, self.project_id)
            self.deleted = True
            result.status = Status.WARN
            result.summary = (f"Railway refused projectDelete ({exc.message}), so "
                              "`delete --force` would fail with this token; scheduled instead")
            return
        self.deleted = True
        try:
            node = ops.project(self.tap, self.project_id)
        except NotFoundError:
            result.summary = "deleted; Railway answers \"Project not found\" for it"
            return
        result.summary = "deleted"
        if not node.get("deletedAt"):
            result.differences.append(Difference("ProjectDelete", "project",
                                                 "gone, or deletedAt set", "a live project"))

    # --- helpers --------------------------------------------------------------------------------

    def _applier(self, progress=None) -> Applier:
        def report(_tenant: str, step: str, state: str) -> None:
            if progress is not None and state != "start" and step != "done":
                progress(step, state)

        return Applier(self.tap, self.workspace_id, clock=self.clock, concurrency=1,
                       progress=report, key_factory=self.key_factory,
                       poll_interval=self.poll_interval)

    def _act(self, action: Action) -> None:
        outcome = self._applier().apply_tenant(self.name, [action])
        if not outcome.ok:
            raise _StepFailed(outcome.error or "failed")

    def _wait(self, result: StepResult, what: str, previous: dict | None) -> None:
        """Poll the gateway's latest deployment until a new one settles, noting each status."""
        seen: list[str] = []
        started = self.clock.monotonic()
        looks = 0
        while True:
            latest = ops.latest_deployments(self.tap, project_id=self.project_id,
                                            environment_id=self.environment_id,
                                            service_id=self.gateway_id)
            looks += 1
            deployment = latest[0] if latest else None
            fresh = deployment is not None and (
                previous is None or deployment["id"] != previous["id"])
            if fresh:
                status = deployment["status"]
                if not seen or seen[-1] != status:
                    seen.append(status)
                if status not in IN_PROGRESS:
                    break
            elif looks == 2:  # one look may race the deploy's queueing; two is Railway's lag
                result.notes.append("the latest deployment was still the previous one on the "
                                    "second look after the request")
            if self.clock.monotonic() - started > self.deploy_timeout:
                raise _StepFailed(f"{what}: no new deployment settled in "
                                  f"{self.deploy_timeout:.0f} s ({' → '.join(seen) or 'none'})")
            self.clock.sleep(self.poll_interval)
        self.deployment = deployment
        took = self.clock.monotonic() - started
        result.summary = f"{what}: {' → '.join(seen)} in {took:.0f} s"
        backwards = _backwards(seen)
        if backwards:
            result.differences.append(Difference(
                "Deployments", "deployments.edges[].node.status",
                "QUEUED → INITIALIZING → BUILDING → DEPLOYING → SUCCESS, in that order",
                backwards))
        status = deployment["status"]
        if status == AWAITING_APPROVAL:
            result.status = Status.FAIL
            result.summary += ("; the deployment awaits approval in Railway (a person must "
                               "approve it)")
        elif status not in RUNNING:
            result.status = Status.FAIL
            result.summary += (f"; the deployment ended {status}: the Railway console shows why "
                               f"({CONSOLE.format(id=self.project_id)})")

    # --- clean-up ---------------------------------------------------------------------------------

    def clean_up(self) -> Cleanup:
        """Remove this run's project, whatever happened; say what could not be removed."""
        cleanup = Cleanup()
        now = self.clock.now()
        mine = DoctorProject(self.project_id or "?", self.name, self.run, None, None, False)
        if self.deleted:
            return cleanup
        if self.project_id is None:
            if not any(c.name == "ProjectCreate" for c in self.tap.since(0)):
                return cleanup  # nothing was created
            try:  # the create's answer was lost: Railway may still have made it
                found = [p for p in doctor_projects(self.tap, self.workspace_id)
                         if p.run == self.run]
            except RailwayError as exc:
                cleanup.left.append(f"{self.name}: could not look for it ({exc}); run "
                                    "`saas-infra doctor --cleanup`")
                return cleanup
            for project in found:
                remove(self.tap, project, cleanup, now)
            return cleanup
        remove(self.tap, mine, cleanup, now)
        return cleanup


class _StepFailed(SaasInfraError):
    pass


def _differences(calls: list[Call]) -> list[Difference]:
    return [d for c in calls if c.data is not None
            for d in expect.check(c.operation, c.variables, c.data)]


def _config_specs(node: dict, service_id: str | None) -> dict[str, VariableSpec]:
    """One service's variables in the project's config, read as a pass reads them (the
    production environment, else the first)."""
    return service_variables(node).get(service_id or "", {})


_PHASES = {"QUEUED": 0, "WAITING": 0, "INITIALIZING": 1, "BUILDING": 2, "DEPLOYING": 3,
           "SUCCESS": 4, "FAILED": 4, "CRASHED": 4}


def _backwards(seen: list[str]) -> str | None:
    """The first status seen after one that comes later in a deployment's life, if any."""
    latest = None
    for status in seen:
        if status not in _PHASES:
            continue
        if latest is not None and _PHASES[status] < _PHASES[latest]:
            return f"{status} after {latest}"
        latest = status
    return None


def _commit_note(result: StepResult, before: dict | None, after: dict | None, what: str) -> None:
    old, new = _commit(before), _commit(after)
    if old and new:
        result.notes.append(f"{what} deployed commit {new[:7]} "
                            + ("(the same as before)" if old == new else f"(was {old[:7]})"))


def _commit(deployment: dict | None) -> str | None:
    meta = (deployment or {}).get("meta") or {}
    meta = json.loads(meta) if isinstance(meta, str) else meta
    return meta.get("commitHash") if isinstance(meta, dict) else None
