"""The fleet lock on the emulator: one holder at a time, waiting, races, dead holders, renewal,
release, `unlock`, and the sandbox's file lock. Time is a FakeClock; nothing sleeps for real
except the heartbeat test's short wait for its thread."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import httpx
import pytest

from saas_infra import lock
from saas_infra.clock import FakeClock, format_time
from saas_infra.errors import ApiError, LockHeldError
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.railway import operations as ops
from saas_infra.reconcile import apply_pass
from saas_infra.settings import Settings
from tests.conftest import START


def make_lock(client, emu, clock, holder: str, **kw) -> lock.FleetLock:
    kw.setdefault("heartbeat", None)
    kw.setdefault("timeout", 0)
    return lock.FleetLock(client, emu.workspace_id, clock, holder=holder, **kw)


def lock_projects(emu) -> list[dict]:
    return [p for p in emu.snapshot()["projects"] if p["name"] == lock.LOCK_PROJECT]


def tenant_projects(emu) -> list[str]:
    return sorted(p["name"] for p in emu.snapshot()["projects"] if p["name"].startswith("luthien-"))


class Said(list):
    """Collects the lock's messages."""

    def __call__(self, text: str) -> None:
        self.append(text)


# --- holding and releasing ---------------------------------------------------------------------


def test_a_pass_holds_the_lock_while_it_acts_and_removes_it_at_the_end(fleet, write_tenant, emu):
    write_tenant("acme")
    seen = []

    def progress(tenant, step, state):
        seen.append([lock.parse_ticket(p) for p in lock_projects(emu)])

    report = apply_pass(fleet, progress=progress)
    assert report.converged
    assert seen and all(len(tickets) == 1 and tickets[0] is not None for tickets in seen)
    assert lock_projects(emu) == []
    assert tenant_projects(emu) == ["luthien-acme"]


def test_a_pass_with_nothing_to_do_never_takes_the_lock(fleet, write_tenant, emu):
    write_tenant("acme")
    apply_pass(fleet)
    creates = emu.counts["ProjectCreate"]
    report = apply_pass(fleet)
    assert report.converged and report.plan.empty
    assert emu.counts["ProjectCreate"] == creates  # no ticket project made and removed


def test_the_lock_project_is_no_finding_of_plan_or_list(fleet, client, emu, clock, run_cli,
                                                        write_tenant):
    write_tenant("acme")
    apply_pass(fleet)
    held = make_lock(client, emu, clock, "ci-run-7")
    held.acquire()
    assert len(lock_projects(emu)) == 1
    plan = fleet.plan()
    assert plan.empty and plan.findings == () and plan.guards == ()
    assert fleet.observe().unmanaged() == [] and set(fleet.observe().managed()) == {"acme"}
    listed = json.loads(run_cli("list", "--all", "--json").stdout)["instances"]
    assert [row["name"] for row in listed] == ["acme"]


def test_a_second_pass_that_cannot_wait_names_the_holder_and_changes_nothing(
        fleet, client, emu, clock, write_tenant):
    write_tenant("acme")
    held = make_lock(client, emu, clock, "ci-run-1")
    ticket = held.acquire()
    fleet.lock_timeout = 0
    with pytest.raises(LockHeldError) as caught:
        apply_pass(fleet)
    assert str(caught.value) == (
        f"another saas-infra pass holds the fleet lock (holder ci-run-1, expires "
        f"{format_time(ticket.expires)})"
    )
    assert "unlock --force" in caught.value.hint
    assert tenant_projects(emu) == []
    assert fleet.plan().tenants() == ["acme"]  # plan takes no lock


def test_a_waiting_pass_polls_on_the_clock_until_its_timeout(client, emu, clock):
    make_lock(client, emu, clock, "ci-run-1").acquire()
    said = Said()
    before = clock.monotonic()
    with pytest.raises(LockHeldError):
        make_lock(client, emu, clock, "laptop", timeout=60, notify=said).acquire()
    assert clock.monotonic() - before == pytest.approx(60)
    assert len(said) == 1 and said[0].startswith("Waiting for the fleet lock (holder ci-run-1")


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
    holder.acquire()
    clock.hook = holder.release
    said = Said()
    waiter = make_lock(client, emu, clock, "laptop", timeout=600, notify=said)
    ticket = waiter.acquire()
    assert ticket.holder == "laptop" and clock.slept == pytest.approx(1.0)
    assert [lock.parse_ticket(p).holder for p in lock_projects(emu)] == ["laptop"]
    assert said[0].startswith("Waiting for the fleet lock (holder ci-run-1")


def test_an_expired_lease_counts_no_more_and_its_holder_is_named(client, emu, clock):
    dead = make_lock(client, emu, clock, "runner-that-died", ttl=600)
    ticket = dead.acquire()  # and never released: the process died
    clock.advance(seconds=601)
    said = Said()
    taken = make_lock(client, emu, clock, "next-run", notify=said).acquire()
    assert taken.holder == "next-run"
    assert said == [
        (f"The fleet lock of runner-that-died expired at {format_time(ticket.expires)} without "
         "being released (its pass probably died); it no longer counts")
    ]
    assert [lock.parse_ticket(p).holder for p in lock_projects(emu)] == ["next-run"]


# --- races and ambiguous answers ------------------------------------------------------------


class MeetAtCreate(httpx.BaseTransport):
    """Holds every ProjectCreate until both racers got there: both listed a free lock first."""

    def __init__(self, inner: httpx.BaseTransport, barrier: threading.Barrier) -> None:
        self.inner, self.barrier = inner, barrier

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("operationName") == "ProjectCreate":
            self.barrier.wait(timeout=10)
        return self.inner.handle_request(request)


def racer_client(emu, clock, barrier) -> RailwayClient:
    return RailwayClient(emu.account_token, transport=MeetAtCreate(emu.transport(), barrier),
                         retry=RetryPolicy(sleep=clock.sleep), pacer=Pacer.unlimited(clock=clock),
                         clock=clock)


def test_two_passes_racing_for_a_free_lock_leave_exactly_one_holder(emu, clock):
    barrier = threading.Barrier(2)
    locks = [make_lock(racer_client(emu, clock, barrier), emu, clock, name)
             for name in ("ci-run-1", "laptop")]
    results: dict[str, object] = {}

    def race(racer: lock.FleetLock) -> None:
        try:
            results[racer.holder] = racer.acquire()
        except LockHeldError as exc:
            results[racer.holder] = exc

    threads = [threading.Thread(target=race, args=(racer,)) for racer in locks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    winners = [name for name, r in results.items() if isinstance(r, lock.Ticket)]
    losers = [r for r in results.values() if isinstance(r, LockHeldError)]
    assert len(winners) == 1 and len(losers) == 1
    assert f"(holder {winners[0]}," in str(losers[0])
    assert emu.counts["ProjectCreate"] == 2  # both claimed: the loser removed its own ticket
    assert [lock.parse_ticket(p).holder for p in lock_projects(emu)] == winners


def test_a_ticket_created_behind_a_timeout_is_adopted_not_made_twice(client, emu, clock):
    emu.faults.create_timeout = 1.0  # Railway commits the project, the answer never comes
    ticket = make_lock(client, emu, clock, "ci-run-1").acquire()
    assert ticket.holder == "ci-run-1"
    assert len(lock_projects(emu)) == 1
    assert emu.fault_counts["create_timeout"] == 1 and emu.counts["ProjectCreate"] == 1


# --- renewal and loss ------------------------------------------------------------------------


def test_the_lease_is_renewed_once_a_third_of_it_is_left(client, emu, clock):
    held = make_lock(client, emu, clock, "ci-run-1", ttl=600)
    first = held.acquire()
    clock.advance(seconds=300)
    assert held.renew_if_due() is False
    clock.advance(seconds=150)
    assert held.renew_if_due() is True
    assert held.ticket.expires == clock.now() + timedelta(seconds=600)
    [on_railway] = [lock.parse_ticket(p) for p in lock_projects(emu)]
    assert on_railway.expires == held.ticket.expires > first.expires


def test_a_lock_broken_during_the_pass_fails_the_pass_at_its_end(client, emu, clock):
    lost = pytest.raises(LockHeldError, match="the fleet lock was lost during this pass")
    with lost, make_lock(client, emu, clock, "ci-run-1", ttl=600) as held:
        assert [t.holder for t in lock.break_lock(client, emu.workspace_id)] == ["ci-run-1"]
        clock.advance(seconds=450)
        assert held.renew_if_due() is False
    assert held.lost.startswith("its ticket was removed")


def test_the_heartbeat_renews_the_lease_by_itself(client, emu, clock):
    held = make_lock(client, emu, clock, "ci-run-1", ttl=600, heartbeat=0.01)
    first = held.acquire()
    try:
        clock.advance(seconds=500)
        deadline = time.monotonic() + 5
        while held.ticket.expires == first.expires and time.monotonic() < deadline:
            time.sleep(0.01)
        assert held.ticket.expires > first.expires
    finally:
        assert held.release() is None
    assert lock_projects(emu) == []


class RefusesDeletes:
    """A client whose projectDelete Railway refuses (as with an account that asks for 2FA)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def execute(self, operation, variables=None):
        if operation is ops.PROJECT_DELETE:
            raise ApiError("Two Factor Authentication Required", operation=operation.name)
        return self.inner.execute(operation, variables)


def test_a_ticket_railway_will_not_delete_is_marked_released(client, emu, clock):
    said = Said()
    refused = RefusesDeletes(client)
    held = make_lock(refused, emu, clock, "ci-run-1", notify=said)
    held.acquire()
    assert held.release() is None
    assert said[0].startswith("Could not remove the fleet lock project")
    [ticket] = [lock.parse_ticket(p) for p in lock_projects(emu)]
    assert ticket.expired(clock.now())
    assert make_lock(client, emu, clock, "next-run").acquire().holder == "next-run"


# --- the command line ---------------------------------------------------------------------------


def test_unlock_shows_the_holder_and_only_force_removes_it(run_cli, client, emu, clock):
    free = run_cli("unlock")
    assert (free.exit_code, free.stderr) == (0, "The fleet lock is free.\n")
    ticket = make_lock(client, emu, clock, "ci-run-1").acquire()
    shown = run_cli("unlock")
    assert shown.exit_code == 1
    assert shown.stdout == f"Fleet lock: holder ci-run-1, expires {format_time(ticket.expires)}\n"
    assert len(lock_projects(emu)) == 1
    forced = run_cli("unlock", "--force", "--json")
    assert forced.exit_code == 0
    data = json.loads(forced.stdout)
    assert data["removed"] is True and [t["holder"] for t in data["tickets"]] == ["ci-run-1"]
    assert lock_projects(emu) == []


def test_cli_apply_gives_up_after_lock_timeout_but_plan_runs(run_cli, client, emu, clock,
                                                           write_tenant):
    write_tenant("acme")
    ticket = make_lock(client, emu, clock, "ci-run-1").acquire()
    applied = run_cli("apply", "--yes", "--lock-timeout", "30")
    assert applied.exit_code == 1
    assert applied.stderr.startswith(
        f"Waiting for the fleet lock (holder ci-run-1, expires {format_time(ticket.expires)}); "
        "giving up in 30 s\n")
    assert (f"Error: another saas-infra pass holds the fleet lock (holder ci-run-1, expires "
            f"{format_time(ticket.expires)})\n") in applied.stderr
    assert tenant_projects(emu) == []
    assert run_cli("plan", "--detailed-exitcode").exit_code == 2


def test_holder_names_the_ci_run_or_the_person(monkeypatch):
    github = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/tenants", "GITHUB_RUN_ID": "42"}
    assert lock.default_holder(github) == "github:acme/tenants/actions/runs/42"
    assert lock.default_holder({"SAAS_INFRA_LOCK_HOLDER": "ops pod [7]"}) == "ops-pod-7-"
    assert "@" in lock.default_holder({}) and ":" in lock.default_holder({})


def test_the_settings_default_wait_outlasts_a_dead_holders_lease():
    assert Settings().lock_timeout == lock.DEFAULT_TIMEOUT > lock.DEFAULT_TTL


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
