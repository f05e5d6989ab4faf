"""Small words every format shares: plurals, durations, times, and the tenant statuses as a
person reads them. Decides nothing; the verbs' identifiers stay in the JSON.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from saas_infra.clock import format_time
from saas_infra.verbs import InstanceRow, TenantStatus

# How a person reads each status; JSON keeps the identifier (TenantStatus's value).
STATUS_WORDS = {
    TenantStatus.RUNNING: "running",
    TenantStatus.DEPLOYING: "deploying",
    TenantStatus.PROVISIONING: "provisioning",
    TenantStatus.AWAITING_APPROVAL: "awaiting approval",
    TenantStatus.FAILED: "failed",
    TenantStatus.REMOVED: "removed",
    TenantStatus.DELETION_SCHEDULED: "deletion scheduled",
    TenantStatus.DELETED: "deleted",
    TenantStatus.NOT_CREATED: "not created",
    TenantStatus.ORPHAN: "orphan",
    TenantStatus.DUPLICATE: "duplicate",
    TenantStatus.UNMANAGED: "unmanaged",
    TenantStatus.INVALID_MANIFEST: "invalid manifest",
    TenantStatus.UNKNOWN: "unknown",
}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """'1 update', '2 updates'; `many` for nouns that do not just take an s."""
    return f"{count} {noun}" if count == 1 else f"{count} {many or noun + 's'}"


def seconds(value: float) -> str:
    return f"{value:.0f} s"


def time(value: datetime | None) -> str | None:
    """RFC 3339 UTC, as every format shows a moment; None stays None."""
    return format_time(value) if value is not None else None


def time_left(left: timedelta) -> str:
    """'6d 23h left', '5h 12m left', 'due now'."""
    total = int(left.total_seconds())
    if total <= 0:
        return "due now"
    days, rest = divmod(total, 86400)
    hours = rest // 3600
    return f"{days}d {hours}h left" if days else f"{hours}h {rest % 3600 // 60}m left"


def status_word(row: InstanceRow) -> str:
    """The status alone, without its details: 'running', 'deletion scheduled'."""
    if row.status is TenantStatus.UNKNOWN and row.deployment_status:
        return row.deployment_status.lower()
    return STATUS_WORDS[row.status]


def status_text(row: InstanceRow) -> str:
    """The status with its details, as `list` and `status` show it:
    'running (asleep)', 'deletion scheduled (6d 23h left)', 'deleted (Railway can restore it
    until ...)'."""
    word = status_word(row)
    if row.status is TenantStatus.RUNNING and row.asleep:
        return f"{word} (asleep)"
    if row.status is TenantStatus.DELETION_SCHEDULED and row.time_left is not None:
        return f"{word} ({time_left(row.time_left)})"
    if row.status is TenantStatus.DELETED and row.restorable_until is not None:
        return f"{word} (Railway can restore it until {format_time(row.restorable_until)})"
    return word
