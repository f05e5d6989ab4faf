"""The saas-infra mark in a Railway project's description: ownership, deletion deadline, redeploys.

Railway projects have no labels, so the description carries `[saas-infra tenant=NAME ...]`.
One fleet listing therefore shows which projects are ours and their deletion state. Pure text
functions: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from saas_infra.clock import format_time, parse_time

# Every saas-infra mark in a description: `[saas-infra k=v …]` on a tenant's project, and
# `[saas-infra-control …]` (the fleet lock), `[saas-infra-doctor …]` (doctor --live),
# `[saas-infra-lock …]` (an earlier version's lock ticket).
MARKS = re.compile(r"\[saas-infra(?P<kind>-lock|-control|-doctor)?(?P<body>(?: [^\]]*)?)\]")
_PREFIX = "luthien-proxy tenant managed by saas-infra; edit its manifest, not this project."


@dataclass(frozen=True)
class Marker:
    tenant: str
    delete_after: datetime | None = None
    redeploy: str | None = None  # the manifest's redeploy.requested_at last honoured

    def render(self) -> str:
        parts = [f"tenant={self.tenant}"]
        if self.redeploy:
            parts.append(f"redeploy={self.redeploy}")
        if self.delete_after:
            parts.append(f"delete-after={format_time(self.delete_after)}")
        return f"{_PREFIX} [saas-infra {' '.join(parts)}]"


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
    return Marker(tenant=tenant, delete_after=deadline, redeploy=fields.get("redeploy"))
