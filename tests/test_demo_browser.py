"""The demo web UI in headless Chromium (Debian's, driven by Playwright), served by uvicorn on a
loopback port in a thread, against the emulator on a fake clock: deployments finish as soon as
someone waits for them, so the only real waiting is the page's own short polling."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import uvicorn

from saas_infra.demo import create_app
from saas_infra.demo.__main__ import listen
from saas_infra.railway import operations as ops

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
TOKEN = "browser-test-token-0123456789"
WAIT_MS = 15_000  # an upper bound for polling; a passing run takes a fraction of it


def require_chromium(path: Path = CHROMIUM, env=os.environ) -> None:
    """Skip (fail under CI, which installs it) without Debian's chromium: Playwright drives it
    and never downloads a browser of its own."""
    if path.exists():
        return
    if env.get("CI"):
        pytest.fail(f"{path} is missing; CI installs Debian's `chromium` package")
    pytest.skip(f"the demo's browser tests need Debian's `chromium` package at {path} "
                "(apt-get install chromium)")


@pytest.fixture(scope="module")
def chromium():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def served(fleet, emu):
    """The demo app under uvicorn on a free loopback port; stopped after the test."""
    yield from serve(fleet, emu)


@pytest.fixture
def served_sandbox(fleet, emu):
    """The same, as `python -m saas_infra.demo --sandbox` runs it."""
    yield from serve(fleet, emu, sandbox=True)


def serve(fleet, emu, sandbox: bool = False):
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(fleet, token=TOKEN, port=port, refresh_ms=(600, 300),
                     health_client=httpx.Client(transport=emu.transport()), sandbox=sandbox)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.02):  # brief polling until uvicorn listens
        if server.started:
            started.set()
        assert thread.is_alive(), "uvicorn did not start"
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", app=app)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(chromium):
    """A fresh browser context; console errors, page errors and dialogs are recorded."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    tab.problems = []
    tab.on("console", lambda m: tab.problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.problems.append(str(e)))
    tab.on("dialog", lambda d: (tab.problems.append(f"dialog: {d.message}"), d.dismiss()))
    yield tab
    context.close()


def open_demo(page, served) -> None:
    page.goto(f"{served.url}/?token={TOKEN}")
    assert page.url == f"{served.url}/"  # the token left the address bar for a cookie


def test_create_watch_it_run_schedule_and_cancel_a_deletion_then_delete_now(served, page, fleet):
    from playwright.sync_api import expect

    open_demo(page, served)
    assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it
    page.fill("#create-form input[name=name]", "initech")
    page.click("#create-form button[type=submit]")

    job = page.locator("#jobs li.job", has_text="create initech")
    expect(job.locator(".badge")).to_have_text("done")
    expect(job).to_contain_text("Created initech: gateway SUCCESS")
    keys = page.locator("#keys .keys")
    expect(keys).to_contain_text("CLIENT_API_KEY")
    expect(keys.locator("dd").first).to_have_text(re.compile(r"^sk-\S{20,}$"))
    keys.get_by_role("button", name="I have saved them").click()
    expect(keys).to_have_count(0)

    tenant = page.locator('tbody[data-tenant="initech"]')
    status = tenant.locator("tr.row td").nth(3).locator(".badge").first
    expect(status).to_have_text("running")
    expect(tenant.locator("tr.row td").nth(4).locator("a")).to_have_attribute(
        "href", re.compile(r"^https://[a-z0-9-]+\.up\.railway\.app$"))
    expect(tenant.locator("a.console")).to_have_attribute(
        "href", re.compile(r"^https://railway\.com/project/"))

    tenant.locator("button.toggle").click()  # open the row: services and deployments
    detail = tenant.locator("tr.detail")
    expect(detail).to_be_visible()
    for service in ("Postgres", "Redis", "gateway"):
        expect(detail.locator("table.services tr", has_text=service)).to_contain_text("SUCCESS")

    tenant.get_by_role("button", name="Delete…", exact=True).click()
    dialog = page.locator("#delete-dialog")
    dialog.get_by_role("button", name="Schedule deletion").click()
    expect(status).to_have_text("deletion scheduled")
    expect(tenant.locator(".countdown")).to_contain_text(re.compile(r"in (7d 0h|6d 23h)"))
    expect(detail).to_be_visible()  # an open row stays open through refreshes
    expect(detail).to_contain_text("Deletion")
    assert (fleet.tenants_dir / "initech.yaml").read_text().count("deletion:") == 1

    tenant.get_by_role("button", name="Cancel deletion").click()
    expect(status).to_have_text("running")
    expect(tenant.locator(".countdown")).to_have_count(0)
    assert "deletion:" not in (fleet.tenants_dir / "initech.yaml").read_text()

    tenant.get_by_role("button", name="Delete…", exact=True).click()
    delete_now = dialog.get_by_role("button", name="Delete now")
    expect(delete_now).to_be_disabled()
    dialog.locator("#confirm-name").fill("initec")
    expect(delete_now).to_be_disabled()
    dialog.locator("#confirm-name").fill("initech")
    delete_now.click()
    expect(page.locator("#jobs li.job", has_text="delete now initech").locator(".badge")
           ).to_have_text("done")
    expect(tenant).to_have_count(0)
    assert not (fleet.tenants_dir / "initech.yaml").exists()
    assert fleet.observe().managed() == {}
    assert page.problems == []


def test_html_in_names_and_variables_stays_text(served, page, client, fleet, write_tenant):
    from playwright.sync_api import expect

    path = write_tenant("acme")
    path.write_text(path.read_text().replace(
        "auth_mode: both", "auth_mode: both\n  variables:\n    NOTE: '<script>alert(1)</script>'"))
    ops.project_create(client, name="luthien-<img src=x onerror=alert(1)>",
                       description="made by hand", workspace_id=fleet.workspace())
    open_demo(page, served)

    expect(page.locator('tbody[data-tenant="<img src=x onerror=alert(1)>"]')).to_contain_text(
        "unmanaged")
    expect(page.locator(".plan pre")).to_contain_text("luthien-<img src=x onerror=alert(1)>")
    page.locator('tbody[data-tenant="acme"] button.toggle').click()
    expect(page.locator('tbody[data-tenant="acme"] tr.detail')).to_contain_text(
        "<script>alert(1)</script>")
    page.get_by_role("button", name="Refresh").click()  # the fragment path renders it too
    expect(page.locator('tbody[data-tenant="acme"] tr.detail')).to_contain_text(
        "<script>alert(1)</script>")
    assert page.locator("main img, main script").count() == 0
    assert page.problems == []


# --- layout: every action reachable, wide and narrow -----------------------------------------


def scheduled_with_pending_changes(run_cli, write_tenant, tenants_dir, clock) -> None:
    """acme: running, deletion scheduled, and a manifest change not yet applied: the row that
    offers every action at once (Apply, Redeploy, Cancel deletion, Delete...)."""
    write_tenant("acme")
    write_tenant("globex-industries-international")  # a long name beside it
    assert run_cli("apply", "--yes").exit_code == 0
    clock.advance(600)  # the first deployments have finished
    assert run_cli("delete", "acme", "--yes").exit_code == 0
    path = tenants_dir / "acme.yaml"
    path.write_text(path.read_text().replace(
        "auth_mode: both", "auth_mode: both\n  variables:\n    LOG_LEVEL: debug"))


_LAYOUT_JS = """() => {
  const rect = e => { const r = e.getBoundingClientRect(); return {x: r.x, width: r.width}; };
  const scroll = document.querySelector('.table-scroll');
  const buttons = document.querySelectorAll('tbody[data-tenant="acme"] .buttons button');
  return {box: rect(scroll), scroll_fits: scroll.scrollWidth <= scroll.clientWidth,
          page_width: document.documentElement.scrollWidth, buttons: [...buttons].map(rect)};
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_every_action_is_visible_and_usable(served, chromium, run_cli, write_tenant, tenants_dir,
                                            clock, tmp_path, width):
    scheduled_with_pending_changes(run_cli, write_tenant, tenants_dir, clock)
    context = chromium.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        open_demo(page, served)
        buttons = page.locator('tbody[data-tenant="acme"] .buttons button')
        assert buttons.all_inner_texts() == ["Apply", "Redeploy", "Cancel deletion", "Delete…"]
        page.screenshot(path=tmp_path / f"tenants-{width}.png", full_page=True)  # to look at
        # Measured in one script run: the page refreshes its fleet table now and then, and an
        # element found in one call may be replaced before the next.
        layout = page.evaluate(_LAYOUT_JS)
        # nothing hidden behind a sideways scroll, in the table or the page
        assert layout["scroll_fits"]
        assert layout["page_width"] <= width
        box = layout["box"]
        assert len(layout["buttons"]) == 4
        for edges in layout["buttons"]:
            assert edges["x"] >= box["x"] and edges["x"] + edges["width"] <= box["x"] + box["width"]
            assert edges["x"] + edges["width"] <= width
        for button in buttons.all():
            button.click(trial=True)  # visible, enabled and not covered by anything
    finally:
        context.close()


# --- the create form ------------------------------------------------------------------------


def test_a_refused_create_keeps_the_input_and_shows_the_error_at_the_field(served, page,
                                                                           tenants_dir):
    from playwright.sync_api import expect

    open_demo(page, served)
    form = page.locator("#create-form")
    form.locator("input[name=name]").fill("acme")
    form.locator("input[value=image]").check()
    form.locator("input[name=image]").fill("ghcr.io/acme/proxy:latest")
    form.locator("button[type=submit]").click()

    expect(page.locator("#error-image")).to_have_text(
        "':latest' is not a pin: use a version tag or an @sha256: digest")
    expect(form.locator("input[name=image]")).to_have_attribute("aria-invalid", "true")
    expect(form.locator("input[name=name]")).to_have_value("acme")
    expect(form.locator("input[name=image]")).to_have_value("ghcr.io/acme/proxy:latest")
    expect(page.locator("#flash")).to_be_hidden()
    expect(page.locator("#jobs li.job")).to_have_count(0)

    form.locator("input[name=name]").fill("Bad_Name")
    form.locator("input[name=image]").fill("ghcr.io/acme/proxy:1.2.3")
    form.locator("button[type=submit]").click()
    expect(page.locator("#error-name")).to_contain_text("not a tenant name: 'Bad_Name'")
    expect(page.locator("#error-image")).to_be_hidden()  # the image is right now
    expect(form.locator("input[name=name]")).to_have_value("Bad_Name")
    expect(page.locator("#flash")).to_be_hidden()

    form.locator("input[name=name]").fill("acme")
    form.locator("button[type=submit]").click()
    expect(page.locator("#jobs li.job", has_text="create acme").locator(".badge")).to_have_text(
        "done")
    expect(form.locator("input[name=name]")).to_have_value("")  # a create that worked clears it
    expect(page.locator("#error-name")).to_be_hidden()
    assert (tenants_dir / "acme.yaml").exists()
    refusals = [p for p in page.problems if "status of 400 (Bad Request)" in p]
    assert len(refusals) == 2 and len(page.problems) == 2  # the browser logs the two 400s


def test_a_create_that_fails_as_a_job_keeps_the_input(served, page, write_tenant):
    from playwright.sync_api import expect

    write_tenant("acme")
    open_demo(page, served)
    form = page.locator("#create-form")
    form.locator("input[name=name]").fill("acme")
    form.locator("input[name=branch]").fill("next")
    form.locator("button[type=submit]").click()

    job = page.locator("#jobs li.job", has_text="create acme")
    expect(job.locator(".badge")).to_have_text("failed")
    expect(job).to_contain_text("Instance already exists: acme")
    expect(form.locator("input[name=name]")).to_have_value("acme")
    expect(form.locator("input[name=branch]")).to_have_value("next")


# --- what the tenants table tells --------------------------------------------------------------


def test_pending_changes_are_shown_beside_the_status(served, page, run_cli, write_tenant,
                                                    tenants_dir, clock):
    from playwright.sync_api import expect

    scheduled_with_pending_changes(run_cli, write_tenant, tenants_dir, clock)
    open_demo(page, served)

    acme = page.locator('tbody[data-tenant="acme"] tr.row td').nth(3)
    expect(acme.locator(".badge")).to_have_text(["deletion scheduled", "pending changes"])
    expect(acme.locator(".badge.pending")).to_have_attribute(
        "title", re.compile(r"^set-variables: gateway variables differ from the manifest"))
    globex = page.locator('tbody[data-tenant="globex-industries-international"] tr.row td').nth(3)
    expect(globex.locator(".badge")).to_have_text(["running"])


def test_sandbox_links_are_marked_as_not_real(served_sandbox, page, run_cli, write_tenant,
                                              clock):
    from playwright.sync_api import expect

    write_tenant("acme")
    assert run_cli("apply", "--yes").exit_code == 0
    open_demo(page, served_sandbox)

    row = page.locator('tbody[data-tenant="acme"] tr.row')
    expect(row.locator(".not-real")).to_have_count(2)  # the console and the gateway
    for marked in row.locator(".not-real").all():
        expect(marked).to_contain_text("sandbox: not real")
        expect(marked).to_have_attribute("title", re.compile("emulator"))
    assert row.locator("a").count() == 0  # no link to a railway.com page that does not exist


def test_each_shown_key_has_a_copy_button(served, chromium):
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.url)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        open_demo(page, served)
        page.fill("#create-form input[name=name]", "initech")
        page.click("#create-form button[type=submit]")
        keys = page.locator("#keys .keys")
        expect(keys.get_by_role("button", name="Copy CLIENT_API_KEY")).to_be_visible()
        expect(keys.get_by_role("button", name="Copy ADMIN_API_KEY")).to_be_visible()

        shown = keys.locator("dd .key").first.inner_text()
        keys.get_by_role("button", name="Copy CLIENT_API_KEY").click()

        expect(keys.get_by_role("button", name="Copy CLIENT_API_KEY")).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == shown
        assert shown.startswith("sk-")
    finally:
        context.close()
