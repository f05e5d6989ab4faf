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

_MARK = re.compile(r"\[saas-infra (?P<body>[^\]]*)\]")
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


def parse_marker(description: str | None) -> Marker | None:
    """The marker in a description, or None when the project is not ours (or the mark is mangled)."""
    match = _MARK.search(description or "")
    if not match:
        return None
    fields = dict(
        item.split("=", 1) for item in match.group("body").split() if "=" in item
    )
    tenant = fields.get("tenant")
    if not tenant:
        return None
    try:
        deadline = parse_time(fields["delete-after"]) if "delete-after" in fields else None
    except ValueError:
        deadline = None
    return Marker(tenant=tenant, delete_after=deadline, redeploy=fields.get("redeploy"))
