"""Client-side pacing: keep every thread of one process under Railway's rate limits together.

A Pacer spaces requests (a minimum interval for the per-second limit, a sliding one-hour log for
the hourly budget), follows the X-RateLimit-* headers of every answer, and holds all threads when
Railway says the shared budget is spent. It only waits on the injected clock; it never sends,
retries or raises Railway errors.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from saas_infra.clock import Clock, SystemClock, parse_time
from saas_infra.errors import ConfigError

log = logging.getLogger(__name__)

HOUR = 3600.0

# Railway's documented limits per plan (requests per second, requests per hour). Free has no
# documented per-second limit; Hobby's is the safe guess.
PLAN_LIMITS: dict[str, tuple[float, int]] = {
    "FREE": (10, 100),
    "HOBBY": (10, 1_000),
    "PRO": (50, 10_000),
}


class Pacer:
    """Thread-safe. `acquire()` before each request (retries included), `observe()` after."""

    def __init__(
        self,
        per_second: float | None = 10,
        per_hour: int | None = 1_000,
        *,
        clock: Clock | None = None,
    ) -> None:
        if per_second is not None and per_second <= 0 or per_hour is not None and per_hour <= 0:
            raise ConfigError("pacing limits must be positive (or None for no limit)")
        self.per_second = per_second
        self.per_hour = per_hour
        self.clock: Clock = clock or SystemClock()
        self._interval = 1.0 / per_second if per_second else 0.0
        self._lock = threading.Lock()
        self._last: float | None = None  # monotonic time of the latest reserved slot
        self._hour: deque[float] = deque()  # reserved slots within the last hour
        self._hold_until = float("-inf")  # no request before this (server said so)

    @classmethod
    def for_plan(cls, plan: str, *, clock: Clock | None = None) -> Pacer:
        """The documented limits of a Railway plan: "FREE", "HOBBY" or "PRO"."""
        try:
            per_second, per_hour = PLAN_LIMITS[plan.strip().upper()]
        except KeyError:
            choices = ", ".join(PLAN_LIMITS)
            raise ConfigError(f"unknown Railway plan {plan!r}; expected one of {choices}") from None
        return cls(per_second, per_hour, clock=clock)

    @classmethod
    def unlimited(cls, *, clock: Clock | None = None) -> Pacer:
        """No client-side limits; server holds (429, Remaining 0) are still honoured."""
        return cls(None, None, clock=clock)

    def __repr__(self) -> str:
        return f"Pacer(per_second={self.per_second}, per_hour={self.per_hour})"

    def acquire(self) -> float:
        """Wait for this thread's turn; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock.monotonic()
                slot = self._next_slot(now)
                self._reserve(slot)
            if slot > now:
                self.clock.sleep(slot - now)
                waited += slot - now
            with self._lock:
                # A hold that arrived while we slept (another thread's 429) outranks our slot.
                if self._hold_until <= max(slot, self.clock.monotonic()):
                    return waited

    def observe(self, headers: Mapping[str, str]) -> None:
        """Follow X-RateLimit-Remaining/Reset: when nothing remains, hold until the reset."""
        remaining = _int_or_none(headers.get("x-ratelimit-remaining"))
        if remaining is None or remaining > 0:
            return
        seconds = self._seconds_until(headers.get("x-ratelimit-reset"))
        if seconds is not None and seconds > 0:
            self.hold_all(seconds, reason="Railway's request budget is spent (Remaining: 0)")

    def hold_all(self, seconds: float, *, reason: str = "Railway asked to wait") -> None:
        """No thread sends for `seconds` from now: the budget is shared by the whole token."""
        with self._lock:
            until = self.clock.monotonic() + seconds
            if until <= self._hold_until:
                return
            self._hold_until = until
        if seconds >= 30:  # a long silent stall looks like a hang; say why
            log.warning("%s; pausing all requests for %.0f s", reason, seconds)

    def _next_slot(self, now: float) -> float:
        slot = max(now, self._hold_until)
        if self._last is not None:
            slot = max(slot, self._last + self._interval)
        if self.per_hour:
            while self._hour and self._hour[0] <= slot - HOUR:
                self._hour.popleft()
            if len(self._hour) >= self.per_hour:
                slot = max(slot, self._hour[-self.per_hour] + HOUR)
        return slot

    def _reserve(self, slot: float) -> None:
        self._last = slot if self._last is None else max(self._last, slot)
        if self.per_hour:
            self._hour.append(slot)

    def _seconds_until(self, reset: str | None) -> float | None:
        """X-RateLimit-Reset's format is undocumented: accept epoch s/ms, a delay, or a date."""
        if not reset:
            return None
        now = self.clock.now()
        number = _float_or_none(reset)
        if number is None:
            when = _date_or_none(reset)
            seconds = None if when is None else (when - now).total_seconds()
        elif number > 1e11:
            seconds = number / 1000 - now.timestamp()
        elif number > 1e8:
            seconds = number - now.timestamp()
        else:
            seconds = number
        # A window lasts at most an hour; more is a misread header, not a reason to stall.
        return None if seconds is None else min(max(seconds, 0.0), HOUR)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None


def _float_or_none(value: str) -> float | None:
    try:
        return float(value.strip())
    except ValueError:
        return None


def _date_or_none(value: str) -> datetime | None:
    try:
        return parse_time(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else None
