"""Replay: every cassette under tests/cassettes/recorded/ (recorded on Railway by operators with
`doctor --live --record`, see its README) goes through the client and the parser, and each
answer must be one saas-infra understands: data that fits what expect.py says saas-infra relies
on and that the observation parser reads, a wait the client handles (a rate limit, a cooldown,
a 5xx, a lost connection), or a refusal saas-infra expects (EXPECTED_REFUSALS, or an interaction
marked `expected_refusal: <why>` in the cassette). Any other error is a finding. Until operators
contribute cassettes, the suite records its own against the emulator, so recording, scrubbing
and replay are tested end to end. Sockets are blocked: nothing here reaches a network.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml

from saas_infra.clock import FakeClock
from saas_infra.doctor import expect
from saas_infra.errors import (
    ApiError,
    AuthError,
    CooldownError,
    NetworkError,
    NotFoundError,
    QueryValidationError,
    RateLimitedError,
    SaasInfraError,
    ServerError,
)
from saas_infra.manifest import write_new_manifest
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.railway import operations as ops
from saas_infra.railway.observed import parse_project
from saas_infra.reconcile import Fleet, apply_pass
from tests.doctor_lib import World, client_of
from tests.test_cassettes import make_vcr

RECORDED = Path(__file__).parent / "cassettes" / "recorded"
BY_NAME = {operation.name: operation for operation in ops.ALL_OPERATIONS}
# Refusals saas-infra meets by design and reads as an answer: operation -> error types.
EXPECTED_REFUSALS = {
    "Me": (AuthError,),  # a workspace token: workspaces.py asks apiToken instead
    "ProjectDelete": (AuthError, ApiError),  # no delete at once: doctor --live schedules one
    "Project": (NotFoundError,),  # read after a delete, to see it gone
}
# The client waits and sends these again: an answer it understands, whatever the operation.
WAITS = (RateLimitedError, CooldownError, ServerError, NetworkError)


def replay(path: Path) -> list[str]:
    """What saas-infra does not understand in the cassette at `path` (empty: everything)."""
    interactions = yaml.safe_load(path.read_text())["interactions"]
    uri = interactions[0]["request"]["uri"].split("?")[0]
    recorder = make_vcr(cassette_library_dir=str(path.parent))
    problems: list[str] = []
    with recorder.use_cassette(path.name):
        client = RailwayClient("replay-token-000", api_url=uri, clock=FakeClock(),
                               retry=RetryPolicy(max_attempts=1), pacer=Pacer.unlimited())
        for number, interaction in enumerate(interactions, start=1):
            where = f"{path.name}#{number}"
            problems += [f"{where}: {p}" for p in _understand(client, interaction)]
    return problems


def _understand(client: RailwayClient, interaction: dict) -> list[str]:
    sent = json.loads(interaction["request"]["body"])
    operation = BY_NAME.get(sent.get("operationName"))
    if operation is None:
        return [f"{sent.get('operationName')}: saas-infra no longer sends this operation"]
    try:
        data = client.execute(operation, sent.get("variables") or {})
    except QueryValidationError as exc:
        return [f"{operation.name}: Railway refused the document: {exc}"]
    except SaasInfraError as exc:
        if isinstance(exc, WAITS) or interaction.get("expected_refusal") or isinstance(
                exc, EXPECTED_REFUSALS.get(operation.name, ())):
            return []
        return [f"{operation.name}: Railway refused it: {type(exc).__name__}: {exc}"]
    except Exception as exc:  # noqa: BLE001 - exactly what replay looks for
        return [f"{operation.name}: not understood: {type(exc).__name__}: {exc}"]
    problems = [str(d) for d in expect.check(operation, sent.get("variables") or {}, data)]
    for node in _project_nodes(data):
        try:
            parse_project(node)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{operation.name}: the parser failed: {type(exc).__name__}: {exc}")
    return problems


def _project_nodes(data: dict) -> list[dict]:
    if isinstance(data.get("project"), dict):
        return [data["project"]]
    edges = (data.get("projects") or {}).get("edges") or []
    return [edge["node"] for edge in edges if isinstance(edge, dict) and "environments" in (
        edge.get("node") or {})]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("tests must not open network connections")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def self_recorded(tmp_path_factory) -> list[Path]:
    """Cassettes of a read-only and a live doctor run on an emulated fleet of two tenants."""
    root = tmp_path_factory.mktemp("recorded")
    with pytest.MonkeyPatch.context() as patch:
        world = World(root, patch)
        for name in ("acme", "globex"):
            write_new_manifest(root / "tenants", name, variables={"LOG_LEVEL": "info"})
        fleet = Fleet(client=client_of(world), clock=world.clock, tenants_dir=root / "tenants")
        assert apply_pass(fleet).converged
        fleet.client.close()
        assert world.invoke("doctor", "--record", str(root / "checks")).exit_code == 0
        result, _data = world.live("--record", str(root / "live"))
        assert result.exit_code == 0, result.stdout
    return sorted([*root.glob("checks/*.yaml"), *root.glob("live/*.yaml")])


def test_the_suites_own_recordings_replay_and_are_understood(self_recorded):
    assert len(self_recorded) == 11  # the checks twice, and each live step's cassette
    names = {json.loads(i["request"]["body"])["operationName"]
             for path in self_recorded for i in yaml.safe_load(path.read_text())["interactions"]}
    assert names >= {  # every operation of a pass and of create, as the issue lists them
        "Me", "WorkspaceProjectCount", "Fleet", "ProjectList", "Project", "Template",
        "ProjectCreate", "TemplateDeploy", "WorkflowStatus", "ServiceCreate", "Variables",
        "ServiceDomainCreate", "Deployments", "VariableCollectionUpsert", "ServiceInstanceDeploy",
        "ProjectUpdate", "ProjectScheduleDelete", "ProjectScheduleDeleteCancel", "ProjectDelete"}
    problems = [p for path in self_recorded for p in replay(path)]
    assert problems == []


def test_every_contributed_cassette_replays_and_is_understood():
    assert (RECORDED / "README.md").is_file()
    contributed = sorted(RECORDED.rglob("*.yaml"))
    problems = [p for path in contributed for p in replay(path)]
    assert problems == []


def _tampered(source: Path, target: Path, operation: str, edit) -> Path:
    cassette = yaml.safe_load(source.read_text())
    for interaction in cassette["interactions"]:
        if json.loads(interaction["request"]["body"])["operationName"] == operation:
            body = json.loads(interaction["response"]["body"]["string"])
            edit(body["data"])
            interaction["response"]["body"]["string"] = json.dumps(body)
    target.write_text(yaml.safe_dump(cassette))
    return target


def test_replay_names_an_answer_saas_infra_would_misread(self_recorded, tmp_path):
    """A tampered answer (a create that lost its environment, a status no client knows) is
    reported, so the replay of a real recording could not pass by accident."""
    create = next(p for p in self_recorded if p.name.endswith("live-create.yaml"))
    deploy = next(p for p in self_recorded if p.name.endswith("live-deploy.yaml"))

    def staging(data):
        data["projectCreate"]["environments"]["edges"][0]["node"]["name"] = "staging"

    def hibernating(data):
        for edge in data["deployments"]["edges"]:
            edge["node"]["status"] = "HIBERNATING"

    created = replay(_tampered(create, tmp_path / "create.yaml", "ProjectCreate", staging))
    assert any("ProjectCreate: projectCreate.environments: expected an environment named "
               "production, seen 1 environments" in p for p in created), created
    deployed = replay(_tampered(deploy, tmp_path / "deploy.yaml", "Deployments", hibernating))
    assert any("Deployments: deployments.edges[].node.status: expected one of Railway's "
               "deployment statuses, seen HIBERNATING" in p for p in deployed), deployed


def _refused(source: Path, target: Path, operation: str, *, why: str | None = None) -> Path:
    """The cassette with every answer to `operation` replaced by Railway's "Not Authorized"
    (marked as expected when `why` is given)."""
    cassette = yaml.safe_load(source.read_text())
    for interaction in cassette["interactions"]:
        if json.loads(interaction["request"]["body"])["operationName"] == operation:
            interaction["response"]["body"]["string"] = json.dumps({
                "data": None, "errors": [{"message": "Not Authorized"}]})
            if why:
                interaction["expected_refusal"] = why
    target.write_text(yaml.safe_dump(cassette))
    return target


@pytest.mark.parametrize("operation", ["Template", "WorkspaceProjectCount"])
def test_replay_names_a_refusal_saas_infra_does_not_expect(self_recorded, tmp_path, operation):
    checks = next(p for p in self_recorded if p.parent.name == "checks")
    refused = replay(_refused(checks, tmp_path / "refused.yaml", operation))
    said = f'{operation}: Railway refused it: AuthError: Railway answered "Not Authorized"'
    assert refused and all(said in p for p in refused), refused
    marked = _refused(checks, tmp_path / "marked.yaml", operation, why="probed on purpose")
    assert replay(marked) == []

