"""RailwayClient: sends named GraphQL operations to Railway over one pooled httpx.Client.

It composes the pieces: bearer auth (left off the operations Railway wants anonymous), pacing
before every attempt, translation of every failure into our exception tree (translate.py),
retries by error type (retry.py) and counters. It is safe to share between threads. It must
never reveal the token (repr, errors, logs, recordings), never log variables (they carry tenant
secrets), and never let an httpx or json error escape.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any

import httpx
from pydantic import SecretStr

import saas_infra
from saas_infra.clock import Clock, SystemClock
from saas_infra.errors import (
    ConfigError,
    EndpointError,
    RailwayError,
    RateLimitedError,
    SaasInfraError,
    ServerError,
)
from saas_infra.railway.operations import Operation
from saas_infra.railway.pacing import Pacer
from saas_infra.railway.retry import RetryEvent, RetryPolicy
from saas_infra.railway.translate import HTTPX_ERRORS, data_or_raise, error_for_exception

_NO_AUTH = httpx.Auth()  # sends the request as it is: for Railway's anonymous lookups

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://backboard.railway.com/graphql/v2"
USER_AGENT = f"saas-infra/{saas_infra.__version__}"
# Sent as x-source (as Railway's CLI does) and as ?source=: a source parameter is reported to
# exempt API clients from Cloudflare's 10 requests/s edge rule (API-NOTES §1, §6).
SOURCE = "saas-infra"
REDACTED = "[redacted]"
# A closed port is tried this often (1 s and 2 s apart) before the URL is blamed: long enough
# for an emulator that is restarting, short of the full backoff a flaky network deserves.
REFUSED_ATTEMPTS = 3
_NO_SUCH_HOST = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


class _BearerAuth(httpx.Auth):
    """Adds the Authorization header at send time, so no headers dict in our frames holds it."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(token=**********)"


@dataclass(frozen=True)
class OperationStats:
    requests: int = 0
    retries: int = 0
    failures: int = 0  # calls that ended in an error, after any retries


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of the client's counters; `client.stats` returns a fresh one each time."""

    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0
    failures: int = 0
    pacing_wait_seconds: float = 0.0
    retry_wait_seconds: float = 0.0
    by_operation: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    @property
    def wait_seconds(self) -> float:
        return self.pacing_wait_seconds + self.retry_wait_seconds


class RailwayClient:
    """`execute(operation, variables) -> data`. Thread-safe; use as a context manager."""

    def __init__(
        self,
        token: str | SecretStr,
        *,
        api_url: str = DEFAULT_API_URL,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        clock: Clock | None = None,
        timeout: float = 30.0,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        if transport is not None and http is not None:
            raise ConfigError("give RailwayClient a transport or an http client, not both")
        secret = token if isinstance(token, SecretStr) else SecretStr(token or "")
        _check_token(secret)
        self.api_url = api_url
        self._url = _request_url(api_url)
        self._auth = _BearerAuth(secret)
        self._secret = secret
        self._clock: Clock = clock or SystemClock()
        self._retry = retry or RetryPolicy()
        self._pacer = pacer or Pacer(clock=self._clock)
        self._timeout = httpx.Timeout(timeout)
        self._on_retry = on_retry
        self._owns_http = http is None
        self._http = http or httpx.Client(transport=transport, timeout=self._timeout)
        self._lock = threading.Lock()
        self._counts: dict[str, float] = {}
        self._per_op: dict[str, dict[str, int]] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"RailwayClient(api_url={self.api_url!r}, token=**********)"

    def __enter__(self) -> RailwayClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool, unless the http client was handed in (its owner closes it)."""
        self._closed = True
        if self._owns_http:
            self._http.close()

    @property
    def pacer(self) -> Pacer:
        return self._pacer

    @property
    def stats(self) -> ClientStats:
        with self._lock:
            by_op = {name: OperationStats(**counts) for name, counts in self._per_op.items()}
            return ClientStats(
                requests=int(self._counts.get("requests", 0)),
                retries=int(self._counts.get("retries", 0)),
                failures=int(self._counts.get("failures", 0)),
                pacing_wait_seconds=self._counts.get("pacing_wait", 0.0),
                retry_wait_seconds=self._counts.get("retry_wait", 0.0),
                by_operation=MappingProxyType(by_op),
            )

    def execute(self, operation: Operation, variables: dict[str, Any] | None = None) -> dict:
        """Send `operation` with `variables` (never pasted into the document); return `data`."""
        if self._closed:
            raise ConfigError("this RailwayClient is closed")
        payload = {
            "query": operation.document,
            "variables": variables or {},
            "operationName": operation.name,
        }
        secrets = self._secrets(variables)
        refused = [0]  # this call's refused connections, across its attempts
        try:
            return self._retry.run(
                operation,
                lambda: self._attempt(operation, payload, secrets, refused),
                sleep=self._clock.sleep,
                on_wait=self._before_retry,
            )
        except SaasInfraError:
            self._count(operation.name, "failures")
            raise

    def _attempt(
        self, operation: Operation, payload: dict, secrets: list[str], refused: list[int]
    ) -> dict:
        """One paced request; any failure leaves as one of our errors, scrubbed of secrets."""
        try:
            return self._send(operation, payload, refused)
        except SaasInfraError as error:
            _redact(error, secrets)
            raise

    def _send(self, operation: Operation, payload: dict, refused: list[int]) -> dict:
        self._add_wait("pacing_wait", self._pacer.acquire())
        self._count(operation.name, "requests")
        log.debug("Railway %s: sending", operation.name)
        try:
            response = self._http.post(
                self._url,
                json=payload,
                headers=_HEADERS,
                auth=_NO_AUTH if operation.anonymous else self._auth,
                timeout=self._timeout,
            )
        except HTTPX_ERRORS as exc:
            raise self._unreachable(operation, exc, refused) or error_for_exception(
                operation, exc
            ) from exc
        log.debug("Railway %s: HTTP %d", operation.name, response.status_code)
        self._pacer.observe(response.headers)
        try:
            return data_or_raise(operation, response, now=self._clock.now())
        except ServerError as error:
            if response.status_code != 200:
                raise  # 5xx pages are Railway's edge having a bad moment: retried
            raise self._not_graphql(operation, response) from error.__cause__ or error

    # --- a RAILWAY_API_URL that leads elsewhere fails fast, naming it ----------------------------

    def _not_graphql(self, operation: Operation, response: httpx.Response) -> EndpointError:
        """HTTP 200 that is not GraphQL's {data, errors}: a web page, or some other JSON API."""
        try:
            response.json()
            what = "JSON that is not a GraphQL answer (no data, no errors)"
        except ValueError:
            kind = response.headers.get("content-type", "").split(";")[0] or "untyped"
            what = f"a {kind} body" if response.content else "an empty body"
        return self._endpoint_error(
            f"{_shown(self.api_url)} is not Railway's GraphQL API: it answered HTTP 200 with "
            f"{what}", operation, status=200)

    def _unreachable(
        self, operation: Operation, exc: Exception, refused: list[int]
    ) -> EndpointError | None:
        """An unknown host fails at once; a closed port after REFUSED_ATTEMPTS quick tries."""
        url = _shown(self.api_url)
        if _caused_by(exc, lambda e: isinstance(e, socket.gaierror) and e.errno in _NO_SUCH_HOST):
            host = httpx.URL(self.api_url).host
            return self._endpoint_error(f"cannot reach {url}: no host named {host}", operation)
        if _caused_by(exc, lambda e: isinstance(e, ConnectionRefusedError)):
            refused[0] += 1
            if refused[0] >= REFUSED_ATTEMPTS:
                return self._endpoint_error(
                    f"cannot reach {url}: nothing accepts connections there", operation)
        return None

    def _endpoint_error(self, message: str, operation: Operation, **where: Any) -> EndpointError:
        error = EndpointError(message, operation=operation.name, **where)
        if self.api_url == DEFAULT_API_URL:
            error.hint = ("something other than Railway answers for it here (a proxy or a "
                          "captive portal?); RAILWAY_API_URL is unset, so this is Railway's URL")
        else:
            error.hint = (f"RAILWAY_API_URL is {_shown(self.api_url)}: unset it to use Railway "
                          f"({DEFAULT_API_URL}), or point it at a running emulator's /graphql/v2")
        return error

    def _before_retry(self, event: RetryEvent) -> None:
        """Count and report a retry; a 429 pauses every thread, since the budget is shared."""
        self._count(event.operation, "retries")
        self._add_wait("retry_wait", event.wait)
        if isinstance(event.error, RateLimitedError):
            self._pacer.hold_all(event.wait, reason=f"Railway rate-limited {event.operation}")
        log.warning(
            "Railway %s failed on attempt %d (%s); retrying in %.1f s",
            event.operation,
            event.attempt,
            event.error,
            event.wait,
        )
        if self._on_retry is not None:
            self._on_retry(event)

    def _count(self, operation: str, what: str) -> None:
        with self._lock:
            self._counts[what] = self._counts.get(what, 0) + 1
            counts = self._per_op.setdefault(operation, dict.fromkeys(_PER_OPERATION, 0))
            counts[what] += 1

    def _add_wait(self, what: str, seconds: float) -> None:
        if seconds:
            with self._lock:
                self._counts[what] = self._counts.get(what, 0.0) + seconds

    def _secrets(self, variables: dict[str, Any] | None) -> list[str]:
        """The token and every environment-variable value we sent: none may reach a message."""
        return [self._secret.get_secret_value(), *_env_values(variables)]


_PER_OPERATION = ("requests", "retries", "failures")
_HEADERS = {"User-Agent": USER_AGENT, "x-source": USER_AGENT, "Accept": "application/json"}


def _check_token(secret: SecretStr) -> None:
    value = secret.get_secret_value()
    if not value.strip():
        raise ConfigError("the Railway token is empty", hint="set RAILWAY_TOKEN")
    # A header cannot carry these; httpx would fail later with a less helpful error.
    if value != value.strip() or not value.isascii() or not value.isprintable() or " " in value:
        raise ConfigError(
            "the Railway token contains spaces or characters a token cannot have",
            hint="check RAILWAY_TOKEN for a stray newline or quote",
        )


def _request_url(api_url: str) -> httpx.URL:
    try:
        url = httpx.URL(api_url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"RAILWAY_API_URL is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(
            f"RAILWAY_API_URL must be an http(s) URL, got {api_url!r}",
            hint=f"the default is {DEFAULT_API_URL}",
        )
    return url if "source" in url.params else url.copy_add_param("source", SOURCE)


def _shown(api_url: str) -> str:
    """The API URL for a message: without any user:password@ it may carry."""
    url = httpx.URL(api_url)
    return str(url.copy_with(userinfo=b"")) if url.userinfo else api_url


def _caused_by(exc: BaseException, test: Callable[[BaseException], bool]) -> bool:
    """Whether `exc` or anything it was raised from passes `test` (httpx wraps socket errors)."""
    seen: BaseException | None = exc
    for _ in range(10):  # a chain is a few links long; never loop on a cycle
        if seen is None:
            return False
        if test(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _env_values(variables: Any) -> Iterable[str]:
    """String values found under any "variables" key: that is where tenant secrets travel."""
    if isinstance(variables, dict):
        for key, value in variables.items():
            if key == "variables" and isinstance(value, dict):
                yield from (v for v in value.values() if isinstance(v, str) and len(v) >= 6)
            else:
                yield from _env_values(value)
    elif isinstance(variables, list):
        for item in variables:
            yield from _env_values(item)


def _redact(error: SaasInfraError, secrets: list[str]) -> None:
    """Scrub secrets from an error's message, in case a server echoed one back."""
    if isinstance(error, RailwayError):
        error.message = _redacted_text(error.message, secrets)
    if error.args and isinstance(error.args[0], str):
        error.args = (_redacted_text(error.args[0], secrets), *error.args[1:])


def _redacted_text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
            text = _redact_clipped_tail(text, secret)
    return text


def _redact_clipped_tail(text: str, secret: str) -> str:
    """Clipping server text may cut a secret short, just before the '…'; scrub that stub too."""
    cut = text.find("…")
    while cut != -1:
        for length in range(min(len(secret) - 1, cut), 3, -1):
            if text[cut - length : cut] == secret[:length]:
                text = text[: cut - length] + REDACTED + text[cut:]
                break
        cut = text.find("…", cut + 1)
    return text
