"""The whole exception tree of saas-infra. Nothing here talks to the network or the disk.

    SaasInfraError                     base; exit code 1 unless a subclass says otherwise
    ├── ConfigError                    missing token, bad settings, bad flags
    ├── ManifestError                  one or more ManifestProblem (file, line, field, message)
    ├── PlanError                      a saved plan that cannot be applied
    │   └── StalePlanError             its tenants changed since it was made
    ├── GuardError                     a safety guard stopped the pass (exit code 3)
    ├── LockHeldError                  another pass holds the fleet lock
    │   └── LockLostError              this pass's lease was lost while it acted
    ├── NotConvergedError              apply finished but a re-plan is not empty
    ├── RolloutFailedError             a tenant of a rollout failed its health gate (the
    │                                  rollout halts)
    └── RailwayError                   anything Railway (or the way to it) answered badly
        ├── TransientError             worth retrying with backoff
        │   ├── RateLimitedError       HTTP 429 (JSON or HTML), retry_after in seconds when known
        │   ├── CooldownError          "Endpoint too recently updated"
        │   ├── ServerError            HTTP 5xx
        │   ├── NetworkError           timeouts, resets, refused connections
        │   └── ProblemProcessingError "Problem processing request" (retried a bounded number of times)
        ├── AuthError                  "Not Authorized", 401/403: wrong token or wrong kind of token
        ├── QueryValidationError       HTTP 400 GRAPHQL_VALIDATION_FAILED: a bug in our documents
        ├── NotFoundError              "<Thing> not found", REST-style 404
        ├── EndpointError              RAILWAY_API_URL leads elsewhere: a web page, an unknown
        │                              host, a closed port (not retried, or only briefly)
        ├── IncompleteListingError     a listing that repeated itself or never ended (not retried)
        └── ApiError                   any other GraphQL error message

Messages never carry a token or a whole response body.
"""

from __future__ import annotations

from dataclasses import dataclass


class SaasInfraError(Exception):
    """Base of every error saas-infra raises on purpose."""

    exit_code = 1
    hint: str | None = None


class ConfigError(SaasInfraError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class ManifestProblem:
    """One problem in one manifest file. `line` is 1-based; `field` a dotted path or ''."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ManifestError(SaasInfraError):
    def __init__(self, problems: list[ManifestProblem]) -> None:
        self.problems = list(problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{len(self.problems)} manifest {noun}")

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class PlanError(SaasInfraError):
    pass


class StalePlanError(PlanError):
    pass


class GuardError(SaasInfraError):
    """A safety guard refused a destructive pass. Nothing was changed."""

    exit_code = 3


class LockHeldError(SaasInfraError):
    pass


class LockLostError(LockHeldError):
    """The lease ran out or another pass took the lock while this one held it: it stops."""


class NotConvergedError(SaasInfraError):
    pass


class RolloutFailedError(SaasInfraError):
    """A tenant's new version failed to build, crashed or failed its health gate."""


class RailwayError(SaasInfraError):
    """An answer from Railway (or the road to it) that is not the data we asked for."""

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        status: int | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.status = status
        self.trace_id = trace_id

    # How many requests were sent before giving up; the retry layer sets it on the final error.
    attempts: int = 1

    def __str__(self) -> str:
        where = []
        if self.operation:
            where.append(f"operation {self.operation}")
            if self.status is not None:
                where.append(f"HTTP {self.status}")
            if self.trace_id:
                where.append(f"trace {self.trace_id}")
        if self.attempts > 1:
            where.append(f"after {self.attempts} attempts")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class TransientError(RailwayError):
    """Worth trying again after a wait."""

    retry_after: float | None = None


class RateLimitedError(TransientError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class CooldownError(TransientError):
    pass


class ServerError(TransientError):
    pass


class NetworkError(TransientError):
    def __init__(self, message: str, *, unsent: bool = False, **kw) -> None:
        super().__init__(message, **kw)
        # True when the request certainly never reached Railway (refused connection, connect
        # timeout), so even a creating mutation may be sent again.
        self.unsent = unsent


class ProblemProcessingError(TransientError):
    pass


class AuthError(RailwayError):
    pass


class QueryValidationError(RailwayError):
    pass


class NotFoundError(RailwayError):
    pass


class EndpointError(RailwayError):
    pass


class IncompleteListingError(RailwayError):
    """A paginated listing that cannot be whole: a cursor or a page came back, or it did not end
    within its page bound. Acting on it could create what it failed to list."""


class ApiError(RailwayError):
    pass
