"""The saas-infra mark in a Railway project's description: ownership, deletion deadline, redeploys,
the record of what the last pass applied that Railway shows only per service, and the rollout
failure of the tenant's channel version that halts its rollout.

Railway projects have no labels, so the description carries `[saas-infra tenant=NAME ...]`.
One fleet listing therefore shows which projects are ours, their deletion state, and the
gateway's resource limits and the Postgres backup schedule as last applied (`limits=`,
`backups=`): comparing those costs no request per tenant. A mark without them (written by an
earlier version) reads as "unknown", which a pass answers with one write.

`failed=VERSION@TIME:HOW` records that a version failed the tenant's rollout health gate (HOW:
build_failed, crashed, unhealthy, timed_out): written by apply when the gate fails, before any
rollback, so the halt outlives Railway's deployment history, which the fleet listing shows
only the newest few of, and covers a deployment Railway calls SUCCESS whose health path
failed. VERSION is a commit's first 12 digits or an image digest's (`sha256:` and 12). Pure text
functions: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from saas_infra.clock import format_time, parse_time

# Every saas-infra mark in a description: `[saas-infra k=v …]` on a tenant's project, and
# `[saas-infra-control …]` (the fleet lock), `[saas-infra-doctor …]` (doctor --live),
# `[saas-infra-lock …]` (an earlier version's lock ticket).
MARKS = re.compile(r"\[saas-infra(?P<kind>-lock|-control|-doctor)?(?P<body>(?: [^\]]*)?)\]")
_PREFIX = "luthien-proxy tenant managed by saas-infra; edit its manifest, not this project."


# The gateway's resource limits: (vCPUs, memory GB), None for a field left to the plan.
Limits = tuple[float | None, float | None]
_NO_LIMIT = "plan"  # a limit not set: the plan's maximum
_NO_BACKUPS = "none"
_SHORT = 12  # digits of a commit or a digest that name a version in a failure record


@dataclass(frozen=True)
class FailureRecord:
    """A version that failed this tenant's rollout gate, when, and how (rollout.Failure's word)."""

    version: str  # version_key(version): compact, compared with version_key of the channel's
    at: datetime
    how: str

    def of(self, version: str) -> bool:
        return self.version == version_key(version)

    def render(self) -> str:
        return f"{self.version}@{format_time(self.at)}:{self.how}"


def version_key(version: str) -> str:
    """How a failure record names a version: a 40-hex commit's first 12 digits, an image by
    digest as `sha256:` and its first 12 digits, anything else as it is."""
    if len(version) == 40 and "/" not in version and ":" not in version:
        return version[:_SHORT]
    _, at, digest = version.rpartition("@")
    algorithm, colon, hexdigits = digest.partition(":")
    return f"{algorithm}:{hexdigits[:_SHORT]}" if at and colon else version


def failure_record(version: str, at: datetime, how: str) -> FailureRecord:
    """The record of a failure at `at`, to the next whole second: never before a resume that
    came first (a resume forgives only failures at or before its time)."""
    whole = at.replace(microsecond=0)
    return FailureRecord(version_key(version),
                         whole + timedelta(seconds=1) if whole != at else whole, how)


def _parse_failure(text: str | None) -> FailureRecord | None:
    """`VERSION@TIME:HOW`; None when absent or mangled (then nothing is recorded)."""
    if not text:
        return None
    rest, _, how = text.rpartition(":")
    version, _, at = rest.rpartition("@")
    if not (version and how.isidentifier()):
        return None
    try:
        return FailureRecord(version, parse_time(at), how)
    except ValueError:
        return None


@dataclass(frozen=True)
class Marker:
    tenant: str
    delete_after: datetime | None = None
    redeploy: str | None = None  # the manifest's redeploy.requested_at last honoured
    # What the last pass applied of the per-service settings; None: unknown (not recorded).
    limits: Limits | None = None  # serviceInstanceLimitsUpdate, as `limits=VCPUS/MEMORY_GB`
    backups: tuple[str, ...] | None = None  # schedule kinds, as `backups=daily+weekly`
    failed: FailureRecord | None = None  # the rollout gate's last failure on this tenant

    def render(self) -> str:
        parts = [f"tenant={self.tenant}"]
        if self.limits is not None:
            parts.append(f"limits={render_limits(self.limits)}")
        if self.backups is not None:
            parts.append(f"backups={'+'.join(self.backups) or _NO_BACKUPS}")
        if self.failed is not None:
            parts.append(f"failed={self.failed.render()}")
        if self.redeploy:
            parts.append(f"redeploy={self.redeploy}")
        if self.delete_after:  # last, as earlier versions wrote it
            parts.append(f"delete-after={format_time(self.delete_after)}")
        return f"{_PREFIX} [saas-infra {' '.join(parts)}]"


def render_limits(limits: Limits) -> str:
    """`2/4`, `2/plan`: vCPUs and memory in GB, `plan` for a limit left to the plan."""
    return "/".join(_NO_LIMIT if value is None else f"{value:g}" for value in limits)


def _parse_limits(text: str | None) -> Limits | None:
    if text is None:
        return None
    vcpus, slash, memory = text.partition("/")
    try:
        values = [None if v == _NO_LIMIT else float(v) for v in (vcpus, memory)]
    except ValueError:
        return None  # mangled by hand: unknown, so the next pass writes it again
    return (values[0], values[1]) if slash else None


def _parse_backups(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    if text == _NO_BACKUPS:
        return ()
    kinds = tuple(text.split("+"))
    return kinds if all(kinds) else None


def mark_items(body: str) -> list[tuple[str, str]]:
    """The key=value fields of a mark's body, in order; a word without "=" (`free`) is none."""
    return [(key, value) for key, _, value in
            (word.partition("=") for word in body.split() if "=" in word)]


def mark_fields(description: str | None, kind: str = "") -> dict[str, str] | None:
    """The fields of the first `[saas-infra<kind> …]` mark in a description (kind "" for a
    tenant's, "-control", "-doctor", "-lock"); None when there is none."""
    for match in MARKS.finditer(description or ""):
        if (match.group("kind") or "") == kind:
            return dict(mark_items(match.group("body")))
    return None


def parse_marker(description: str | None) -> Marker | None:
    """The marker in a description, or None when the project is not ours (or the mark is mangled)."""
    fields = mark_fields(description) or {}
    tenant = fields.get("tenant")
    if not tenant:
        return None
    try:
        deadline = parse_time(fields["delete-after"]) if "delete-after" in fields else None
    except ValueError:
        deadline = None
    return Marker(tenant=tenant, delete_after=deadline, redeploy=fields.get("redeploy"),
                  limits=_parse_limits(fields.get("limits")),
                  backups=_parse_backups(fields.get("backups")),
                  failed=_parse_failure(fields.get("failed")))
