"""Two `saas-infra apply` processes at once against one emulator over HTTP (two CI jobs, or a
laptop and CI): exactly one acts; the other stops with the holder's name, or waits its turn and
then finds nothing to do; no project is ever made twice. The first pass is caught mid-apply by
holding its template deploys at the emulator, so the overlap is certain, not a matter of luck."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from saas_infra.clock import format_time
from saas_infra.lock import CONTROL_PROJECT, parse_lease
from tests.test_gitops_run import World, world  # noqa: F401  (the fixture)


class Gate:
    """Holds every TemplateDeploy at the emulator until opened: a pass stops mid-apply.
    `reached` is set once both tenants' workers are held there, so the first pass sends
    nothing more (no project of its own either) while the test looks."""

    def __init__(self, emu, holding: int = 2) -> None:
        self.reached, self.opened = threading.Event(), threading.Event()
        self._held, self._holding, self._mutex = 0, holding, threading.Lock()
        self._handle = emu.handle
        emu.handle = self.handle

    def handle(self, method, url, headers, body):
        if json.loads(body or b"{}").get("operationName") == "TemplateDeploy":
            with self._mutex:
                self._held += 1
                if self._held >= self._holding:
                    self.reached.set()
            self.opened.wait(timeout=60)
        return self._handle(method, url, headers, body)


class Pass:
    """`saas-infra apply` in its own process, as GitHub run `run_id` would start it."""

    def __init__(self, on: World, run_id: str, *args: str) -> None:
        env = {**on.env, "GITHUB_RUN_ID": run_id, "RAILWAY_API_TOKEN": on.emu.workspace_token,
               "RAILWAY_WORKSPACE_ID": on.emu.workspace_id}
        self.process = subprocess.Popen(["saas-infra", "apply", "--yes", *args], cwd=on.repo,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.lines: list[str] = []
        self.waiting = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)
            if line.startswith("Waiting for the fleet lock"):
                self.waiting.set()

    def finish(self) -> tuple[int, str]:
        """The exit code, and stderr followed by stdout (where the verdict is)."""
        self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        return self.process.returncode, "".join(self.lines) + self.process.stdout.read()


def holder(run_id: str) -> str:
    return f"github:acme/tenants/actions/runs/{run_id}"


def tenant_projects(on: World) -> list[str]:
    return sorted(p["name"] for p in on.emu.snapshot()["projects"]
                  if p["name"].startswith("luthien-"))


def lease_of(on: World):
    [lease] = [parse_lease(p["description"]) for p in on.emu.snapshot()["projects"]
               if p["name"] == CONTROL_PROJECT]
    return lease


@pytest.fixture
def gate(world: World):  # noqa: F811
    gate = Gate(world.emu)
    yield gate
    gate.opened.set()


def test_a_second_apply_that_cannot_wait_stops_with_a_clear_message(world, gate):  # noqa: F811
    first = Pass(world, "1")
    assert gate.reached.wait(timeout=30), "the first pass never got to its template deploys"
    lease = lease_of(world)
    assert lease.holder == holder("1")
    creates, claims = world.emu.counts["ProjectCreate"], world.emu.counts["LockClaim"]

    second = Pass(world, "2", "--lock-timeout", "0")
    code, stderr = second.finish()
    assert code == 1
    assert (f"Error: another saas-infra pass holds the fleet lock (holder {holder('1')}, "
            f"expires {format_time(lease.expires)})\n") in stderr
    assert world.emu.counts["ProjectCreate"] == creates  # it made nothing
    assert world.emu.counts["LockClaim"] == claims  # and wrote nothing: it only read the lease
    assert lease_of(world) == lease

    gate.opened.set()
    code, stderr = first.finish()
    assert code == 0, stderr
    assert tenant_projects(world) == ["luthien-acme", "luthien-globex"]
    assert lease_of(world) is None  # freed


def test_a_second_apply_waits_its_turn_and_finds_nothing_left_to_do(world, gate):  # noqa: F811
    first = Pass(world, "1")
    assert gate.reached.wait(timeout=30)
    second = Pass(world, "2", "--lock-timeout", "600")
    assert second.waiting.wait(timeout=30), second.lines
    assert tenant_projects(world) == ["luthien-acme", "luthien-globex"]  # the first's, half-made

    gate.opened.set()
    first_code, first_err = first.finish()
    second_code, second_err = second.finish()
    assert (first_code, second_code) == (0, 0), first_err + second_err
    assert f"Waiting for the fleet lock (holder {holder('1')}, expires " in second_err
    assert "Nothing to do: Railway matches the manifests." in second_err
    assert "project created" not in second_err
    assert tenant_projects(world) == ["luthien-acme", "luthien-globex"]
    # Two tenants and the lock's control project, made once: the passes made no project each.
    assert world.emu.counts["ProjectCreate"] == 3
    assert lease_of(world) is None
