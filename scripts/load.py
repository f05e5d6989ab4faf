"""Load run: 1,000 tenants, then one pass that redeploys every one of them, under Hobby's
10 requests/s, against the emulator over loopback HTTP. Prints the figures of README
"Reliability": calls, 429s (must be 0), time, the rate-limit bound, the ratio, failures.

    uv run python scripts/load.py                  # real time: about 3.5 minutes
    uv run python scripts/load.py --time-scale 10  # the same in virtual time, 10x faster
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from saas_infra import lock
from saas_infra import manifest as mf
from saas_infra.clock import FakeClock, SystemClock
from saas_infra.emulator import Emulator, RateLimits
from saas_infra.emulator.server import start_in_thread
from saas_infra.emulator.timescale import ScaledClock
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.reconcile import Fleet, apply_pass

PER_SECOND = 10  # Hobby's documented limit
# Hobby also allows 1,000 requests an hour: 1,000 tenants cannot even be listed and redeployed
# within one hour's budget, so the hourly cap is lifted and the per-second pacing is measured.
PER_HOUR = 1_000_000
BOUND_RATIO = 1.3


class StatusCounter:
    """In front of the emulator in the HTTP server: counts answers by status."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.statuses: Counter = Counter()
        self._lock = threading.Lock()

    def handle(self, method, url, headers, body):
        answer = self.emu.handle(method, url, headers, body)
        with self._lock:
            self.statuses[answer[0]] += 1
        return answer


def build_fleet(tenants_dir: Path, count: int, state: Path) -> None:
    """Create `count` tenants fast (in-process, unpaced, on a fake clock) and save Railway.
    The set-up applies its plan without the fleet lock: on a fake clock that eight threads
    move on by sleeping, the lock's lease would run out in fake time before it is renewed. It
    takes and frees the lock once first, so that its control project exists, as it does in any
    workspace after its first pass."""
    clock = FakeClock(SystemClock().now() - timedelta(hours=12))
    emu = Emulator(clock=clock, seed=1, rate_limits=RateLimits(10**6, 10**9))
    for n in range(count):
        mf.write_new_manifest(tenants_dir, f"tenant-{n:04d}")
    client = RailwayClient(emu.account_token, transport=emu.transport(), clock=clock,
                           retry=RetryPolicy(sleep=clock.sleep), pacer=Pacer.unlimited(clock=clock))
    fleet = Fleet(client=client, clock=clock, tenants_dir=tenants_dir, concurrency=8)
    with lock.hold(fleet):
        pass
    outcomes = fleet.applier().apply(fleet.plan())
    if any(not o.ok for o in outcomes) or not fleet.plan().empty:
        raise SystemExit("set-up failed: the fleet did not converge")
    if clock.now() >= SystemClock().now():
        raise SystemExit("set-up ran past the present on its fake clock; use fewer tenants")
    emu.save(state)


def redeploy_all(tenants_dir: Path, state: Path, time_scale: float, concurrency: int) -> dict:
    clock = SystemClock() if time_scale == 1 else ScaledClock(time_scale)
    emu = Emulator.load(state, clock=clock, rate_limits=RateLimits(PER_SECOND, PER_HOUR))
    counter = StatusCounter(emu)
    server, base = start_in_thread(emu)
    server.emulator = counter
    now = clock.now()
    for loaded in mf.load_tenants(tenants_dir):
        mf.set_redeploy(loaded.path, now)
    client = RailwayClient(emu.account_token, api_url=base + "/graphql/v2", clock=clock,
                           retry=RetryPolicy(sleep=clock.sleep),
                           pacer=Pacer(per_second=PER_SECOND, per_hour=None, clock=clock))
    fleet = Fleet(client=client, clock=clock, tenants_dir=tenants_dir, concurrency=concurrency)
    started = clock.monotonic()
    try:
        report = apply_pass(fleet)
    finally:
        server.stop()
    seconds = clock.monotonic() - started
    stats = client.stats
    return {
        "tenants": len(report.outcomes),
        "succeeded": sum(1 for o in report.outcomes if o.ok),
        "converged": report.converged,
        "calls": stats.requests,
        "retries": stats.retries,
        "refused_429": counter.statuses[429],
        "seconds": seconds,
        "bound": stats.requests / PER_SECOND,
        "by_operation": {k: v.requests for k, v in sorted(stats.by_operation.items())},
    }


def show(figures: dict, time_scale: float) -> None:
    ratio = figures["seconds"] / figures["bound"]
    clock = "real time" if time_scale == 1 else f"virtual time, x{time_scale:g}"
    ops_ = figures["by_operation"]
    per_tenant = (ops_.get("ServiceInstanceDeploy", 0) + ops_.get("ProjectUpdate", 0)) / max(
        1, figures["tenants"])
    print(f"load run: {figures['tenants']} tenants redeployed under {PER_SECOND} req/s ({clock})")
    print(f"  succeeded        {figures['succeeded']} of {figures['tenants']}"
          f"{'' if figures['converged'] else ' (NOT converged)'}")
    print(f"  calls            {figures['calls']} ({per_tenant:.3g} per tenant: deploy, marker)")
    for name, count in figures["by_operation"].items():
        print(f"    {name:<26} {count}")
    print(f"  429s seen        {figures['refused_429']} (retries {figures['retries']})")
    print(f"  time             {figures['seconds']:.1f} s")
    print(f"  rate-limit bound {figures['bound']:.1f} s (calls / {PER_SECOND} per s)")
    print(f"  ratio            {ratio:.3f} (must be <= {BOUND_RATIO})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="run Railway's clock and every wait this much faster [1: real time]")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)  # a 429 would show as a retry warning
    with tempfile.TemporaryDirectory(prefix="saas-infra-load-") as work:
        tenants, state = Path(work) / "tenants", Path(work) / "railway.json"
        started = time.monotonic()
        build_fleet(tenants, args.tenants, state)
        print(f"set-up: {args.tenants} tenants created in {time.monotonic() - started:.0f} s")
        figures = redeploy_all(tenants, state, args.time_scale, args.concurrency)
    show(figures, args.time_scale)
    ok = (figures["succeeded"] == figures["tenants"] == args.tenants and figures["converged"]
          and figures["refused_429"] == 0 and figures["seconds"] <= BOUND_RATIO * figures["bound"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
