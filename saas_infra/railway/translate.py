"""The one boundary where Railway's answers and httpx's failures become our exception tree.

Railway reports most failures as HTTP 200 with an `errors[]` list; the rest arrive as HTTP
statuses (400, 401/403, 404, 429, 5xx), as HTML from the Cloudflare edge, or as httpx exceptions.
Nothing here sends, sleeps, retries or logs, and no message built here carries a header, a
token or a whole body: server text is clipped to MAX_TEXT characters.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from saas_infra.errors import (
    ApiError,
    AuthError,
    ConfigError,
    CooldownError,
    NetworkError,
    NotFoundError,
    ProblemProcessingError,
    QueryValidationError,
    RailwayError,
    RateLimitedError,
    SaasInfraError,
    ServerError,
)
from saas_infra.railway.operations import Operation

MAX_TEXT = 200

# Failures after which the request certainly never reached Railway.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)

# Everything httpx may raise out of Client.send; execute() lets none of them escape.
HTTPX_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    httpx.CookieConflict,
)

# What a "Not Authorized" most likely means, by operation: Railway uses the same words for a
# wrong kind of token, a token from another workspace and an id that is not yours.
_AUTH_HINTS = {
    "Me": (
        "a workspace token cannot read the user; use a personal account token (created with"
        " 'No workspace'), or identify a workspace token through its workspace instead"
    ),
    "ProjectCreate": (
        "a project token cannot create projects; use an account or workspace token that"
        " reaches this workspace"
    ),
    "TemplateDeploy": (
        "a project token cannot deploy templates; use an account or workspace token that"
        " reaches this workspace"
    ),
}
_DEFAULT_AUTH_HINT = (
    "the token is invalid or revoked, or does not reach this resource (a workspace token reaches"
    " only its own workspace; ids from elsewhere also answer Not Authorized)"
)


def data_or_raise(operation: Operation, response: httpx.Response, *, now: datetime) -> dict:
    """The `data` of a good answer; for anything else raise our error (chained with `from`)."""
    try:
        body: Any = response.json()
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are both ValueError
        raise _error_for_status(operation, response, None, now) from exc
    if response.status_code != 200:
        raise _error_for_status(operation, response, body, now)
    if not isinstance(body, dict):
        raise ServerError("Railway answered JSON that is no object", **_where(operation, response))
    if body.get("errors"):
        raise _error_for_graphql(operation, response, body["errors"])
    if not isinstance(body.get("data"), dict):
        raise ServerError("Railway answered neither data nor errors", **_where(operation, response))
    return body["data"]


def error_for_exception(operation: Operation, exc: Exception) -> SaasInfraError:
    """Our error for an httpx failure; the caller raises it `from exc`."""
    name = operation.name
    detail = clip(str(exc) or type(exc).__name__)
    # Order matters: ConnectTimeout and PoolTimeout are TimeoutExceptions that never sent anything.
    if isinstance(exc, _NEVER_SENT):
        return NetworkError(f"could not connect to Railway: {detail}", operation=name, unsent=True)
    if isinstance(exc, httpx.TimeoutException):
        return NetworkError(f"Railway did not answer in time: {detail}", operation=name)
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
        return NetworkError(f"the connection to Railway broke: {detail}", operation=name)
    if isinstance(exc, httpx.DecodingError):
        return ServerError(f"Railway's answer could not be decoded: {detail}", operation=name)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return ConfigError(
            f"the Railway API URL is not usable: {detail}",
            hint="set RAILWAY_API_URL to an http(s) URL ending in /graphql/v2",
        )
    kind = type(exc).__name__
    return ApiError(f"the request to Railway failed ({kind}): {detail}", operation=name)


def _error_for_status(
    operation: Operation, response: httpx.Response, body: Any, now: datetime
) -> RailwayError:
    """A non-200 answer, or a 200 whose body is not JSON."""
    status = response.status_code
    where = _where(operation, response, body)
    said = _server_text(response, body)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now)
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        message = f"Railway rate-limited the request: {said}{wait}"
        return RateLimitedError(message, retry_after=retry_after, **where)
    if status == 400:
        if _errors_of(body):  # GRAPHQL_VALIDATION_FAILED, or variables that do not fit the types
            message = f"Railway rejected the query (a bug in saas-infra's operations): {said}"
            return QueryValidationError(message, **where)
        return ApiError(f"Railway refused the request as malformed: {said}", **where)
    if status in (401, 403):
        return AuthError(
            f"Railway refused the token: {said}; it is missing, revoked or of the wrong kind"
            " (saas-infra needs an account or workspace token; a project token will not do)",
            **where,
        )
    if status == 404:
        return NotFoundError(
            f"Railway has no such endpoint: {said}; check RAILWAY_API_URL (it ends in /graphql/v2)",
            **where,
        )
    if status >= 500 or status == 200:  # a 200 that is not JSON is a broken server, not our bug
        error = ServerError(f"Railway answered badly: {said}", **where)
        error.retry_after = parse_retry_after(response.headers.get("retry-after"), now)  # 503s may
        return error
    return ApiError(f"Railway answered unexpectedly: {said}", **where)


def _error_for_graphql(operation: Operation, response: httpx.Response, errors: Any) -> RailwayError:
    """Railway's usual failure: HTTP 200 with `errors[]`. The first error decides the class."""
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    message = clip(str(first.get("message") or "an unnamed error"))
    more = f" (and {len(errors) - 1} more)" if isinstance(errors, list) and len(errors) > 1 else ""
    where = _where(operation, response, {"errors": errors})
    said = f'Railway answered "{message}"{more}'
    lowered = message.lower()
    if _first_code({"errors": errors}) == "GRAPHQL_VALIDATION_FAILED":
        return QueryValidationError(f"{said}: a bug in saas-infra's operations", **where)
    if "not authorized" in lowered:
        return AuthError(f"{said}: {_AUTH_HINTS.get(operation.name, _DEFAULT_AUTH_HINT)}", **where)
    if "project token not found" in lowered:
        return AuthError(f"{said}: the token is not a valid account or workspace token", **where)
    if "two factor authentication required" in lowered:
        return AuthError(f"{said}: this account needs a 2FA code for this operation", **where)
    if lowered.endswith("not found"):
        return NotFoundError(said, **where)
    if "too recently updated" in lowered or "too quickly" in lowered:
        return CooldownError(f"{said}: Railway wants a pause before the next change", **where)
    if "problem processing request" in lowered:
        return ProblemProcessingError(said, **where)
    return ApiError(said, **where)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After in seconds from `now`: integer seconds or an HTTP date; None if absent or odd."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds()) if when.tzinfo else None


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """One line of at most `limit` characters: server text goes into messages only this way."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _server_text(response: httpx.Response, body: Any) -> str:
    """What the server said, short: its JSON message, a Cloudflare code, or just the status."""
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    message = _first_message(body)
    if message:
        return f'{status}, "{clip(message)}"'
    if body is None:
        text = _safe_text(response)
        code = re.search(r"error code:?\s*(\d{3,5})", text, re.IGNORECASE)
        if code:
            return f"{status} from the Cloudflare edge (error code {code.group(1)})"
        kind = response.headers.get("content-type", "unknown type").split(";")[0]
        if text.strip() and "<" not in text:
            return f'{status}, "{clip(text)}"'
        return f"{status} with a {kind} body" if text.strip() else f"{status} with an empty body"
    return status


def _safe_text(response: httpx.Response) -> str:
    try:
        return response.text
    except (UnicodeDecodeError, LookupError):
        return ""


def _errors_of(body: Any) -> list:
    errors = body.get("errors") if isinstance(body, dict) else None
    return errors if isinstance(errors, list) else []


def _first_message(body: Any) -> str | None:
    for error in _errors_of(body):
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]  # REST-style answers: {"message": "Not Found", "requestId": …}
    return None


def _first_code(body: Any) -> str | None:
    for error in _errors_of(body):
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(extensions, dict) and extensions.get("code"):
            return str(extensions["code"])
    return None


def _trace_id(body: Any) -> str | None:
    for error in _errors_of(body):
        if isinstance(error, dict):
            extensions = error.get("extensions")
            trace = error.get("traceId") or (
                extensions.get("traceId") if isinstance(extensions, dict) else None
            )
            if trace:
                return clip(str(trace), 40)
    if isinstance(body, dict) and body.get("requestId"):
        return clip(str(body["requestId"]), 40)
    return None


def _where(operation: Operation, response: httpx.Response, body: Any = None) -> dict:
    return {
        "operation": operation.name,
        "status": response.status_code,
        "trace_id": _trace_id(body),
    }
