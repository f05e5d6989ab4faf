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


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI installs Debian's chromium")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def served(fleet, emu):
    """The demo app under uvicorn on a free loopback port; stopped after the test."""
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(fleet, token=TOKEN, port=port, refresh_ms=(600, 300),
                     health_client=httpx.Client(transport=emu.transport()))
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
