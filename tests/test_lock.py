"""The fleet lock on the emulator: one holder at a time, waiting, races, slow claims, dead
holders, renewal, loss between tenant steps, release, what it costs and leaves behind, `unlock`,
and the sandbox's file lock. Time is a FakeClock; nothing sleeps for real except the heartbeat
test's short wait for its thread."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import httpx
import pytest

from saas_infra import lock, verbs
from saas_infra import manifest as mf
from saas_infra.clock import FakeClock, format_time
from saas_infra.errors import ApiError, LockHeldError, LockLostError, NetworkError, RailwayError
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.railway import operations as ops
from saas_infra.reconcile import apply_pass
from saas_infra.settings import Settings
from tests.conftest import START, fleet_projects

LOCK_CALLS = ("LockRead", "LockClaim", "LockWrite", "ProjectList", "ProjectCreate",
              "ProjectDelete")


def make_lock(client, emu, clock, holder: str, **kw) -> lock.FleetLock:
    kw.setdefault("heartbeat", None)
    kw.setdefault("timeout", 0)
    return lock.FleetLock(client, emu.workspace_id, clock, holder=holder, **kw)


def controls(emu) -> list[dict]:
    return [p for p in emu.snapshot()["projects"] if p["name"] == lock.CONTROL_PROJECT]


def lease_on_railway(emu) -> lock.Lease | None:
    [control] = controls(emu)
    return lock.parse_lease(control["description"])


def tenant_projects(emu) -> list[str]:
    return sorted(p["name"] for p in fleet_projects(emu))


def lock_counts(emu) -> dict[str, int]:
    return {name: emu.counts[name] for name in LOCK_CALLS}


def calls_since(emu, before: dict[str, int]) -> dict[str, int]:
    return {name: n - before[name] for name, n in lock_counts(emu).items() if n != before[name]}


class Said(list):
    """Collects the lock's messages."""

    def __call__(self, text: str) -> None:
        self.append(text)


# --- holding and releasing ---------------------------------------------------------------------


def test_a_pass_holds_the_lock_while_it_acts_and_frees_it_at_the_end(fleet, write_tenant, emu):
    write_tenant("acme")
    seen = []

    def progress(tenant, step, state):
        seen.append(lease_on_railway(emu))

    report = apply_pass(fleet, progress=progress)
    assert report.converged
    assert seen and all(lease is not None and lease.nonce == seen[0].nonce for lease in seen)
    assert lease_on_railway(emu) is None  # free again
    assert tenant_projects(emu) == ["luthien-acme"]


def test_a_pass_with_nothing_to_do_never_takes_the_lock(fleet, write_tenant, emu):
    write_tenant("acme")
    apply_pass(fleet)
    before = lock_counts(emu)
    report = apply_pass(fleet)
    assert report.converged and report.plan.empty
    assert calls_since(emu, before) == {}


def test_taking_and_freeing_a_free_lock_costs_four_calls(client, emu, clock):
    first = make_lock(client, emu, clock, "ci-run-1")
    before = lock_counts(emu)
    first.acquire()
    first.release()
    # Once per workspace: the control project is looked for, made with the claim in it, and
    # looked for again (the read-back); then freed.
    assert calls_since(emu, before) == {"ProjectList": 2, "ProjectCreate": 1, "LockWrite": 1}
    before = lock_counts(emu)
    total = emu.counts["total"]
    held = make_lock(client, emu, clock, "ci-run-2", control_id=first.control_id)
    held.acquire()
    held.release()
    assert calls_since(emu, before) == {"LockRead": 2, "LockClaim": 1, "LockWrite": 1}
    assert emu.counts["total"] - total == 4


def test_an_acting_pass_finds_the_control_project_in_its_own_listing(fleet, write_tenant, emu):
    write_tenant("acme")
    apply_pass(fleet)  # the first pass ever makes the control project
    write_tenant("globex")
    before = lock_counts(emu)
    report = apply_pass(fleet)
    assert report.converged
    assert calls_since(emu, before) == {"ProjectCreate": 1,  # globex's own project
                                        "LockRead": 2, "LockClaim": 1, "LockWrite": 1}


def test_many_passes_leave_nothing_behind(fleet, write_tenant, emu, clock):
    path = write_tenant("acme")
    apply_pass(fleet)
    [control] = controls(emu)
    before = lock_counts(emu)
    for n in range(25):  # each pass acts (a variable changes), so each takes the lock
        _set_variables(path, {"PASS_NUMBER": str(n)})
        clock.advance(seconds=90)
        report = apply_pass(fleet)
        assert report.converged and not report.plan.empty
    assert calls_since(emu, before) == {"LockRead": 50, "LockClaim": 25, "LockWrite": 25}
    snapshot = emu.snapshot()["projects"]
    assert sorted(p["name"] for p in snapshot) == ["luthien-acme", lock.CONTROL_PROJECT]
    [after] = controls(emu)
    assert after == {**control, "description": lock.control_description(None)}
    assert after["services"] == []
    environment = emu.state.environments[after["environments"][0]["id"]]
    assert environment.shared_variables == {}


def _set_variables(path, variables: dict[str, str]) -> None:
    spec = mf.load_tenant_file(path).manifest
    gateway = spec.gateway.model_copy(update={"variables": variables})
    path.write_text(mf.render_manifest(spec.model_copy(update={"gateway": gateway})))


def test_the_control_project_is_no_finding_of_plan_or_list(fleet, client, emu, clock, run_cli,
                                                           write_tenant):
    write_tenant("acme")
    apply_pass(fleet)
    held = make_lock(client, emu, clock, "ci-run-7")
    held.acquire()
    assert len(controls(emu)) == 1 and lease_on_railway(emu).holder == "ci-run-7"
    plan = fleet.plan()
    assert plan.empty and plan.findings == () and plan.guards == ()
    observed = fleet.observe()
    assert observed.complete and observed.unmanaged() == [] and set(observed.managed()) == {"acme"}
    listed = json.loads(run_cli("list", "--all", "--json").stdout)["instances"]
    assert [row["name"] for row in listed] == ["acme"]


def test_a_second_pass_that_cannot_wait_names_the_holder_and_changes_nothing(
        fleet, client, emu, clock, write_tenant):
    write_tenant("acme")
    held = make_lock(client, emu, clock, "ci-run-1")
    lease = held.acquire()
    fleet.lock_timeout = 0
    with pytest.raises(LockHeldError) as caught:
        apply_pass(fleet)
    assert str(caught.value) == (
        f"another saas-infra pass holds the fleet lock (holder ci-run-1, expires "
        f"{format_time(lease.expires)})"
    )
    assert "unlock --force" in caught.value.hint
    assert tenant_projects(emu) == []
    assert lease_on_railway(emu) == lease  # not touched by the pass that gave up
    assert fleet.plan().tenants() == ["acme"]  # plan takes no lock


def test_a_waiting_pass_polls_on_the_clock_until_its_timeout(client, emu, clock):
    make_lock(client, emu, clock, "ci-run-1").acquire()
    said = Said()
    before = clock.monotonic()
    reads = emu.counts["LockRead"]
    writes = {name: emu.counts[name] for name in ("LockClaim", "LockWrite", "ProjectCreate")}
    with pytest.raises(LockHeldError):
        make_lock(client, emu, clock, "laptop", timeout=60, notify=said).acquire()
    assert clock.monotonic() - before == pytest.approx(60)
    assert len(said) == 1 and said[0].startswith("Waiting for the fleet lock (holder ci-run-1")
    assert emu.counts["LockRead"] - reads == 8  # at 0, 1, 3, 7, 15, 30, 45 and 60 s
    assert {name: emu.counts[name] for name in writes} == writes  # a waiter writes nothing


class HookClock(FakeClock):
    """A FakeClock that runs `hook` on its first sleep: something happens while one waits."""

    hook = None

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        hook, self.hook = self.hook, None
        if hook:
            hook()


def test_a_waiting_pass_goes_on_once_the_holder_releases(emu, client):
    clock = HookClock(START)
    holder = make_lock(client, emu, clock, "ci-run-1")
    holder.acquire()  # its settle time is its own first sleep
    clock.hook = holder.release
    said = Said()
    waiter = make_lock(client, emu, clock, "laptop", timeout=600, notify=said)
    lease = waiter.acquire()
    assert lease.holder == "laptop" and lease_on_railway(emu) == lease
    assert said[0].startswith("Waiting for the fleet lock (holder ci-run-1")


def test_an_expired_lease_counts_no_more_and_its_holder_is_named(client, emu, clock):
    dead = make_lock(client, emu, clock, "runner-that-died", ttl=600)
    lease = dead.acquire()  # and never released: the process died
    clock.advance(seconds=601)
    said = Said()
    taken = make_lock(client, emu, clock, "next-run", notify=said).acquire()
    assert taken.holder == "next-run"
    assert said == [
        (f"The fleet lock of runner-that-died expired at {format_time(lease.expires)} without "
         "being released (its pass probably died); it no longer counts")
    ]
    assert lease_on_railway(emu) == taken


# --- races, slow claims and Railway's answers -----------------------------------------------


class Gate(httpx.BaseTransport):
    """Holds the chosen operation's requests: at a barrier both racers reach before theirs go
    (and again once both took effect, when `landed` is given), or until `go` is set (then
    `before` runs first)."""

    def __init__(self, inner, operation: str, barrier: threading.Barrier | None = None,
                 before=None, landed: threading.Barrier | None = None) -> None:
        self.inner, self.operation, self.barrier, self.before = inner, operation, barrier, before
        self.landed = landed
        self.held, self.go = threading.Event(), threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("operationName") != self.operation:
            return self.inner.handle_request(request)
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        else:
            self.held.set()
            self.go.wait(timeout=10)
        if self.before:
            self.before()
        response = self.inner.handle_request(request)
        if self.landed is not None:
            self.landed.wait(timeout=10)
        return response


def gated_client(emu, clock, gate: Gate) -> RailwayClient:
    return RailwayClient(emu.account_token, transport=gate, retry=RetryPolicy(sleep=clock.sleep),
                         pacer=Pacer.unlimited(clock=clock), clock=clock)


def test_two_passes_racing_for_a_free_lock_leave_exactly_one_holder(client, emu, clock):
    control = make_lock(client, emu, clock, "setup")
    control.acquire()
    control.release()
    # Both read the lock free before either claims, and both claims land within the settle
    # time (a fake clock's settle takes no real time, so the second barrier stands for it).
    barrier, landed = threading.Barrier(2), threading.Barrier(2)
    own = [FakeClock(clock.now()) for _ in range(2)]  # two processes, each with its own clock
    racers = [make_lock(gated_client(emu, own[n], Gate(emu.transport(), "LockClaim", barrier,
                                                       landed=landed)),
                        emu, own[n], name, control_id=control.control_id)
              for n, name in enumerate(("ci-run-1", "laptop"))]
    results: dict[str, object] = {}

    def race(racer: lock.FleetLock) -> None:
        try:
            results[racer.holder] = racer.acquire()
        except LockHeldError as exc:
            results[racer.holder] = exc

    threads = [threading.Thread(target=race, args=(racer,)) for racer in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    winners = [name for name, r in results.items() if isinstance(r, lock.Lease)]
    losers = [r for r in results.values() if isinstance(r, LockHeldError)]
    assert len(winners) == 1 and len(losers) == 1
    assert f"(holder {winners[0]}," in str(losers[0])
    assert emu.counts["LockClaim"] == 2  # both racers claimed: the last claim stayed
    assert lease_on_railway(emu).holder == winners[0]


def test_a_claim_that_lands_late_is_not_trusted_until_an_overtaken_holder_has_looked(
        client, emu, clock):
    """Fischer's rule: a claim may have overwritten a pass that read the lock free after ours
    and confirmed before ours landed. Slower than the settle time, it waits a look's period."""
    setup = make_lock(client, emu, clock, "setup")
    setup.acquire()
    setup.release()
    gate = Gate(emu.transport(), "LockClaim", before=lambda: clock.advance(seconds=2))
    said = Said()
    late = make_lock(gated_client(emu, clock, gate), emu, clock, "late-runner", notify=said,
                     timeout=600, control_id=setup.control_id)
    got: dict[str, object] = {}
    runner = threading.Thread(target=lambda: got.update(lease=late.acquire()))
    runner.start()
    assert gate.held.wait(timeout=10)  # it read the lock free; its claim is on its way
    first = make_lock(client, emu, clock, "first", control_id=setup.control_id)
    first.acquire()  # reads free, claims, settles, reads its own claim back: it holds the lock
    landed = clock.monotonic()
    gate.go.set()  # now the late claim lands, over the holder's
    runner.join(timeout=20)
    assert said[0] == ("The fleet lock's claim cannot be trusted (it took 5.0 s, not less than "
                       "3 s): claiming again in 33 s")
    assert got["lease"].holder == "late-runner"
    assert clock.monotonic() - landed >= lock.CHECK_EVERY  # it acted only after a full period
    with pytest.raises(LockLostError, match=r"\(late-runner holds it now\); it stopped before"):
        first.check()  # the overtaken holder's next look between steps stops it


def test_a_claim_railway_refuses_is_made_again_after_reading_again(client, emu, clock):
    setup = make_lock(client, emu, clock, "setup")
    setup.acquire()
    emu.faults.cooldown_seconds = 30  # setup's claim just changed the control project
    said = Said()
    setup.release()
    clock.advance(seconds=1)
    before = lock_counts(emu)
    lease = make_lock(client, emu, clock, "ci-run-2", notify=said, timeout=120,
                      control_id=setup.control_id).acquire()
    assert lease.holder == "ci-run-2"
    assert said == ['Railway says "Endpoint too recently updated": waiting 30 s (LockClaim)']
    assert calls_since(emu, before) == {"LockRead": 3, "LockClaim": 2}


def test_a_control_project_created_behind_a_timeout_is_adopted_not_made_twice(client, emu, clock):
    emu.faults.create_timeout = 1.0  # Railway commits the project, the answer never comes
    lease = make_lock(client, emu, clock, "ci-run-1").acquire()
    assert lease.holder == "ci-run-1"
    assert len(controls(emu)) == 1
    assert emu.fault_counts["create_timeout"] == 1 and emu.counts["ProjectCreate"] == 1


def test_two_first_passes_making_the_control_project_end_up_sharing_one(emu, clock):
    # Both listed no control project before either made one, and both creates land within the
    # settle time (the second barrier stands for it: a fake clock's settle takes no real time).
    barrier, landed = threading.Barrier(2), threading.Barrier(2)
    own = [FakeClock(clock.now()) for _ in range(2)]  # two processes, each with its own clock
    racers = [make_lock(gated_client(emu, own[n], Gate(emu.transport(), "ProjectCreate",
                                                       barrier, landed=landed)),
                        emu, own[n], name) for n, name in enumerate(("ci-run-1", "laptop"))]
    threads = [threading.Thread(target=lambda r=r: setattr(r, "control_id", r._locate()))
               for r in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert emu.counts["ProjectCreate"] == 2
    assert racers[0].control_id == racers[1].control_id  # the oldest, for both
    assert [p["id"] for p in controls(emu)] == [racers[0].control_id]  # the other was removed
    holders = [r.holder for r in racers if r.lease is not None]  # the kept one's maker holds
    assert len(holders) == 1 and lease_on_railway(emu).holder == holders[0]


class LosesCreateBehindAnOlder:
    """Another first pass makes its control project just before ours; ours is made too, but its
    answer is lost."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def execute(self, operation, variables=None):
        if operation is not ops.PROJECT_CREATE:
            return self.inner.execute(operation, variables)
        now = START
        other = lock.Lease("other-first-pass", "0123456789ab", now, now + timedelta(minutes=10))
        ops.project_create(self.inner, name=lock.CONTROL_PROJECT,
                           description=lock.control_description(other), workspace_id=None)
        self.inner.execute(operation, variables)
        raise NetworkError("the answer was lost", operation=operation.name)


def test_our_control_project_made_behind_a_lost_answer_goes_when_another_is_older(
        client, emu, clock):
    with pytest.raises(LockHeldError, match="holder other-first-pass"):
        make_lock(LosesCreateBehindAnOlder(client), emu, clock, "ci-run-1").acquire()
    [kept] = controls(emu)  # ours was deleted, though Railway's answer never came
    assert lock.parse_lease(kept["description"]).holder == "other-first-pass"


def test_a_control_project_railway_neither_made_nor_lists_is_not_called_created(
        client, emu, clock):
    class NeverMade(LosesCreateBehindAnOlder):
        def execute(self, operation, variables=None):
            if operation is ops.PROJECT_CREATE:
                raise NetworkError("the answer was lost", operation=operation.name)
            return self.inner.execute(operation, variables)

    with pytest.raises(RailwayError) as caught:
        make_lock(NeverMade(client), emu, clock, "ci-run-1").acquire()
    assert str(caught.value) == (
        "the answer to creating the fleet lock's control project saas-infra-control was lost "
        "(the answer was lost (operation ProjectCreate)), but Railway does not list it "
        "(operation ProjectList)")


class RefusesProjects:
    """A client whose projectCreate Railway refuses (a workspace at its plan's project limit)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def execute(self, operation, variables=None):
        if operation is ops.PROJECT_CREATE:
            raise ApiError("Project limit reached for your plan", operation=operation.name)
        return self.inner.execute(operation, variables)


def test_a_workspace_that_refuses_the_control_project_says_what_it_was_for(client, emu, clock):
    with pytest.raises(ApiError) as caught:
        make_lock(RefusesProjects(client), emu, clock, "ci-run-1").acquire()
    assert str(caught.value) == (
        "could not create saas-infra-control, the project that holds the fleet lock: Project "
        "limit reached for your plan (operation ProjectCreate)")


class FailsSecondListing:
    """A client whose second project listing fails for good (after the control project's create)."""

    def __init__(self, inner) -> None:
        self.inner, self.listings = inner, 0

    def execute(self, operation, variables=None):
        if operation is ops.PROJECT_LIST and variables.get("after") is None:
            self.listings += 1
            if self.listings == 2:
                raise ApiError("Problem processing request", operation=operation.name)
        return self.inner.execute(operation, variables)


def test_a_pass_that_fails_after_making_the_control_project_frees_its_claim(client, emu, clock):
    with pytest.raises(ApiError):
        make_lock(FailsSecondListing(client), emu, clock, "ci-run-1").acquire()
    assert lease_on_railway(emu) is None  # nobody waits ten minutes for a claim left behind


class CtrlCClock(FakeClock):
    """A FakeClock whose settle-time sleep is interrupted by Ctrl-C once armed."""

    armed = False

    def sleep(self, seconds: float) -> None:
        if self.armed and seconds == lock.SETTLE:
            raise KeyboardInterrupt
        super().sleep(seconds)


@pytest.mark.parametrize("first", [False, True], ids=["claim", "first-pass-creating-control"])
def test_ctrl_c_while_taking_the_lock_leaves_it_free(client, emu, first):
    clock = CtrlCClock(START)
    control_id = None
    if not first:
        setup = make_lock(client, emu, clock, "setup")
        setup.acquire()
        setup.release()
        control_id = setup.control_id
    clock.armed = True
    with pytest.raises(KeyboardInterrupt):
        make_lock(client, emu, clock, "interrupted", control_id=control_id).acquire()
    clock.armed = False
    assert lease_on_railway(emu) is None
    assert make_lock(client, emu, clock, "next-run").acquire().holder == "next-run"


def test_a_deleted_control_project_is_made_again(client, emu, clock):
    first = make_lock(client, emu, clock, "ci-run-1")
    first.acquire()
    first.release()
    ops.project_delete(client, first.control_id)
    again = make_lock(client, emu, clock, "ci-run-2", control_id=first.control_id)
    assert again.acquire().holder == "ci-run-2"
    assert again.control_id != first.control_id and len(controls(emu)) == 1


def test_railway_keeps_the_last_of_two_writes_to_one_description_and_refuses_neither(
        client, emu, clock):
    """The emulator's model of Railway's lack of compare-and-set (see its module docstring)."""
    project = ops.project_create(client, name="any", description="a", workspace_id=None)
    ops.project_set_description(client, project["id"], "first writer")
    ops.project_set_description(client, project["id"], "second writer")
    assert ops.lock_read(client, project["id"])["description"] == "second writer"


# --- renewal, loss, and the steps of a pass --------------------------------------------------


def test_the_lease_is_renewed_once_a_third_of_it_is_left(client, emu, clock):
    held = make_lock(client, emu, clock, "ci-run-1", ttl=600)
    first = held.acquire()
    clock.advance(seconds=300)
    assert held.renew_if_due() is False
    clock.advance(seconds=150)
    assert held.renew_if_due() is True
    assert held.lease.expires == clock.now() + timedelta(seconds=600)
    assert lease_on_railway(emu).expires == held.lease.expires > first.expires


def test_a_holder_looks_at_its_lease_every_period_and_not_more(client, emu, clock):
    held = make_lock(client, emu, clock, "ci-run-1")
    held.acquire()
    reads = emu.counts["LockRead"]
    for _ in range(10):
        held.check()
    assert emu.counts["LockRead"] == reads  # checks between steps cost nothing until due
    clock.advance(seconds=lock.CHECK_EVERY)
    held.check()
    held.check()
    assert emu.counts["LockRead"] == reads + 1


def test_a_lock_broken_during_the_pass_fails_the_pass_at_its_end(client, emu, clock):
    lost = pytest.raises(LockHeldError, match="the fleet lock was lost during this pass")
    with lost, make_lock(client, emu, clock, "ci-run-1", ttl=600) as held:
        broken = lock.break_lock(client, emu.workspace_id, sleep=clock.sleep)
        assert broken.lease.holder == "ci-run-1"
        clock.advance(seconds=450)
        assert held.renew_if_due() is False
    assert held.lost.startswith("its lease was removed")
    assert lease_on_railway(emu) is None


def test_a_lost_lease_stops_apply_between_tenant_steps(fleet, client, emu, clock, write_tenant):
    write_tenant("acme")
    write_tenant("globex")
    fleet.concurrency = 1  # acme, then globex
    taken = []

    def progress(tenant, step, state):
        if (tenant, step) == ("acme", "project") and not taken:
            # An operator breaks the lock of this (live) pass, and another pass takes it.
            lock.break_lock(client, emu.workspace_id, sleep=clock.sleep)
            taken.append(make_lock(client, emu, clock, "ci-run-9").acquire())
            clock.advance(seconds=lock.CHECK_EVERY)

    report = apply_pass(fleet, progress=progress)  # what it did is reported, not thrown away
    lost = ("the fleet lock was lost during this pass (ci-run-9 holds it now); it stopped before "
            "its next step; another pass may be acting on the fleet now")
    assert report.lost == lost and not report.converged
    assert [(o.tenant, o.ok, o.error) for o in report.outcomes] == [
        ("acme", False, lost), ("globex", False, lost)]
    assert [(s.name, s.result) for s in report.outcomes[0].steps] == [("project", "created")]
    [acme] = [p for p in fleet_projects(emu) if p["name"] == "luthien-acme"]
    assert acme["services"] == []  # no template was deployed after the loss
    assert tenant_projects(emu) == ["luthien-acme"]  # globex never started
    assert lease_on_railway(emu) == taken[0]  # the stopped pass left the new holder's lease


def take_over(client, emu, clock) -> lock.Lease:
    """An operator breaks the lock of a live pass and another pass takes it; the live pass's
    next look is due."""
    lock.break_lock(client, emu.workspace_id, sleep=clock.sleep)
    taken = make_lock(client, emu, clock, "ci-run-9").acquire()
    clock.advance(seconds=lock.CHECK_EVERY)
    return taken


LOST = ("the fleet lock was lost during this pass (ci-run-9 holds it now); it stopped before "
        "its next step; another pass may be acting on the fleet now")


def test_a_tenant_whose_last_step_came_before_the_loss_has_finished(
        fleet, client, emu, clock, write_tenant):
    path = write_tenant("acme")
    apply_pass(fleet)
    _set_variables(path, {"PASS_NUMBER": "2"})
    taken = []

    def progress(tenant, step, state):
        if step == "variables" and not taken:
            taken.append(take_over(client, emu, clock))

    report = apply_pass(fleet, progress=progress)
    [acme] = report.outcomes
    assert (acme.ok, acme.error, [s.name for s in acme.steps]) == (True, None, ["variables"])
    assert report.lost == LOST and not report.converged and not report.failed
    assert lease_on_railway(emu) == taken[0]


class TakesOverAfter(httpx.BaseTransport):
    """Once a request whose body holds `marker` has landed, the lock is taken over."""

    def __init__(self, inner, marker: str, take) -> None:
        self.inner, self.marker, self.take, self.taken = inner, marker, take, []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not self.taken and self.marker in request.content.decode():
            self.taken.append(self.take())
        return response


def test_create_that_lost_the_lock_still_shows_the_keys_it_made(run_cli, runtime, client, emu,
                                                                  clock):
    runtime.transport = TakesOverAfter(emu.transport(), '"CLIENT_API_KEY"',
                                       lambda: take_over(client, emu, clock))
    result = run_cli("create", "acme", "--no-wait")
    assert result.exit_code == 1
    assert f"Error: {LOST}" in result.stderr
    [project] = fleet_projects(emu)
    shown = dict(line.split(":", 1) for line in result.stdout.splitlines()
                 if line.strip().startswith(("CLIENT_API_KEY", "ADMIN_API_KEY")))
    on_railway = _gateway_keys(client, emu, project["name"])
    assert {k.strip(): v.strip() for k, v in shown.items()} == on_railway and len(on_railway) == 2


def test_a_rotation_that_lost_the_lock_still_shows_the_new_keys(run_cli, runtime, fleet, client,
                                                                 emu, clock, write_tenant):
    write_tenant("acme")
    apply_pass(fleet)
    before = _gateway_keys(client, emu, "luthien-acme")
    runtime.transport = TakesOverAfter(emu.transport(), "VariableCollectionUpsert",
                                       lambda: take_over(client, emu, clock))
    result = run_cli("credentials", "acme", "--rotate")
    assert result.exit_code == 1
    assert ("Error: the fleet lock was lost during this pass (ci-run-9 holds it now); another "
            "pass may have acted at the same time") in result.stderr
    after = _gateway_keys(client, emu, "luthien-acme")
    assert after != before
    shown = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert {k.strip(): v.strip() for k, v in shown.items()} == after


def _gateway_keys(client, emu, project_name: str) -> dict[str, str]:
    [project] = [p for p in fleet_projects(emu) if p["name"] == project_name]
    [gateway] = [s for s in project["services"] if s["name"] == "gateway"]
    ids = {"project_id": project["id"], "environment_id": project["environments"][0]["id"],
           "service_id": gateway["id"]}
    return {k: v for k, v in ops.variables(client, **ids).items() if k.endswith("_API_KEY")}


class RefusesLockCalls:
    """A client whose lock reads and writes fail (Railway unreachable for the lock)."""

    def __init__(self, inner, refused=("LockRead", "LockWrite")) -> None:
        self.inner, self.refused, self.on = inner, refused, False

    def execute(self, operation, variables=None):
        if self.on and operation.name in self.refused:
            raise ApiError("Two Factor Authentication Required", operation=operation.name)
        return self.inner.execute(operation, variables)


def test_a_lease_that_could_not_be_renewed_stops_the_pass_once_it_expires(client, emu, clock):
    cut_off = RefusesLockCalls(client)
    held = make_lock(cut_off, emu, clock, "ci-run-1", ttl=600)
    lease = held.acquire()
    cut_off.on = True
    clock.advance(seconds=450)
    held.check()  # renewal due but Railway does not answer: goes on, the lease still runs
    clock.advance(seconds=150)
    with pytest.raises(LockLostError, match=f"its lease expired at {format_time(lease.expires)}"):
        held.check()


def test_a_lease_railway_will_not_free_expires_by_itself(client, emu, clock):
    said = Said()
    refused = RefusesLockCalls(client, refused=("LockWrite",))
    held = make_lock(refused, emu, clock, "ci-run-1", notify=said)
    lease = held.acquire()
    refused.on = True
    assert held.release() is None
    assert said[0].startswith("Could not release the fleet lock (")
    assert said[0].endswith(f"it expires at {format_time(lease.expires)}")
    clock.advance(seconds=601)
    assert make_lock(client, emu, clock, "next-run").acquire().holder == "next-run"


def test_the_heartbeat_renews_the_lease_by_itself(client, emu, clock):
    held = make_lock(client, emu, clock, "ci-run-1", ttl=600, heartbeat=0.01)
    first = held.acquire()
    try:
        clock.advance(seconds=500)
        deadline = time.monotonic() + 5
        while held.lease.expires == first.expires and time.monotonic() < deadline:
            time.sleep(0.01)
        assert held.lease.expires > first.expires
    finally:
        assert held.release() is None
    assert lease_on_railway(emu) is None


# --- writes whose answers are lost ----------------------------------------------------------


class LosesAnswer(httpx.BaseTransport):
    """Loses the answer of the first LockWrite of `free`: it lands on Railway when `landed`, then
    `meanwhile` runs (something happens before the writer hears back), then the answer times out."""

    def __init__(self, inner, *, landed: bool = True, meanwhile=None) -> None:
        self.inner, self.landed, self.meanwhile, self.fired = inner, landed, meanwhile, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        freeing = (body.get("operationName") == "LockWrite"
                   and body["variables"]["input"]["description"] == lock.control_description(None))
        if self.fired or not freeing:
            return self.inner.handle_request(request)
        self.fired = True
        if self.landed:
            self.inner.handle_request(request)
        if self.meanwhile:
            self.meanwhile()
        raise httpx.ReadTimeout("the answer was lost", request=request)


def losing_client(emu, clock, transport: LosesAnswer) -> RailwayClient:
    return RailwayClient(emu.account_token, transport=transport,
                         retry=RetryPolicy(sleep=clock.sleep), pacer=Pacer.unlimited(clock=clock),
                         clock=clock)


def test_a_free_whose_answer_was_lost_is_not_sent_again_over_the_next_holder(client, emu, clock):
    setup = make_lock(client, emu, clock, "setup")
    setup.acquire()
    setup.release()
    taken = []
    next_pass = make_lock(client, emu, clock, "next-run", control_id=setup.control_id)
    transport = LosesAnswer(emu.transport(), meanwhile=lambda: taken.append(next_pass.acquire()))
    said = Said()
    first = make_lock(losing_client(emu, clock, transport), emu, clock, "ci-run-1", notify=said,
                      control_id=setup.control_id)
    first.acquire()
    assert first.release() is None
    assert taken and lease_on_railway(emu) == taken[0]  # the next holder's lease stays
    assert said == ["Railway did not answer the fleet lock's free (Railway did not answer in "
                    "time: the answer was lost (operation LockWrite)): reading the lock again"]
    clock.advance(seconds=lock.CHECK_EVERY + 1)
    next_pass.check()  # still holds it: nothing freed it behind its back


def test_a_free_that_did_not_land_is_sent_again_while_the_lease_is_ours(client, emu, clock):
    transport = LosesAnswer(emu.transport(), landed=False)
    held = make_lock(losing_client(emu, clock, transport), emu, clock, "ci-run-1")
    held.acquire()
    writes = emu.counts["LockWrite"]
    assert held.release() is None
    assert lease_on_railway(emu) is None
    assert emu.counts["LockWrite"] - writes == 1  # the second: the first never reached Railway


def test_unlock_force_frees_only_the_lease_it_found(client, emu, clock):
    dead = make_lock(client, emu, clock, "runner-that-died")
    dead.acquire()
    taken = []
    waiter = make_lock(client, emu, clock, "waiting-run", control_id=dead.control_id)
    transport = LosesAnswer(emu.transport(), meanwhile=lambda: taken.append(waiter.acquire()))
    state = lock.break_lock(losing_client(emu, clock, transport), emu.workspace_id,
                            sleep=clock.sleep)
    assert state.lease.holder == "runner-that-died"
    assert taken and lease_on_railway(emu) == taken[0]  # the waiter that took it keeps it


def test_a_claim_freed_at_once_is_made_again(client, emu, clock):
    clock = HookClock(clock.now())
    setup = make_lock(client, emu, clock, "setup")
    setup.acquire()
    setup.release()
    # A late free (say, of an `unlock --force`) lands over the claim during its settle time.
    clock.hook = lambda: ops.lock_write(client, setup.control_id, lock.control_description(None))
    said = Said()
    lease = make_lock(client, emu, clock, "ci-run-2", notify=said, timeout=60,
                      control_id=setup.control_id).acquire()
    assert lease.holder == "ci-run-2" and lease_on_railway(emu) == lease
    assert said == ["The fleet lock was freed over this pass's claim: claiming again"]


# --- every writer takes it ------------------------------------------------------------------------


def test_credentials_rotate_takes_the_lock(run_cli, fleet, client, emu, clock, write_tenant):
    write_tenant("acme")
    apply_pass(fleet)
    [project] = fleet.observe().managed()["acme"]
    ids = {"project_id": project.id, "environment_id": project.environment_id,
           "service_id": project.gateway.id}
    keys = {k: v for k, v in ops.variables(client, **ids).items() if k.endswith("_API_KEY")}
    held = make_lock(client, emu, clock, "ci-run-1")
    lease = held.acquire()

    refused = run_cli("credentials", "acme", "--rotate", "--lock-timeout", "0")
    assert refused.exit_code == 1
    assert (f"Error: another saas-infra pass holds the fleet lock (holder ci-run-1, expires "
            f"{format_time(lease.expires)})") in refused.stderr
    assert {k: v for k, v in ops.variables(client, **ids).items() if k in keys} == keys

    held.release()
    claims = emu.counts["LockClaim"]
    rotated = verbs.credentials(fleet, "acme", rotate=True)
    assert rotated.rotated and rotated.keys != keys
    assert emu.counts["LockClaim"] == claims + 1 and lease_on_railway(emu) is None


# --- the command line ---------------------------------------------------------------------------


def test_unlock_shows_the_holder_and_only_force_frees_it(run_cli, client, emu, clock):
    free = run_cli("unlock")
    assert (free.exit_code, free.stderr) == (0, "The fleet lock is free.\n")
    lease = make_lock(client, emu, clock, "ci-run-1").acquire()
    shown = run_cli("unlock")
    assert shown.exit_code == 1
    assert shown.stdout == f"Fleet lock: holder ci-run-1, expires {format_time(lease.expires)}\n"
    assert shown.stderr == "`saas-infra unlock --force` frees it, if that pass is dead.\n"
    assert lease_on_railway(emu) == lease
    forced = run_cli("unlock", "--force", "--json")
    assert forced.exit_code == 0
    data = json.loads(forced.stdout)
    assert data["removed"] is True and data["lease"]["holder"] == "ci-run-1"
    assert data["control_project"] == controls(emu)[0]["id"]
    assert lease_on_railway(emu) is None
    assert run_cli("unlock").stderr == "The fleet lock is free.\n"


def test_unlock_force_removes_the_lock_projects_an_earlier_version_left(run_cli, client, emu):
    old = ("saas-infra fleet lock: a reconcile pass is acting on this workspace. [saas-infra-lock "
           "holder=old-run nonce=ab12 since=2026-11-01T00:00:00Z expires=2026-11-01T00:10:00Z]")
    ops.project_create(client, name=lock.LEGACY_TICKET, description=old, workspace_id=None)
    shown = run_cli("unlock")
    assert shown.exit_code == 0
    assert shown.stderr == (
        "The fleet lock is free.\nFound 1 fleet-lock project named saas-infra-lock that an "
        "earlier saas-infra left; `saas-infra unlock --force` removes them.\n")
    forced = run_cli("unlock", "--force")
    assert forced.exit_code == 0
    assert emu.snapshot()["projects"] == []


def test_cli_apply_gives_up_after_lock_timeout_but_plan_runs(run_cli, client, emu, clock,
                                                           write_tenant):
    write_tenant("acme")
    lease = make_lock(client, emu, clock, "ci-run-1").acquire()
    applied = run_cli("apply", "--yes", "--lock-timeout", "30")
    assert applied.exit_code == 1
    assert applied.stderr.startswith(
        f"Waiting for the fleet lock (holder ci-run-1, expires {format_time(lease.expires)}); "
        "giving up in 30 s\n")
    assert (f"Error: another saas-infra pass holds the fleet lock (holder ci-run-1, expires "
            f"{format_time(lease.expires)})\n") in applied.stderr
    assert tenant_projects(emu) == []
    assert run_cli("plan", "--detailed-exitcode").exit_code == 2


def test_holder_names_the_ci_run_or_the_person(monkeypatch):
    github = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/tenants", "GITHUB_RUN_ID": "42"}
    assert lock.default_holder(github) == "github:acme/tenants/actions/runs/42"
    assert lock.default_holder({"SAAS_INFRA_LOCK_HOLDER": "ops pod [7]"}) == "ops-pod-7-"
    assert "@" in lock.default_holder({}) and ":" in lock.default_holder({})


def test_the_settings_default_wait_outlasts_a_dead_holders_lease():
    assert Settings().lock_timeout == lock.DEFAULT_TIMEOUT > lock.DEFAULT_TTL


def test_a_lease_reads_back_as_written_and_a_mangled_one_as_free():
    lease = lock.Lease("github:acme/tenants/actions/runs/42", "0a1b2c", START,
                       START + timedelta(minutes=10))
    assert lock.parse_lease(lock.control_description(lease)) == lease
    assert lock.parse_lease(lock.control_description(None)) is None
    assert lock.parse_lease("[saas-infra-control holder=x since=2026-11-26T12:00:00Z]") is None
    assert lock.parse_lease("[saas-infra tenant=acme]") is None


def test_the_oldest_control_project_counts_whatever_its_time_looks_like():
    free = lock.control_description(None)
    listed = [
        {"id": "b", "name": lock.CONTROL_PROJECT, "description": free,
         "createdAt": "2026-11-26T12:00:00.500Z"},
        {"id": "a", "name": lock.CONTROL_PROJECT, "description": free,
         "createdAt": "2026-11-26T12:00:00Z"},
        {"id": "0", "name": lock.CONTROL_PROJECT, "description": free,
         "createdAt": "2026-11-20T00:00:00Z", "deletedAt": "2026-11-21T00:00:00Z"},
        {"id": "1", "name": lock.CONTROL_PROJECT, "description": "someone else's project",
         "createdAt": "2026-11-01T00:00:00Z"},
    ]
    assert lock.find_control(listed)["id"] == "a"
    assert lock.find_control(listed[2:]) is None


# --- the sandbox's file lock -------------------------------------------------------------------


def test_one_sandbox_command_at_a_time(tmp_path):
    first = lock.lock_sandbox(tmp_path / ".saas-infra", timeout=0)
    with pytest.raises(LockHeldError, match="another saas-infra command is using the sandbox"):
        lock.lock_sandbox(tmp_path / ".saas-infra", timeout=0)
    first.release()
    lock.lock_sandbox(tmp_path / ".saas-infra", timeout=0).release()


def test_a_sandbox_command_holds_the_file_lock_only_while_it_runs(run_cli, tenants_dir):
    assert run_cli("plan", "--sandbox").exit_code == 0
    held = lock.lock_sandbox(tenants_dir.parent / ".saas-infra", timeout=0)  # released at the end
    blocked = run_cli("plan", "--sandbox", "--lock-timeout", "0")
    assert blocked.exit_code == 1
    assert "another saas-infra command is using the sandbox in .saas-infra/" in blocked.stderr
    held.release()
    assert run_cli("plan", "--sandbox").exit_code == 0
