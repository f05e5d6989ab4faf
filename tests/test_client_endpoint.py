"""A RAILWAY_API_URL that leads somewhere other than Railway's GraphQL API fails fast and says so:
a web page or another JSON API at once, an unknown host at once, a closed port after a few quick
tries; every error names the URL and RAILWAY_API_URL. Waits run on a FakeClock."""

from __future__ import annotations

import socket

import httpx
import pytest
from click.testing import CliRunner

from saas_infra.cli import Runtime, cli
from saas_infra.clock import FakeClock
from saas_infra.errors import EndpointError
from saas_infra.railway import DEFAULT_API_URL, Pacer, RailwayClient, RetryPolicy
from saas_infra.railway import operations as ops

TOKEN = "5c1e0b7a-93d2-4f8e-a6b1-0d4c2e9f7a31"
ELSEWHERE = "http://127.0.0.1:8080/graphql/v2"
HINT = (f"RAILWAY_API_URL is {ELSEWHERE}: unset it to use Railway ({DEFAULT_API_URL}), or point "
        "it at a running emulator's /graphql/v2")


class Recorder:
    """A transport answering every request with `answer`, counting them."""

    def __init__(self, answer) -> None:
        self.answer, self.requests = answer, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return self.answer(request)


def client(clock: FakeClock, api_url: str = ELSEWHERE, transport=None) -> RailwayClient:
    return RailwayClient(TOKEN, api_url=api_url, transport=transport,
                         retry=RetryPolicy(sleep=clock.sleep), pacer=Pacer.unlimited(clock=clock),
                         clock=clock)


def no_such_host(request: httpx.Request) -> httpx.Response:
    try:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    except socket.gaierror as exc:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request) from exc


@pytest.mark.parametrize(("answer", "what"), [
    (lambda r: httpx.Response(200, html="<!doctype html><title>Welcome</title>"),
     "a text/html body"),
    (lambda r: httpx.Response(200, json={"status": "ok", "version": 3}),
     "JSON that is not a GraphQL answer (no data, no errors)"),
    (lambda r: httpx.Response(200), "an empty body"),
])
def test_an_answer_that_is_not_graphql_fails_at_once_naming_the_url(answer, what):
    clock = FakeClock()
    started = clock.monotonic()
    transport = Recorder(answer)

    with pytest.raises(EndpointError) as caught:
        ops.me(client(clock, transport=httpx.MockTransport(transport)))

    assert transport.requests == 1  # no retries
    assert clock.monotonic() == started  # and no waiting
    assert str(caught.value) == (f"{ELSEWHERE} is not Railway's GraphQL API: it answered HTTP 200 "
                                 f"with {what} (operation Me, HTTP 200)")
    assert caught.value.hint == HINT


def test_a_5xx_page_is_still_railway_having_a_bad_moment_and_retried():
    clock = FakeClock()
    answers = iter([httpx.Response(502, html="<html>Bad gateway</html>"),
                    httpx.Response(200, json={"data": {"me": {"id": "u"}}})])
    transport = Recorder(lambda r: next(answers))

    assert ops.me(client(clock, transport=httpx.MockTransport(transport)))["id"] == "u"
    assert transport.requests == 2


def test_an_unknown_host_fails_at_once_naming_the_url():
    clock = FakeClock()
    transport = Recorder(no_such_host)
    url = "http://emulator.invalid:8787/graphql/v2"

    with pytest.raises(EndpointError) as caught:
        ops.me(client(clock, url, httpx.MockTransport(transport)))

    assert transport.requests == 1
    assert str(caught.value) == (f"cannot reach {url}: no host named emulator.invalid "
                                 "(operation Me)")
    assert "RAILWAY_API_URL is " + url in caught.value.hint


def test_a_closed_port_is_tried_briefly_then_named():
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/graphql/v2"
    clock = FakeClock()
    started = clock.monotonic()

    with pytest.raises(EndpointError) as caught:
        ops.me(client(clock, url))  # the real transport, to a real closed port

    waited = clock.monotonic() - started
    assert caught.value.attempts == 3
    assert 3 <= waited < 4  # 1 s and 2 s of backoff (plus jitter), not half a minute
    assert str(caught.value) == (f"cannot reach {url}: nothing accepts connections there "
                                 "(operation Me, after 3 attempts)")
    assert f"RAILWAY_API_URL is {url}" in caught.value.hint


def test_credentials_in_the_url_are_not_shown():
    clock = FakeClock()
    transport = httpx.MockTransport(lambda r: httpx.Response(200, html="<p>hi</p>"))

    with pytest.raises(EndpointError) as caught:
        ops.me(client(clock, "http://user:s3cret@127.0.0.1:8080/graphql/v2", transport))

    assert "s3cret" not in str(caught.value) + caught.value.hint
    assert "http://127.0.0.1:8080/graphql/v2" in str(caught.value)


def test_the_command_line_names_the_url_and_the_variable():
    clock = FakeClock()
    transport = Recorder(lambda r: httpx.Response(200, html="<html>a dashboard</html>"))
    runtime = Runtime(env={"RAILWAY_TOKEN": TOKEN, "RAILWAY_API_URL": ELSEWHERE}, clock=clock,
                      transport=httpx.MockTransport(transport), stdin_interactive=False)
    started = clock.monotonic()

    result = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "200"}).invoke(
        cli, ["whoami"], obj=runtime, catch_exceptions=False)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: {ELSEWHERE} is not Railway's GraphQL API: it answered HTTP 200 with a text/html "
        "body (operation Me, HTTP 200)",
        f"Hint: {HINT}",
    ]
    assert transport.requests == 1 and clock.monotonic() == started
