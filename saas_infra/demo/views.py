"""The demo's HTML: Jinja2 templates (templates/) rendered with Starlette's Jinja2Templates,
and the small helpers they use. Autoescaping is on: every string a template shows is escaped,
and a link is kept only when it is http(s).

Pure functions from the verbs' typed results to HTML; nothing here calls Railway or decides
anything about the fleet. The plan's lines come from saas_infra.render, as on the terminal.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape
from starlette.templating import Jinja2Templates

from saas_infra import render
from saas_infra.errors import SaasInfraError
from saas_infra.manifest import LoadedManifest, check_name
from saas_infra.plan import Plan
from saas_infra.render import rollout as rollout_render
from saas_infra.render import text, words
from saas_infra.rollout import ChannelRollout, describe_failure, short
from saas_infra.tenancy import IN_PROGRESS
from saas_infra.verbs import InstanceRow, TenantDetail, TenantStatus

TEMPLATES = Path(__file__).parent / "templates"
# Badge colour of each status; anything else is muted.
STATUS_CLASSES = {
    TenantStatus.RUNNING: "ok", TenantStatus.DEPLOYING: "busy", TenantStatus.PROVISIONING: "busy",
    TenantStatus.FAILED: "bad", TenantStatus.DUPLICATE: "bad",
    TenantStatus.DELETION_SCHEDULED: "warn", TenantStatus.ORPHAN: "warn",
    TenantStatus.AWAITING_APPROVAL: "warn",
}
DEPLOYMENT_CLASSES = {"SUCCESS": "ok", "SLEEPING": "ok", "FAILED": "bad", "CRASHED": "bad",
                      "NEEDS_APPROVAL": "warn"}
ROLLOUT_STATES = ("old", "in_progress", "healthy", "failed")  # the panel's columns, in order
ROLLOUT_NAMES_SHOWN = 6  # per cell; a 500-tenant wave is a count and the first names
COLUMNS = ("Tenant", "Desired (manifest)", "Actual (Railway)", "Status", "Gateway",
           "Created (UTC)", "Deletion", "")


def templates() -> Jinja2Templates:
    """The demo's templates, with the helpers below as filters and globals."""
    found = Jinja2Templates(directory=TEMPLATES)
    env = found.env
    env.trim_blocks = env.lstrip_blocks = True
    env.filters.update(breakable=breakable, short_image=short_image, short_time=short_time,
                       time_left=time_left, http=http_only, host=gateway_host,
                       style_classes=style_classes)
    env.globals.update(COLUMNS=COLUMNS, ROLLOUT_STATES=ROLLOUT_STATES,
                       ROLLOUT_NAMES_SHOWN=ROLLOUT_NAMES_SHOWN, status_word=words.status_word,
                       status_class=status_class,
                       deployment_class=deployment_class, is_tenant_name=is_tenant_name,
                       health_detail=text.health_detail, limits_text=text.limits_text,
                       backups_text=text.backups_text)
    return found


def fleet_context(rows: list[InstanceRow], plan: Plan, *, now: datetime, busy: set[str],
                  sandbox: bool = False, rollouts: list[ChannelRollout] | None = None
                  ) -> dict[str, Any]:
    """What fleet.html shows: each row with its pending changes, the channels' rollouts
    (rollouts.html), and the plan's lines."""
    tenants = [{"row": row, "pending": plan.for_tenant(row.name) if row.source else [],
                "working": row.name in busy,
                "openable": row.managed and is_tenant_name(row.name)} for row in rows]
    return {"tenants": tenants, "now": now, "sandbox": sandbox,
            "rollouts": rollout_context(rollouts or []),
            "plan_lines": render.plan_text(plan, show_unmanaged=True)}


def rollout_context(rollouts: list[ChannelRollout]) -> list[dict[str, Any]]:
    """What rollouts.html shows of each channel: the JSON of `rollout status` (to_dict), with
    the words and colours a person reads (the channel's state, each failure described)."""
    shown = rollout_render.status_data(rollouts)["channels"]
    return [{**data, "short": short(rollout.version), "state": rollout_state(rollout),
             "failures": {t.name: describe_failure(t) for t in rollout.failed}}
            for data, rollout in zip(shown, rollouts, strict=True)]


def rollout_state(rollout: ChannelRollout) -> tuple[str, str]:
    """(word, badge class) of a channel's rollout, the worst news first."""
    if rollout.halted:
        return "halted", "bad"
    if rollout.done:
        return "done", "ok"
    if rollout.soak_remaining is not None:
        minutes = max(1, math.ceil(rollout.soak_remaining.total_seconds() / 60))
        return f"soaking, {minutes} min left", "busy"
    if rollout.next_wave is not None:
        return f"wave {rollout.next_wave + 1} starts on the next pass", "warn"
    return "deploying", "busy"


def detail_context(detail: TenantDetail, loaded: LoadedManifest | None) -> dict[str, Any]:
    return {"detail": detail, "row": detail.row, "loaded": loaded,
            "spec": loaded.manifest if loaded else None}


def problem_context(exc: SaasInfraError, what: str) -> dict[str, Any]:
    return {"what": what, "message": str(exc), "hint": getattr(exc, "hint", None)}


# --- small pieces -----------------------------------------------------------------------------


def status_class(row: InstanceRow) -> str:
    return STATUS_CLASSES.get(row.status, "muted")


def deployment_class(status: str) -> str:
    return "busy" if status in IN_PROGRESS else DEPLOYMENT_CLASSES.get(status, "muted")


def http_only(url: str | None) -> str | None:
    """The URL when it is http(s), else None: only such links are ever shown."""
    return url if url and urlsplit(url).scheme in ("http", "https") else None


def gateway_host(url: str | None) -> str:
    return (urlsplit(url or "").hostname or "").removesuffix(".up.railway.app")


def is_tenant_name(name: str) -> bool:
    try:
        check_name(name)
    except ValueError:
        return False
    return True


def time_left(deadline: datetime, now: datetime) -> str:
    seconds = int((deadline - now).total_seconds())
    if seconds <= 0:
        return "due now"
    left = timedelta(seconds=seconds)
    days, hours, minutes = left.days, left.seconds // 3600, left.seconds % 3600 // 60
    return f"in {days}d {hours}h" if days else f"in {hours}h {minutes}m"


def short_image(image: str) -> str:
    """A digest is 64 hex digits; 12 tell images apart on a screen (the title has them all)."""
    name, at, digest = image.partition("@sha256:")
    return f"{name}@sha256:{digest[:12]}…" if at and len(digest) > 12 else image


def breakable(text: str) -> Markup:
    """Text that may wrap after a / or @ (as paths and image names read), not mid-word."""
    parts = re.split(r"(?<=[/@])", text)
    return Markup("<wbr>").join(escape(part) for part in parts)


def short_time(value: datetime | None, *, zone: bool = True) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M" + (" UTC" if zone else "")) if value else None


def style_classes(style: str | None) -> str:
    return " ".join(f"c-{word}" for word in (style or "").split()) or "c-plain"
