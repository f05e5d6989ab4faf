"""The gateway's resource limits (`gateway.resources`) and the Postgres volume's backup schedule
(`postgres.backups`): validated, inherited from the fleet file, set at create, planned and
applied on change, compared with the marker's record on every pass (no extra call) and with
Railway itself under `--deep`, a crash before the record written again, forced deletes and
missing secret sources warned about."""

from __future__ import annotations

from dataclasses import replace

import pytest

from saas_infra.manifest import parse_manifest
from saas_infra.marker import Marker, parse_marker
from saas_infra.plan import PassOptions
from saas_infra.railway import operations as ops
from saas_infra.reconcile import apply_pass
from tests.test_apply import converge, gateway_of, kinds, project_of, write_manifest

GATEWAY = "  repo: LuthienResearch/luthien-proxy\n"


def postgres_of(emu, tenant: str) -> dict:
    [found] = [s for s in project_of(emu, tenant)["services"] if s["name"] == "Postgres"]
    return found


def schedules(emu, tenant: str) -> list[str]:
    return sorted(postgres_of(emu, tenant)["volume"]["schedules"])


def marker_of(fleet, tenant: str) -> Marker:
    project = fleet.observe().tenant_project(tenant)
    assert project is not None and project.marker is not None
    return project.marker


def ids(fleet, tenant: str) -> tuple[str, str, str, str]:
    """(project, environment, gateway, Postgres volume instance) ids."""
    project = fleet.observe().tenant_project(tenant)
    assert project and project.gateway and project.environment_id and project.postgres_volume
    return project.id, project.environment_id, project.gateway.id, project.postgres_volume


# --- input --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "line", "field"), [
    ("  resources: {vcpus: 0}\n", 5, "gateway.resources.vcpus"),
    ("  resources: {vcpus: 33}\n", 5, "gateway.resources.vcpus"),
    ("  resources: {memory_gb: -1}\n", 5, "gateway.resources.memory_gb"),
    ("  resources: {memory_gb: \"4\"}\n", 5, "gateway.resources.memory_gb"),
    ("  resources: {cpus: 2}\n", 5, "gateway.resources.cpus"),
    ("postgres:\n  backups: [hourly]\n", 6, "postgres.backups.0"),
    ("postgres:\n  backups: [daily, daily]\n", 6, "postgres.backups"),
    ("postgres:\n  backups: daily\n", 6, "postgres.backups"),
    ("postgres:\n  size: 3\n", 6, "postgres.size"),
])
def test_invalid_sizing_names_file_line_and_field(text: str, line: int, field: str) -> None:
    _, problems = parse_manifest(f"version: 1\nname: acme\ngateway:\n{GATEWAY}{text}".encode(),
                                 "tenants/acme.yaml")
    assert any(p.line == line and f"tenants/acme.yaml:{line}: {field}:" in str(p)
               for p in problems), [str(p) for p in problems]


def test_absent_sizing_means_no_limit_set_and_daily_backups() -> None:
    manifest, problems = parse_manifest(
        f"version: 1\nname: acme\ngateway:\n{GATEWAY}".encode(), "tenants/acme.yaml")
    assert not problems and manifest is not None
    resources = manifest.gateway.resources
    assert (resources.vcpus, resources.memory_gb) == (None, None)
    assert manifest.postgres.backups == ["daily"]


def test_fleet_defaults_and_tiers_give_sizing_and_a_manifest_overrides_one_field(tmp_path):
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text("version: 1\ndefaults:\n  gateway:\n    resources: {vcpus: 1}\n"
                          "  postgres: {backups: [weekly]}\ntiers:\n  big:\n    gateway:\n"
                          "      resources: {memory_gb: 8}\n    postgres: {backups: []}\n")
    from saas_infra.manifest import read_fleet
    fleet, problems = read_fleet(fleet_file)
    assert not problems and fleet is not None
    text = f"version: 1\nname: acme\ntier: big\ngateway:\n{GATEWAY}  resources: {{vcpus: 2}}\n"
    manifest, problems = parse_manifest(text.encode(), "tenants/acme.yaml", fleet=fleet)
    assert not problems and manifest is not None
    assert (manifest.gateway.resources.vcpus, manifest.gateway.resources.memory_gb) == (2, 8)
    assert manifest.postgres.backups == []


def test_a_bad_fleet_default_names_the_fleet_file_line_and_field(tmp_path):
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text("version: 1\ndefaults:\n  postgres: {backups: [yearly]}\n")
    from saas_infra.manifest import read_fleet
    _, problems = read_fleet(fleet_file)
    assert any(p.line == 3 and "defaults.postgres.backups.0" in str(p) for p in problems), \
        [str(p) for p in problems]


# --- create ---------------------------------------------------------------------------------


def test_a_new_tenant_gets_its_limits_and_schedule_and_records_them(fleet, tenants_dir, emu):
    write_manifest(tenants_dir, "acme", GATEWAY + "  resources: {vcpus: 2, memory_gb: 4}\n",
                   "postgres:\n  backups: [weekly, daily]\n")
    converge(fleet)
    assert gateway_of(emu, "acme")["limits"] == {"vCPUs": 2.0, "memoryGB": 4.0}
    assert schedules(emu, "acme") == ["DAILY", "WEEKLY"]
    marker = marker_of(fleet, "acme")
    assert (marker.limits, marker.backups) == ((2.0, 4.0), ("daily", "weekly"))
    # the gateway's one deployment ran with the limits: they were set before serviceConnect
    assert len(gateway_of(emu, "acme")["deployments"]) == 1


def test_every_tenant_gets_daily_backups_by_default(fleet, write_tenant, emu):
    write_tenant("acme")
    converge(fleet)
    assert schedules(emu, "acme") == ["DAILY"]
    assert gateway_of(emu, "acme")["limits"] == {}  # no limit set: the plan's maximum


# --- change, record, drift ------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "kind", "check"), [
    ("  resources: {vcpus: 1, memory_gb: 2}\n", "set-limits",
     lambda emu: gateway_of(emu, "acme")["limits"] == {"vCPUs": 1.0, "memoryGB": 2.0}),
    ("", "set-backups", lambda emu: schedules(emu, "acme") == []),
])
def test_a_manifest_edit_is_planned_applied_and_the_replan_is_empty(
        fleet, tenants_dir, emu, extra, kind, check):
    path = write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    deployments = len(gateway_of(emu, "acme")["deployments"])
    tail = "postgres:\n  backups: []\n" if kind == "set-backups" else ""
    path.write_text(path.read_text() + extra + tail)
    plan = fleet.plan()
    assert kinds(plan) == [("acme", kind)]
    converge(fleet)
    assert check(emu)
    redeployed = len(gateway_of(emu, "acme")["deployments"]) - deployments
    assert redeployed == (1 if kind == "set-limits" else 0)  # limits apply from a new deploy


def test_limits_changed_on_railway_are_seen_only_by_deep_and_repaired(fleet, tenants_dir, emu):
    write_manifest(tenants_dir, "acme", GATEWAY + "  resources: {vcpus: 2, memory_gb: 4}\n")
    converge(fleet)
    _, environment, gateway, _ = ids(fleet, "acme")
    ops.service_instance_limits_update(fleet.client, service_id=gateway,
                                       environment_id=environment, vcpus=8)
    assert fleet.plan().empty  # the record still says 2/4: a normal plan reads nothing more
    deep = fleet.plan(options=PassOptions(deep=True))
    assert kinds(deep) == [("acme", "set-limits")] and deep.deep
    assert "8 vCPU" in deep.actions[0].reason
    report = apply_pass(fleet, options=PassOptions(deep=True))
    assert report.converged
    assert gateway_of(emu, "acme")["limits"] == {"vCPUs": 2.0, "memoryGB": 4.0}
    assert fleet.plan(options=PassOptions(deep=True)).empty


def test_a_schedule_changed_on_railway_is_repaired_by_deep(fleet, write_tenant, emu):
    write_tenant("acme")
    converge(fleet)
    _, _, _, volume = ids(fleet, "acme")
    ops.volume_backup_schedule_update(fleet.client, volume_instance_id=volume, kinds=[])
    assert fleet.plan().empty
    assert kinds(fleet.plan(options=PassOptions(deep=True))) == [("acme", "set-backups")]
    assert apply_pass(fleet, options=PassOptions(deep=True)).converged
    assert schedules(emu, "acme") == ["DAILY"]


def test_a_record_changed_on_railway_is_repaired_without_deep(fleet, write_tenant, emu):
    write_tenant("acme")
    converge(fleet)
    project, _, _, _ = ids(fleet, "acme")
    edited = replace(marker_of(fleet, "acme"), limits=(3.0, None), backups=("monthly",))
    ops.project_set_description(fleet.client, project, edited.render())
    assert kinds(fleet.plan()) == [("acme", "set-limits"), ("acme", "set-backups")]
    converge(fleet)
    marker = marker_of(fleet, "acme")
    assert (marker.limits, marker.backups) == ((None, None), ("daily",))


def test_an_old_marker_without_a_record_leads_to_one_write_and_no_redeploy(
        fleet, write_tenant, emu):
    write_tenant("acme")
    converge(fleet)
    project, _, _, _ = ids(fleet, "acme")
    ops.project_set_description(fleet.client, project, Marker("acme").render())
    deployments = len(gateway_of(emu, "acme")["deployments"])
    assert kinds(fleet.plan()) == [("acme", "set-limits"), ("acme", "set-backups")]
    converge(fleet)
    assert len(gateway_of(emu, "acme")["deployments"]) == deployments  # nothing was to change
    assert fleet.plan().empty


@pytest.mark.parametrize("dies_at", ["service_instance_limits_set", "volume_backup_schedule_update"])
def test_a_pass_that_dies_before_the_record_is_finished_by_the_next(
        fleet, tenants_dir, emu, monkeypatch, dies_at):
    path = write_manifest(tenants_dir, "acme", GATEWAY)
    converge(fleet)
    path.write_text(path.read_text() + "  resources: {vcpus: 1}\npostgres:\n  backups: [monthly]\n")
    real = getattr(ops, dies_at)

    def write_then_die(*args, **kwargs):  # the write lands on Railway, the marker never does
        real(*args, **kwargs)
        raise RuntimeError("killed")

    monkeypatch.setattr(ops, dies_at, write_then_die)
    apply_pass(fleet)
    monkeypatch.undo()
    left = [kind for _, kind in kinds(fleet.plan())]
    assert left[-1] == "set-backups"  # not recorded: written again
    converge(fleet)
    assert gateway_of(emu, "acme")["limits"] == {"vCPUs": 1.0}
    assert schedules(emu, "acme") == ["MONTHLY"]
    assert parse_marker(project_of(emu, "acme")["description"]).backups == ("monthly",)


def test_a_normal_noop_plan_reads_nothing_per_tenant_and_deep_reads_two_calls_each(
        fleet, write_tenant, emu):
    for name in ("acme", "globex"):
        write_tenant(name)
    converge(fleet)
    calls: list[str] = []
    execute = fleet.client.execute

    def counting(operation, variables=None):
        calls.append(operation.name)
        return execute(operation, variables)

    fleet.client.execute = counting  # type: ignore[method-assign]
    fleet.plan()
    normal = list(calls)
    calls.clear()
    fleet.plan(options=PassOptions(deep=True))
    assert "ServiceInstanceLimits" not in normal
    assert sorted(set(calls) - set(normal)) == ["ServiceInstanceLimits",
                                                "VolumeInstanceBackupScheduleList"]
    assert len(calls) - len(normal) == 2 * 2


# --- status, list, warnings -----------------------------------------------------------------


def test_status_shows_limits_schedule_and_newest_backup(fleet, tenants_dir, emu, clock):
    from saas_infra import verbs
    write_manifest(tenants_dir, "acme", GATEWAY + "  resources: {vcpus: 2}\n")
    converge(fleet)
    clock.advance(26 * 3600)
    detail = verbs.status(fleet, "acme")
    assert detail.storage is not None
    assert detail.storage.resources == {"vcpus": 2.0, "memory_gb": 32.0}
    assert detail.storage.backups == ["daily"] and detail.storage.backup_count == 1
    assert detail.storage.newest_backup is not None
    assert detail.row.resources == {"vcpus": 2.0, "memory_gb": None}
    assert detail.row.backups == ["daily"]


def test_a_missing_secret_source_is_a_plan_warning_naming_variable_and_tenant(
        fleet, tenants_dir):
    write_manifest(tenants_dir, "acme", GATEWAY + "  secrets:\n"
                   "    ANTHROPIC_API_KEY: {from_env: LUTHIEN_ANTHROPIC_API_KEY}\n")
    fleet.env = {}
    plan = fleet.plan()
    [warning] = [w for w in plan.warnings if "LUTHIEN_ANTHROPIC_API_KEY" in w]
    assert "LUTHIEN_ANTHROPIC_API_KEY (for acme)" in warning
    fleet.env = {"LUTHIEN_ANTHROPIC_API_KEY": "sk-ant-secret-value"}
    plan = fleet.plan()
    assert not any("LUTHIEN_ANTHROPIC_API_KEY" in w for w in plan.warnings)
    assert "sk-ant-secret-value" not in plan.to_json()


def test_a_forced_delete_warns_that_backups_go_with_the_project(fleet, write_tenant):
    from saas_infra import verbs
    write_tenant("acme")
    converge(fleet)
    verbs.delete(fleet, "acme", force=True, apply=False)
    plan = fleet.plan()
    assert [a.kind.value for a in plan.actions] == ["delete"]
    assert any("backups with the project" in w for w in plan.warnings)
