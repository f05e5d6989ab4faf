"""The emulator over a real loopback socket (server.start_in_thread): same answers as in-process."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from saas_infra.clock import FakeClock
from saas_infra.emulator import Emulator, RateLimits
from saas_infra.emulator.server import EmulatorHTTPServer, start_in_thread
from saas_infra.railway import operations as ops


@pytest.fixture
def served() -> Iterator[tuple[Emulator, EmulatorHTTPServer, str, FakeClock]]:
    clock = FakeClock()
    emu = Emulator(
        clock=clock, rate_limits=RateLimits(per_second=1000, per_hour=100_000), deploy_seconds=4
    )
    server, base_url = start_in_thread(emu)
    try:
        yield emu, server, base_url, clock
    finally:
        server.stop()


def _post(
    http: httpx.Client, base_url: str, token: str | None, operation: ops.Operation, variables: dict
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"query": operation.document, "variables": variables, "operationName": operation.name}
    return http.post(f"{base_url}/graphql/v2", json=body, headers=headers)


def test_graphql_over_loopback(served) -> None:
    emu, _server, base_url, _clock = served
    assert base_url.startswith("http://127.0.0.1:")
    with httpx.Client(timeout=5) as http:
        answer = _post(
            http,
            base_url,
            emu.account_token,
            ops.PROJECT_CREATE,
            {"input": {"name": "luthien-net", "workspaceId": emu.workspace_id}},
        )
        assert answer.status_code == 200
        assert answer.json()["data"]["projectCreate"]["name"] == "luthien-net"
        assert answer.headers["X-RateLimit-Limit"] == "100000"
        denied = _post(http, base_url, emu.workspace_token, ops.ME, {})
        assert denied.json()["errors"][0]["message"] == "Not Authorized"
        invalid = http.post(f"{base_url}/graphql/v2", json={"query": "{ nope }"})
        assert invalid.status_code == 400
        missing = http.get(f"{base_url}/nowhere")
        assert (missing.status_code, missing.json()["message"]) == (404, "Not Found")
    assert [p["name"] for p in emu.snapshot()["projects"]] == ["luthien-net"]


def test_gateway_health_by_host_header(served) -> None:
    emu, _server, base_url, clock = served
    with httpx.Client(timeout=5) as http:
        created = _post(
            http,
            base_url,
            emu.account_token,
            ops.PROJECT_CREATE,
            {"input": {"name": "p", "workspaceId": emu.workspace_id}},
        ).json()
        project = created["data"]["projectCreate"]
        env = project["environments"]["edges"][0]["node"]["id"]
        service = _post(
            http,
            base_url,
            emu.account_token,
            ops.SERVICE_CREATE,
            {
                "input": {
                    "projectId": project["id"],
                    "name": "gateway",
                    "source": {"image": "ghcr.io/a/b:1"},
                }
            },
        ).json()
        domain = _post(
            http,
            base_url,
            emu.account_token,
            ops.SERVICE_DOMAIN_CREATE,
            {"input": {"serviceId": service["data"]["serviceCreate"]["id"], "environmentId": env}},
        ).json()
        host = domain["data"]["serviceDomainCreate"]["domain"]
        assert http.get(f"{base_url}/health", headers={"Host": host}).status_code == 503
        clock.advance(4)
        healthy = http.get(f"{base_url}/health", headers={"Host": host})
        assert (healthy.status_code, healthy.json()) == (200, {"status": "healthy"})


def test_reset_fault_drops_the_connection_and_timeout_answers_504(served) -> None:
    emu, _server, base_url, _clock = served
    variables = {"input": {"name": "p", "workspaceId": emu.workspace_id}}
    with httpx.Client(timeout=5) as http:
        emu.faults.reset = 1.0
        with pytest.raises(httpx.TransportError):
            _post(http, base_url, emu.account_token, ops.PROJECT_CREATE, variables)
        emu.faults.reset = 0.0
        assert emu.snapshot()["projects"] == []
        emu.faults.create_timeout = 1.0
        answer = _post(http, base_url, emu.account_token, ops.PROJECT_CREATE, variables)
        assert answer.status_code == 504
    assert len(emu.snapshot()["projects"]) == 1  # committed before the timeout
