"""The demo's Starlette app: pages and fragments that read the fleet through saas_infra.verbs,
rendered by its Jinja2 templates, and verbs that run the same create/redeploy/delete/cancel-delete
as the command line, as background jobs.

Blocking work never runs on the event loop: reads go through run_in_threadpool, verbs through
the job registry. Every request passes security.Guard first. Nothing here logs a key or a token.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from saas_infra import verbs as core
from saas_infra.errors import SaasInfraError
from saas_infra.manifest import LoadedManifest
from saas_infra.manifest.models import MAX_GRACE_DAYS
from saas_infra.railway.observed import Observed
from saas_infra.reconcile import Fleet
from saas_infra.rollout import ChannelRollout

from . import verbs, views
from .jobs import Jobs, TenantBusyError
from .security import Guard, allowed_hosts

STATIC = Path(__file__).parent / "static"
SANDBOX_REFRESH_MS = (5000, 1500)  # (idle, while a job runs): the emulator is cheap to ask
RAILWAY_REFRESH_MS = (30000, 5000)  # two requests a refresh, within Hobby's 1,000 an hour


class Refused(Exception):
    """A request the demo will not act on; answered as JSON {"error": ...} with `status`, and
    the create form's `field` it concerns, if any, so the page shows the error beside it."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass
class Demo:
    fleet: Fleet
    jobs: Jobs
    mode: str
    csrf: str
    health_client: object | None = None
    show_keys: bool = True
    refresh_ms: tuple[int, int] = SANDBOX_REFRESH_MS
    sandbox: bool = False  # Railway links would lead nowhere: the projects are the emulator's

    templates: Jinja2Templates = field(default_factory=views.templates)

    # --- reads (on a worker thread) -------------------------------------------------------------

    def fleet_html(self) -> Markup:
        try:
            observed = self.fleet.observe()
            rows = core.list_instances(self.fleet, include_unmanaged=True, observed=observed)
            manifests = self.fleet.load()
            plan = self.fleet.plan_from(manifests, observed)
            rollouts = self.rollouts(manifests, observed)
        except SaasInfraError as exc:
            return self._render("problem.html", views.problem_context(exc, "Cannot read the fleet"))
        return self._render("fleet.html", views.fleet_context(
            rows, plan, now=self.fleet.clock.now(), busy=self.jobs.busy(), sandbox=self.sandbox,
            rollouts=rollouts))

    def rollouts(self, manifests: list[LoadedManifest], observed: Observed) -> list[ChannelRollout]:
        """Each channel's rollout, derived as `rollout status` derives it (rollout.py)."""
        return self.fleet.rollouts(manifests, observed)

    def detail_html(self, name: str) -> Markup:
        try:
            detail = core.status(self.fleet, name, health_client=self.health_client)
            loaded = next((m for m in self.fleet.load() if m.manifest.name == name), None)
        except SaasInfraError as exc:
            return self._render("problem.html", views.problem_context(exc, f"Cannot show {name}"))
        return self._render("tenant.html", views.detail_context(detail, loaded))

    def _render(self, name: str, context: dict) -> Markup:
        return Markup(self.templates.get_template(name).render(context))

    # --- endpoints ----------------------------------------------------------------------------

    async def index(self, request: Request) -> HTMLResponse:
        fleet_html = await run_in_threadpool(self.fleet_html)
        return self.templates.TemplateResponse(request, "page.html", {
            "csrf": self.csrf, "mode": self.mode, "fleet_html": fleet_html,
            "refresh_ms": self.refresh_ms})

    async def fleet_fragment(self, request: Request) -> HTMLResponse:
        return HTMLResponse(await run_in_threadpool(self.fleet_html))

    async def tenant_fragment(self, request: Request) -> HTMLResponse:
        name = tenant_name(request.path_params["name"])
        return HTMLResponse(await run_in_threadpool(self.detail_html, name))

    async def job_list(self, request: Request) -> JSONResponse:
        return JSONResponse({"jobs": self.jobs.views()})

    async def create(self, request: Request) -> JSONResponse:
        data = await json_body(request)
        name = tenant_name(data.get("name"), field="name")
        source = gateway_source(data)
        try:  # the command line's own checks, answered at once beside the form's field
            core.check_source(**source)
        except core.InputError as exc:
            raise Refused(400, str(exc).removeprefix(f"--{exc.field}: "), exc.field) from exc
        return self._start("create", name, lambda job: verbs.create(
            self.fleet, job, name, source, show_keys=self.show_keys))

    async def redeploy(self, request: Request) -> JSONResponse:
        await json_body(request)
        name = tenant_name(request.path_params["name"])
        return self._start("redeploy", name, lambda job: verbs.redeploy(self.fleet, job, name))

    async def delete(self, request: Request) -> JSONResponse:
        data = await json_body(request)
        name = tenant_name(request.path_params["name"])
        force = data.get("force") is True
        if force and data.get("confirm") != name:
            raise Refused(400, f"deleting now needs confirmation: type {name} to confirm")
        grace = grace_days(data.get("grace_days", core.DEFAULT_GRACE_DAYS))
        kind = "delete now" if force else "schedule deletion"
        return self._start(kind, name, lambda job: verbs.delete(
            self.fleet, job, name, force=force, grace_days=grace))

    async def apply(self, request: Request) -> JSONResponse:
        await json_body(request)
        name = tenant_name(request.path_params["name"])
        return self._start("apply", name, lambda job: verbs.apply(self.fleet, job, name))

    async def cancel_delete(self, request: Request) -> JSONResponse:
        await json_body(request)
        name = tenant_name(request.path_params["name"])
        return self._start("cancel deletion", name,
                           lambda job: verbs.cancel_delete(self.fleet, job, name))

    def _start(self, kind: str, name: str, work) -> JSONResponse:
        try:
            job = self.jobs.start(kind, name, work)
        except TenantBusyError as exc:
            raise Refused(409, str(exc)) from exc
        return JSONResponse({"job": job.id}, status_code=202)


# --- input ------------------------------------------------------------------------------------


async def json_body(request: Request) -> dict:
    """A JSON object body: the only shape a state change accepts (no form posts)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Refused(415, "send application/json")
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise Refused(400, "the body is not JSON") from exc
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    return data


def tenant_name(value: object, field: str | None = None) -> str:
    """A valid tenant name, checked before it goes near a file path (no ../ tricks)."""
    if not isinstance(value, str) or not views.is_tenant_name(value):
        raise Refused(400, f"not a tenant name: {str(value)[:80]!r} (lowercase letters, digits "
                      "and hyphens; starts with a letter; at most 63 characters)", field)
    return value


def gateway_source(data: dict) -> dict[str, str]:
    """repo (+ branch) or image from the create form; the manifest model checks the values."""
    def text(key: str) -> str | None:
        value = data.get(key)
        return value.strip() or None if isinstance(value, str) else None

    if data.get("source") == "image":
        if not text("image"):
            raise Refused(400, "give an image (a digest or an explicit tag), or choose a repo",
                          "image")
        return {"image": text("image")}
    return {k: v for k, v in (("repo", text("repo")), ("branch", text("branch"))) if v}


def grace_days(value: object) -> int:
    try:
        days = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        days = 0
    if isinstance(value, bool) or not 1 <= days <= MAX_GRACE_DAYS:
        raise Refused(400, f"the grace period is 1 to {MAX_GRACE_DAYS} days")
    return days


async def refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    body = {"error": str(exc)} if exc.field is None else {"error": str(exc), "field": exc.field}
    return JSONResponse(body, status_code=exc.status)


# --- assembly ---------------------------------------------------------------------------------


def create_app(fleet: Fleet, *, token: str, port: int, host: str = "127.0.0.1",
               mode: str = "sandbox", health_client=None, show_keys: bool = True,
               refresh_ms: tuple[int, int] = SANDBOX_REFRESH_MS, jobs: Jobs | None = None,
               sandbox: bool = False) -> Starlette:
    """The demo as an ASGI app guarded by `token`; `app.state.demo` holds its parts (for tests)."""
    jobs = jobs or Jobs()
    if fleet.lock_notify is None:  # "waiting for the fleet lock" belongs in the job's progress
        fleet = replace(fleet, lock_notify=jobs.say_current)
    demo = Demo(fleet, jobs, mode, secrets.token_urlsafe(32), health_client, show_keys,
                refresh_ms, sandbox)
    routes = [
        Route("/", demo.index),
        Route("/fragment/fleet", demo.fleet_fragment),
        Route("/fragment/tenant/{name}", demo.tenant_fragment),
        Route("/api/jobs", demo.job_list),
        Route("/api/tenants", demo.create, methods=["POST"]),
        Route("/api/tenants/{name}/apply", demo.apply, methods=["POST"]),
        Route("/api/tenants/{name}/redeploy", demo.redeploy, methods=["POST"]),
        Route("/api/tenants/{name}/delete", demo.delete, methods=["POST"]),
        Route("/api/tenants/{name}/cancel-delete", demo.cancel_delete, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    guard = Middleware(Guard, token=token, csrf=demo.csrf, hosts=allowed_hosts(host, port),
                       cookie=f"saas_infra_demo_{port}")  # cookies ignore ports; names do not

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        demo.jobs.close()

    app = Starlette(routes=routes, middleware=[guard], lifespan=lifespan,
                    exception_handlers={Refused: refused})
    app.state.demo = demo
    return app
