"""`doctor --record DIR`: the cassettes hold none of the secrets a run sees. A run is seeded with
recognisable secrets (token, user, email, workspace and tenant names, keys, an operator's API
key, a variable's value, a lock holder) and every raw answer is kept beside it; no seed, no
variable value, no id and no email of those answers may appear in any cassette, while the
stand-ins still agree between answers. Unit tests pin the scrubber's rules.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import httpx
import pytest
import yaml

from saas_infra import lock
from saas_infra.doctor.scrub import SCRUBBED, Exchange, Scrubber, ScrubError
from saas_infra.emulator import Emulator
from saas_infra.manifest import write_new_manifest
from saas_infra.railway import operations as ops
from saas_infra.reconcile import Fleet, apply_pass
from tests.doctor_lib import Rewrite, World, client_of

TOKEN = "tok-SEED-0123456789abcdef0123"
SEEDS = {
    "token": TOKEN,
    "user": "Seeded Person",
    "email": "seeded.person@corp.example",
    "username": "seededhandle",
    "workspace": "Seeded Workspace Ltd",
    "tenant": "seededcustomer",
    "unmanaged": "luthien-seededunmanaged",
    "side project": "seeded-side-project",
    "variable": "seeded-greeting-value-xyz",
    "operator key": "sk-seeded-operator-secret-000111",
    "holder": "seeded-holder@secret-host",
}


class Raw(httpx.BaseTransport):
    """Keeps every raw answer of the run, to know what the cassettes must not hold."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.bodies = inner, []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.bodies.append(json.loads(response.read()))
        return response


def _seeded_world(world: World, monkeypatch) -> None:
    keys = itertools.count(1)
    monkeypatch.setattr("saas_infra.apply.secrets.token_urlsafe",
                        lambda n: f"SEEDKEY{next(keys):04d}abcdefghijklmnopqrstuvwxyz")
    emu = world.emu = Emulator(clock=world.clock, seed=11, account_token=TOKEN)
    emu.state.user.name, emu.state.user.email = SEEDS["user"], SEEDS["email"]
    emu.state.user.username = SEEDS["username"]
    emu.state.workspaces[emu.workspace_id].name = SEEDS["workspace"]
    write_new_manifest(Path("tenants"), SEEDS["tenant"], variables={"GREETING": SEEDS["variable"]})
    client = client_of(world)
    fleet = Fleet(client=client, clock=world.clock, tenants_dir=Path("tenants"))
    assert apply_pass(fleet).converged
    tenant = fleet.observe().managed()[SEEDS["tenant"]][0]
    ops.variables_upsert(client, project_id=tenant.id, environment_id=tenant.environment_id,
                         service_id=tenant.gateway.id,
                         variables={"OPENAI_API_KEY": SEEDS["operator key"]})
    for name in (SEEDS["unmanaged"], SEEDS["side project"]):
        ops.project_create(client, name=name, description="", workspace_id=emu.workspace_id)
    lock.FleetLock(client, emu.workspace_id, world.clock, holder=SEEDS["holder"],
                   heartbeat=None).acquire()


def _what_must_not_survive(bodies: list[dict], emu: Emulator) -> set[str]:
    found = {v for v in SEEDS.values()}
    for body in bodies:
        _collect(body, found)
    for project in emu.snapshot()["projects"]:  # what is left of Railway's state, too
        for service in project["services"]:
            found |= {v for v in service["variables"].values() if not v.startswith("${{")}
    # Short values ("postgres", "production") are also template codes and environment names;
    # the doctor's own project name is kept on purpose (random, and how cleanup finds it).
    return {v for v in found if len(v) >= 12 and not v.startswith("saas-infra-doctor-")
            or v in SEEDS.values()}


def _collect(value, found: set[str], key: str = "") -> None:
    """Every variable value, id and email in a raw answer."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("variables", "sharedVariables") and isinstance(v, dict):
                for spec in v.values():
                    raw = spec.get("value") if isinstance(spec, dict) else spec
                    if isinstance(raw, str) and not raw.startswith("${{"):
                        found.add(raw)
            elif k == "config" and isinstance(v, dict):
                found.update((v.get("services") or {}).keys())
                _collect(v, found, k)
            else:
                _collect(v, found, k)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found, key)
    elif isinstance(value, str) and (key == "id" or key.endswith("Id") or key == "email"):
        found.add(value)


def test_no_seeded_secret_value_id_or_name_survives_in_any_cassette(world, monkeypatch,
                                                                    tmp_path):
    _seeded_world(world, monkeypatch)
    raw = Raw(world.emu.transport())
    checks = world.invoke("doctor", "--record", str(tmp_path / "read-only"), transport=raw,
                          env={"RAILWAY_API_TOKEN": TOKEN})
    assert checks.exit_code == 0, checks.stdout
    result, data = world.live("--record", str(tmp_path / "live"), transport=raw,
                              env={"RAILWAY_API_TOKEN": TOKEN})
    assert result.exit_code == 0, result.stdout

    cassettes = sorted([*tmp_path.glob("read-only/*.yaml"), *tmp_path.glob("live/*.yaml")])
    assert [p.name for p in cassettes if p.parent.name == "live"] == [
        "01-checks.yaml", "02-live-leftovers.yaml", "03-live-create.yaml",
        "04-live-read-back.yaml", "05-live-deploy.yaml", "06-live-variables.yaml",
        "07-live-redeploy.yaml", "08-live-schedule-delete.yaml", "09-live-cancel-delete.yaml",
        "10-live-delete.yaml"]
    assert data["recording"]["cassettes"] == [str(p) for p in cassettes if p.parent.name == "live"]
    forbidden = _what_must_not_survive(raw.bodies, world.emu)
    # The search is not blind: ids, the tenant's and the doctor's keys, connection URLs.
    assert sum(1 for v in forbidden if v.count("-") == 4 and len(v) == 36) > 30
    assert sum(1 for v in forbidden if v.startswith("sk-SEEDKEY")) >= 4
    assert any(v.startswith("postgresql://") for v in forbidden)
    assert any(v.startswith("redis://") for v in forbidden)
    text = "\n".join(p.read_text() for p in cassettes)
    assert [s for s in sorted(forbidden) if s in text] == []
    assert "seeded" not in text.lower() and "authorization" not in text.lower()
    assert "SEEDKEY" not in text


def test_stand_ins_agree_between_requests_and_answers(world, tmp_path):
    world.live("--record", str(tmp_path))
    create = yaml.safe_load((tmp_path / "03-live-create.yaml").read_text())["interactions"]
    answers = {json.loads(i["request"]["body"])["operationName"]: json.loads(
        i["response"]["body"]["string"]) for i in create}
    project = answers["ProjectCreate"]["data"]["projectCreate"]
    assert project["id"] == "project-1" and project["name"].startswith("saas-infra-doctor-")
    later = [json.loads(i["request"]["body"])["variables"] for i in create[1:]]
    assert any(v.get("input", {}).get("projectId") == "project-1" for v in later)
    environment = project["environments"]["edges"][0]["node"]["id"]
    deploys = [v["input"] for v in later if "templateId" in v.get("input", {})]
    assert deploys and all(d["environmentId"] == environment for d in deploys)


@pytest.fixture
def world(tmp_path, monkeypatch) -> World:
    return World(tmp_path, monkeypatch)


# --- the scrubber's rules ----------------------------------------------------------------------


def _exchange(request: dict, answer: dict, headers=()) -> Exchange:
    return Exchange("POST", "https://backboard.railway.com/graphql/v2?source=saas-infra&x=1",
                    [("Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/json"),
                     *headers], json.dumps(request).encode(), 200, "OK",
                    [("Content-Type", "application/json"), ("Set-Cookie", "s=1"),
                     ("X-RateLimit-Remaining", "9")], json.dumps(answer).encode())


def _fleet_answer(value) -> dict:
    config = {"services": {"svc-aaaa-1111": {"variables": {
        "CLIENT_API_KEY": {"value": value}, "EMPTY": {"value": ""}}}}}
    node = {"id": "proj-aaaa-1111", "name": "luthien-acme", "deletedAt": None,
            "description": "luthien-proxy tenant [saas-infra tenant=acme]",
            "services": {"edges": [{"node": {"id": "svc-aaaa-1111", "name": "gateway"}}]},
            "environments": {"edges": [{"node": {"id": "env-1", "name": "production",
                                                 "config": config}}]}}
    return {"data": {"projects": {"pageInfo": {"hasNextPage": False, "endCursor": "Y3Vyc29y"},
                                  "edges": [{"node": node}]}}}


def test_values_are_replaced_but_masked_and_empty_ones_keep_their_meaning():
    request = {"query": "query Fleet { x }", "operationName": "Fleet",
               "variables": {"workspaceId": "ws-aaaa-1111"}}
    [secret, masked] = Scrubber().scrub([_exchange(request, _fleet_answer("sk-live-abcdef")),
                                         _exchange(request, _fleet_answer(None))])
    node = json.loads(secret["response"]["body"]["string"])["data"]["projects"]["edges"][0]["node"]
    config = node["environments"]["edges"][0]["node"]["config"]
    assert config["services"] == {"service-1": {"variables": {
        "CLIENT_API_KEY": {"value": SCRUBBED}, "EMPTY": {"value": ""}}}}
    assert node["services"]["edges"][0]["node"] == {"id": "service-1", "name": "gateway"}
    assert node["name"] == "luthien-tenant-1"
    assert node["description"] == "[scrubbed] [saas-infra tenant=tenant-1]"
    masked_config = json.loads(masked["response"]["body"]["string"])
    assert "null" in json.dumps(masked_config) and "sk-live" not in json.dumps(masked_config)
    assert secret["request"]["headers"] == {"Content-Type": ["application/json"]}
    assert secret["response"]["headers"] == {"Content-Type": ["application/json"],
                                             "X-RateLimit-Remaining": ["9"]}
    assert secret["request"]["uri"] == "https://backboard.railway.com/graphql/v2?source=saas-infra"
    assert json.loads(secret["request"]["body"])["variables"] == {"workspaceId": "workspace-1"}


def test_error_messages_lose_the_ids_names_and_secrets_they_echo():
    request = {"query": "mutation X { y }", "operationName": "ProjectDelete",
               "variables": {"id": "proj-aaaa-1111"}}
    answer = {"errors": [{"message": "Project proj-aaaa-1111 of seeded.person@corp.example "
                          f"(token {TOKEN}) is locked", "traceId": "123456789"}], "data": None}
    scrubber = Scrubber(secrets=[TOKEN])
    [scrubbed] = scrubber.scrub([_exchange(request, answer)])
    error = json.loads(scrubbed["response"]["body"]["string"])["errors"][0]
    assert error["message"] == ("Project project-1 of email-1@example.invalid (token [scrubbed]) "
                                "is locked")
    assert error["traceId"] == "trace-1"


def test_a_secret_left_in_a_kept_field_stops_the_writing():
    request = {"query": "q", "operationName": "Deployment", "variables": {"id": "dep-aaaa-1111"}}
    answer = {"data": {"deployment": {"id": "dep-aaaa-1111", "status": TOKEN}}}  # status is kept
    scrubber = Scrubber(secrets=[TOKEN])
    [scrubbed] = scrubber.scrub([_exchange(request, answer)])
    with pytest.raises(ScrubError):
        scrubber.verify(json.dumps(scrubbed))


def test_a_recording_that_fails_its_check_writes_nothing_and_says_so(world, tmp_path,
                                                                     monkeypatch):
    def odd_status(operation, headers, body):
        if operation == "Me":
            body["data"]["me"]["workspaces"][0]["plan"] = world.emu.account_token  # a kept field
        return body

    result = world.invoke("doctor", "--record", str(tmp_path / "out"),
                          transport=Rewrite(world.emu.transport(), odd_status))
    assert result.exit_code == 1
    assert "✗ record           the recording was not written: " in result.stdout
    assert not (tmp_path / "out").exists()
    assert world.emu.account_token not in result.stdout + result.stderr


def test_saas_infras_own_marks_keep_their_fields_but_not_names_or_holders():
    scrubber = Scrubber()
    marks = ("luthien-proxy tenant [saas-infra tenant=acme delete-after=2026-12-01T00:00:00Z]",
             "lock [saas-infra-lock holder=ci@host:12 nonce=ab12 expires=2026-12-01T00:10:00Z]",
             "control [saas-infra-control holder=ci@host:12 nonce=ab12 since=2026-12-01T00:00:00Z]",
             "control, free [saas-infra-control]")
    assert [scrubber._description(m) for m in marks] == [
        "[scrubbed] [saas-infra tenant=tenant-1 delete-after=2026-12-01T00:00:00Z]",
        "[scrubbed] [saas-infra-lock holder=holder-1 nonce=ab12 expires=2026-12-01T00:10:00Z]",
        "[scrubbed] [saas-infra-control holder=holder-1 nonce=ab12 since=2026-12-01T00:00:00Z]",
        "[scrubbed] [saas-infra-control]"]
    assert scrubber._name("saas-infra-control", "project") == "saas-infra-control"
