"""Railway's documented answers, as vcrpy cassettes, replayed through RailwayClient.

The cassettes in tests/cassettes/ are hand-written from shared/railway/API-NOTES.md (there is no
reachable Railway to record from). Replay uses record_mode="none" and sockets are blocked, so a
request that no cassette answers fails instead of going out. A scan keeps secrets out of them.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import httpx
import pytest
import vcr

from saas_infra.clock import FakeClock
from saas_infra.errors import (
    AuthError,
    CooldownError,
    NotFoundError,
    QueryValidationError,
    RateLimitedError,
    ServerError,
)
from saas_infra.railway import Pacer, RailwayClient, RetryPolicy
from saas_infra.railway import operations as ops
from saas_infra.railway.operations import Operation

CASSETTES = Path(__file__).parent / "cassettes"
TOKEN = "5c1e0b7a-93d2-4f8e-a6b1-0d4c2e9f7a31"
TEAMS = Operation("Teams", "query Teams { teams { edges { node { id name } } } }")


def same_operation(r1, r2) -> None:
    """vcrpy matcher: both requests name the same GraphQL operation."""
    name1 = json.loads(r1.body or b"{}").get("operationName")
    name2 = json.loads(r2.body or b"{}").get("operationName")
    assert name1 == name2, f"{name1} != {name2}"


def make_vcr(**overrides) -> vcr.VCR:
    config = {
        "cassette_library_dir": str(CASSETTES),
        "record_mode": "none",
        "filter_headers": ["authorization"],
        "match_on": ["method", "scheme", "host", "port", "path", "query", "operation"],
    }
    config.update(overrides)
    recorder = vcr.VCR(**config)
    recorder.register_matcher("operation", same_operation)
    return recorder


REPLAY = make_vcr()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Belt and braces: even if a cassette missed a request, nothing may leave this machine."""

    def refuse(*args, **kwargs):
        raise RuntimeError("tests must not open network connections")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()  # 2026-01-01T00:00:00Z, the moment the cassettes were written for


def client(clock: FakeClock, *, retry: RetryPolicy | None = None, **kw) -> RailwayClient:
    """A client on httpx's real transport, which vcrpy intercepts."""
    return RailwayClient(TOKEN, clock=clock, retry=retry or RetryPolicy(jitter=0.0), **kw)


ONE_TRY = RetryPolicy(max_attempts=1)


def test_me_with_a_workspace_token_is_not_authorized(clock):
    with REPLAY.use_cassette("me_workspace_token_not_authorized.yaml") as cassette:
        with pytest.raises(AuthError) as caught:
            ops.me(client(clock))
    assert cassette.play_count == 1  # never retried
    error = caught.value
    assert "workspace token cannot read the user" in str(error)
    assert (error.operation, error.status, error.trace_id) == ("Me", 200, "3228611448008834401")


def test_unknown_field_is_a_validation_error(clock):
    with REPLAY.use_cassette("validation_failed_teams.yaml") as cassette:
        with pytest.raises(QueryValidationError) as caught:
            client(clock).execute(TEAMS)
    assert cassette.play_count == 1
    assert caught.value.status == 400
    assert 'Cannot query field "teams" on type "Query"' in str(caught.value)


def test_json_429_carries_retry_after(clock):
    with REPLAY.use_cassette("rate_limited_json.yaml"):
        with pytest.raises(RateLimitedError) as caught:
            ops.workspace(client(clock, retry=ONE_TRY), "ws-hobby")
    assert caught.value.retry_after == 30
    assert caught.value.status == 429


def test_json_429_is_waited_out_then_answered(clock):
    with REPLAY.use_cassette("rate_limited_json.yaml") as cassette:
        rail = client(clock, pacer=Pacer.for_plan("HOBBY", clock=clock))
        workspace = ops.workspace(rail, "ws-hobby")
    assert workspace["plan"] == "HOBBY"
    assert cassette.all_played
    assert clock.slept == 30  # Retry-After, and the X-RateLimit-Reset hold ends at the same time
    assert rail.stats.retries == 1


def test_cloudflare_1015_is_rate_limited_without_retry_after(clock):
    with REPLAY.use_cassette("rate_limited_cloudflare_1015.yaml"):
        with pytest.raises(RateLimitedError) as caught:
            ops.deployment(client(clock, retry=ONE_TRY), "dep-1")
    assert caught.value.retry_after is None
    assert "error code 1015" in str(caught.value)


def test_endpoint_too_recently_updated_is_a_cooldown(clock):
    with REPLAY.use_cassette("endpoint_too_recently_updated.yaml"):
        with pytest.raises(CooldownError) as caught:
            ops.project_set_description(
                client(clock, retry=ONE_TRY), "proj-1", "saas-infra tenant=acme"
            )
    assert caught.value.operation == "ProjectUpdate"


def test_unrouted_path_is_not_found(clock):
    api_url = "https://backboard.railway.com/graphql/v3"
    with REPLAY.use_cassette("rest_not_found.yaml") as cassette:
        with pytest.raises(NotFoundError) as caught:
            ops.me(client(clock, api_url=api_url))
    assert cassette.play_count == 1
    assert caught.value.status == 404
    assert "RAILWAY_API_URL" in str(caught.value)


def test_503_is_a_server_error(clock):
    with REPLAY.use_cassette("service_unavailable_503.yaml"):
        with pytest.raises(ServerError) as caught:
            ops.workspace(client(clock, retry=ONE_TRY), "ws-hobby")
    assert caught.value.status == 503


# --- no secrets in cassettes ----------------------------------------------------------------

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
OPAQUE = re.compile(r"[A-Za-z0-9_\-+/=]{32,}")
ALLOWED_IDS = re.compile(r'"requestId":"[0-9a-f-]{36}"')  # Railway's request ids are UUIDs too


def secret_findings(text: str, token: str = TOKEN) -> list[str]:
    """Everything in a cassette that is, or looks like, a credential."""
    findings = [word for word in ("authorization", "bearer", "project-access-token")
                if word in text.lower()]
    if token in text:
        findings.append("the test token")
    scrubbed = ALLOWED_IDS.sub("", text)
    findings += [f"token-like {m}" for m in UUID.findall(scrubbed)]
    findings += [f"token-like {m}" for m in OPAQUE.findall(UUID.sub("", scrubbed))]
    return findings


def test_cassettes_hold_no_credentials():
    files = sorted(CASSETTES.glob("*.yaml"))
    assert len(files) >= 7
    for path in files:
        text = path.read_text()
        assert text.startswith("# Hand-written"), f"{path.name}: say where it came from"
        assert secret_findings(text) == [], f"{path.name}: {secret_findings(text)}"


def test_recording_filters_the_authorization_header(tmp_path, clock):
    """The filter the replays use is what keeps a recorded cassette clean; without it, the scan
    above catches the token."""

    def railway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": {"me": {"id": "u-1"}}})

    for name, filters in [("filtered.yaml", ["authorization"]), ("unfiltered.yaml", [])]:
        recorder = make_vcr(
            cassette_library_dir=str(tmp_path), record_mode="all", filter_headers=filters
        )
        with recorder.use_cassette(name):
            rail = client(clock, transport=httpx.MockTransport(railway))
            assert ops.me(rail) == {"id": "u-1"}
    assert secret_findings((tmp_path / "filtered.yaml").read_text()) == []
    assert "the test token" in secret_findings((tmp_path / "unfiltered.yaml").read_text())
