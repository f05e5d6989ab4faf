"""Time as a dependency: the real clock, and a fake one whose sleep only moves time forward.

Everything that waits (retries, pacing, deployment polling, the emulator's life cycles) takes a
Clock, so tests run through hours of Railway time without sleeping. No I/O here.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...  # aware UTC wall time
    def monotonic(self) -> float: ...  # seconds, for intervals
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that only moves when told to (or when someone sleeps on it). Thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self.slept = 0.0  # total seconds asked for through sleep()

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._elapsed += seconds
                self.slept += seconds

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        """Move time forward: advance(5) or advance(days=7)."""
        total = seconds + timedelta(**delta).total_seconds()
        with self._lock:
            self._elapsed += total


def parse_time(text: str) -> datetime:
    """RFC 3339 / ISO 8601 to an aware UTC datetime ('Z' accepted; naive means UTC)."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """Aware datetime to RFC 3339 UTC with a 'Z' and whole seconds... or milliseconds when present."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
