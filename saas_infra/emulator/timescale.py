"""Emulated time running faster than real time, for runs against the emulator only (chaos and
load scripts, the gitops tests): every wait is `rate` times shorter. The product never builds
one: test and emulator entry points do (tests/scaled_cli.py runs the CLI on it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

from saas_infra.clock import Clock, SystemClock

TIME_SCALE = "SAAS_INFRA_TIME_SCALE"
TIME_ORIGIN = "SAAS_INFRA_TIME_ORIGIN"


class ScaledClock:
    """The real clock running `rate` times faster, for runs against the emulator only (chaos and
    load scripts): every wait is `rate` times shorter. Processes given the same `origin` (epoch
    seconds) agree on now(), so an emulator and the CLI runs it serves share one timeline."""

    def __init__(self, rate: float, origin: float | None = None) -> None:
        if not rate > 0:
            raise ValueError(f"a time scale must be a positive number, got {rate!r}")
        self.rate = rate
        self.origin = time.time() if origin is None else origin

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.origin + (time.time() - self.origin) * self.rate, UTC)

    def monotonic(self) -> float:
        return time.monotonic() * self.rate

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.rate)


def clock_from_env(env: Mapping[str, str]) -> Clock:
    """SAAS_INFRA_TIME_SCALE=N (and SAAS_INFRA_TIME_ORIGIN=epoch) gives a ScaledClock; else real."""
    rate = env.get(TIME_SCALE)
    if not rate:
        return SystemClock()
    origin = env.get(TIME_ORIGIN)
    return ScaledClock(float(rate), float(origin) if origin else None)
