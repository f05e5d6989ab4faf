"""When to send a Railway request again, and how long to wait first: the error's type decides.

RetryPolicy is plain data plus two pure decisions (should_retry, wait_for) and `run`, which hands
them to tenacity. It never sends or paces requests itself and never sleeps except through the
injected `sleep`, so tests run it on a FakeClock. Creating mutations (idempotent=False) are sent
again only when the first request certainly took no effect.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from saas_infra.errors import (
    CooldownError,
    NetworkError,
    ProblemProcessingError,
    RailwayError,
    RateLimitedError,
    TransientError,
)
from saas_infra.railway.operations import Operation

T = TypeVar("T")


@dataclass(frozen=True)
class RetryEvent:
    """Passed to `on_retry` before each wait: what failed, on which attempt, how long we wait."""

    operation: str
    attempt: int
    error: RailwayError
    wait: float


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_wait: float = 1.0  # first backoff; doubles per attempt up to max_wait
    max_wait: float = 60.0
    cooldown_wait: float = 30.0  # "Endpoint too recently updated" wants tens of seconds
    max_cooldown_wait: float = 240.0
    problem_processing_attempts: int = 3
    max_retry_after: float = 900.0  # a longer Retry-After fails now rather than hang a pass
    jitter: float = 0.1  # adds up to this fraction to computed backoffs (never to Retry-After)
    sleep: Callable[[float], None] | None = None  # None: the client's clock.sleep
    random: Callable[[], float] = field(default=random.random, repr=False)

    def should_retry(self, operation: Operation, error: BaseException, attempt: int) -> bool:
        """Whether the failure of attempt number `attempt` (1-based) deserves another try."""
        if not operation.retried or not isinstance(error, TransientError):
            return False
        if attempt >= self.max_attempts:
            return False
        if not operation.idempotent and not took_no_effect(error):
            return False  # it may have created something; the caller re-observes and adopts
        if isinstance(error, ProblemProcessingError):
            return attempt < self.problem_processing_attempts
        if error.retry_after is not None:
            return error.retry_after <= self.max_retry_after
        return True

    def wait_for(self, error: BaseException, attempt: int) -> float:
        """Seconds to wait after attempt number `attempt` failed with `error`."""
        if isinstance(error, TransientError) and error.retry_after is not None:
            return error.retry_after  # the server knows best: 429s, and 503s that say when
        if isinstance(error, CooldownError):
            return self._grow(self.cooldown_wait, attempt, self.max_cooldown_wait)
        return self._grow(self.base_wait, attempt, self.max_wait)

    def run(
        self,
        operation: Operation,
        attempt: Callable[[], T],
        *,
        sleep: Callable[[float], None],
        on_wait: Callable[[RetryEvent], None] | None = None,
    ) -> T:
        """Call `attempt` until it succeeds or should not be retried; the final error carries
        the number of attempts made."""
        count = 0

        def counted() -> T:
            nonlocal count
            count += 1
            return attempt()

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = _error_of(state)
            if on_wait is not None and isinstance(error, RailwayError):  # only those are retried
                wait = state.upcoming_sleep
                on_wait(RetryEvent(operation.name, state.attempt_number, error, wait))

        def retry(state: tenacity.RetryCallState) -> bool:
            error = _error_of(state)
            return error is not None and self.should_retry(operation, error, state.attempt_number)

        def wait(state: tenacity.RetryCallState) -> float:
            error = _error_of(state)
            return self.wait_for(error, state.attempt_number) if error is not None else 0.0

        retrying = tenacity.Retrying(
            retry=retry,
            wait=wait,
            stop=tenacity.stop_after_attempt(self.max_attempts),
            sleep=self.sleep or sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(counted)
        except RailwayError as error:
            error.attempts = count
            raise

    def _grow(self, first: float, attempt: int, cap: float) -> float:
        wait = min(first * 2 ** (attempt - 1), cap)
        return wait + wait * self.jitter * self.random()


def took_no_effect(error: BaseException) -> bool:
    """True when Railway certainly did not act on the request, so sending it again is safe."""
    if isinstance(error, (RateLimitedError, CooldownError)):
        return True
    return isinstance(error, NetworkError) and error.unsent


def _error_of(state: tenacity.RetryCallState) -> BaseException | None:
    """What the last attempt raised (tenacity records the outcome before it asks)."""
    return state.outcome.exception() if state.outcome is not None else None
