"""The demo's HTML: the page, the fleet fragment (tenants and plan) and one tenant's detail.

Pure functions from the operator's plain results to Markup: every string passes through
markup.escape and a link is kept only when it is http(s). Nothing here calls Railway or decides
anything about the fleet; the plan's text comes from saas_infra.render, as on the terminal.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

from saas_infra import render
from saas_infra.clock import parse_time
from saas_infra.errors import SaasInfraError
from saas_infra.manifest import LoadedManifest, check_name
from saas_infra.plan import Plan
from saas_infra.tenancy import IN_PROGRESS

from .markup import Markup, concat, escape, tag

# Badge colour by the start of the operator's status text; anything else is muted.
STATUS_CLASSES = (
    ("running", "ok"), ("deploying", "busy"), ("provisioning", "busy"), ("failed", "bad"),
    ("duplicate", "bad"), ("deletion", "warn"), ("orphan", "warn"), ("awaiting", "warn"),
)
DEPLOYMENT_CLASSES = {"SUCCESS": "ok", "SLEEPING": "ok", "FAILED": "bad", "CRASHED": "bad",
                      "NEEDS_APPROVAL": "warn"}
COLUMNS = ("Tenant", "Desired (manifest)", "Actual (Railway)", "Status", "Gateway",
           "Created (UTC)", "Deletion", "")
NOTE = ("A demo tool, not a production service: it listens on this machine only, asks for the "
        "token it printed at start, and runs every action through the same manifest edit and "
        "reconcile pass as the saas-infra command line.")


# --- the page ---------------------------------------------------------------------------------


def page(*, csrf: str, mode: str, fleet_html: Markup, refresh_ms: tuple[int, int]) -> Markup:
    head = tag(
        "head",
        tag("meta", charset="utf-8"),
        tag("meta", name="viewport", content="width=device-width, initial-scale=1"),
        tag("meta", name="csrf-token", content=csrf),
        tag("title", "saas-infra demo"),
        tag("link", rel="icon", href="/static/favicon.svg", type="image/svg+xml"),
        tag("link", rel="stylesheet", href="/static/demo.css"),
        tag("script", src="/static/app.js", defer=True),
    )
    body = tag(
        "body",
        _header(mode),
        tag("main", tag("div", _create_form(), _operations(), class_="top"),
            _fleet_section(fleet_html)),
        _delete_dialog(),
        data_refresh_idle=refresh_ms[0],
        data_refresh_busy=refresh_ms[1],
    )
    return concat(Markup("<!doctype html>\n"), tag("html", head, body, lang="en"))


def _header(mode: str) -> Markup:
    brand = tag("div", tag("h1", "saas-infra"), tag("span", "demo", class_="pill"), class_="brand")
    return concat(tag("header", brand, tag("p", mode, class_="mode")),
                  tag("p", NOTE, class_="note"))


def _create_form() -> Markup:
    source = tag(
        "fieldset",
        tag("legend", "Gateway source"),
        tag("label", tag("input", type="radio", name="source", value="repo", checked=True),
            " GitHub repo"),
        tag("label", tag("input", type="radio", name="source", value="image"), " Pinned image"),
        class_="source",
    )
    form = tag(
        "form",
        _field("Name", name="name", required=True, maxlength=63, placeholder="acme-corp"),
        source,
        tag("div", _field("Repo", name="repo", placeholder="LuthienResearch/luthien-proxy"),
            _field("Branch", name="branch", placeholder="main"),
            class_="row", data_source="repo"),
        tag("div", _field("Image", name="image", placeholder="ghcr.io/org/image@sha256:…"),
            class_="row", data_source="image", hidden=True),
        tag("button", "Create", type="submit"),
        id="create-form", autocomplete="off",
    )
    hint = tag("p", "Writes tenants/NAME.yaml, then runs a reconcile pass for it and waits for "
               "the gateway, like saas-infra create.", class_="hint")
    return tag("section", tag("h2", "Create a tenant"), form, hint, class_="card", id="create")


def _field(label: str, **attrs) -> Markup:
    """A labelled input with the place its error is shown (the page fills it on a refusal)."""
    error = f"error-{attrs['name']}"
    return tag("label", tag("span", label),
               tag("input", type="text", spellcheck="false", aria_describedby=error, **attrs),
               tag("small", id=error, class_="field-error", role="alert", hidden=True))


def _operations() -> Markup:
    return tag(
        "section",
        tag("h2", "Operations"),
        tag("div", id="flash", class_="flash", role="alert", hidden=True),
        tag("div", id="keys"),
        tag("ol", tag("li", "No operations yet.", class_="empty"), id="jobs", class_="jobs"),
        class_="card", id="operations",
    )


def _fleet_section(fleet_html: Markup) -> Markup:
    head = tag("div", tag("h2", "Tenants"), tag("span", id="updated", class_="muted"),
               tag("button", "Refresh", type="button", data_action="refresh",
                   class_="secondary"), class_="section-head")
    return tag("section", head, tag("div", fleet_html, id="fleet"), class_="card", id="tenants")


def _delete_dialog() -> Markup:
    schedule = tag(
        "div",
        tag("h4", "Schedule the deletion"),
        tag("p", "The tenant keeps running for the grace period; the scheduled pass then deletes "
            "it. Cancel any time before the deadline.", class_="hint"),
        tag("label", tag("span", "Grace period (days)"),
            tag("input", type="number", id="grace-days", min=1, max=365, value=7)),
        tag("button", "Schedule deletion", type="button", data_dialog="schedule"),
        class_="choice",
    )
    force = tag(
        "div",
        tag("h4", "Delete now"),
        tag("p", "Permanent: the project, its databases and its keys go now. Type the tenant's "
            "name to confirm.", class_="hint"),
        tag("label", tag("span", "Tenant name"),
            tag("input", type="text", id="confirm-name", autocomplete="off", spellcheck="false")),
        tag("button", "Delete now", type="button", data_dialog="force", class_="danger",
            disabled=True),
        class_="choice danger-zone",
    )
    return tag(
        "dialog",
        tag("h3", "Delete ", tag("span", id="delete-name")),
        schedule, force,
        tag("div", tag("button", "Cancel", type="button", data_dialog="close",
                       class_="secondary"), class_="dialog-foot"),
        id="delete-dialog",
    )


# --- the fleet fragment -----------------------------------------------------------------------


def fleet(rows: list[dict], plan: Plan, *, now: datetime, busy: set[str],
          sandbox: bool = False) -> Markup:
    return concat(tenants_table(rows, plan, now=now, busy=busy, sandbox=sandbox),
                  plan_block(plan))


def tenants_table(rows: list[dict], plan: Plan, *, now: datetime, busy: set[str],
                  sandbox: bool = False) -> Markup:
    if not rows:
        return tag("p", "No tenants yet: create one above, or add a manifest to tenants/.",
                   class_="empty")
    head = tag("thead", tag("tr", [tag("th", column) for column in COLUMNS]))
    table = tag("table", head,
                [_tenant(row, now, plan, row["name"] in busy, sandbox) for row in rows],
                class_="tenants")
    return tag("div", table, class_="table-scroll")


def _tenant(row: dict, now: datetime, plan: Plan, working: bool, sandbox: bool) -> Markup:
    name = row["name"]
    openable = row["managed"] and is_tenant_name(name)
    status = row["status"].partition(" (")[0]  # the countdown has its own column
    contents = [
        _name_cell(name, openable),
        _desired(row),
        _actual(row, sandbox),
        tag("div", badge(status, status_class(status)), _pending_badge(row, plan),
            tag("span", "working…", class_="badge busy") if working else None, class_="badges"),
        _gateway(row["url"], sandbox),
        short_time(row["created_at"], zone=False) or _none(),
        _deletion(row, now),
        _actions(row, plan, working),
    ]
    classes = ("name", None, None, None, "gateway", None, "deletion", "actions")
    # data-label heads each cell where a narrow screen shows a tenant as a card, not a row
    cells = [tag("td", tag("div", content, class_="cell"), class_=css, data_label=label or None)
             for content, css, label in zip(contents, classes, COLUMNS)]
    main = tag("tr", cells, class_="row", data_openable="true" if openable else None)
    detail = tag("tr", tag("td", tag("div", "Loading…", class_="detail-body"),
                           colspan=len(COLUMNS)), class_="detail", hidden=True)
    return tag("tbody", main, detail if openable else None, data_tenant=name)


def _name_cell(name: str, openable: bool) -> Markup:
    if not openable:
        return tag("span", name)
    return tag("button", tag("span", "▸", class_="caret"), name, type="button",
               class_="toggle", data_action="toggle", data_name=name, aria_expanded="false")


def _desired(row: dict) -> Markup:
    source = row["source"]
    if source is None:
        what = "no manifest (orphan)" if row["managed"] else "not managed by saas-infra"
        return tag("em", what, class_="muted")
    if "image" in source:
        return tag("code", breakable(short_image(source["image"])), title=source["image"])
    return tag("code", breakable(f"{source['repo']}@{source['branch']}"), title="repo@branch")


def _gateway(url: str | None, sandbox: bool) -> Markup:
    host = (urlsplit(url or "").hostname or "").removesuffix(".up.railway.app")
    if url and sandbox:
        return not_real(host, f"{url} exists only in the sandbox's emulator, not on the internet")
    return link(url, host + " ↗", title=url) or _none()


def not_real(text: str, why: str) -> Markup:
    """Where a link would lead nowhere (the sandbox's Railway pages): the text, marked as such."""
    return tag("span", text, " ", tag("small", "sandbox: not real"), class_="not-real", title=why)


def _pending_badge(row: dict, plan: Plan) -> Markup | None:
    """A tenant whose manifest asks for more than Railway has: the status alone would hide it."""
    pending = plan.for_tenant(row["name"]) if row["source"] is not None else []
    if not pending or row["status"] == "not created":
        return None
    kinds = "; ".join(f"{a.kind.value}: {a.reason}" for a in pending)
    return tag("span", "pending changes", class_="badge pending", title=kinds)


def short_image(image: str) -> str:
    """A digest is 64 hex digits; 12 tell images apart on a screen (the title has them all)."""
    name, at, digest = image.partition("@sha256:")
    return f"{name}@sha256:{digest[:12]}…" if at and len(digest) > 12 else image


def _actual(row: dict, sandbox: bool) -> Markup:
    project = row["project_id"]
    if not project:
        return tag("em", "no project", class_="muted")
    console = (not_real("console", "the sandbox's projects live only in the local emulator; "
                        "railway.com has no page for them") if sandbox else
               link(row["console_url"], "console ↗", class_="console"))
    return concat(tag("code", project[:8], title=project), " ", console)


def _deletion(row: dict, now: datetime) -> Markup:
    deadline = row["deletion_deadline"]
    if deadline:
        return tag("div", tag("strong", time_left(parse_time(deadline), now)),
                   tag("small", short_time(deadline)), class_="countdown")
    if row["deletion_scheduled_at"]:
        return tag("span", "requested", class_="muted")
    return _none()


def _actions(row: dict, plan: Plan, working: bool) -> Markup:
    if row["source"] is None:  # orphans and unmanaged projects are never changed from here
        return Markup("")
    if working:
        return tag("span", "operation running", class_="muted")
    name = row["name"]
    buttons = []
    pending = plan.for_tenant(name)
    if pending and not any(a.kind.destructive for a in pending):
        buttons.append(_button("Apply", "apply", name, "primary"))
    if row["project_id"]:
        buttons.append(_button("Redeploy", "redeploy", name, "secondary"))
    if row["deletion_scheduled_at"]:
        buttons.append(_button("Cancel deletion", "cancel-delete", name, "secondary"))
    buttons.append(_button("Delete…", "delete", name, "danger"))
    return tag("div", buttons, class_="buttons")


def _button(text: str, action: str, name: str, css: str) -> Markup:
    return tag("button", text, type="button", class_=css, data_action=action, data_name=name)


def plan_block(plan: Plan) -> Markup:
    lines = render.plan_text(plan, show_unmanaged=True)
    return tag(
        "section",
        tag("h2", "Plan"),
        tag("p", "What a full reconcile pass (saas-infra apply) would do now. The buttons run it "
            "for one tenant; the rest waits for the scheduled pass.", class_="hint"),
        tag("pre", [tag("span", text, class_=_style_classes(style)) for text, style in lines]),
        class_="plan",
    )


def _style_classes(style: str | None) -> str:
    return " ".join(f"c-{word}" for word in (style or "").split()) or "c-plain"


# --- one tenant -------------------------------------------------------------------------------


def detail(data: dict, loaded: LoadedManifest | None) -> Markup:
    return tag("div", _desired_detail(data["name"], loaded), _actual_detail(data),
               class_="detail-grid")


def _desired_detail(name: str, loaded: LoadedManifest | None) -> Markup:
    if loaded is None:
        return tag("div", tag("h4", "Desired"),
                   tag("p", f"No manifest: saas-infra never changes this project. "
                       f"`saas-infra adopt {name}` writes one.", class_="hint"))
    spec = loaded.manifest
    gateway = spec.gateway
    source = gateway.image or f"{gateway.repo}@{gateway.branch or 'main'}"
    items = [("Source", tag("code", source)), ("AUTH_MODE", tag("code", gateway.auth_mode))]
    items += [(key, tag("code", value)) for key, value in sorted(gateway.variables.items())]
    if spec.redeploy:
        items.append(("Redeploy", f"requested {short_time_of(spec.redeploy.requested_at)}"))
    if spec.deletion:
        deletion = spec.deletion
        when = "now (force)" if deletion.force else short_time_of(deletion.deadline)
        items.append(("Deletion", f"requested {short_time_of(deletion.requested_at)}, "
                                  f"due {when}"))
    rows = [concat(tag("dt", key), tag("dd", value)) for key, value in items]
    return tag("div", tag("h4", "Desired ", tag("small", loaded.path.name)), tag("dl", rows))


def _actual_detail(data: dict) -> Markup:
    services = tag(
        "table",
        tag("thead", tag("tr", tag("th", "Service"), tag("th", "Deployment"),
                         tag("th", "Source"))),
        tag("tbody", [_service(service) for service in data["services"]]),
        class_="services",
    ) if data["services"] else tag("p", "No project on Railway.", class_="hint")
    return tag("div", tag("h4", "Actual ", tag("small", "Railway")), services,
               _health(data.get("health")), _pending(data["pending"]))


def _service(service: dict) -> Markup:
    status = service["deployment_status"]
    state = badge(status, deployment_class(status)) if status else tag("em", "none")
    deployment = service["deployment_id"]
    return tag("tr", tag("td", service["name"]),
               tag("td", state, " ", tag("code", deployment[:8], title=deployment)
                   if deployment else None),
               tag("td", tag("code", service["source"]) if service["source"] else _none()))


def _health(health: dict | None) -> Markup | None:
    if health is None:
        return None
    state = badge("healthy" if health["ok"] else "failing", "ok" if health["ok"] else "bad")
    return tag("p", "Gateway /health: ", state, " ", tag("small", health["detail"]))


def _pending(pending: list[dict]) -> Markup:
    if not pending:
        return tag("p", "Converged: Railway matches the manifest.", class_="hint")
    items = [tag("li", tag("strong", p["kind"]), ": ", p["reason"]) for p in pending]
    return concat(tag("p", "Pending (the next pass does this):", class_="hint"), tag("ul", items))


def problem(exc: SaasInfraError, what: str = "Cannot read the fleet") -> Markup:
    hint = tag("p", f"Hint: {exc.hint}") if getattr(exc, "hint", None) else None
    return tag("div", tag("strong", f"{what}:"), tag("pre", str(exc)), hint, class_="problem")


# --- small pieces -----------------------------------------------------------------------------


def badge(text: str, css: str) -> Markup:
    return tag("span", text, class_=f"badge {css}")


def status_class(status: str) -> str:
    return next((css for prefix, css in STATUS_CLASSES if status.startswith(prefix)), "muted")


def deployment_class(status: str) -> str:
    return "busy" if status in IN_PROGRESS else DEPLOYMENT_CLASSES.get(status, "muted")


def link(url: str | None, text: str, **attrs) -> Markup | None:
    """An external link, opened without a referrer; None unless the URL is http(s)."""
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return None
    return tag("a", text, href=url, target="_blank", rel="noopener noreferrer", **attrs)


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
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    return f"in {days}d {hours}h" if days else f"in {hours}h {minutes}m"


def breakable(text: str) -> Markup:
    """Text that may wrap after a / or @ (as paths and image names read), not mid-word."""
    parts = re.split(r"(?<=[/@])", text)
    return Markup("<wbr>".join(escape(part) for part in parts))


def short_time(text: str | None, *, zone: bool = True) -> str | None:
    return short_time_of(parse_time(text), zone=zone) if text else None


def short_time_of(value: datetime, *, zone: bool = True) -> str:
    return value.strftime("%Y-%m-%d %H:%M" + (" UTC" if zone else ""))


def _none() -> Markup:
    return tag("span", "—", class_="muted")
