"""Progressive rollouts of a release channel, end to end on the in-process emulator: a bumped
channel goes out in the configured waves (each gated on SUCCESS and a 200 from the health path,
then soaked on the fake clock) and ends with every tenant on the new commit; a crashing version
halts after the canary, which is rolled back, and no later pass resumes on its own; an
operator's resume (in fleet.yaml) continues it; `advance: wave` starts one wave per pass; the
fleet file's rollout errors carry file:line; `rollout status` in text and JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from saas_infra.emulator import Emulator
from saas_infra.errors import ManifestError
from saas_infra.manifest import load_tenants
from saas_infra.plan import ActionKind, SetVersion
from saas_infra.reconcile import Fleet, apply_pass
from saas_infra.render import plan_markdown, plan_text

REPO = "LuthienResearch/luthien-proxy"
V1, V2, BAD = "1" * 40, "2" * 40, "3" * 40
TENANTS = ("alpha", "beta", "delta", "gamma")  # delta is the canary
SETTLE_MINUTES = 15


def fleet_yaml(version: str, *, advance: str = "all", on_failure: str = "rollback",
               resume: str = "", timeout: str = "5m") -> str:
    return f"""\
# The fleet's release channels (a comment the resume must keep).
version: 1
defaults:
  channel: stable
  gateway: {{repo: {REPO}}}
channels:
  stable:
    commit: '{version}'   # bumped by a release PR
{resume}rollout:
  waves: [1, "50%", "100%"]
  canary: [delta]
  health: {{path: /health, timeout: {timeout}}}
  soak: 10m
  max_failed: 0
  on_failure: {on_failure}
  advance: {advance}
"""


@pytest.fixture(autouse=True)
def known_commits(emu: Emulator) -> None:
    for sha in (V1, V2):
        emu.set_commit_outcome(REPO, sha, "success")
    emu.set_commit_outcome(REPO, BAD, "crashes")


def set_fleet(fleet: Fleet, text: str) -> None:
    (fleet.tenants_dir.parent / "fleet.yaml").write_text(text)


def running(emu: Emulator, tenant: str) -> str | None:
    [project] = [p for p in emu.snapshot()["projects"]
                 if p["name"] == f"luthien-{tenant}" and p["deletedAt"] is None]
    [service] = [s for s in project["services"] if s["name"] == "gateway"]
    return service["deployments"][-1].get("commitHash")


def deployed(emu: Emulator, tenant: str) -> list[str | None]:
    [project] = [p for p in emu.snapshot()["projects"]
                 if p["name"] == f"luthien-{tenant}" and p["deletedAt"] is None]
    [service] = [s for s in project["services"] if s["name"] == "gateway"]
    return [d.get("commitHash") for d in service["deployments"]]


def converged_channel(fleet: Fleet, emu: Emulator, fleet_text: str) -> Fleet:
    """TENANTS on the channel of `fleet_text`, created by a pass and settled; the gate probes the
    emulator. Shared by the rollout test modules."""
    fleet.health = lambda: httpx.Client(transport=emu.transport())
    set_fleet(fleet, fleet_text)
    for name in TENANTS:
        (fleet.tenants_dir / f"{name}.yaml").write_text(f"version: 1\nname: {name}\n")
    report = apply_pass(fleet)
    assert not report.failed, [o.error for o in report.failed]
    fleet.clock.advance(minutes=SETTLE_MINUTES)
    assert fleet.plan().empty
    return fleet


@pytest.fixture
def rolled(fleet: Fleet, emu: Emulator) -> Fleet:
    """Four tenants of channel stable, all running V1; the gate probes the emulator."""
    converged_channel(fleet, emu, fleet_yaml(V1))
    assert {running(emu, t) for t in TENANTS} == {V1}
    return fleet


def test_a_bumped_channel_plans_only_the_canary_wave_and_shows_every_wave(rolled: Fleet):
    set_fleet(rolled, fleet_yaml(V2))
    plan = rolled.plan()
    [action] = plan.actions
    assert action.tenant == "delta" and isinstance(action.change, SetVersion)
    assert action.change.deploy and action.change.gate is not None
    assert action.change.gate.timeout == 300 and action.change.gate.rollback
    [view] = plan.rollouts
    assert [w.starting for w in view.waves] == [("delta",), (), ()]
    assert [w.old for w in view.waves] == [(), ("alpha",), ("beta", "gamma")]
    text = "\n".join(line for line, _ in plan_text(plan))
    assert "Rollout of channel stable to 222222222222 (3 waves; all waves in one pass):" in text
    assert "wave 1: deploying now: delta" in text
    assert "wave 3: old version: beta, gamma" in text
    markdown = plan_markdown(plan)
    assert "| 1 | `delta` | - | - | - | - |" in markdown
    assert "| 3 | - | - | - | - | `beta`, `gamma` |" in markdown
    assert json.loads(plan.to_json())["rollouts"][0]["waves"][0]["starting"] == ["delta"]


def test_a_bumped_channel_rolls_out_wave_by_wave_with_soaks_and_ends_on_the_new_commit(
        rolled: Fleet, emu: Emulator):
    set_fleet(rolled, fleet_yaml(V2))
    started = rolled.clock.now()
    report = apply_pass(rolled)
    assert not report.failed, [o.error for o in report.failed]
    assert report.converged, report.after
    assert {running(emu, t) for t in TENANTS} == {V2}
    deploys = [a.tenant for a in report.plan.actions if a.kind is ActionKind.SET_VERSION]
    assert deploys == ["delta", "alpha", "beta", "gamma"]  # canary, then the waves in order
    # two soaks of 10 minutes between the three waves, on the fake clock
    assert rolled.clock.now() - started >= timedelta(minutes=20)
    steps = {o.tenant: [(s.name, s.result) for s in o.steps] for o in report.outcomes}
    assert ("health", "passed") in steps["delta"]
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert rolled.plan().empty


def test_a_crashing_version_halts_after_the_canary_rolls_it_back_and_stays_halted(
        rolled: Fleet, emu: Emulator):
    set_fleet(rolled, fleet_yaml(BAD))
    report = apply_pass(rolled)
    [failed] = report.failed
    assert failed.tenant == "delta"
    assert failed.error is not None and "crashed" in failed.error
    assert "`saas-infra rollout resume stable`" in failed.error
    assert "rolled back to 111111111111" in failed.error
    assert not report.converged
    assert [running(emu, t) for t in ("alpha", "beta", "gamma")] == [V1, V1, V1]
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert running(emu, "delta") == V1  # the rollback
    before = {t: deployed(emu, t) for t in TENANTS}
    plan = rolled.plan()  # a later pass: the halt is read back from Railway's history
    assert not [a for a in plan.actions if a.kind is ActionKind.SET_VERSION and a.change.deploy]
    assert plan.rollouts[0].halted
    assert any("delta (crashed, rolled back)" in w for w in plan.warnings)
    later = apply_pass(rolled)
    assert not later.converged and later.halted
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert {t: deployed(emu, t) for t in TENANTS} == before  # nobody deployed on its own


def test_a_resume_in_the_fleet_file_continues_the_rollout(rolled: Fleet, emu: Emulator, run_cli,
                                                          runtime):
    set_fleet(rolled, fleet_yaml(BAD))
    apply_pass(rolled)
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    emu.set_commit_outcome(REPO, BAD, "success")  # the cause was fixed outside the code
    runtime.clock = rolled.clock
    result = run_cli("rollout", "resume", "stable")
    assert result.exit_code == 0, result.output
    text = (rolled.tenants_dir.parent / "fleet.yaml").read_text()
    assert "# The fleet's release channels" in text and "# bumped by a release PR" in text
    assert f"resume: {{commit: '{BAD}', at: '" in text
    report = apply_pass(rolled)
    assert not report.failed, [o.error for o in report.failed]
    assert {running(emu, t) for t in TENANTS} == {BAD}


def test_resume_of_a_rollout_that_is_not_halted_writes_nothing_unless_forced(
        rolled: Fleet, run_cli, runtime, emu: Emulator):
    set_fleet(rolled, fleet_yaml(V2, advance="wave"))
    apply_pass(rolled)  # wave 1 healthy, soaking: under way, not halted
    runtime.clock = rolled.clock
    path = rolled.tenants_dir.parent / "fleet.yaml"
    before, calls = path.read_text(), emu.counts["total"]
    result = run_cli("rollout", "resume", "stable")
    assert emu.counts["total"] > calls  # it looked at Railway, as `rollout status` does
    assert result.exit_code == 0, result.output
    assert "Channel stable's rollout is not halted (soaking (" in result.stdout
    assert "nothing was written" in result.stdout and "Resumed" not in result.output
    assert path.read_text() == before
    data = json.loads(run_cli("rollout", "resume", "stable", "--json").stdout)
    assert (data["resumed"], data["halted"]) == (False, False)
    assert data["state"].startswith("soaking")
    assert path.read_text() == before
    forced = run_cli("rollout", "resume", "stable", "--force")
    assert forced.exit_code == 0, forced.output
    assert "Resumed channel stable" in forced.stdout
    assert f"resume: {{commit: '{V2}', at: '" in path.read_text()


def test_resume_of_an_unknown_channel_names_it_and_the_channels(rolled: Fleet, run_cli,
                                                                emu: Emulator):
    before = emu.counts["total"]
    result = run_cli("rollout", "resume", "stabel")
    assert result.exit_code == 1
    assert "Error: unknown channel 'stabel': fleet.yaml defines the channels stable" in (
        result.stderr)
    assert "did you mean stable?" in result.output and "manifest problem" not in result.output
    assert emu.counts["total"] == before  # checked offline: Railway is not asked


def test_advance_wave_starts_one_wave_per_pass(rolled: Fleet, emu: Emulator):
    set_fleet(rolled, fleet_yaml(V2, advance="wave"))
    first = apply_pass(rolled)
    assert first.converged and not first.failed
    assert [running(emu, t) for t in TENANTS] == [V1, V1, V2, V1]
    assert rolled.plan().empty  # soaking: nothing starts yet
    rolled.clock.advance(minutes=11)
    second = apply_pass(rolled)
    assert [a.tenant for a in second.plan.actions] == ["alpha"]
    assert [running(emu, t) for t in TENANTS] == [V2, V1, V2, V1]


def test_rollout_errors_in_the_fleet_file_name_file_line_and_field(tenants_dir: Path):
    (tenants_dir.parent / "fleet.yaml").write_text(
        "version: 1\n"
        "channels:\n"
        "  stable: {commit: abc1234}\n"
        "  edge: {image: 'ghcr.io/o/p:1.2'}\n"
        "rollout:\n"
        "  waves: [1, '25%']\n"
        "  soak: ten minutes\n"
        "  on_failure: retry\n")
    (tenants_dir / "acme.yaml").write_text("version: 1\nname: acme\n")
    with pytest.raises(ManifestError) as caught:
        load_tenants(tenants_dir)
    problems = [str(p) for p in caught.value.problems]
    assert problems[0].startswith("fleet.yaml:3: channels.stable.commit: 'abc1234' is a short "
                                  "SHA")
    assert problems[1].startswith("fleet.yaml:4: channels.edge.image: 'ghcr.io/o/p:1.2' has no "
                                  "digest")
    assert any(p.startswith("fleet.yaml:6: rollout.waves: the last wave must be \"100%\"")
               for p in problems) or any(p.startswith("fleet.yaml:7:") for p in problems)
    assert any(p.startswith("fleet.yaml:7: rollout.soak: 'ten minutes' is not a duration")
               for p in problems)
    assert any(p.startswith("fleet.yaml:8: rollout.on_failure:") for p in problems)


@pytest.mark.parametrize(("waves", "message"), [
    ("['50%', '25%', '100%']", 'fleet.yaml:6: rollout.waves.1: wave 2 ("25%") does not grow past '
     'wave 1 ("50%")'),
    ("[2, 2, '100%']", "fleet.yaml:6: rollout.waves.1: wave 2 (2) does not grow past wave 1 (2)"),
    ("[1, '50%', 3, '100%']", 'fleet.yaml:6: rollout.waves.2: wave 3 (3) is a count after the '
     'share "50%": give counts first, then shares'),
])
def test_waves_that_do_not_grow_are_refused_at_the_wave(tenants_dir: Path, waves: str,
                                                          message: str):
    (tenants_dir.parent / "fleet.yaml").write_text(
        f"version: 1\ndefaults: {{gateway: {{repo: {REPO}}}}}\n"
        f"channels:\n  stable: {{commit: '{V1}'}}\nrollout:\n  waves: {waves}\n")
    (tenants_dir / "acme.yaml").write_text("version: 1\nname: acme\n")
    with pytest.raises(ManifestError) as caught:
        load_tenants(tenants_dir)
    [problem] = [str(p) for p in caught.value.problems]
    assert problem.startswith(message), problem


def test_growing_waves_of_counts_then_shares_are_accepted(tenants_dir: Path):
    (tenants_dir.parent / "fleet.yaml").write_text(
        f"version: 1\ndefaults: {{gateway: {{repo: {REPO}}}}}\n"
        f"channels:\n  stable: {{commit: '{V1}'}}\nrollout:\n  waves: [1, 5, '10%', '100%']\n")
    (tenants_dir / "acme.yaml").write_text("version: 1\nname: acme\n")
    assert [t.name for t in load_tenants(tenants_dir)] == ["acme"]


def test_a_canary_that_is_no_tenant_of_the_channel_is_warned_at_its_line(rolled: Fleet, run_cli):
    text = fleet_yaml(V1).replace("canary: [delta]", "canary:\n    - gama\n    - own")
    text = text.replace("channels:\n", "channels:\n  edge: {commit: '" + V2 + "', rollout: "
                        "{canary: [alpha]}}\n")
    set_fleet(rolled, text)
    (rolled.tenants_dir / "own.yaml").write_text(f"version: 1\nname: own\ngateway: "
                                                 f"{{commit: '{V2}'}}\n")
    lines = {n: i for i, n in enumerate(text.splitlines(), start=1)}
    typo = (f"fleet.yaml:{lines['    - gama']}: rollout.canary.0: canary 'gama' is not a tenant "
            "(no manifest names it); did you mean 'gamma'?")
    pinned = (f"fleet.yaml:{lines['    - own']}: rollout.canary.1: canary 'own' is not a tenant "
              "of the channel this rollout is for (stable): it follows no channel")
    elsewhere = ("fleet.yaml:7: channels.edge.rollout.canary.0: canary 'alpha' is not a tenant of "
                 "the channel this rollout is for (edge): it follows channel stable")
    validated = run_cli("validate")
    assert validated.exit_code == 0, validated.output
    planned = run_cli("plan")
    assert planned.exit_code == 0, planned.output
    for result in (validated, planned):
        for warning in (typo, pinned, elsewhere):
            assert f"Warning: {warning}" in result.stderr, result.stderr
    warned = json.loads(run_cli("validate", "--json").stdout)["warnings"]
    assert [w.split(":")[1] for w in warned[:3]] == ["7", str(lines["    - gama"]),
                                                      str(lines["    - own"])]


def test_canaries_of_the_channel_raise_no_warning(rolled: Fleet, run_cli):
    result = run_cli("validate")
    assert result.exit_code == 0 and "canary" not in result.stderr, result.stderr


def test_an_unknown_channel_is_named_at_the_manifest_line(tenants_dir: Path):
    (tenants_dir.parent / "fleet.yaml").write_text(
        f"version: 1\ndefaults: {{gateway: {{repo: {REPO}}}}}\n"
        f"channels:\n  stable: {{commit: '{V1}'}}\n")
    (tenants_dir / "acme.yaml").write_text("version: 1\nname: acme\nchannel: stabel\n")
    with pytest.raises(ManifestError) as caught:
        load_tenants(tenants_dir)
    assert [str(p) for p in caught.value.problems] == [
        "tenants/acme.yaml:3: channel: unknown channel 'stabel': fleet.yaml defines stable; "
        "did you mean 'stable'?"]


def test_a_channel_resolves_to_the_pin_and_an_own_pin_wins(tenants_dir: Path):
    (tenants_dir.parent / "fleet.yaml").write_text(
        f"version: 1\ndefaults: {{channel: stable, gateway: {{repo: {REPO}}}}}\n"
        f"channels:\n  stable: {{commit: '{V1}'}}\n")
    (tenants_dir / "acme.yaml").write_text("version: 1\nname: acme\n")
    (tenants_dir / "own.yaml").write_text(f"version: 1\nname: own\ngateway: {{commit: '{V2}'}}\n")
    acme, own = load_tenants(tenants_dir)
    assert (acme.manifest.gateway.commit, acme.channel) == (V1, "stable")
    assert (own.manifest.gateway.commit, own.channel) == (V2, None)


def test_rollout_status_text_and_json(rolled: Fleet, run_cli, runtime, emu: Emulator):
    set_fleet(rolled, fleet_yaml(BAD))
    apply_pass(rolled)
    runtime.clock = rolled.clock
    result = run_cli("rollout", "status")
    assert result.exit_code == 0, result.output
    assert "Channel stable: 333333333333, HALTED" in result.stdout
    assert "wave 1: failed: delta (crashed, rolled back)" in result.stdout
    assert "wave 3: old version: beta, gamma" in result.stdout
    assert "saas-infra rollout resume stable" in result.stdout
    data = json.loads(run_cli("rollout", "status", "stable", "--json").stdout)
    [channel] = data["channels"]
    assert channel["halted"] and channel["failed"] == ["delta"]
    assert channel["waves"][0]["failed"] == ["delta"]
    assert channel["waves"][1]["old"] == ["alpha"]
    assert channel["resume_command"] == "saas-infra rollout resume stable"


def test_a_held_crash_is_rolled_back_by_a_rollback_action_once_the_fleet_file_says_so(
        rolled: Fleet, emu: Emulator):
    set_fleet(rolled, fleet_yaml(BAD, on_failure="hold"))
    [failed] = apply_pass(rolled).failed
    assert failed.tenant == "delta" and "rolled back" not in (failed.error or "")
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert running(emu, "delta") == BAD and not rolled.plan().actions  # held: left crashed
    set_fleet(rolled, fleet_yaml(BAD, on_failure="rollback"))
    [action] = rolled.plan().actions
    assert (action.tenant, action.kind) == ("delta", ActionKind.ROLLBACK)
    report = apply_pass(rolled)
    assert not report.failed and report.halted  # rolled back, and still halted
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    assert running(emu, "delta") == V1
    assert not rolled.plan().actions


@pytest.mark.parametrize("image", ["ghcr.io/o/p:latest", "ghcr.io/o/p:1.2.3", "ghcr.io/o/p"])
def test_a_channel_image_without_a_digest_is_told_to_use_a_digest_whatever_its_tag(
        tenants_dir: Path, image: str):
    (tenants_dir.parent / "fleet.yaml").write_text(
        f"version: 1\nchannels:\n  edge: {{image: '{image}'}}\n")
    (tenants_dir / "acme.yaml").write_text("version: 1\nname: acme\n")
    with pytest.raises(ManifestError) as caught:
        load_tenants(tenants_dir)
    [problem] = [str(p) for p in caught.value.problems]
    assert problem.startswith(f"fleet.yaml:3: channels.edge.image: '{image}' has no digest: a "
                              "channel's image must be given by digest"), problem
    assert "version tag (" not in problem and "use a version tag" not in problem


def test_a_tenant_gateway_image_may_still_pin_a_version_tag(tenants_dir: Path):
    (tenants_dir / "acme.yaml").write_text(
        "version: 1\nname: acme\ngateway: {image: 'ghcr.io/o/p:1.2.3'}\n")
    [acme] = load_tenants(tenants_dir)
    assert acme.manifest.gateway.image == "ghcr.io/o/p:1.2.3"


def test_advance_wave_fix_forward_clears_the_stale_failure_record_in_its_own_pass(
        rolled: Fleet, emu: Emulator, run_cli):
    set_fleet(rolled, fleet_yaml(BAD, advance="wave"))
    [failed] = apply_pass(rolled).failed  # delta crashes, its marker records the failure
    assert failed.tenant == "delta"
    rolled.clock.advance(minutes=SETTLE_MINUTES)
    set_fleet(rolled, fleet_yaml(V2, advance="wave"))  # fix forward
    result = run_cli("apply", "--yes")
    assert result.exit_code == 0, result.output
    assert "Not converged" not in result.output
    assert "record-failure" in result.output  # the clean-up is shown as it is applied
    assert result.stdout.strip().splitlines()[-1] == (
        "Applied 2 changes to 1 tenant; converged; the rollout of stable continues on the next "
        "pass (wave 2 of 3).")
    assert [running(emu, t) for t in TENANTS] == [V1, V1, V2, V1]
    [delta] = [p for p in emu.snapshot()["projects"]
               if p["name"] == "luthien-delta" and p["deletedAt"] is None]
    assert "failed=" not in delta["description"]


def test_a_wave_pass_says_the_rollout_continues_on_the_next_pass(rolled: Fleet, emu: Emulator,
                                                                 run_cli):
    set_fleet(rolled, fleet_yaml(V2, advance="wave"))
    first = run_cli("apply", "--yes")
    assert first.exit_code == 0, first.output
    verdict = first.stdout.strip().splitlines()[-1]
    assert verdict == ("Applied 1 change to 1 tenant; converged; the rollout of stable continues "
                       "on the next pass (wave 2 of 3)."), verdict
    rolled.clock.advance(minutes=11)
    second = run_cli("apply", "--yes")
    assert second.exit_code == 0, second.output
    assert second.stdout.strip().splitlines()[-1] == (
        "Applied 1 change to 1 tenant; converged; the rollout of stable continues on the next "
        "pass (wave 3 of 3).")
    rolled.clock.advance(minutes=11)
    last = run_cli("apply", "--yes")
    assert last.exit_code == 0, last.output
    assert last.stdout.strip().splitlines()[-1] == "Applied 2 changes to 2 tenants; converged."
    assert {running(emu, t) for t in TENANTS} == {V2}
