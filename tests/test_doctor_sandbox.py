"""The issue's first promise, on a fresh clone with no token: `saas-infra doctor --sandbox` and
`saas-infra doctor --live --sandbox --yes` pass against the embedded emulator, and the sandbox
keeps no doctor project afterwards. (Time is a FakeClock; the real command takes about 30 s.)"""

from __future__ import annotations

import json

import pytest

from saas_infra.doctor import CHECK_IDS
from tests.test_sandbox import clone, invoke  # noqa: F401 - `clone` is a fixture


@pytest.mark.usefixtures("clone")
def test_doctor_sandbox_passes_on_a_fresh_clone():
    result = invoke("doctor", "--sandbox", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert [c["id"] for c in data["checks"]] == list(CHECK_IDS)
    assert {c["status"] for c in data["checks"]} <= {"ok", "skip"}
    assert data["checks"][0]["summary"] == (
        "account token from the sandbox emulator (user Emulated User)")


def test_doctor_live_sandbox_passes_on_a_fresh_clone_and_leaves_nothing(clone):  # noqa: F811
    result = invoke("doctor", "--live", "--sandbox", "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith("Doctor: all good.")
    assert "Live run on saas-infra-doctor-" in result.stdout and "✓ delete" in result.stdout
    state = json.loads((clone / ".saas-infra" / "emulator.json").read_text())
    names = [p["name"] for p in state["projects"].values()]
    assert not [n for n in names if n.startswith("saas-infra-doctor-")]
