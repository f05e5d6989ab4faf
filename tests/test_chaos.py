"""A short seeded chaos run (tests/chaos_lib.py; scripts/chaos.py runs long ones): real apply
processes over loopback HTTP with faults and SIGKILLs, a clean pass after each round, and not
one invariant violation. Also checks that the run really was chaotic, so it cannot pass empty.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from saas_infra.emulator.timescale import ScaledClock, clock_from_env
from tests.chaos_checks import DeploySpy
from tests.chaos_lib import ChaosConfig, _crash_line, run_chaos

ROOT = Path(__file__).resolve().parent.parent

ROUNDS = 24


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chaos")
    return run_chaos(ChaosConfig(workdir=workdir, rounds=ROUNDS, seed=3, kill_rate=0.4))


@pytest.mark.slow
def test_seeded_chaos_run_has_no_invariant_violation(report) -> None:
    assert report.violations == []
    assert report.rounds == ROUNDS


@pytest.mark.slow
def test_the_run_injected_every_kind_of_fault_and_killed_passes(report) -> None:
    for kind in ("error_5xx", "reset", "html_429", "create_timeout", "latency", "rate_limited"):
        assert report.faults[kind] > 0, kind
    assert report.bare_429 == report.faults["html_429"]  # Cloudflare's 429 has no Retry-After
    assert report.kills >= 3
    assert report.exits["killed"] == report.kills
    changed = {kind for kind, count in report.changes.items() if count}
    assert {"create", "edit", "redeploy", "forced-delete", "cancel"} <= changed


def test_a_traceback_or_unexpected_error_counts_as_a_crash() -> None:
    traceback = "Traceback (most recent call last):\n  ...\nKeyError: 'x'\n"
    assert _crash_line(traceback) == "KeyError: 'x'"
    assert _crash_line("Error: unexpected ValueError: bad\nHint: ...") == (
        "Error: unexpected ValueError: bad")
    assert _crash_line("Error: Railway answered badly: HTTP 503\n") is None


def test_the_spy_finds_a_variable_change_no_deploy_followed() -> None:
    spy = DeploySpy()
    ok = b'{"data": {"x": true}}'
    upsert = (b'{"operationName": "VariableCollectionUpsert", "variables": {"input": '
              b'{"serviceId": "s1", "skipDeploys": true, "variables": {}}}}')
    deploy = b'{"operationName": "ServiceInstanceDeploy", "variables": {"serviceId": "s1"}}'
    spy.record(deploy, 200, ok)
    spy.record(upsert, 200, ok)
    assert spy.undeployed() == {"s1"}
    spy.record(deploy, 503, b"")  # not executed: still undeployed
    assert spy.undeployed() == {"s1"}
    spy.record(deploy, 200, ok)
    assert spy.undeployed() == set()


def test_time_scale_comes_from_the_environment() -> None:
    assert not isinstance(clock_from_env({}), ScaledClock)
    clock = clock_from_env({"SAAS_INFRA_TIME_SCALE": "50", "SAAS_INFRA_TIME_ORIGIN": "1000.0"})
    assert isinstance(clock, ScaledClock) and (clock.rate, clock.origin) == (50.0, 1000.0)
    with pytest.raises(ValueError):
        clock_from_env({"SAAS_INFRA_TIME_SCALE": "-1"})


def test_a_bad_time_scale_stops_the_scaled_cli_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "scaled_cli.py"), "--help"],
        env={"SAAS_INFRA_TIME_SCALE": "fast", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: SAAS_INFRA_TIME_SCALE")
    assert "Traceback" not in result.stderr


def test_the_product_cli_reads_no_time_scale(tmp_path: Path) -> None:
    """No test seam in the product: `saas-infra` runs on the real clock whatever the variable
    says (a time-scaled clock comes only from an emulator or test entry point)."""
    result = subprocess.run(
        [sys.executable, "-m", "saas_infra.cli", "--help"],
        env={"SAAS_INFRA_TIME_SCALE": "fast", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    product = "".join(p.read_text() for p in (ROOT / "saas_infra").rglob("*.py")
                      if "emulator" not in p.parts)
    assert "SAAS_INFRA_TIME_SCALE" not in product and "ScaledClock" not in product
