"""RailwayClient against httpx.MockTransport handlers that answer the way Railway does.

Every wait runs on a FakeClock, so nothing sleeps; no test touches the network. Answers follow
shared/railway/API-NOTES.md §5 (error shapes) and §6 (rate limits).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

import saas_infra
from saas_infra.clock import FakeClock
from saas_infra.errors import (
    ApiError,
    AuthError,
    ConfigError,
    CooldownError,
    EndpointError,
    NetworkError,
    NotFoundError,
    ProblemProcessingError,
    QueryValidationError,
    RailwayError,
    RateLimitedError,
    SaasInfraError,
    ServerError,
)
from saas_infra.railway import DEFAULT_API_URL, Pacer, RailwayClient, RetryEvent, RetryPolicy
from saas_infra.railway import operations as ops
from saas_infra.railway.operations import Operation

TOKEN = "5c1e0b7a-93d2-4f8e-a6b1-0d4c2e9f7a31"
PROBE = Operation("Probe", "query Probe($id: String!) { project(id: $id) { id } }")
TRACE = "3228611448008834401"

Answer = Callable[[httpx.Request], httpx.Response]


# --- Railway-shaped answers -------------------------------------------------------------------


def ok(data: dict | None = None, headers: dict | None = None) -> Answer:
    return lambda request: httpx.Response(200, json={"data": data or {"ok": True}}, headers=headers)


def graphql_error(message: str, path: str = "project") -> Answer:
    body = {
        "errors": [
            {
                "message": message,
                "locations": [{"line": 1, "column": 3}],
                "path": [path],
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                "traceId": TRACE,
            }
        ],
        "data": None,
    }
    return lambda request: httpx.Response(200, json=body)


def validation_failed() -> Answer:
    message = 'Cannot query field "teams" on type "Query". Did you mean "team"?'
    body = {
        "errors": [
            {
                "message": message,
                "locations": [{"line": 1, "column": 9}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
                "traceId": TRACE,
            }
        ]
    }
    return lambda request: httpx.Response(400, json=body)


def status(code: int, *, json_body: dict | None = None, text: str = "", headers=None) -> Answer:
    if json_body is not None:
        return lambda request: httpx.Response(code, json=json_body, headers=headers)
    return lambda request: httpx.Response(code, text=text, headers=headers)


def rate_limited(retry_after: str | None = "7", **extra: str) -> Answer:
    headers = {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0", **extra}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    body = {"errors": [{"message": "Rate limit exceeded"}]}
    return status(429, json_body=body, headers=headers)


CLOUDFLARE_1015 = (
    "<!DOCTYPE html><html><head><title>Access denied | backboard.railway.com used Cloudflare to"
    " restrict access</title></head><body><h1>Error 1015</h1><p>You are being rate limited</p>"
    "<span>error code: 1015</span></body></html>"
)


def cloudflare_429() -> Answer:
    return status(429, text=CLOUDFLARE_1015, headers={"Content-Type": "text/html; charset=UTF-8"})


def fail(exc_type: type[Exception], message: str = "boom") -> Answer:
    def raise_it(request: httpx.Request) -> httpx.Response:
        raise exc_type(message, request=request)

    return raise_it


class Railway:
    """A MockTransport handler: answers in order (the last one repeats), records what it saw."""

    def __init__(self, clock: FakeClock, *answers: Answer) -> None:
        self.clock = clock
        self.answers = list(answers) or [ok()]
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            self.times.append(self.clock.monotonic())
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request)

    def body(self, index: int = -1) -> dict:
        return json.loads(self.requests[index].content)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(clock: FakeClock, railway: Railway, **kw) -> RailwayClient:
    kw.setdefault("retry", RetryPolicy(jitter=0.0))
    kw.setdefault("pacer", Pacer.unlimited(clock=clock))
    return RailwayClient(TOKEN, transport=httpx.MockTransport(railway), clock=clock, **kw)


def no_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=1)


# --- error mapping: every failure kind becomes exactly our class ------------------------------

FAILURE_KINDS = [
    ("not_authorized", graphql_error("Not Authorized"), AuthError),
    ("project_token_not_found", graphql_error("Project Token not found"), AuthError),
    ("two_factor", graphql_error("Two Factor Authentication Required"), AuthError),
    ("not_found", graphql_error("Project not found"), NotFoundError),
    ("cooldown", graphql_error("Endpoint too recently updated"), CooldownError),
    ("volumes_too_quickly", graphql_error("creating volumes too quickly"), CooldownError),
    ("problem_processing", graphql_error("Problem processing request"), ProblemProcessingError),
    ("duplicate_service", graphql_error('A service named "gateway" already exists'), ApiError),
    ("validation_400", validation_failed(), QueryValidationError),
    ("http_401", status(401, json_body={"message": "Unauthorized"}), AuthError),
    ("http_403", status(403, text="Forbidden"), AuthError),
    ("rest_404", status(404, json_body={"message": "Not Found"}), NotFoundError),
    ("json_429", rate_limited("7"), RateLimitedError),
    ("html_429", cloudflare_429(), RateLimitedError),
    ("http_500", status(500, json_body={"errors": [{"message": "Internal"}]}), ServerError),
    ("http_502_html", status(502, text="<html>Bad gateway</html>"), ServerError),
    ("http_503", status(503, text="upstream connect error"), ServerError),
    ("http_504_empty", status(504), ServerError),
    ("http_405", status(405, text="Method Not Allowed"), ApiError),
    # a 200 that is not GraphQL comes from something else than Railway: not retried
    ("non_json_200", status(200, text="<html>maintenance</html>"), EndpointError),
    ("json_without_data", status(200, json_body={"hello": 1}), EndpointError),
    ("json_list", status(200, json_body=None, text="[1, 2]"), EndpointError),
    ("bad_bytes_200", lambda r: httpx.Response(200, content=b"\xff\xfe{"), EndpointError),
    ("connect_error", fail(httpx.ConnectError, "[Errno 111] Connection refused"), NetworkError),
    ("connect_timeout", fail(httpx.ConnectTimeout), NetworkError),
    ("pool_timeout", fail(httpx.PoolTimeout), NetworkError),
    ("read_timeout", fail(httpx.ReadTimeout), NetworkError),
    ("write_timeout", fail(httpx.WriteTimeout), NetworkError),
    ("reset", fail(httpx.ReadError, "[Errno 104] Connection reset by peer"), NetworkError),
    ("write_error", fail(httpx.WriteError), NetworkError),
    ("remote_protocol", fail(httpx.RemoteProtocolError, "peer closed connection"), NetworkError),
    ("proxy_error", fail(httpx.ProxyError), NetworkError),
    ("decoding_error", fail(httpx.DecodingError), ServerError),
    ("unsupported_protocol", fail(httpx.UnsupportedProtocol), ConfigError),
    ("local_protocol", fail(httpx.LocalProtocolError), ApiError),
    ("too_many_redirects", fail(httpx.TooManyRedirects), ApiError),
]


@pytest.mark.parametrize(
    "answer, expected", [(a, e) for _, a, e in FAILURE_KINDS], ids=[k for k, _, _ in FAILURE_KINDS]
)
@pytest.mark.parametrize("policy", ["no_retry", "default"])
def test_every_failure_becomes_our_error_and_no_foreign_error_escapes(
    clock, answer, expected, policy
):
    retry = no_retry() if policy == "no_retry" else RetryPolicy(jitter=0.0)
    client = make_client(clock, Railway(clock, answer), retry=retry)
    with pytest.raises(SaasInfraError) as caught:
        client.execute(PROBE, {"id": "p-1"})
    error = caught.value
    assert type(error) is expected
    assert not isinstance(error, (httpx.HTTPError, ValueError))
    if isinstance(error, RailwayError):
        assert error.operation == "Probe"


def test_http_failures_chain_the_httpx_exception(clock):
    client = make_client(clock, Railway(clock, fail(httpx.ReadTimeout)), retry=no_retry())
    with pytest.raises(NetworkError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


def test_non_json_answer_chains_the_json_error(clock):
    client = make_client(clock, Railway(clock, status(200, text="<html/>")), retry=no_retry())
    with pytest.raises(EndpointError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)
    assert "HTTP 200" in str(caught.value)


def test_connect_failures_are_marked_unsent_and_timeouts_are_not(clock):
    for exc_type, unsent in [(httpx.ConnectError, True), (httpx.ReadTimeout, False)]:
        client = make_client(clock, Railway(clock, fail(exc_type)), retry=no_retry())
        with pytest.raises(NetworkError) as caught:
            client.execute(PROBE, {"id": "p"})
        assert caught.value.unsent is unsent


def test_not_authorized_on_me_blames_the_workspace_token(clock):
    client = make_client(clock, Railway(clock, graphql_error("Not Authorized", "me")))
    with pytest.raises(AuthError) as caught:
        ops.me(client)
    text = str(caught.value)
    assert "workspace token cannot read the user" in text
    assert "personal account token" in text
    assert "operation Me" in text and "HTTP 200" in text and f"trace {TRACE}" in text


def test_not_authorized_elsewhere_names_the_possible_token_problems(clock):
    client = make_client(clock, Railway(clock, graphql_error("Not Authorized")))
    with pytest.raises(AuthError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert "workspace token reaches only its own workspace" in str(caught.value)


def test_error_fields_carry_operation_status_trace(clock):
    client = make_client(clock, Railway(clock, graphql_error("Service not found")))
    with pytest.raises(NotFoundError) as caught:
        client.execute(PROBE, {"id": "p"})
    error = caught.value
    assert (error.operation, error.status, error.trace_id) == ("Probe", 200, TRACE)
    assert 'Railway answered "Service not found"' in str(error)


def test_validation_error_message_names_the_field(clock):
    client = make_client(clock, Railway(clock, validation_failed()))
    with pytest.raises(QueryValidationError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert 'Cannot query field "teams"' in str(caught.value)
    assert caught.value.status == 400


def test_rest_404_points_at_the_api_url(clock):
    answer = status(404, json_body={"message": "Not Found", "requestId": "6f1b0c1e-aaaa"})
    client = make_client(clock, Railway(clock, answer))
    with pytest.raises(NotFoundError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert "RAILWAY_API_URL" in str(caught.value)
    assert caught.value.status == 404 and caught.value.trace_id == "6f1b0c1e-aaaa"


def test_html_429_message_names_the_cloudflare_code_not_the_page(clock):
    client = make_client(clock, Railway(clock, cloudflare_429()), retry=no_retry())
    with pytest.raises(RateLimitedError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert caught.value.retry_after is None
    assert "error code 1015" in str(caught.value)
    assert "<html" not in str(caught.value).lower()


def test_retry_after_as_http_date_is_read_against_the_clock(clock):
    when = format_datetime(clock.now() + timedelta(seconds=42), usegmt=True)
    client = make_client(clock, Railway(clock, rate_limited(when)), retry=no_retry())
    with pytest.raises(RateLimitedError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert caught.value.retry_after == 42


def test_long_server_text_is_clipped_and_never_the_whole_body(clock):
    huge = "Problem " + "x" * 5000
    client = make_client(clock, Railway(clock, graphql_error(huge)))
    with pytest.raises(ApiError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert len(str(caught.value)) < 400
    assert "x" * 300 not in str(caught.value)


def test_first_of_several_errors_decides_and_the_rest_are_counted(clock):
    body = {"errors": [{"message": "Project not found"}, {"message": "Other"}], "data": None}
    client = make_client(clock, Railway(clock, status(200, json_body=body)))
    with pytest.raises(NotFoundError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert "(and 1 more)" in str(caught.value)


# --- retries ------------------------------------------------------------------------------------


def test_429_waits_exactly_retry_after(clock):
    railway = Railway(clock, rate_limited("7"), ok())
    client = make_client(clock, railway)
    assert client.execute(PROBE, {"id": "p"}) == {"ok": True}
    assert len(railway.requests) == 2
    assert clock.slept == 7
    assert railway.times == [0, 7]
    assert client.stats.retries == 1 and client.stats.retry_wait_seconds == 7


def test_html_429_without_headers_backs_off_then_succeeds(clock):
    railway = Railway(clock, cloudflare_429(), cloudflare_429(), ok())
    client = make_client(clock, railway)
    assert client.execute(PROBE, {"id": "p"}) == {"ok": True}
    assert railway.times == [0, 1, 3]  # base_wait 1, then 2


def test_503_with_retry_after_waits_that_long(clock):
    railway = Railway(clock, status(503, headers={"Retry-After": "12"}), ok())
    make_client(clock, railway).execute(PROBE, {"id": "p"})
    assert railway.times == [0, 12]


def test_5xx_then_success(clock):
    railway = Railway(clock, status(503), status(502, text="<html/>"), ok({"n": 1}))
    client = make_client(clock, railway)
    assert client.execute(PROBE, {"id": "p"}) == {"n": 1}
    assert len(railway.requests) == 3


def test_connection_reset_then_success(clock):
    railway = Railway(clock, fail(httpx.ReadError, "Connection reset by peer"), ok())
    client = make_client(clock, railway)
    assert client.execute(PROBE, {"id": "p"}) == {"ok": True}
    assert len(railway.requests) == 2


def test_cooldown_waits_at_least_cooldown_wait_and_grows(clock):
    cooldown = graphql_error("Endpoint too recently updated")
    railway = Railway(clock, cooldown, cooldown, ok())
    client = make_client(clock, railway, retry=RetryPolicy(cooldown_wait=30, jitter=0.0))
    client.execute(PROBE, {"id": "p"})
    gaps = [b - a for a, b in zip(railway.times, railway.times[1:], strict=False)]
    assert gaps[0] >= 30 and gaps[1] > gaps[0]


def test_problem_processing_is_retried_a_bounded_number_of_times(clock):
    railway = Railway(clock, graphql_error("Problem processing request"))
    client = make_client(clock, railway, retry=RetryPolicy(problem_processing_attempts=3))
    with pytest.raises(ProblemProcessingError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert len(railway.requests) == 3
    assert caught.value.attempts == 3 and "after 3 attempts" in str(caught.value)


def test_problem_processing_can_recover(clock):
    railway = Railway(clock, graphql_error("Problem processing request"), ok())
    assert make_client(clock, railway).execute(PROBE, {"id": "p"}) == {"ok": True}


@pytest.mark.parametrize(
    "answer",
    [
        graphql_error("Not Authorized"),
        status(401),
        status(403),
        validation_failed(),
        graphql_error("Project not found"),
        status(404, json_body={"message": "Not Found"}),
        graphql_error("Something else went wrong"),
    ],
    ids=["not_authorized", "401", "403", "validation", "not_found", "404", "api_error"],
)
def test_terminal_errors_are_never_retried(clock, answer):
    railway = Railway(clock, answer, ok())
    client = make_client(clock, railway)
    with pytest.raises(RailwayError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert len(railway.requests) == 1
    assert caught.value.attempts == 1
    assert clock.slept == 0


def test_gives_up_after_max_attempts_and_says_so(clock):
    railway = Railway(clock, status(503))
    client = make_client(clock, railway, retry=RetryPolicy(max_attempts=4, jitter=0.0))
    with pytest.raises(ServerError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert len(railway.requests) == 4
    assert caught.value.attempts == 4
    assert "after 4 attempts" in str(caught.value)
    assert clock.slept == 1 + 2 + 4


def test_backoff_is_capped_at_max_wait(clock):
    railway = Railway(clock, status(500))
    policy = RetryPolicy(max_attempts=5, base_wait=10, max_wait=15, jitter=0.0)
    with pytest.raises(ServerError):
        make_client(clock, railway, retry=policy).execute(PROBE, {"id": "p"})
    assert clock.slept == 10 + 15 + 15 + 15


def test_retry_after_longer_than_policy_allows_fails_at_once(clock):
    railway = Railway(clock, rate_limited("3600"), ok())
    client = make_client(clock, railway, retry=RetryPolicy(max_retry_after=900))
    with pytest.raises(RateLimitedError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert caught.value.retry_after == 3600
    assert len(railway.requests) == 1


def test_on_retry_hears_each_wait(clock):
    events: list[RetryEvent] = []
    railway = Railway(clock, status(503), rate_limited("5"), ok())
    client = make_client(clock, railway, on_retry=events.append)
    client.execute(PROBE, {"id": "p"})
    assert [(e.operation, e.attempt, type(e.error), e.wait) for e in events] == [
        ("Probe", 1, ServerError, 1.0),
        ("Probe", 2, RateLimitedError, 5.0),
    ]


def test_jitter_only_lengthens_backoff(clock):
    policy = RetryPolicy(jitter=0.5, random=lambda: 1.0)
    error = ServerError("x")
    assert policy.wait_for(error, 1) == 1.5
    assert policy.wait_for(RateLimitedError("x", retry_after=7), 1) == 7


# --- creating mutations are only re-sent when the first surely did nothing ----------------------


@pytest.mark.parametrize(
    "answer",
    [
        fail(httpx.ReadTimeout),
        fail(httpx.WriteTimeout),
        fail(httpx.ReadError, "Connection reset by peer"),
        fail(httpx.RemoteProtocolError),
        status(504),
        status(500),
        graphql_error("Problem processing request", "projectCreate"),
        status(200, text="<html/>"),
    ],
    ids=["read_timeout", "write_timeout", "reset", "protocol", "504", "500", "problem", "non_json"],
)
def test_creating_mutation_is_not_resent_after_an_ambiguous_failure(clock, answer):
    railway = Railway(clock, answer, ok({"projectCreate": {"id": "p"}}))
    client = make_client(clock, railway)
    with pytest.raises(RailwayError):
        ops.project_create(client, name="luthien-a", description="m", workspace_id="w")
    assert len(railway.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        rate_limited("2"),
        cloudflare_429(),
        graphql_error("Endpoint too recently updated", "projectCreate"),
        fail(httpx.ConnectError, "Connection refused"),
        fail(httpx.ConnectTimeout),
    ],
    ids=["json_429", "html_429", "cooldown", "connect_refused", "connect_timeout"],
)
def test_creating_mutation_is_resent_when_it_surely_did_nothing(clock, answer):
    railway = Railway(clock, answer, ok({"projectCreate": {"id": "p-1"}}))
    client = make_client(clock, railway)
    created = ops.project_create(client, name="luthien-a", description="m", workspace_id="w")
    assert created == {"id": "p-1"}
    assert len(railway.requests) == 2


def test_idempotent_mutation_is_retried_after_a_5xx(clock):
    railway = Railway(clock, status(503), ok({"projectUpdate": {"id": "p"}}))
    ops.project_set_description(make_client(clock, railway), "p", "marker")
    assert len(railway.requests) == 2


# --- pacing ---------------------------------------------------------------------------------------


def test_requests_are_spaced_to_the_per_second_limit(clock):
    railway = Railway(clock, ok())
    client = make_client(clock, railway, pacer=Pacer(per_second=10, per_hour=None, clock=clock))
    n = 35
    for i in range(n):
        client.execute(PROBE, {"id": str(i)})
    assert clock.monotonic() >= (n - 1) / 10 - 1e-9
    for start in railway.times:  # no one-second window holds more than 10 requests
        assert sum(start <= t < start + 1 - 1e-9 for t in railway.times) <= 10
    assert client.stats.pacing_wait_seconds == pytest.approx((n - 1) / 10)


def test_hourly_budget_holds_the_next_request_for_the_rest_of_the_hour(clock):
    railway = Railway(clock, ok())
    client = make_client(clock, railway, pacer=Pacer(per_second=None, per_hour=5, clock=clock))
    for i in range(6):
        client.execute(PROBE, {"id": str(i)})
    assert railway.times[:5] == [0, 0, 0, 0, 0]
    assert railway.times[5] == 3600


def test_remaining_zero_waits_until_reset(clock):
    reset = str(int(clock.now().timestamp()) + 25)  # epoch seconds
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    railway = Railway(clock, ok(headers=headers), ok())
    client = make_client(clock, railway, pacer=Pacer(clock=clock))
    client.execute(PROBE, {"id": "a"})
    client.execute(PROBE, {"id": "b"})
    assert railway.times == [0, 25]


@pytest.mark.parametrize("reset", ["2026-01-01T00:00:40Z", "40", "1767225640000"])
def test_reset_header_formats_are_understood(clock, reset):
    pacer = Pacer(per_second=None, per_hour=None, clock=clock)
    pacer.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
    assert pacer.acquire() == 40


def test_remaining_above_zero_does_not_wait(clock):
    pacer = Pacer(per_second=None, per_hour=None, clock=clock)
    pacer.observe({"x-ratelimit-remaining": "3", "x-ratelimit-reset": "40"})
    pacer.observe({"x-ratelimit-remaining": "0"})  # no reset: nothing to wait for
    pacer.observe({"x-ratelimit-remaining": "zero", "x-ratelimit-reset": "soon"})
    assert pacer.acquire() == 0


def test_pacing_applies_before_retries_too(clock):
    railway = Railway(clock, status(503), ok())
    pacer = Pacer(per_second=1, per_hour=None, clock=clock)
    policy = RetryPolicy(base_wait=0.25, jitter=0.0)
    make_client(clock, railway, pacer=pacer, retry=policy).execute(PROBE, {"id": "p"})
    assert railway.times == [0, 1]  # 0.25 s backoff, then the pacer's one-second spacing


def test_a_429_holds_every_other_caller_until_retry_after(clock):
    """While one caller waits out a 429, another caller's request waits for the same moment."""
    pacer = Pacer(per_second=None, per_hour=None, clock=clock)
    other = Railway(clock, ok())
    other_client = make_client(clock, other, pacer=pacer)

    def sleep_while_another_thread_works(seconds: float) -> None:
        other_client.execute(PROBE, {"id": "other"})  # runs while the first caller is waiting
        clock.sleep(max(0.0, seconds - clock.monotonic()))

    first = Railway(clock, rate_limited("9"), ok())
    policy = RetryPolicy(sleep=sleep_while_another_thread_works, jitter=0.0)
    make_client(clock, first, pacer=pacer, retry=policy).execute(PROBE, {"id": "first"})
    assert other.times == [9]
    assert first.times == [0, 9]


def test_a_hold_that_arrives_during_a_wait_is_honoured():
    class InterruptedClock(FakeClock):
        pacer: Pacer | None = None

        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if self.pacer is not None:  # another thread's 429 lands while this one sleeps
                pacer, self.pacer = self.pacer, None
                pacer.hold_all(10)

    clock = InterruptedClock()
    pacer = Pacer(per_second=1, per_hour=None, clock=clock)
    pacer.acquire()  # slot 0; the next one is at 1
    clock.pacer = pacer
    assert pacer.acquire() == 11  # woke at 1, found a hold until 11
    assert clock.monotonic() == 11


def test_plan_presets(clock):
    hobby, pro, free = (Pacer.for_plan(p, clock=clock) for p in ("HOBBY", "pro", "Free"))
    assert (hobby.per_second, hobby.per_hour) == (10, 1_000)
    assert (pro.per_second, pro.per_hour) == (50, 10_000)
    assert (free.per_second, free.per_hour) == (10, 100)
    with pytest.raises(ConfigError):
        Pacer.for_plan("ENTERPRISE")


# --- threads ------------------------------------------------------------------------------------


def test_many_threads_share_one_client(clock):
    counter = {"n": 0}
    lock = threading.Lock()

    def answer(request: httpx.Request) -> httpx.Response:
        with lock:
            counter["n"] += 1
            flaky = counter["n"] % 7 == 0
        if flaky:
            return httpx.Response(503, text="busy")
        echo = json.loads(request.content)["variables"]
        return httpx.Response(200, json={"data": {"echo": echo}})

    railway = Railway(clock, answer)
    client = make_client(clock, railway, pacer=Pacer(per_second=10, per_hour=None, clock=clock))
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(20):
                got = client.execute(PROBE, {"id": f"{w}-{i}"})
                assert got == {"echo": {"id": f"{w}-{i}"}}
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    stats = client.stats
    assert stats.requests == len(railway.requests) == 160 + stats.retries
    assert stats.retries == len(railway.requests) // 7
    assert stats.by_operation["Probe"].requests == stats.requests
    assert stats.failures == 0


# --- what goes over the wire ----------------------------------------------------------------


def test_headers_body_and_url(clock):
    railway = Railway(clock, ok())
    make_client(clock, railway).execute(PROBE, {"id": 'x" } me { id'})
    request = railway.requests[0]
    assert request.method == "POST"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"] == f"saas-infra/{saas_infra.__version__}"
    assert request.headers["x-source"] == f"saas-infra/{saas_infra.__version__}"
    assert request.headers["Content-Type"] == "application/json"
    assert str(request.url) == DEFAULT_API_URL + "?source=saas-infra"
    body = railway.body()
    assert body == {
        "query": PROBE.document,
        "variables": {"id": 'x" } me { id'},
        "operationName": "Probe",
    }


def test_template_lookups_carry_no_credentials(clock):
    # Railway's template lookups refuse authenticated requests (railwayapp/cli 991d8f0b).
    railway = Railway(clock, ok({"template": {"id": "t", "code": "redis", "name": "Redis",
                                              "serializedConfig": None}}), ok())
    client = make_client(clock, railway)
    ops.template(client, "redis")
    client.execute(PROBE, {"id": "p"})
    anonymous, authorized = railway.requests
    assert "authorization" not in {name.lower() for name in anonymous.headers}
    assert anonymous.headers["x-source"] == f"saas-infra/{saas_infra.__version__}"
    assert authorized.headers["Authorization"] == f"Bearer {TOKEN}"


def test_template_config_is_filled_as_railways_cli_fills_it():
    template = {"code": "db", "serializedConfig": {"services": {"s1": {"name": "Db", "variables": {
        "PASSWORD": {"defaultValue": "${{secret(32)}}", "isOptional": False},
        "PORT": {"defaultValue": "5432"},
        "EXTRA": {"defaultValue": "", "isOptional": True},
        "GONE": None,
    }, "volumeMounts": {"v": {"mountPath": "/data"}}}}, "volumes": {"v": {"name": "vol"}}}}
    config = ops.template_config_with_values(template)
    variables = config["services"]["s1"]["variables"]
    assert variables["PASSWORD"]["value"] == "${{secret(32)}}"  # Railway evaluates functions
    assert variables["PORT"] == {"defaultValue": "5432", "value": "5432"}
    assert "value" not in variables["EXTRA"] and variables["GONE"] is None
    assert config["volumes"] == {"v": {"name": "vol"}}  # everything else passes through
    assert "value" not in template["serializedConfig"]["services"]["s1"]["variables"]["PORT"]
    assert ops.template_config_with_values({"code": "x", "serializedConfig": None}) == {}


def test_a_required_template_variable_without_default_is_a_clear_error():
    template = {"code": "db", "serializedConfig": {"services": {"s1": {"name": "Db", "variables": {
        "TOKEN_SEED": {"defaultValue": "", "isOptional": False}}}}}}
    with pytest.raises(ApiError, match="db template needs a value for Db.TOKEN_SEED"):
        ops.template_config_with_values(template)


def test_no_variables_sends_an_empty_object(clock):
    railway = Railway(clock, ok({"me": {"id": "u"}}))
    ops.me(make_client(clock, railway))
    assert railway.body()["variables"] == {}
    assert railway.body()["operationName"] == "Me"


def test_api_url_is_configurable_and_keeps_its_own_source(clock):
    railway = Railway(clock, ok())
    url = "http://127.0.0.1:8765/graphql/v2?source=test"
    make_client(clock, railway, api_url=url).execute(PROBE, {"id": "p"})
    assert str(railway.requests[0].url) == url


def test_token_may_be_a_secret_str(clock):
    railway = Railway(clock, ok())
    client = RailwayClient(
        SecretStr(TOKEN), transport=httpx.MockTransport(railway), clock=clock,
        pacer=Pacer.unlimited(clock=clock),
    )
    client.execute(PROBE, {"id": "p"})
    assert railway.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_an_injected_http_client_is_used_and_left_open(clock):
    railway = Railway(clock, ok())
    http = httpx.Client(transport=httpx.MockTransport(railway))
    with RailwayClient(TOKEN, http=http, clock=clock, pacer=Pacer.unlimited(clock=clock)) as c:
        c.execute(PROBE, {"id": "p"})
    assert not http.is_closed
    assert len(railway.requests) == 1
    http.close()


def test_closed_client_refuses_to_send(clock):
    railway = Railway(clock, ok())
    with make_client(clock, railway) as client:
        client.execute(PROBE, {"id": "p"})
    with pytest.raises(ConfigError):
        client.execute(PROBE, {"id": "p"})


@pytest.mark.parametrize("bad", ["", "   ", TOKEN + "\n", "tok en", "tök"])
def test_unusable_tokens_are_refused_without_echoing_them(bad):
    with pytest.raises(ConfigError) as caught:
        RailwayClient(bad, transport=httpx.MockTransport(ok()))
    if bad.strip():
        assert bad.strip() not in str(caught.value)


@pytest.mark.parametrize("url", ["backboard.railway.com/graphql/v2", "ftp://x/graphql", "http://"])
def test_unusable_api_urls_are_refused(url):
    with pytest.raises(ConfigError):
        RailwayClient(TOKEN, api_url=url, transport=httpx.MockTransport(ok()))


def test_transport_and_http_together_are_refused():
    with pytest.raises(ConfigError):
        RailwayClient(TOKEN, transport=httpx.MockTransport(ok()), http=httpx.Client())


# --- the token (and tenant secrets) never show ----------------------------------------------


def test_token_not_in_repr_or_str_of_the_client(clock):
    client = make_client(clock, Railway(clock, ok()))
    for text in (repr(client), str(client), repr(vars(client)), repr(client.stats)):
        assert TOKEN not in text


def test_token_not_in_any_error(clock):
    answers = [a for _, a, _ in FAILURE_KINDS]
    for answer in answers:
        client = make_client(clock, Railway(clock, answer), retry=no_retry())
        with pytest.raises(SaasInfraError) as caught:
            client.execute(PROBE, {"id": "p"})
        assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)


def test_a_token_cut_by_clipping_is_still_scrubbed(clock):
    echo = graphql_error("p" * 190 + " " + TOKEN)
    client = make_client(clock, Railway(clock, echo))
    with pytest.raises(ApiError) as caught:
        client.execute(PROBE, {"id": "p"})
    assert TOKEN[:8] not in str(caught.value)


def test_an_echoed_token_or_variable_secret_is_scrubbed_from_errors(clock):
    secret_key = "sk-client-0123456789abcdef"
    echo = graphql_error(f"Bad token {TOKEN}; bad value {secret_key}")
    client = make_client(clock, Railway(clock, echo))
    with pytest.raises(ApiError) as caught:
        ops.variables_upsert(
            client, project_id="p", environment_id="e", service_id="s",
            variables={"CLIENT_API_KEY": secret_key},
        )
    text = str(caught.value) + repr(caught.value)
    assert TOKEN not in text and secret_key not in text
    assert "[redacted]" in text


def test_logs_never_show_the_token_or_variables(clock, caplog):
    caplog.set_level(logging.DEBUG)
    secret_key = "sk-admin-fedcba9876543210"
    railway = Railway(
        clock,
        status(503),
        graphql_error(f"Problem processing request {TOKEN} {secret_key}"),
        fail(httpx.ReadError, "reset"),
        rate_limited("1"),
        ok({"variableCollectionUpsert": True}),
    )
    client = make_client(clock, railway)
    ops.variables_upsert(
        client, project_id="p", environment_id="e", service_id="s",
        variables={"ADMIN_API_KEY": secret_key},
    )
    assert len(railway.requests) == 5
    assert "retrying" in caplog.text
    assert TOKEN not in caplog.text
    assert secret_key not in caplog.text
    assert "Bearer" not in caplog.text
