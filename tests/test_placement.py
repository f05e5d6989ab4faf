"""Placement (issue 14 item 1): a tenant's `region`, from manifest and fleet file to Railway and
back. Checked against Railway's regions list before anything is sent; a new tenant is created in
its region; a service elsewhere is drift; moving the databases moves their data, so apply does it
only when the operator confirms (`--allow-region-move`), and the tenant converges once it has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from saas_infra.errors import ManifestError
from saas_infra.manifest import load_tenants, parse_fleet, parse_manifest
from saas_infra.plan import ActionKind, MoveRegion, PassOptions, Plan
from saas_infra.railway import operations as ops
from saas_infra.reconcile import apply_pass
from saas_infra.render import plan as render
from tests.test_apply import converge, gateway_of, kinds, project_of, write_manifest

GATEWAY = "  repo: LuthienResearch/luthien-proxy\n"
EU = "europe-west4-drams3a"
US = "us-west2"


def service_of(emu, tenant: str, name: str) -> dict:
    [service] = [s for s in project_of(emu, tenant)["services"] if s["name"] == name]
    return service


def placement(emu, tenant: str, name: str) -> dict:
    return service_of(emu, tenant, name)["deploy"].get("multiRegionConfig")


def counting(client):
    """The client, and a list of the operation names it sends."""
    sent: list[str] = []
    original = client.execute

    def execute(operation, variables=None):
        sent.append(operation.name)
        return original(operation, variables)

    client.execute = execute
    return sent


# --- shape, offline --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["Europe West", "eu_west", "us-west2-", "1region", "true", "''"])
def test_a_malformed_region_names_file_line_and_field(value: str) -> None:
    text = f"version: 1\nname: acme\nregion: {value}\ngateway:\n{GATEWAY}"
    _, problems = parse_manifest(text.encode(), "tenants/acme.yaml")
    assert [(p.file, p.line, p.field) for p in problems] == [("tenants/acme.yaml", 3, "region")]


def test_a_fleet_file_region_is_checked_too() -> None:
    text = b"version: 1\ndefaults:\n  region: EU\ntiers:\n  gold:\n    region: 7\n"
    _, problems = parse_fleet(text, "fleet.yaml", Path("fleet.yaml"))
    assert [(p.line, p.field) for p in problems] == [(3, "defaults.region"),
                                                      (6, "tiers.gold.region")]


def test_a_region_is_inherited_from_defaults_and_tiers_and_overridden(tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text(
        f"version: 1\ndefaults:\n  region: {US}\n  gateway:\n{GATEWAY.replace('  ', '    ')}"
        f"tiers:\n  eu:\n    region: {EU}\n")
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "a.yaml").write_text("version: 1\nname: a\n")
    (tenants / "b.yaml").write_text("version: 1\nname: b\ntier: eu\n")
    (tenants / "c.yaml").write_text("version: 1\nname: c\ntier: eu\nregion: us-east4-eqdc4a\n")
    loaded = {m.name: m for m in load_tenants(tenants)}
    assert {n: m.manifest.region for n, m in loaded.items()} == {
        "a": US, "b": EU, "c": "us-east4-eqdc4a"}
    assert (loaded["a"].region_at.line, loaded["a"].region_at.field) == (3, "defaults.region")
    assert (loaded["b"].region_at.line, loaded["b"].region_at.field) == (8, "tiers.eu.region")
    assert loaded["c"].region_at.field == "region" and loaded["c"].region_at.line == 4


def test_validate_checks_only_the_shape_and_sends_nothing(run_cli, tenants_dir, emu) -> None:
    write_manifest(tenants_dir, "acme", GATEWAY, extra="region: mars-north1\n")
    before = emu.request_count() if hasattr(emu, "request_count") else None
    result = run_cli("validate")
    assert result.exit_code == 0, result.output
    if before is not None:
        assert emu.request_count() == before


# --- against Railway's list, before anything is sent -----------------------------------------


def test_an_unknown_region_refuses_the_pass_naming_file_field_and_valid_ids(
        fleet, tenants_dir, client, emu) -> None:
    write_manifest(tenants_dir, "acme", GATEWAY, extra="region: eu-west\n")
    sent = counting(client)
    with pytest.raises(ManifestError) as caught:
        apply_pass(fleet)
    [problem] = caught.value.problems
    assert (problem.file.endswith("acme.yaml"), problem.line, problem.field) == (True, 5, "region")
    assert "did you mean europe-west4-drams3a (EU West)? Valid regions: " in problem.message
    for region in (US, "us-east4-eqdc4a", EU, "asia-southeast1-eqsg3a"):
        assert region in problem.message
    assert not any(op.endswith("Create") or "Deploy" in op for op in sent), sent
    assert project_of_or_none(emu, "acme") is None


def project_of_or_none(emu, tenant: str):
    try:
        return project_of(emu, tenant)
    except ValueError:
        return None


def test_a_deprecated_region_is_named_with_its_replacement(fleet, tenants_dir) -> None:
    (tenants_dir.parent / "fleet.yaml").write_text("version: 1\ntiers:\n  old:\n    region: us-west1\n")
    write_manifest(tenants_dir, "acme", GATEWAY, extra="tier: old\n")
    with pytest.raises(ManifestError) as caught:
        fleet.plan()
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.field) == ("fleet.yaml", 4, "tiers.old.region")
    assert "deprecated" in problem.message and "use its replacement us-west2" in problem.message


def test_a_fleet_file_region_no_tenant_inherits_is_checked_at_its_line(
        fleet, tenants_dir, client) -> None:
    (tenants_dir.parent / "fleet.yaml").write_text(
        f"version: 1\ndefaults:\n  region: {US}\ntiers:\n  gold:\n    region: mars-1\n")
    write_manifest(tenants_dir, "acme", GATEWAY, extra=f"tier: gold\nregion: {EU}\n")
    sent = counting(client)
    with pytest.raises(ManifestError) as caught:
        fleet.plan()
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.field) == ("fleet.yaml", 6, "tiers.gold.region")
    assert "'mars-1' is not a region Railway offers" in problem.message
    assert "?." not in problem.message and "Valid regions: " in problem.message
    assert sent.count("Regions") == 1


def test_a_bad_inherited_region_is_named_once_for_its_tenant(fleet, tenants_dir) -> None:
    (tenants_dir.parent / "fleet.yaml").write_text("version: 1\ndefaults:\n  region: mars-1\n")
    write_manifest(tenants_dir, "acme", GATEWAY)
    with pytest.raises(ManifestError) as caught:
        fleet.plan()
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.field) == ("fleet.yaml", 3, "defaults.region")
    assert problem.message.endswith("(tenant acme)")


def test_regions_are_read_when_only_the_fleet_file_sets_one(fleet, tenants_dir, client) -> None:
    write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    (tenants_dir.parent / "fleet.yaml").write_text(f"version: 1\ntiers:\n  eu:\n    region: {EU}\n")
    sent = counting(client)
    fleet.plan()
    assert sent.count("Regions") == 1


def test_regions_are_read_only_when_a_manifest_sets_one_and_once_a_pass(
        fleet, tenants_dir, client) -> None:
    write_manifest(tenants_dir, "acme", GATEWAY)
    sent = counting(client)
    converge(fleet)
    assert "Regions" not in sent
    write_manifest(tenants_dir, "acme", GATEWAY, extra=f"region: {US}\n")
    sent.clear()
    apply_pass(fleet)
    assert sent.count("Regions") == 1


# --- create ----------------------------------------------------------------------------------


def test_a_new_tenant_is_created_in_its_region_and_the_plan_is_empty_after(
        fleet, tenants_dir, emu) -> None:
    write_manifest(tenants_dir, "acme", GATEWAY + "  replicas: 2\n", extra=f"region: {EU}\n")
    converge(fleet)
    assert placement(emu, "acme", "gateway") == {EU: {"numReplicas": 2}}
    for name in ("Postgres", "Redis"):
        assert placement(emu, "acme", name) == {EU: {"numReplicas": 1}}
        volume = service_of(emu, "acme", name)["volume"]
        assert volume["region"] == EU and volume["state"] == "READY"  # created there: no move
    assert len(gateway_of(emu, "acme")["deployments"]) == 1  # deployed once, in its region


def test_without_a_region_placement_is_left_as_before(fleet, tenants_dir, emu) -> None:
    write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    assert placement(emu, "acme", "Postgres") is None
    assert service_of(emu, "acme", "Postgres")["volume"]["region"] == US


# --- moves -----------------------------------------------------------------------------------


@pytest.fixture
def in_us(fleet, tenants_dir, emu):
    """A converged tenant acme without a region (so in the workspace's preferred us-west2)."""
    write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    write_manifest(tenants_dir, "acme", GATEWAY, extra=f"region: {EU}\n")


def test_a_move_is_planned_as_moving_data_in_text_json_and_markdown(fleet, in_us) -> None:
    plan = fleet.plan()
    assert kinds(plan) == [("acme", "move-region"), ("acme", "update-settings")]
    move = plan.actions[0]
    assert isinstance(move.change, MoveRegion) and not move.change.confirmed
    assert [(s.name, s.region) for s in move.change.services] == [("Postgres", US), ("Redis", US)]
    assert "moves their data" in move.reason and "--allow-region-move" in move.reason
    assert f"region {US} -> {EU}" in plan.actions[1].reason
    text = "\n".join(line for line, _ in render.plan_text(plan))
    assert "move-region" in text and "moves their data" in text
    data = json.loads(render.plan_json(plan))
    assert data["moves_data"] == [{"tenant": "acme", "region": EU, "confirmed": False,
                                   "services": {"Postgres": US, "Redis": US}}]
    markdown = render.plan_markdown(plan)
    assert "**Moves data: this plan moves the databases of `acme`" in markdown
    assert "moves data: Postgres (us-west2), Redis (us-west2)" in markdown


def test_apply_refuses_the_move_without_the_flag_and_other_tenants_go_on(
        fleet, tenants_dir, emu, in_us) -> None:
    write_manifest(tenants_dir, "globex", GATEWAY)
    before = {name: placement(emu, "acme", name) for name in ("gateway", "Postgres", "Redis")}
    report = apply_pass(fleet)
    [failed] = report.failed
    assert failed.tenant == "acme" and failed.steps == []
    assert "moves their data" in failed.error and "--allow-region-move" in failed.error
    assert "nothing was sent for this tenant" in failed.error
    assert {name: placement(emu, "acme", name) for name in before} == before
    assert project_of(emu, "globex")  # created all the same
    assert kinds(report.after) == [("acme", "move-region"), ("acme", "update-settings")]


def test_the_flag_moves_the_data_and_the_tenant_converges(fleet, emu, clock, in_us) -> None:
    converge(fleet, options=PassOptions(allow_region_move=True))
    for name in ("Postgres", "Redis"):
        assert placement(emu, "acme", name) == {EU: {"numReplicas": 1}}
        assert service_of(emu, "acme", name)["volume"]["state"] == "MIGRATING"
    assert placement(emu, "acme", "gateway") == {EU: {"numReplicas": 1}}
    clock.advance(minutes=10)
    for name in ("Postgres", "Redis"):
        volume = service_of(emu, "acme", name)["volume"]
        assert (volume["region"], volume["state"]) == (EU, "READY")
        assert service_of(emu, "acme", name)["deployments"][-1]["status"] == "SUCCESS"
    assert fleet.plan().empty


def test_a_saved_plan_records_the_confirmation(fleet, tenants_dir, emu, clock, in_us) -> None:
    saved = Plan.from_json(fleet.plan(options=PassOptions(allow_region_move=True)).to_json())
    assert saved.actions[0].change.confirmed
    converge(fleet, plan=saved)
    assert placement(emu, "acme", "Postgres") == {EU: {"numReplicas": 1}}


def test_a_saved_plan_without_it_is_refused_then_confirmed_at_apply(fleet, emu, in_us) -> None:
    saved = Plan.from_json(fleet.plan().to_json())
    report = apply_pass(fleet, plan=saved)
    assert [o.tenant for o in report.failed] == ["acme"]
    converge(fleet, plan=Plan.from_json(fleet.plan().to_json()), options=PassOptions(allow_region_move=True))
    assert placement(emu, "acme", "Redis") == {EU: {"numReplicas": 1}}


def test_the_cli_refuses_then_moves_with_the_flag(run_cli, in_us, emu) -> None:
    result = run_cli("apply", "--yes")
    assert result.exit_code == 1
    assert "--allow-region-move" in result.output
    result = run_cli("apply", "--yes", "--allow-region-move")
    assert result.exit_code == 0, result.output
    assert placement(emu, "acme", "Postgres") == {EU: {"numReplicas": 1}}


# --- drift -----------------------------------------------------------------------------------


def test_a_gateway_moved_on_railway_is_put_back(fleet, tenants_dir, emu, client) -> None:
    write_manifest(tenants_dir, "acme", GATEWAY, extra=f"region: {EU}\n")
    converge(fleet)
    live = fleet.observe().tenant_project("acme")
    ops.service_instance_update(client, service_id=live.gateway.id,
                                environment_id=live.environment_id,
                                settings={"multiRegionConfig": {US: {"numReplicas": 1}}})
    assert kinds(fleet.plan()) == [("acme", "update-settings")]  # no data: no confirmation
    converge(fleet)
    assert placement(emu, "acme", "gateway") == {EU: {"numReplicas": 1}}


def test_a_gateway_spread_over_two_regions_is_drift(fleet, tenants_dir, emu, client) -> None:
    write_manifest(tenants_dir, "acme", GATEWAY + "  replicas: 2\n", extra=f"region: {EU}\n")
    converge(fleet)
    live = fleet.observe().tenant_project("acme")
    ops.service_instance_update(
        client, service_id=live.gateway.id, environment_id=live.environment_id,
        settings={"multiRegionConfig": {EU: {"numReplicas": 1}, US: {"numReplicas": 1}}})
    assert kinds(fleet.plan()) == [("acme", "update-settings")]
    converge(fleet)
    assert placement(emu, "acme", "gateway") == {EU: {"numReplicas": 2}}


def test_a_database_moved_on_railway_is_a_data_move_back(fleet, tenants_dir, emu, client,
                                                          clock) -> None:
    write_manifest(tenants_dir, "acme", GATEWAY, extra=f"region: {EU}\n")
    converge(fleet)
    live = fleet.observe().tenant_project("acme")
    postgres = live.services["Postgres"]
    ops.service_instance_update(client, service_id=postgres.id,
                                environment_id=live.environment_id,
                                settings={"multiRegionConfig": {US: {"numReplicas": 1}}})
    ops.redeploy(client, service_id=postgres.id, environment_id=live.environment_id)
    clock.advance(minutes=10)
    [move] = fleet.plan().actions
    assert move.kind is ActionKind.MOVE_REGION
    assert [(s.name, s.region) for s in move.change.services] == [("Postgres", US)]
    assert apply_pass(fleet).failed  # not without the flag
    converge(fleet, options=PassOptions(allow_region_move=True))
    clock.advance(minutes=10)
    assert service_of(emu, "acme", "Postgres")["volume"]["region"] == EU


def test_a_move_that_died_before_its_redeploy_is_finished(fleet, tenants_dir, emu, client,
                                                          in_us) -> None:
    live = fleet.observe().tenant_project("acme")
    for name in ("Postgres", "Redis"):  # placed, as a pass that died before the redeploys leaves
        ops.service_instance_update(client, service_id=live.services[name].id,
                                    environment_id=live.environment_id,
                                    settings={"multiRegionConfig": {EU: {"numReplicas": 1}}})
    move = fleet.plan().actions[0]
    assert move.kind is ActionKind.MOVE_REGION
    assert [(s.region, s.write) for s in move.change.services] == [(US, False), (US, False)]
    converge(fleet, options=PassOptions(allow_region_move=True))
    assert service_of(emu, "acme", "Redis")["volume"]["state"] == "MIGRATING"


# --- shown -----------------------------------------------------------------------------------


def test_status_and_list_show_the_region(run_cli, fleet, tenants_dir) -> None:
    write_manifest(tenants_dir, "acme", GATEWAY, extra=f"region: {EU}\n")
    converge(fleet)
    listed = json.loads(run_cli("list", "--json").output)
    [row] = listed["instances"]
    assert row["region"] == EU
    assert row["regions"] == {"gateway": EU, "Postgres": EU, "Redis": EU}
    status = json.loads(run_cli("status", "acme", "--json").output)
    assert status["region"] == EU and status["regions"]["Redis"] == EU
    shown = run_cli("status", "acme").output
    assert f"  Region:   {EU} (Postgres, Redis, gateway)\n" in shown


def test_the_flag_s_help_says_plan_only_records_it_and_apply_moves(run_cli) -> None:
    planned = " ".join(run_cli("plan", "--help").stdout.split())
    assert "Plan moves nothing: with --out the saved plan records the confirmation, so `apply " \
           "--plan FILE` moves them" in planned
    assert "Confirm moving tenants' databases" not in planned
    applied = " ".join(run_cli("apply", "--help").stdout.split())
    assert "Confirm moving tenants' databases to their manifest's region" in applied


def test_a_refused_move_is_not_counted_as_applied(run_cli, in_us) -> None:
    result = run_cli("apply", "--yes")
    assert result.exit_code == 1
    assert "nothing was sent for this tenant" in result.output
    assert result.stdout.splitlines()[-1] == "No change completed; 1 tenant failed; not converged."
