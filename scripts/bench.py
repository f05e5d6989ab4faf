"""Benchmarks of saas-infra against the Railway emulator: `uv run python scripts/bench.py`.

Measures API calls, wall time and memory of a no-op plan at 10/100/1,000 tenants (and at 1,000
in a workspace with a long history of deleted tenants and acting passes), a real
`saas-infra plan --sandbox` process over 1,000 manifests, 50 creates at 100 ms latency under
10 req/s on the real clock, the fleet lock's calls and leftovers after 1,000 acting passes, and a
1,000-tenant rollout in waves under Railway's Pro limits on emulated time (and a version that
crashes on the canary), then prints a table with the issue's targets. It is not a test and
never contacts a non-loopback address: every request goes to an emulator (in process or embedded).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from contextlib import chdir
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from saas_infra.clock import FakeClock, SystemClock
from saas_infra.emulator import Emulator, RateLimits
from saas_infra.manifest import write_new_manifest
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.railway import operations as ops
from saas_infra.railway.operations import Operation
from saas_infra.reconcile import Fleet, apply_pass

ROOT = Path(__file__).resolve().parents[1]
NOOP_CALLS_TARGET = 25  # at 1,000 tenants
SANDBOX_SECONDS_TARGET = 2.0
CREATE_RATIO_TARGET = 1.3
LOCK_CALLS_TARGET = 4  # to take and free the fleet lock when nobody holds it
ROLLOUT_RATIO_TARGET = 1.2  # emulated wall time against the rollout's bound
ROLLOUT_CALLS_TARGET = 6  # API calls per tenant for the whole rollout


# --- building a fleet -------------------------------------------------------------------------


def write_manifests(tenants_dir: Path, count: int) -> None:
    tenants_dir.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        write_new_manifest(tenants_dir, f"tenant-{i:04d}")


def fake_client(emu: Emulator, clock) -> RailwayClient:
    """A client with no client-side pacing, on the fake clock: builds fleets fast."""
    return RailwayClient(emu.account_token, transport=emu.transport(), clock=clock,
                         retry=RetryPolicy(sleep=clock.sleep), pacer=Pacer.unlimited(clock=clock))


def build_fleet(root: Path, count: int) -> tuple[Emulator, FakeClock]:
    """`count` manifests in root/tenants, provisioned by a real apply pass (in process, on a fake
    clock starting now, so the emulator's timestamps are today's)."""
    clock = FakeClock(datetime.now(UTC))
    # On a fake clock that barely moves, every request lands in one emulated second: lift the
    # emulator's rate limit so building the fleet spends no time in 429 retries.
    unlimited = RateLimits(per_second=10**6, per_hour=10**9)
    emu = Emulator(clock=clock, seed=count, rate_limits=unlimited)
    write_manifests(root / "tenants", count)
    with chdir(root):
        # Short polls: every sleep on the shared fake clock moves it for all 16 workers, and
        # long ones would carry it past the fleet lock's lease, which renews in real time.
        fleet = Fleet(client=fake_client(emu, clock), clock=clock, tenants_dir=root / "tenants",
                      concurrency=16, poll_interval=0.1)
        report = apply_pass(fleet)
    if report.failed or not report.converged:
        raise SystemExit(f"building {count} tenants failed: {[o.error for o in report.failed]}")
    return emu, clock


# --- (a) and (d): a no-op plan in process -------------------------------------------------------


def noop_plan(root: Path, emu: Emulator, clock) -> dict:
    """API calls, wall time and Python heap peak of `Fleet.plan()` on a converged fleet, by a
    fresh client that must also find its workspace (as the first plan of a process does)."""

    def fresh_fleet():
        return Fleet(client=fake_client(emu, clock), clock=clock, tenants_dir=root / "tenants")

    with chdir(root):
        fleet = fresh_fleet()
        before = emu.counts["total"]
        started = time.perf_counter()
        plan = fleet.plan()
        seconds = time.perf_counter() - started
        if not plan.empty:
            raise SystemExit(f"the plan after apply is not empty: {plan.tenants()[:5]}")
        calls = fleet.client.stats.requests
        assert calls == emu.counts["total"] - before, "client and emulator disagree on calls"
        tracemalloc.start()  # a second run: tracing slows the first one's timing down
        fresh_fleet().plan()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"calls": calls, "seconds": seconds, "peak_bytes": peak}


# --- (a'): the same plan in a workspace with a long history -----------------------------------


def add_history(emu: Emulator, clock, deleted_tenants: int, passes: int) -> int:
    """Give the workspace the history a long-lived fleet leaves, as the emulator holds it:
    tenants deleted through Railway's scheduled delete (removed 48 hours later), and finished
    acting passes, each taking and freeing the fleet lock (which leaves nothing; the lock before
    it left one deleted project per pass). Returns the projects ever deleted."""
    from saas_infra import lock

    client = fake_client(emu, clock)
    for i in range(deleted_tenants):
        name = f"gone-{i:04d}"
        created = ops.project_create(client, name=f"luthien-{name}", workspace_id=emu.workspace_id,
                                     description=f"[saas-infra tenant={name} v=1]")
        ops.project_schedule_delete(client, created["id"])
    control = None
    for _ in range(passes):
        held = lock.FleetLock(client, emu.workspace_id, clock, holder="bench", heartbeat=None,
                              timeout=0, control_id=control)
        held.acquire()
        held.release()
        control = held.control_id
    clock.advance(hours=49)  # past Railway's 48-hour grace: the deleted tenants are gone for good
    count = client.execute(ALL_PROJECTS_EVER, {"workspaceId": emu.workspace_id})
    return count["workspace"]["projectCount"] - len(ops.project_list(client, emu.workspace_id))


ALL_PROJECTS_EVER = Operation(
    "AllProjectsEver",
    "query AllProjectsEver($workspaceId: String!) {"
    " workspace(workspaceId: $workspaceId) { projectCount(includeDeleted: true) } }",
)


# --- (b): `saas-infra plan --sandbox` as a process --------------------------------------------


def sandbox_folder(root: Path, emu: Emulator) -> Path:
    """A folder like a clone in use: tenants/, schema/, and the sandbox's state file."""
    folder = root / "sandbox"
    shutil.copytree(root / "tenants", folder / "tenants")
    shutil.copytree(ROOT / "schema", folder / "schema")
    emu.save(folder / ".saas-infra" / "emulator.json")
    return folder


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_plan_process(folder: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; CPU time says what a busy machine's wall time hides."""
    command = ["uv", "run", "--project", str(ROOT), "--quiet", "saas-infra", "plan", "--sandbox"]
    cpu, started = child_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or done.stdout != "Plan: no changes.\n":
        raise SystemExit(f"plan --sandbox failed ({done.returncode}): {done.stdout}{done.stderr}")
    return seconds, child_cpu() - cpu


def sandbox_plan(folder: Path, cache_dir: Path, runs: int = 5) -> dict:
    """Wall times of `plan --sandbox`, without and with Python's bytecode cache (CI machines may
    set PYTHONDONTWRITEBYTECODE, and then every run compiles every module again)."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("RAILWAY_", "SAAS_INFRA_")) and k != "PYTHONDONTWRITEBYTECODE"}
    base["NO_COLOR"] = "1"
    # Both look for bytecode only under their own prefix, never in the source tree: "cold" finds
    # an empty folder and may not write to it, "warm" keeps what the first run compiles.
    cold = {**base, "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPYCACHEPREFIX": str(cache_dir / "none")}
    warm = {**base, "PYTHONPYCACHEPREFIX": str(cache_dir / "kept")}
    run_plan_process(folder, warm)  # fills the cache
    return {
        "no bytecode cache": [run_plan_process(folder, cold) for _ in range(runs)],
        "bytecode cached": [run_plan_process(folder, warm) for _ in range(runs)],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    }


# --- (c): creates under latency and a rate limit, on the real clock -----------------------------


def paced_creates(root: Path, count: int, latency: float, per_second: int) -> dict:
    clock = SystemClock()
    emu = Emulator(clock=clock, seed=7,
                   rate_limits=RateLimits(per_second=per_second, per_hour=1_000_000))
    emu.faults.latency = latency
    client = RailwayClient(emu.account_token, transport=emu.transport(), clock=clock,
                           pacer=Pacer(per_second=per_second, per_hour=None, clock=clock))
    folder = root / "creates"
    write_manifests(folder / "tenants", count)
    with chdir(folder):
        fleet = Fleet(client=client, clock=clock, tenants_dir=folder / "tenants")
        started = time.perf_counter()
        report = apply_pass(fleet)
        seconds = time.perf_counter() - started
    stats = client.stats
    return {
        "seconds": seconds,
        "calls": stats.requests,
        "retries": stats.retries,
        "failed": len(report.failed),
        "converged": report.converged,
        "bound": stats.requests / per_second,
        "created": sum(1 for p in emu.snapshot()["projects"] if p["name"].startswith("luthien-")),
    }


# --- (e): the fleet lock: its cost, and what many acting passes leave ---------------------------


def lock_costs(root: Path, emu: Emulator, clock, passes: int) -> dict:
    """Calls to take and free a free lock as an acting pass does (the control project found in its
    own listing), then `passes` such takings, and what the workspace holds afterwards."""
    from saas_infra import lock

    def fleet():
        return Fleet(client=fake_client(emu, clock), clock=clock, tenants_dir=root / "tenants")

    with chdir(root):
        before_plan = noop_plan(root, emu, clock)["calls"]
        acting = fleet()
        observed = acting.observe()
        projects = len(emu.snapshot()["projects"])
        creates, deletes = emu.counts["ProjectCreate"], emu.counts["ProjectDelete"]
        start = acting.client.stats.requests
        with lock.hold(acting, observed):
            pass
        calls = acting.client.stats.requests - start
        for _ in range(passes - 1):
            with lock.hold(acting, observed):
                pass
        after_plan = noop_plan(root, emu, clock)["calls"]
    [control] = [p for p in emu.snapshot()["projects"] if p["name"] == lock.CONTROL_PROJECT]
    environment = emu.state.environments[control["environments"][0]["id"]]
    return {
        "calls": calls, "passes": passes, "projects_before": projects,
        "projects_after": len(emu.snapshot()["projects"]),
        "made_or_deleted": emu.counts["ProjectCreate"] - creates
        + emu.counts["ProjectDelete"] - deletes,
        "services": len(control["services"]), "variables": len(environment.shared_variables),
        "plan_before": before_plan, "plan_after": after_plan,
    }


# --- (f): a rollout of a channel's new version in waves, on emulated time -------------------------

REPO = "LuthienResearch/luthien-proxy"
GOOD, NEXT, CRASHING = "a" * 40, "b" * 40, "c" * 40
WAVES = '[1, "10%", "50%", "100%"]'
HEALTH_TIMEOUT, SOAK = 300, 600  # seconds: health {timeout: 5m}, soak: 10m
DEPLOY_SECONDS = 60.0


class OverlapClock:
    """Emulated time for concurrent workers. FakeClock adds every sleep to the one shared time,
    so 8 workers each waiting 2 s would move it 16 s; here a sleep lasts from the moment its
    thread last read the clock, so parallel waits overlap as they do in real time, and time only
    moves forward. Nothing sleeps for real."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self._seen = threading.local()  # per thread: the time it last read

    def monotonic(self) -> float:
        with self._lock:
            self._seen.at = self._elapsed
            return self._elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            since = getattr(self._seen, "at", self._elapsed)
            self._elapsed = max(self._elapsed, since + seconds)
            self._seen.at = self._elapsed


def fleet_yaml(commit: str, rollout: bool) -> str:
    text = (f"version: 1\ndefaults:\n  channel: stable\n  gateway: {{repo: {REPO}}}\n"
            f"channels:\n  stable: {{commit: '{commit}'}}\n")
    if rollout:
        text += (f"rollout:\n  waves: {WAVES}\n  health: {{path: /health, timeout: "
                 f"{HEALTH_TIMEOUT}s}}\n  soak: {SOAK}s\n  on_failure: rollback\n"
                 "  advance: all\n")
    return text


def build_channel_fleet(root: Path, count: int) -> tuple[Path, datetime]:
    """`count` tenants following channel `stable` at GOOD, built by a real apply pass with no
    rate limit (as build_fleet), settled; the emulator's state saved for each rollout run."""
    clock = FakeClock(datetime.now(UTC))
    emu = Emulator(clock=clock, seed=count, rate_limits=RateLimits(per_second=10**6,
                                                                    per_hour=10**9))
    for sha, outcome in ((GOOD, "success"), (NEXT, "success"), (CRASHING, "crashes")):
        emu.set_commit_outcome(REPO, sha, outcome)
    tenants = root / "tenants"
    tenants.mkdir(parents=True)
    (root / "fleet.yaml").write_text(fleet_yaml(GOOD, rollout=False))
    for i in range(count):
        (tenants / f"tenant-{i:04d}.yaml").write_text(f"version: 1\nname: tenant-{i:04d}\n")
    with chdir(root):
        fleet = Fleet(client=fake_client(emu, clock), clock=clock, tenants_dir=tenants,
                      concurrency=16, poll_interval=0.1)
        report = apply_pass(fleet)
    if report.failed or not report.converged:
        raise SystemExit(f"building {count} channel tenants failed: "
                         f"{[o.error for o in report.failed][:3]}")
    clock.advance(hours=1)  # every deployment settled long ago
    saved = root / "emulator.json"
    emu.save(saved)
    return saved, clock.now()


def rollout_run(root: Path, saved: Path, start: datetime, commit: str) -> dict:
    """One `apply` pass after the channel moves to `commit`, with the rollout section, against
    the saved fleet in an emulator configured as Railway Pro (its rate limits, the client paced
    for them) with 60 s deploys, on emulated time. Counts calls, time and what each tenant ran."""
    clock = OverlapClock(start)
    emu = Emulator.load(saved, clock=clock, plan="PRO", deploy_seconds=DEPLOY_SECONDS)
    client = RailwayClient(emu.account_token, transport=emu.transport(), clock=clock,
                           retry=RetryPolicy(sleep=clock.sleep),
                           pacer=Pacer.for_plan("PRO", clock=clock))
    (root / "fleet.yaml").write_text(fleet_yaml(commit, rollout=True))
    before = set(emu.state.deployments)
    counts = dict(emu.counts)
    with chdir(root):
        fleet = Fleet(client=client, clock=clock, tenants_dir=root / "tenants",
                      health=lambda: httpx.Client(transport=emu.transport()))
        started = clock.monotonic()
        report = apply_pass(fleet)
        seconds = clock.monotonic() - started
        after = fleet.rollouts(fleet.load(), fleet.observe())
    new = [d for key, d in emu.state.deployments.items() if key not in before]
    return {"seconds": seconds, "calls": client.stats.requests, "retries": client.stats.retries,
            "failed": [o.tenant for o in report.failed], "errors": [o.error for o in report.failed],
            "deployments": new, "rollout": after[0], "emu": emu,
            "by_operation": {name: n - counts.get(name, 0) for name, n in emu.counts.items()
                             if name != "total" and n > counts.get(name, 0)},
            "projects": {p.id: p.name for p in emu.state.projects.values()}}


def waves_respected(run: dict) -> tuple[bool, int]:
    """(whether no tenant of a wave was deployed before the wave before it was healthy and
    soaked, tenants deployed more than once) from the emulator's own deployments."""
    rollout = run["rollout"]
    first: dict[str, float] = {}
    done: dict[str, float] = {}
    per_tenant: dict[str, int] = {}
    for deployment in run["deployments"]:
        name = run["projects"][deployment.project_id].removeprefix("luthien-")
        per_tenant[name] = per_tenant.get(name, 0) + 1
        first[name] = min(first.get(name, deployment.created), deployment.created)
        done[name] = max(done.get(name, 0.0), deployment.created + deployment.duration)
    ok = True
    for earlier, later in zip(rollout.waves, rollout.waves[1:], strict=False):
        healthy = max(done.get(t.name, 0.0) for t in earlier.tenants)
        started = min((first[t.name] for t in later.tenants if t.name in first), default=None)
        ok = ok and (started is None or started >= healthy + SOAK)
    return ok, sum(1 for n in per_tenant.values() if n > 1)


def rollout_bench(root: Path, count: int) -> dict:
    saved, start = build_channel_fleet(root, count)
    good = rollout_run(root, saved, start, NEXT)
    waves = len(good["rollout"].waves)
    # What the pass must wait at least: each wave's deploy and health gate (the health path
    # answers at once once the deployment is SUCCESS), the soak between waves, and its calls
    # at Pro's 50 requests a second.
    per_second = RateLimits.for_plan("PRO").per_second
    bound = waves * DEPLOY_SECONDS + (waves - 1) * SOAK + good["calls"] / per_second
    ordered, twice = waves_respected(good)
    on_new = sum(1 for t in good["rollout"].tenants if t.running == NEXT)
    crash = rollout_run(root, saved, start, CRASHING)
    touched = sorted({crash["projects"][d.project_id].removeprefix("luthien-")
                      for d in crash["deployments"] if d.meta.get("commitHash") == CRASHING})
    return {"count": count, "waves": waves, "seconds": good["seconds"], "bound": bound,
            "calls": good["calls"], "retries": good["retries"], "failed": good["failed"],
            "by_operation": good["by_operation"],
            "on_new": on_new, "done": good["rollout"].done, "ordered": ordered, "twice": twice,
            "crash_touched": touched, "crash_failed": crash["failed"],
            "crash_halted": crash["rollout"].halted, "crash_calls": crash["calls"],
            "crash_errors": crash["errors"][:1]}


# --- the table --------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_noop(rows: dict[int, dict]) -> None:
    print("(a) no-op plan, in process (Fleet.plan() on a converged fleet, fresh client)")
    print(f"  {'tenants':>8}  {'API calls':>9}  {'wall time':>9}  {'≥ at 10 req/s':>13}  "
          f"{'peak heap':>9}")
    for size, row in rows.items():
        print(f"  {size:>8,}  {row['calls']:>9}  {row['seconds']:>8.2f}s  "
              f"{row['calls'] / 10:>12.1f}s  {row['peak_bytes'] / 2**20:>7.1f}MB")
    largest = max(rows)
    if largest >= 1000:
        calls = rows[largest]["calls"]
        print(f"  target: ≤ {NOOP_CALLS_TARGET} calls at 1,000 tenants: {calls} "
              f"{verdict(calls <= NOOP_CALLS_TARGET)}")


def print_history(size: int, row: dict, deleted: int, tenants: int, passes: int) -> None:
    calls = row["calls"]
    print(f"(a') the same no-op plan at {size:,} tenants in a workspace whose history holds "
          f"{tenants:,} deleted tenants and {passes:,} finished acting passes")
    print(f"  projects ever deleted (listed with includeDeleted: true, never by saas-infra): "
          f"{deleted:,}")
    goal = f"; target: ≤ {NOOP_CALLS_TARGET} calls, as on a fresh workspace: " if size >= 1000 else ""
    goal += verdict(calls <= NOOP_CALLS_TARGET) if size >= 1000 else ""
    print(f"  API calls {calls}, wall time {row['seconds']:.2f}s{goal}")


def print_sandbox(size: int, row: dict) -> None:
    runs = len(row["bytecode cached"])
    print(f"(b) `uv run saas-infra plan --sandbox` over {size:,} manifests, a real process "
          f"(median and fastest of {runs} runs)")
    for label in ("bytecode cached", "no bytecode cache"):
        walls, cpus = zip(*row[label], strict=True)
        median = statistics.median(walls)
        if label == "bytecode cached":  # every run after a clone's first
            goal = f"target < {SANDBOX_SECONDS_TARGET:.0f}s: "
            goal += verdict(median < SANDBOX_SECONDS_TARGET)
        else:
            goal = "(every module compiled again: PYTHONDONTWRITEBYTECODE)"
        print(f"  {label:<18} {median:>5.2f}s (fastest {min(walls):.2f}s, CPU "
              f"{statistics.median(cpus):.2f}s)  {goal}")
    print(f"  (d) peak RSS of the process: {row['peak_rss_bytes'] / 2**20:.0f}MB")


def print_creates(count: int, latency: float, per_second: int, row: dict) -> None:
    ratio = row["seconds"] / row["bound"]
    print(f"(c) {count} creates, {latency * 1000:.0f} ms latency per request, {per_second} req/s "
          "limit, real clock (one apply pass: plan, lock, creates, re-plan)")
    print(f"  API calls {row['calls']} (retries {row['retries']}), wall time "
          f"{row['seconds']:.1f}s, lower bound {row['bound']:.1f}s (calls / {per_second} req/s), "
          f"ratio {ratio:.2f}")
    print(f"  projects created {row['created']}, tenants failed {row['failed']}, converged "
          f"{row['converged']}; target ≤ {CREATE_RATIO_TARGET}×: "
          f"{verdict(ratio <= CREATE_RATIO_TARGET and not row['failed'])}")


def print_lock(size: int, row: dict) -> None:
    print(f"(e) fleet lock, {size:,} tenants, in process")
    print(f"  take and free a free lock (as an acting pass does): {row['calls']} API calls; "
          f"target ≤ {LOCK_CALLS_TARGET}: {verdict(row['calls'] <= LOCK_CALLS_TARGET)}")
    print(f"  after {row['passes']:,} acting passes: projects {row['projects_before']:,} → "
          f"{row['projects_after']:,} ({row['made_or_deleted']} made or deleted), control project "
          f"services {row['services']}, variables {row['variables']}; no-op plan "
          f"{row['plan_before']} → {row['plan_after']} calls")


def print_rollout(row: dict) -> None:
    ratio = row["seconds"] / row["bound"]
    per_tenant = row["calls"] / row["count"]
    print(f"(f) rollout of a channel's new version to {row['count']:,} tenants, waves {WAVES}, "
          f"Railway Pro limits (50 req/s, 10,000/h), {DEPLOY_SECONDS:.0f} s deploys, health "
          f"timeout {HEALTH_TIMEOUT}s, soak {SOAK}s, advance: all, emulated time")
    print(f"  wall time {row['seconds']:,.0f}s, bound {row['bound']:,.0f}s ({row['waves']} waves "
          f"x {DEPLOY_SECONDS:.0f}s deploy + {row['waves'] - 1} soaks x {SOAK}s + "
          f"{row['calls']:,} calls / 50 req/s), ratio {ratio:.2f}; target ≤ "
          f"{ROLLOUT_RATIO_TARGET}×: {verdict(ratio <= ROLLOUT_RATIO_TARGET)}")
    print(f"  API calls {row['calls']:,} (retries {row['retries']}), {per_tenant:.2f} per tenant; "
          f"target ≤ {ROLLOUT_CALLS_TARGET}: {verdict(per_tenant <= ROLLOUT_CALLS_TARGET)}")
    top = sorted(row["by_operation"].items(), key=lambda kv: -kv[1])
    print("  calls by operation: " + ", ".join(f"{name} {n:,}" for name, n in top))
    print(f"  on the new commit {row['on_new']:,} of {row['count']:,}, done {row['done']}, "
          f"tenants failed {len(row['failed'])}, waves respected {row['ordered']}, "
          f"deployed twice {row['twice']}")
    touched = row["crash_touched"]
    print(f"  a version that crashes on the canary: tenants touched {len(touched)} "
          f"({', '.join(touched)}), halted {row['crash_halted']}, failed "
          f"{', '.join(row['crash_failed'])}, API calls {row['crash_calls']}; target exactly 1: "
          f"{verdict(len(touched) == 1 and row['crash_halted'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="fleet sizes for the no-op plan")
    parser.add_argument("--creates", type=int, default=50, help="tenants to create in (c)")
    parser.add_argument("--skip-creates", action="store_true", help="skip (c), about a minute")
    parser.add_argument("--history", default="500,1000",
                        help="deleted tenants and finished acting passes in (a'); '' skips it")
    parser.add_argument("--lock-passes", type=int, default=1000,
                        help="acting passes whose leftovers (e) counts")
    parser.add_argument("--rollout", type=int, default=1000,
                        help="tenants of the rollout in (f); 0 skips it")
    parser.add_argument("--only-rollout", action="store_true", help="run (f) alone")
    args = parser.parse_args()
    # Retries are counted in the table; their log lines would only break it up.
    logging.getLogger("saas_infra").addHandler(logging.NullHandler())
    logging.getLogger("saas_infra").propagate = False
    sizes = [int(s) for s in args.sizes.split(",")]
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}")
    with tempfile.TemporaryDirectory(prefix="saas-infra-bench-") as tmp:
        work = Path(tmp)
        if args.only_rollout:
            print_rollout(rollout_bench(work / "rollout", args.rollout))
            return
        noop, largest = {}, None
        for size in sizes:
            root = work / f"fleet-{size}"
            emu, clock = build_fleet(root, size)
            noop[size] = noop_plan(root, emu, clock)
            largest = (size, root, emu, clock)
        print_noop(noop)
        size, root, emu, clock = largest
        lock_row = lock_costs(root, emu, clock, args.lock_passes)
        sandbox = sandbox_plan(sandbox_folder(root, emu), work / "pycache")  # before the history
        if args.history:
            tenants, passes = (int(n) for n in args.history.split(","))
            deleted = add_history(emu, emu.clock, tenants, passes)
            print_history(size, noop_plan(root, emu, emu.clock), deleted, tenants, passes)
        print_sandbox(size, sandbox)
        if not args.skip_creates:
            print_creates(args.creates, 0.1, 10, paced_creates(work, args.creates, 0.1, 10))
        print_lock(size, lock_row)
        if args.rollout:
            print_rollout(rollout_bench(work / "rollout", args.rollout))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
