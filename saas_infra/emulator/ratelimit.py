"""Per-token request budgets: a per-second and a per-hour window on the emulator's clock.

Windows are fixed and aligned to the epoch (second, hour), like Railway's documented
X-RateLimit-Reset ("the time at which the current window ends"). Not thread-safe on its own:
the emulator calls it under its lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_PLAN_LIMITS = {"FREE": (10, 100), "HOBBY": (10, 1_000), "PRO": (50, 10_000)}


@dataclass(frozen=True)
class RateLimits:
    per_second: int = 50
    per_hour: int = 10_000

    @classmethod
    def for_plan(cls, plan: str) -> RateLimits:
        per_second, per_hour = _PLAN_LIMITS.get(plan.upper(), _PLAN_LIMITS["PRO"])
        return cls(per_second=per_second, per_hour=per_hour)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int  # the hourly budget (what X-RateLimit-Limit reports)
    remaining: int
    reset: int  # epoch seconds at which the hourly window ends
    retry_after: int = 0  # whole seconds, only when refused

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


class RateLimiter:
    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        # key -> [second window start, count in it, hour window start, count in it]
        self._buckets: dict[str, list[int]] = {}

    def take(self, key: str, now: float) -> Verdict:
        """Spend one request of `key`'s budget, or refuse without spending anything."""
        second, hour = int(now), int(now // 3600) * 3600
        bucket = self._buckets.setdefault(key, [second, 0, hour, 0])
        if bucket[0] != second:
            bucket[0], bucket[1] = second, 0
        if bucket[2] != hour:
            bucket[2], bucket[3] = hour, 0
        limit, reset = self.limits.per_hour, hour + 3600
        if bucket[3] >= limit:
            return Verdict(False, limit, 0, reset, _seconds_until(reset, now))
        if bucket[1] >= self.limits.per_second:
            return Verdict(False, limit, limit - bucket[3], reset, _seconds_until(second + 1, now))
        bucket[1] += 1
        bucket[3] += 1
        return Verdict(True, limit, limit - bucket[3], reset)

    def peek(self, key: str, now: float) -> tuple[int, int]:
        """(remaining this hour, epoch end of the hour) without spending anything."""
        hour = int(now // 3600) * 3600
        bucket = self._buckets.get(key)
        used = bucket[3] if bucket and bucket[2] == hour else 0
        return self.limits.per_hour - used, hour + 3600


def _seconds_until(moment: float, now: float) -> int:
    return max(1, math.ceil(moment - now))
