"""The emulator's tenant settings: regions, service instance settings and limits, template
volumes, backup schedules and backups, and a volume's migration after a region change.

Driven through the client's named operations (operations.py) over raw HTTP, as
test_emulator.py does; the last tests go through RailwayClient's typed wrappers. What each
behaviour rests on is in the docstrings of emulator/regions.py, instances.py and volumes.py.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from graphql import parse, validate

from saas_infra.clock import FakeClock
from saas_infra.emulator import Emulator
from saas_infra.emulator.state import from_json, to_json
from saas_infra.railway import operations as ops
from tests.test_contract import real_schema
from tests.test_emulator import DEPLOY, ROOMY, Api

DAY = 86400.0
EU = "europe-west4-drams3a"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Emulator:
    return Emulator(clock=clock, rate_limits=ROOMY, deploy_seconds=DEPLOY)


@pytest.fixture
def api(emu: Emulator) -> Api:
    return Api(emu)


@pytest.fixture
def tenant(api: Api) -> dict:
    """A tenant as apply makes it, plus the ids of its Postgres service and volume instance."""
    made = api.create_tenant()
    services = api.data(ops.PROJECT, {"id": made["project"]["id"]})["project"]["services"]
    by_name = {edge["node"]["name"]: edge["node"]["id"] for edge in services["edges"]}
    volumes = volume_instances(api, made)
    (postgres_volume,) = [v for v in volumes if v["serviceId"] == by_name["Postgres"]]
    return {**made, "postgres": by_name["Postgres"], "volume": postgres_volume["id"]}


def volume_instances(api: Api, tenant: dict) -> list[dict]:
    variables = {"projectId": tenant["project"]["id"], "environmentId": tenant["env"]}
    edges = api.data(ops.VOLUME_INSTANCES, variables)["environment"]["volumeInstances"]["edges"]
    return [edge["node"] for edge in edges]


def update(api: Api, service_id: str, env: str | None, **settings) -> bool:
    variables = {"serviceId": service_id, "environmentId": env, "input": settings}
    return api.data(ops.SERVICE_INSTANCE_UPDATE, variables)["serviceInstanceUpdate"]


def refused(api: Api, service_id: str, env: str, **settings) -> str:
    variables = {"serviceId": service_id, "environmentId": env, "input": settings}
    return api.error(ops.SERVICE_INSTANCE_UPDATE, variables)


def settings(api: Api, service_id: str, env: str) -> dict:
    variables = {"serviceId": service_id, "environmentId": env}
    return api.data(ops.SERVICE_INSTANCE_SETTINGS, variables)["serviceInstance"]


def config_deploy(api: Api, tenant: dict, service_id: str) -> dict | None:
    node = api.fleet()["edges"][0]["node"]["environments"]["edges"][0]["node"]
    return node["config"]["services"][service_id].get("deploy")


def redeploy(api: Api, service_id: str, env: str) -> None:
    api.data(ops.SERVICE_INSTANCE_REDEPLOY, {"serviceId": service_id, "environmentId": env})


def latest_meta(api: Api, tenant: dict, service_id: str) -> dict:
    query = {"projectId": tenant["project"]["id"], "environmentId": tenant["env"]}
    variables = {"input": {**query, "serviceId": service_id}, "first": 1}
    (edge,) = api.data(ops.DEPLOYMENTS, variables)["deployments"]["edges"]
    return edge["node"]


def schedule_kinds(api: Api, volume_id: str) -> list[dict]:
    variables = {"volumeInstanceId": volume_id}
    return api.data(ops.VOLUME_BACKUP_SCHEDULES, variables)["volumeInstanceBackupScheduleList"]


def set_schedules(api: Api, volume_id: str, kinds: list[str]) -> None:
    variables = {"volumeInstanceId": volume_id, "kinds": kinds}
    assert api.data(ops.VOLUME_BACKUP_SCHEDULE_UPDATE, variables)


def backups(api: Api, volume_id: str) -> list[dict]:
    variables = {"volumeInstanceId": volume_id}
    return api.data(ops.VOLUME_BACKUPS, variables)["volumeInstanceBackupList"]


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# --- regions ----------------------------------------------------------------------------------


def test_regions_lists_railways_four_deploy_regions_and_a_deprecated_one(api: Api) -> None:
    project = api.create_project()
    listed = api.data(ops.REGIONS, {"projectId": project["id"]})["regions"]
    assert [(r["name"], r["location"], r["country"]) for r in listed] == [
        ("us-west2", "US West", "US"),
        ("us-east4-eqdc4a", "US East", "US"),
        (EU, "EU West", "NL"),
        ("asia-southeast1-eqsg3a", "Southeast Asia", "SG"),
        ("us-west1", "US West (Oregon)", "US"),
    ]
    deprecated = [r for r in listed if r["deploymentConstraints"]]
    assert [r["deploymentConstraints"]["deprecationInfo"] for r in deprecated] == [
        {"isDeprecated": True, "replacementRegion": "us-west2"}
    ]
    assert api.data(ops.REGIONS, {"projectId": None})["regions"] == listed


def test_regions_need_a_token_and_a_project_in_reach(api: Api, emu: Emulator) -> None:
    assert api.error(ops.REGIONS, {"projectId": None}, token=None) == "Not Authorized"
    assert api.error(ops.REGIONS, {"projectId": "no-such-project"}) == "Not Authorized"


# --- serviceInstanceUpdate --------------------------------------------------------------------


def test_settings_read_back_on_the_instance_and_in_the_environment_config(
    api: Api, tenant: dict
) -> None:
    before = settings(api, tenant["gateway"], tenant["env"])
    assert before["healthcheckPath"] is None and before["sleepApplication"] is None
    assert (before["restartPolicyType"], before["restartPolicyMaxRetries"]) == ("ON_FAILURE", 10)
    assert update(
        api,
        tenant["gateway"],
        tenant["env"],
        healthcheckPath="/health",
        healthcheckTimeout=60,
        restartPolicyType="ON_FAILURE",
        restartPolicyMaxRetries=5,
        sleepApplication=True,
    )
    after = settings(api, tenant["gateway"], tenant["env"])
    assert {key: after[key] for key in ops.INSTANCE_SETTINGS.split()} == {
        "healthcheckPath": "/health",
        "healthcheckTimeout": 60,
        "restartPolicyType": "ON_FAILURE",
        "restartPolicyMaxRetries": 5,
        "sleepApplication": True,
    }
    assert config_deploy(api, tenant, tenant["gateway"]) == {
        "healthcheckPath": "/health",
        "healthcheckTimeout": 60,
        "restartPolicyType": "ON_FAILURE",
        "restartPolicyMaxRetries": 5,
        "sleepApplication": True,
    }


def test_the_fleet_listing_can_carry_the_settings_at_no_extra_request(
    api: Api, emu: Emulator, tenant: dict
) -> None:
    selection = "id serviceId serviceName environmentId"
    document = ops.FLEET.document.replace(selection, f"{selection} {ops.INSTANCE_SETTINGS}")
    # The listing carries the volume instances' ids (the Postgres volume's, for its backups);
    # it can carry all of their fields just as well.
    listed = "volumeInstances(first: 25) { edges { node { id serviceId } } }"
    assert listed in document
    document = document.replace(
        listed,
        f"volumeInstances(first: 25) {{ edges {{ node {{ {ops.VOLUME_INSTANCE_FIELDS} }} }} }}",
    )
    assert not validate(real_schema(), parse(document))
    update(api, tenant["gateway"], tenant["env"], healthcheckPath="/health", sleepApplication=False)
    before = emu.counts["total"]
    body = api.data(document, {"workspaceId": emu.workspace_id, "first": 50}, name="Fleet")
    assert emu.counts["total"] == before + 1
    environment = body["projects"]["edges"][0]["node"]["environments"]["edges"][0]["node"]
    nodes = {e["node"]["serviceName"]: e["node"] for e in environment["serviceInstances"]["edges"]}
    assert (nodes["gateway"]["healthcheckPath"], nodes["gateway"]["sleepApplication"]) == (
        "/health",
        False,
    )
    mounts = {e["node"]["mountPath"] for e in environment["volumeInstances"]["edges"]}
    assert mounts == {"/var/lib/postgresql/data", "/data"}


def test_an_update_deploys_nothing_and_the_next_deployment_takes_the_settings(
    api: Api, tenant: dict, clock: FakeClock
) -> None:
    clock.advance(DEPLOY)
    first = latest_meta(api, tenant, tenant["gateway"])
    update(api, tenant["gateway"], tenant["env"], multiRegionConfig={EU: {"numReplicas": 2}})
    assert latest_meta(api, tenant, tenant["gateway"])["id"] == first["id"]
    assert first["meta"]["serviceManifest"]["deploy"]["multiRegionConfig"] == {
        "us-west2": {"numReplicas": 1}
    }
    redeploy(api, tenant["gateway"], tenant["env"])
    newest = latest_meta(api, tenant, tenant["gateway"])
    assert newest["id"] != first["id"]
    assert newest["meta"]["commitHash"] == first["meta"]["commitHash"]
    assert newest["meta"]["serviceManifest"]["deploy"]["multiRegionConfig"] == {
        EU: {"numReplicas": 2}
    }


def test_placement_reads_back_from_the_config_not_from_region_or_num_replicas(
    api: Api, tenant: dict
) -> None:
    placement = {EU: {"numReplicas": 2}, "us-east4-eqdc4a": {"numReplicas": 1}}
    update(api, tenant["gateway"], tenant["env"], multiRegionConfig=placement)
    read = settings(api, tenant["gateway"], tenant["env"])
    fleet_node = api.fleet()["edges"][0]["node"]["environments"]["edges"][0]["node"]
    instance = next(
        e["node"]
        for e in fleet_node["serviceInstances"]["edges"]
        if e["node"]["serviceId"] == tenant["gateway"]
    )
    region_query = (
        "query R($e: String!, $s: String!) {"
        " serviceInstance(environmentId: $e, serviceId: $s) { region numReplicas } }"
    )
    legacy = api.data(region_query, {"e": tenant["env"], "s": tenant["gateway"]})
    assert legacy["serviceInstance"] == {"region": None, "numReplicas": 1}
    assert read["id"] == instance["id"]
    assert config_deploy(api, tenant, tenant["gateway"]) == {"multiRegionConfig": placement}


def test_the_legacy_region_input_is_accepted_and_moves_nothing(api: Api, tenant: dict) -> None:
    assert update(api, tenant["gateway"], tenant["env"], region=EU) is True
    assert config_deploy(api, tenant, tenant["gateway"]) is None
    redeploy(api, tenant["gateway"], tenant["env"])
    manifest = latest_meta(api, tenant, tenant["gateway"])["meta"]["serviceManifest"]
    assert manifest["deploy"]["multiRegionConfig"] == {"us-west2": {"numReplicas": 1}}


def test_an_update_that_changes_nothing_answers_false(api: Api, tenant: dict) -> None:
    assert update(api, tenant["gateway"], tenant["env"], healthcheckPath="/health") is True
    assert update(api, tenant["gateway"], tenant["env"], healthcheckPath="/health") is False
    assert update(api, tenant["gateway"], None, healthcheckPath="/ready") is True  # every env


def test_null_resets_a_setting_and_an_omitted_one_is_kept(api: Api, tenant: dict) -> None:
    update(api, tenant["gateway"], tenant["env"], healthcheckPath="/health", sleepApplication=True)
    update(api, tenant["gateway"], tenant["env"], healthcheckPath=None)
    assert config_deploy(api, tenant, tenant["gateway"]) == {"sleepApplication": True}


def test_a_placement_replaces_the_previous_one_and_null_regions_are_dropped(
    api: Api, tenant: dict
) -> None:
    update(
        api, tenant["gateway"], tenant["env"], multiRegionConfig={"us-west2": {"numReplicas": 2}}
    )
    update(
        api,
        tenant["gateway"],
        tenant["env"],
        multiRegionConfig={EU: {"numReplicas": 1}, "us-east4-eqdc4a": None},
    )
    assert config_deploy(api, tenant, tenant["gateway"]) == {
        "multiRegionConfig": {EU: {"numReplicas": 1}}
    }


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ({"europe-west4": {"numReplicas": 1}}, 'Region "europe-west4" is not available'),
        ({"us-west1": {"numReplicas": 1}}, 'Region "us-west1" is not available'),
        ({EU: {"numReplicas": 0}}, "Invalid number of replicas"),
        ({EU: {"numReplicas": 43}}, "at most 42 replicas"),
        ({EU: None}, "at least one region"),
    ],
)
def test_placements_railway_refuses_change_nothing(
    api: Api, tenant: dict, placement: dict, message: str
) -> None:
    assert message in refused(api, tenant["gateway"], tenant["env"], multiRegionConfig=placement)
    assert config_deploy(api, tenant, tenant["gateway"]) is None


def test_the_replica_limit_follows_the_plan(clock: FakeClock) -> None:
    hobby = Api(Emulator(clock=clock, rate_limits=ROOMY, plan="HOBBY"))
    tenant = hobby.create_tenant()
    over = {EU: {"numReplicas": 4}, "us-west2": {"numReplicas": 3}}
    assert "at most 6 replicas" in refused(
        hobby, tenant["gateway"], tenant["env"], multiRegionConfig=over
    )
    assert "at most 6 replicas" in refused(hobby, tenant["gateway"], tenant["env"], numReplicas=7)


def test_a_service_with_a_volume_runs_one_replica_in_one_region(api: Api, tenant: dict) -> None:
    two_regions = {EU: {"numReplicas": 1}, "us-west2": {"numReplicas": 1}}
    for settings_given in (
        {"multiRegionConfig": {EU: {"numReplicas": 2}}},
        {"multiRegionConfig": two_regions},
        {"numReplicas": 2},
    ):
        message = refused(api, tenant["postgres"], tenant["env"], **settings_given)
        assert message == "Replicas cannot be used with volumes"
    assert update(
        api, tenant["postgres"], tenant["env"], multiRegionConfig={EU: {"numReplicas": 1}}
    )


def test_template_services_start_with_their_templates_deploy_settings(
    api: Api, tenant: dict
) -> None:
    assert config_deploy(api, tenant, tenant["postgres"]) == {
        "numReplicas": 1,
        "restartPolicyType": "ON_FAILURE",
    }


# --- resource limits --------------------------------------------------------------------------


def limits(api: Api, tenant: dict) -> dict:
    variables = {"serviceId": tenant["gateway"], "environmentId": tenant["env"]}
    return api.data(ops.SERVICE_INSTANCE_LIMITS, variables)["serviceInstanceLimits"]


def set_limits(api: Api, tenant: dict, **given) -> dict:
    payload = {"serviceId": tenant["gateway"], "environmentId": tenant["env"], **given}
    return api.op(ops.SERVICE_INSTANCE_LIMITS_UPDATE, {"input": payload}).json()


def test_limits_default_to_the_plan_and_read_back_after_an_update(api: Api, tenant: dict) -> None:
    deployments = len(api.latest(tenant))
    assert limits(api, tenant) == {"vCPUs": 32.0, "memoryGB": 32.0}
    assert set_limits(api, tenant, vCPUs=2, memoryGB=4)["data"] == {
        "serviceInstanceLimitsUpdate": True
    }
    assert limits(api, tenant) == {"vCPUs": 2.0, "memoryGB": 4.0}
    set_limits(api, tenant, memoryGB=8)  # an omitted field is kept
    assert limits(api, tenant) == {"vCPUs": 2.0, "memoryGB": 8.0}
    set_limits(api, tenant, vCPUs=None)  # null: back to the plan's
    assert limits(api, tenant) == {"vCPUs": 32.0, "memoryGB": 8.0}
    assert len(api.latest(tenant)) == deployments  # applies from the next deployment
    assert config_deploy(api, tenant, tenant["gateway"]) is None  # not in the config (worst case)


def test_limits_outside_the_plan_are_refused(clock: FakeClock) -> None:
    hobby = Api(Emulator(clock=clock, rate_limits=ROOMY, plan="HOBBY"))
    tenant = hobby.create_tenant()
    assert limits(hobby, tenant) == {"vCPUs": 8.0, "memoryGB": 8.0}
    for given in ({"vCPUs": 16}, {"memoryGB": 0}):
        errors = set_limits(hobby, tenant, **given)["errors"]
        assert "on this plan" in errors[0]["message"]
    assert limits(hobby, tenant) == {"vCPUs": 8.0, "memoryGB": 8.0}


# --- volumes ----------------------------------------------------------------------------------


def test_database_templates_create_volumes_where_their_service_runs(api: Api, tenant: dict) -> None:
    found = {v["mountPath"]: v for v in volume_instances(api, tenant)}
    assert set(found) == {"/var/lib/postgresql/data", "/data"}
    postgres = found["/var/lib/postgresql/data"]
    assert postgres["serviceId"] == tenant["postgres"]
    assert (postgres["region"], postgres["state"]) == ("us-west2", "READY")
    assert (postgres["sizeMB"], postgres["currentSizeMB"]) == (50000, 1250.0)  # Pro default
    query = (
        "query V($id: String!) { volumeInstance(id: $id) { id volume { name } service { name } } }"
    )
    read = api.data(query, {"id": tenant["volume"]})["volumeInstance"]
    assert read == {
        "id": tenant["volume"],
        "volume": {"name": "postgres-volume"},
        "service": {"name": "Postgres"},
    }


def test_a_volume_has_no_backup_schedule_until_one_is_set(api: Api, tenant: dict) -> None:
    assert schedule_kinds(api, tenant["volume"]) == []
    assert backups(api, tenant["volume"]) == []


def test_the_snapshot_shows_settings_limits_and_volumes(
    api: Api, emu: Emulator, tenant: dict
) -> None:
    update(api, tenant["gateway"], tenant["env"], healthcheckPath="/health")
    set_limits(api, tenant, vCPUs=2)
    set_schedules(api, tenant["volume"], ["DAILY"])
    services = {s["name"]: s for s in emu.snapshot()["projects"][0]["services"]}
    assert (services["gateway"]["deploy"], services["gateway"]["limits"]) == (
        {"healthcheckPath": "/health"},
        {"vCPUs": 2.0},
    )
    assert services["gateway"]["volume"] is None
    assert services["Postgres"]["volume"] == {
        "mountPath": "/var/lib/postgresql/data",
        "region": "us-west2",
        "state": "READY",
        "schedules": ["DAILY"],
    }


def test_a_schedule_update_replaces_the_set_and_kept_kinds_keep_their_cadence(
    api: Api, tenant: dict, clock: FakeClock
) -> None:
    set_schedules(api, tenant["volume"], ["DAILY", "WEEKLY"])
    first = {s["kind"]: s for s in schedule_kinds(api, tenant["volume"])}
    assert {k: s["retentionSeconds"] for k, s in first.items()} == {
        "DAILY": 6 * 86400,
        "WEEKLY": 30 * 86400,
    }
    clock.advance(3600)
    set_schedules(api, tenant["volume"], ["DAILY", "MONTHLY", "DAILY"])
    second = {s["kind"]: s for s in schedule_kinds(api, tenant["volume"])}
    assert set(second) == {"DAILY", "MONTHLY"}
    assert second["DAILY"] == first["DAILY"]
    assert second["MONTHLY"]["retentionSeconds"] == 90 * 86400
    set_schedules(api, tenant["volume"], [])
    assert schedule_kinds(api, tenant["volume"]) == []


def test_scheduled_backups_come_each_period_and_expire(
    api: Api, tenant: dict, clock: FakeClock
) -> None:
    set_schedules(api, tenant["volume"], ["DAILY"])
    start = clock.now().timestamp()
    clock.advance(DAY - 1)
    assert backups(api, tenant["volume"]) == []  # the first one comes a day later
    clock.advance(1)
    (only,) = backups(api, tenant["volume"])
    assert seconds(only["createdAt"]) == start + DAY
    assert only["name"] == "Daily" and only["usedMB"] == 1250
    clock.advance(10 * DAY)
    kept = backups(api, tenant["volume"])
    assert sorted(seconds(b["createdAt"]) - start for b in kept) == [d * DAY for d in range(6, 12)]
    assert len({b["id"] for b in kept}) == 6
    assert all(seconds(b["expiresAt"]) - seconds(b["createdAt"]) == 6 * DAY for b in kept)


def test_removing_a_schedule_keeps_its_backups_until_they_expire(
    api: Api, tenant: dict, clock: FakeClock
) -> None:
    set_schedules(api, tenant["volume"], ["DAILY"])
    clock.advance(3 * DAY)
    made = {b["id"] for b in backups(api, tenant["volume"])}
    set_schedules(api, tenant["volume"], [])
    assert {b["id"] for b in backups(api, tenant["volume"])} == made
    clock.advance(10 * DAY)
    assert backups(api, tenant["volume"]) == []


def test_the_backup_list_is_not_newest_first(api: Api, tenant: dict, clock: FakeClock) -> None:
    set_schedules(api, tenant["volume"], ["WEEKLY", "DAILY"])
    start = clock.now().timestamp()
    clock.advance(8 * DAY)
    listed = backups(api, tenant["volume"])
    newest = max(listed, key=lambda b: seconds(b["createdAt"]))
    assert seconds(newest["createdAt"]) == start + 8 * DAY
    assert listed[0] != newest  # the caller finds the newest itself


# --- a region change moves the data ------------------------------------------------------------


def test_a_region_change_migrates_the_volume_with_the_next_deployment(
    api: Api, tenant: dict, clock: FakeClock
) -> None:
    clock.advance(DEPLOY)
    update(api, tenant["postgres"], tenant["env"], multiRegionConfig={EU: {"numReplicas": 1}})
    (volume,) = [v for v in volume_instances(api, tenant) if v["id"] == tenant["volume"]]
    assert (volume["region"], volume["state"]) == ("us-west2", "READY")  # nothing deployed yet
    redeploy(api, tenant["postgres"], tenant["env"])
    (volume,) = [v for v in volume_instances(api, tenant) if v["id"] == tenant["volume"]]
    assert (volume["region"], volume["state"]) == ("us-west2", "MIGRATING")
    clock.advance(DEPLOY)  # a plain deployment would be done by now; this one waits for the data
    assert latest_meta(api, tenant, tenant["postgres"])["status"] != "SUCCESS"
    clock.advance(120)
    (volume,) = [v for v in volume_instances(api, tenant) if v["id"] == tenant["volume"]]
    assert (volume["region"], volume["state"]) == (EU, "READY")
    assert latest_meta(api, tenant, tenant["postgres"])["status"] == "SUCCESS"


def test_a_deployment_in_the_same_region_migrates_nothing(
    api: Api, tenant: dict, clock: FakeClock
) -> None:
    update(api, tenant["postgres"], tenant["env"], restartPolicyMaxRetries=3)
    redeploy(api, tenant["postgres"], tenant["env"])
    (volume,) = [v for v in volume_instances(api, tenant) if v["id"] == tenant["volume"]]
    assert (volume["region"], volume["state"]) == ("us-west2", "READY")
    clock.advance(DEPLOY)
    assert latest_meta(api, tenant, tenant["postgres"])["status"] == "SUCCESS"


def test_deleting_the_project_deletes_its_volumes_and_backups(
    api: Api, emu: Emulator, tenant: dict, clock: FakeClock
) -> None:
    set_schedules(api, tenant["volume"], ["DAILY"])
    clock.advance(2 * DAY)
    assert backups(api, tenant["volume"])
    api.data(ops.PROJECT_DELETE, {"id": tenant["project"]["id"]})
    variables = {"volumeInstanceId": tenant["volume"]}
    assert api.error(ops.VOLUME_BACKUPS, variables) == "VolumeInstance not found"
    assert not emu.state.volume_instances and not emu.state.volumes


def test_deleting_a_service_deletes_its_volume_only(api: Api, emu: Emulator, tenant: dict) -> None:
    document = "mutation D($id: String!) { serviceDelete(id: $id) }"
    api.data(document, {"id": tenant["postgres"]})
    assert [v["mountPath"] for v in volume_instances(api, tenant)] == ["/data"]
    query = "query V($id: String!) { volumeInstance(id: $id) { id } }"
    assert api.error(query, {"id": tenant["volume"]}) == "VolumeInstance not found"
    assert len(emu.state.volumes) == 1


# --- persistence ------------------------------------------------------------------------------


def readings(api: Api, tenant: dict) -> dict:
    return {
        "settings": settings(api, tenant["gateway"], tenant["env"]),
        "limits": limits(api, tenant),
        "volumes": volume_instances(api, tenant),
        "schedules": schedule_kinds(api, tenant["volume"]),
        "backups": backups(api, tenant["volume"]),
        "config": config_deploy(api, tenant, tenant["postgres"]),
        "manifest": latest_meta(api, tenant, tenant["postgres"])["meta"],
    }


def test_settings_limits_volumes_and_schedules_survive_save_and_load(
    tmp_path, api: Api, emu: Emulator, tenant: dict, clock: FakeClock
) -> None:
    update(api, tenant["gateway"], tenant["env"], healthcheckPath="/health", numReplicas=2)
    set_limits(api, tenant, vCPUs=2, memoryGB=4)
    set_schedules(api, tenant["volume"], ["DAILY", "WEEKLY"])
    clock.advance(2 * DAY)
    set_schedules(api, tenant["volume"], ["WEEKLY"])  # the daily backups are now stored ones
    update(api, tenant["postgres"], tenant["env"], multiRegionConfig={EU: {"numReplicas": 1}})
    redeploy(api, tenant["postgres"], tenant["env"])  # a migration under way
    before = readings(api, tenant)
    emu.save(tmp_path / "state.json")
    again = Api(Emulator.load(tmp_path / "state.json", clock=clock, rate_limits=ROOMY))
    assert readings(again, tenant) == before
    clock.advance(300)
    assert readings(again, tenant) == readings(api, tenant)


def test_a_state_file_from_before_tenant_settings_still_loads(
    api: Api, emu: Emulator, tenant: dict
) -> None:
    data = json.loads(to_json(emu.state))
    for name in ("volumes", "volume_instances"):
        del data[name]
    for instance in data["instances"].values():
        for name in ("deploy", "limits", "volume_instance_id"):
            del instance[name]
    for deployment in data["deployments"].values():
        del deployment["manifest"]
    old = from_json(json.dumps(data))
    assert old.volume_instances == {}
    assert all(i.deploy == {} and i.volume_instance_id is None for i in old.instances.values())
    emu.state = old
    assert volume_instances(api, tenant) == []
    assert "serviceManifest" not in latest_meta(api, tenant, tenant["gateway"])["meta"]


# --- the client's typed wrappers ----------------------------------------------------------------


def test_the_client_sets_and_reads_every_tenant_setting(client, api: Api, tenant: dict) -> None:
    names = [r["name"] for r in ops.regions(client, tenant["project"]["id"])]
    assert EU in names
    ids = {"service_id": tenant["gateway"], "environment_id": tenant["env"]}
    assert ops.service_instance_update(
        client, **ids, settings={"healthcheckPath": "/health", "numReplicas": 2}
    )
    assert ops.service_instance_settings(client, **ids)["healthcheckPath"] == "/health"
    ops.service_instance_limits_update(client, **ids, vcpus=1, memory_gb=2)
    assert ops.service_instance_limits(client, **ids) == {"vCPUs": 1.0, "memoryGB": 2.0}
    ops.redeploy(client, **ids)
    found = ops.volume_instances(
        client, project_id=tenant["project"]["id"], environment_id=tenant["env"]
    )
    assert tenant["volume"] in {v["id"] for v in found}
    ops.volume_backup_schedule_update(client, volume_instance_id=tenant["volume"], kinds=["DAILY"])
    schedules = ops.volume_backup_schedules(client, volume_instance_id=tenant["volume"])
    assert [s["kind"] for s in schedules] == ["DAILY"]
    assert ops.volume_backups(client, volume_instance_id=tenant["volume"]) == []
