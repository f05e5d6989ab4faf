"""The chaos runner behind scripts/chaos.py and tests/test_chaos.py.

Each seeded round edits the manifests at random (create, edit, redeploy, delete, expired and
forced deletes, cancel, forget and restore a manifest), runs a real `saas-infra apply --yes`
subprocess against the emulator over loopback HTTP with faults on, sometimes SIGKILLs it mid-pass,
then turns faults off, runs a clean pass and checks the invariants of chaos_checks.py. The
emulator lives in this process, so its state survives the kill. Time runs `time_scale` times
faster on both sides (SAAS_INFRA_TIME_SCALE), so Railway's waits cost milliseconds.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from saas_infra import lock
from saas_infra import manifest as mf
from saas_infra.emulator import Emulator, Faults, RateLimits
from saas_infra.emulator.server import start_in_thread
from saas_infra.emulator.timescale import ScaledClock
from saas_infra.errors import SaasInfraError
from saas_infra.plan import ActionKind
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.railway import operations as ops
from saas_infra.reconcile import Fleet, apply_pass
from tests.chaos_checks import DeploySpy, deletion_violations, fleet_violations, live_by_tenant

ROOT = Path(__file__).resolve().parent.parent
SCALED_CLI = ROOT / "tests" / "scaled_cli.py"  # the CLI on the emulator's scaled time
IMAGES = tuple(f"ghcr.io/luthienresearch/luthien-proxy:{tag}" for tag in ("1.4.0", "1.5.2"))
CHANGES = {  # kind -> weight
    "create": 5, "edit": 3, "redeploy": 3, "delete": 2, "expired-delete": 2,
    "forced-delete": 2, "cancel": 3, "forget": 1, "restore": 2,
}
FAULT_KINDS = ("latency", "error_5xx", "reset", "html_429", "cooldown", "create_timeout")
PASS_TIMEOUT = 120.0  # real seconds; a faulty pass that runs longer counts as hung


@dataclass
class ChaosConfig:
    workdir: Path
    rounds: int = 30
    seed: int = 1
    names: int = 8  # the pool of tenant names
    kill_rate: float = 0.35
    time_scale: float = 40.0
    max_kill_after: int = 30  # a kill comes after 1..this many requests of the pass
    # Requests per (scaled) second the emulator allows, while the CLI paces for Pro's 50: a
    # plan set wrong, so that real 429s with Retry-After happen beside the injected faults.
    rate_per_second: int = 3


@dataclass
class ChaosReport:
    rounds: int = 0
    changes: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    exits: Counter = field(default_factory=Counter)  # exit codes of the faulty passes
    kills: int = 0
    stale_locks: int = 0  # fleet-lock leases a killed pass left, freed as `unlock --force`
    bare_429: int = 0  # 429s without Retry-After seen (each an html_429 fault)
    requests: int = 0
    violations: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)  # the changes made, to replay a failure
    seconds: float = 0.0

    def lines(self) -> list[str]:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        changes = ", ".join(f"{k} {v}" for k, v in sorted(self.changes.items()))
        exits = ", ".join(f"{k} {v}" for k, v in sorted(self.exits.items()))
        return [
            f"rounds               {self.rounds}",
            f"fleet changes        {sum(self.changes.values())} ({changes})",
            f"faults injected      {sum(self.faults.values())} ({faults})",
            f"SIGKILLs             {self.kills} (stale fleet locks freed: {self.stale_locks})",
            f"faulty pass exits    {exits}",
            f"requests to Railway  {self.requests}",
            f"invariant violations {len(self.violations)}",
            f"time                 {self.seconds:.1f} s",
        ]


class Recorder:
    """Stands in front of the emulator in the HTTP server: counts answers by kind, feeds the
    deploy spy and knows how many requests are in flight (a killed client's may still run)."""

    def __init__(self, emu: Emulator, spy: DeploySpy) -> None:
        self.emu, self.spy = emu, spy
        self.answers: Counter = Counter()  # 429s by kind while `counting` (faulty passes)
        self.counting = False
        self.total = 0
        self.in_flight = 0
        self._lock = threading.Lock()

    def handle(self, method: str, url: str, headers: dict, body: bytes):
        with self._lock:
            self.total += 1
            self.in_flight += 1
        try:
            status, answer_headers, content = self.emu.handle(method, url, headers, body)
        finally:
            with self._lock:
                self.in_flight -= 1
        self.spy.record(body, status, content)
        if status == 429 and self.counting:
            with_wait = "retry-after" in {k.lower() for k in answer_headers}
            self.answers["rate_limited" if with_wait else "bare_429"] += 1
        return status, answer_headers, content

    def drain(self, timeout: float = 10.0) -> None:
        """Wait (briefly, on loopback) until no request is being answered."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.005)


class ChaosRun:
    """One run: the emulator and its HTTP server, the tenants folder, the rounds, the report."""

    def __init__(self, config: ChaosConfig) -> None:
        self.config = config
        self.rng = random.Random(f"chaos:{config.seed}")
        self.clock = ScaledClock(config.time_scale)
        self.emu = Emulator(
            clock=self.clock, seed=config.seed,
            rate_limits=RateLimits(per_second=config.rate_per_second, per_hour=1_000_000),
        )
        self.spy = DeploySpy()
        self.recorder = Recorder(self.emu, self.spy)
        self.tenants = config.workdir / "tenants"
        self.tenants.mkdir(parents=True, exist_ok=True)
        self.forgotten: dict[str, str] = {}  # tenant -> manifest text put aside
        self.report = ChaosReport()
        self.server = None
        self.url = ""

    # --- set-up -----------------------------------------------------------------------------

    def start(self) -> None:
        self.server, base = start_in_thread(self.emu)
        self.server.emulator = self.recorder
        self.server.handle_error = lambda request, address: None  # a killed client's broken pipe
        self.url = base + "/graphql/v2"
        self.client = self.new_client()
        self.unmanaged = self.plant_unmanaged()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.client.close()

    def new_client(self) -> RailwayClient:
        """The runner's own client (set-up, clean passes): paced right for the emulator."""
        pacer = Pacer(self.config.rate_per_second, None, clock=self.clock)
        return RailwayClient(self.emu.account_token, api_url=self.url, clock=self.clock,
                             retry=RetryPolicy(sleep=self.clock.sleep), pacer=pacer)

    def plant_unmanaged(self) -> dict[str, str]:
        """Projects saas-infra must never touch: one named like a tenant, one unrelated."""
        planted = {}
        for name, description in (("luthien-legacy", "hand-made, before saas-infra"),
                                  ("billing-api", None)):
            project = ops.project_create(self.client, name=name, description=description or "",
                                         workspace_id=self.emu.workspace_id)
            planted[project["id"]] = project.get("description") or ""
        return planted

    # --- the rounds -------------------------------------------------------------------------

    def run(self) -> ChaosReport:
        started = time.monotonic()
        self.start()
        try:
            for number in range(1, self.config.rounds + 1):
                self.round(number)
        finally:
            self.stop()
        self.report.rounds = self.config.rounds
        self.report.faults.update(self.emu.fault_counts)
        # 429s with Retry-After come from the rate limit; those without are the HTML faults.
        self.report.faults["rate_limited"] = self.recorder.answers["rate_limited"]
        self.report.bare_429 = self.recorder.answers["bare_429"]
        self.report.requests = self.recorder.total
        self.report.seconds = time.monotonic() - started
        return self.report

    def round(self, number: int) -> None:
        if self.forced(number) == "create_timeout":
            # A timed-out create needs a create that reaches Railway: this round creates a
            # tenant, and (faults below) meets no other fault and no kill before it.
            self.record(number, "create", self.change_create())
        for _ in range(self.rng.randint(1, 3)):
            self.change(number)
        before = {p["id"]: t for t, ps in live_by_tenant(self.emu.snapshot()).items() for p in ps}
        self.emu.faults, self.recorder.counting = self.faults(number), True
        self.faulty_pass(number)
        self.emu.faults, self.recorder.counting = Faults(), False
        problems = self.clean_pass() + self.check(before)
        self.report.violations += [f"round {number}: {p}" for p in problems]
        self.tidy()

    @staticmethod
    def forced(number: int) -> str:
        return FAULT_KINDS[number % len(FAULT_KINDS)]

    def faults(self, number: int) -> Faults:
        """Each round its own mix: every kind on or off at random, and one kind in turn always
        on, so that even a short run meets each of them several times."""
        forced = self.forced(number)
        if forced == "create_timeout":
            return Faults(create_timeout=1.0)

        def on(kind: str, share: float) -> bool:
            return self.rng.random() < share or kind == forced

        return Faults(
            latency=0.05 if on("latency", 0.5) else 0.0,
            error_5xx=0.06 if on("error_5xx", 0.6) else 0.0,
            reset=0.05 if on("reset", 0.6) else 0.0,
            html_429=0.05 if on("html_429", 0.5) else 0.0,
            cooldown_seconds=2.0 if on("cooldown", 0.3) else 0.0,
            create_timeout=0.5 if on("create_timeout", 0.6) else 0.0,
        )

    def faulty_pass(self, number: int) -> None:
        kill_after = None
        if self.rng.random() < self.config.kill_rate and self.forced(number) != "create_timeout":
            kill_after = self.rng.randint(1, self.config.max_kill_after)
        code, stderr = self.apply_subprocess(kill_after)
        self.report.exits["killed" if code == -signal.SIGKILL else f"exit {code}"] += 1
        crash = _crash_line(stderr)
        if crash:
            self.report.violations.append(f"round {number}: the faulty pass crashed: {crash}")
        self.recorder.drain()
        if code == -signal.SIGKILL:
            self.report.kills += 1
            self.report.stale_locks += self.break_stale_lock()

    def apply_subprocess(self, kill_after: int | None) -> tuple[int, str]:
        """Run `saas-infra apply --yes`; SIGKILL it once `kill_after` of its requests arrived."""
        log = self.config.workdir / "pass.stderr"
        start = self.recorder.total
        with open(log, "w") as stderr:
            process = subprocess.Popen(
                [sys.executable, str(SCALED_CLI), "apply", "--yes"],
                cwd=self.config.workdir, env=self.env(), stdout=subprocess.DEVNULL, stderr=stderr,
            )
            deadline = time.monotonic() + PASS_TIMEOUT
            while process.poll() is None:
                late = time.monotonic() > deadline
                if late or (kill_after and self.recorder.total - start >= kill_after):
                    process.send_signal(signal.SIGKILL)
                    if late:
                        self.report.violations.append("a faulty pass hung; killed it")
                    break
                time.sleep(0.002)
            code = process.wait()
        return code, log.read_text(errors="replace")

    def env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("RAILWAY_") and k != "CI"},
            "RAILWAY_API_URL": self.url,
            "RAILWAY_TOKEN": self.emu.account_token,
            "SAAS_INFRA_TIME_SCALE": str(self.config.time_scale),
            "SAAS_INFRA_TIME_ORIGIN": repr(self.clock.origin),
            "SAAS_INFRA_RAILWAY_PLAN": "PRO",  # paces for 50/s: see ChaosConfig.rate_per_second
            "PYTHONPATH": str(ROOT),
            "NO_COLOR": "1",
        }

    def break_stale_lock(self) -> int:
        """What an operator does after a pass was killed: `saas-infra unlock --force`."""
        return int(lock.break_lock(self.client, self.emu.workspace_id,
                                  sleep=self.clock.sleep).lease is not None)

    def clean_pass(self) -> list[str]:
        """One pass without faults, and a second one only for deletions the first had to
        announce (a deadline already past when written is deleted by the pass after)."""
        fleet = Fleet(client=self.client, clock=self.clock, tenants_dir=self.tenants,
                      workspace_id=self.emu.workspace_id)
        for attempt in (1, 2):
            try:
                report = apply_pass(fleet)
            except SaasInfraError as exc:
                return [f"the clean pass failed: {type(exc).__name__}: {exc}"]
            problems = [f"clean pass: {o.tenant} failed: {o.error}" for o in report.failed]
            if not report.converged:
                problems.append(f"clean pass did not converge: {report.after.actions}")
            left = fleet.plan().actions
            if problems or not left:
                return problems
            if attempt == 2 or {a.kind for a in left} != {ActionKind.DELETE}:
                return [f"the plan after the clean pass is not empty: {left}"]
        return []

    def check(self, before: dict[str, str]) -> list[str]:
        snapshot = self.emu.snapshot()
        manifests = [m.manifest for m in mf.load_tenants(self.tenants)]
        now = self.clock.now()
        return fleet_violations(snapshot, manifests, now, spy=self.spy,
                                orphans=self.forgotten, unmanaged=self.unmanaged) + (
            deletion_violations(before, snapshot, manifests, now))

    def tidy(self) -> None:
        """After a forced delete went through, drop the manifest (as `delete --force` does)."""
        live = live_by_tenant(self.emu.snapshot())
        for loaded in mf.load_tenants(self.tenants):
            deletion = loaded.manifest.deletion
            if deletion and deletion.force and loaded.name not in live and self.rng.random() < 0.7:
                loaded.path.unlink()

    # --- fleet changes ----------------------------------------------------------------------

    def change(self, number: int) -> None:
        kinds = list(CHANGES)
        for kind in self.rng.choices(kinds, weights=[CHANGES[k] for k in kinds], k=4):
            tenant = getattr(self, "change_" + kind.replace("-", "_"))()
            if tenant:
                self.record(number, kind, tenant)
                return

    def record(self, number: int, kind: str, tenant: str | None) -> None:
        if tenant:
            self.report.changes[kind] += 1
            self.report.history.append(f"round {number}: {kind} {tenant}")

    def manifests(self) -> dict[str, mf.LoadedManifest]:
        return {m.name: m for m in mf.load_tenants(self.tenants)}

    def pick(self, want) -> mf.LoadedManifest | None:
        """A random manifest for which `want(manifest)` holds, or None."""
        found = [m for m in self.manifests().values() if want(m.manifest)]
        return self.rng.choice(found) if found else None

    def change_create(self) -> str | None:
        taken = set(self.manifests()) | set(self.forgotten)
        free = [f"t{n}" for n in range(self.config.names) if f"t{n}" not in taken]
        if not free:
            return None
        name, roll = self.rng.choice(free), self.rng.random()
        if roll < 0.3:
            mf.write_new_manifest(self.tenants, name, image=self.rng.choice(IMAGES))
        else:
            branch = "main" if roll < 0.7 else "staging"
            mf.write_new_manifest(self.tenants, name, branch=branch,
                                  variables={"LOG_LEVEL": "info"} if roll < 0.5 else None)
        return name

    def change_edit(self) -> str | None:
        loaded = self.pick(lambda m: m.deletion is None)
        if loaded is None:
            return None
        spec, roll = loaded.manifest, self.rng.random()
        if roll < 0.35:
            mf.set_gateway_source(loaded.path, image=self.rng.choice(IMAGES))
            return loaded.name
        if roll < 0.5:
            mf.set_gateway_source(loaded.path, repo=mf.DEFAULT_REPO,
                                  branch=self.rng.choice(("main", "staging")))
            return loaded.name
        variables = dict(spec.gateway.variables or {})
        for key in self.rng.sample(("LOG_LEVEL", "REGION", "FEATURE_FLAGS"), 2):
            if key in variables and self.rng.random() < 0.4:
                del variables[key]
            else:
                variables[key] = self.rng.choice(("debug", "info", "eu", "us", "a,b"))
        gateway = spec.gateway.model_copy(update={"variables": variables})
        loaded.path.write_text(mf.render_manifest(spec.model_copy(update={"gateway": gateway})))
        return loaded.name

    def change_redeploy(self) -> str | None:
        loaded = self.pick(lambda m: m.deletion is None)
        if loaded is not None:
            mf.set_redeploy(loaded.path, self.clock.now())
        return loaded and loaded.name

    def change_delete(self) -> str | None:
        return self._tombstone(self.clock.now(), force=False)

    def change_expired_delete(self) -> str | None:
        return self._tombstone(self.clock.now() - timedelta(days=8), force=False)

    def change_forced_delete(self) -> str | None:
        return self._tombstone(self.clock.now(), force=True)

    def _tombstone(self, when, *, force: bool) -> str | None:
        if self._due_deletions() >= 2:  # stay under --max-deletions (3) for the clean pass
            return None
        loaded = self.pick(lambda m: m.deletion is None or (force and not m.deletion.force))
        if loaded is not None:
            mf.set_tombstone(loaded.path, when, grace_days=7, force=force)
        return loaded and loaded.name

    def _due_deletions(self) -> int:
        now = self.clock.now()
        return sum(1 for m in self.manifests().values()
                   if m.manifest.deletion and m.manifest.deletion.is_due(now))

    def change_cancel(self) -> str | None:
        loaded = self.pick(lambda m: m.deletion is not None)
        if loaded is not None:
            mf.clear_tombstone(loaded.path)
        return loaded and loaded.name

    def change_forget(self) -> str | None:
        """Remove a manifest (as a bad merge would): an orphan, never deleted by absence."""
        manifests = self.manifests()
        loaded = self.pick(lambda m: m.deletion is None)
        if loaded is None or len(manifests) < 3:
            return None
        self.forgotten[loaded.name] = loaded.path.read_text()
        loaded.path.unlink()
        return loaded.name

    def change_restore(self) -> str | None:
        if not self.forgotten:
            return None
        name = self.rng.choice(sorted(self.forgotten))
        (self.tenants / f"{name}.yaml").write_text(self.forgotten.pop(name))
        return name


def _crash_line(stderr: str) -> str | None:
    """An error that escaped saas-infra's own error handling (a bug, whatever the faults)."""
    lines = stderr.strip().splitlines()
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        return lines[-1]
    return next((line for line in lines if "Error: unexpected" in line), None)


def run_chaos(config: ChaosConfig) -> ChaosReport:
    return ChaosRun(config).run()
