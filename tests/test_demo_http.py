"""The demo web UI over HTTP (Starlette's TestClient, no socket): its front door (token, Host,
CSRF), inert rendering of hostile strings, keys shown once and never logged, and verbs that go
through the same manifest edits as the command line, on worker threads."""

from __future__ import annotations

import logging
import threading
import warnings

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # it would rather have httpx2; httpx is the project's client
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from saas_infra import verbs
from saas_infra.demo import create_app
from saas_infra.manifest import load_tenant_file
from saas_infra.railway import operations as ops
from saas_infra.reconcile import apply_pass
from tests.conftest import fleet_projects

TOKEN = "test-token-0123456789"
PORT = 8899
BASE = f"http://127.0.0.1:{PORT}"
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_PROJECT = "luthien-<img src=x onerror=alert(1)>"


@pytest.fixture
def app(fleet, emu):
    app = create_app(fleet, token=TOKEN, port=PORT,
                     health_client=httpx.Client(transport=emu.transport()))
    yield app
    app.state.demo.jobs.close()


@pytest.fixture
def anonymous(app):
    with TestClient(app, base_url=BASE, follow_redirects=False) as http:
        yield http


@pytest.fixture
def browser(anonymous):
    """A client that opened the printed URL: it holds the cookie, and sends the CSRF token."""
    assert anonymous.get(f"/?token={TOKEN}").status_code == 303
    return anonymous


def csrf(app) -> dict[str, str]:
    return {"X-CSRF-Token": app.state.demo.csrf}


def finish(app) -> list[dict]:
    assert app.state.demo.jobs.wait(timeout=30), "a demo job did not finish"
    return app.state.demo.jobs.views()


# --- the front door ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/fragment/fleet", "/api/jobs", "/static/app.js"])
def test_every_request_without_the_token_is_refused(anonymous, path):
    answer = anonymous.get(path)
    assert answer.status_code == 403
    assert "?token=" in answer.text


def test_a_wrong_token_is_refused_and_sets_no_cookie(anonymous):
    answer = anonymous.get("/?token=not-the-token")
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


def test_the_token_in_the_url_becomes_a_strict_httponly_cookie(anonymous):
    answer = anonymous.get(f"/?token={TOKEN}")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"  # the token leaves the address bar
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"saas_infra_demo_{PORT}={TOKEN};")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert anonymous.get("/").status_code == 200


def test_a_protocol_relative_path_does_not_redirect_off_site(anonymous):
    answer = anonymous.get(f"//evil.example/?token={TOKEN}")
    assert answer.status_code == 303
    assert not answer.headers["location"].startswith("//")


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1:9999",
                                  f"127.0.0.1.evil.example:{PORT}"])
def test_a_foreign_host_header_is_refused_even_with_the_token(browser, host):
    assert browser.get("/", headers={"Host": host}).status_code == 400
    assert browser.get(f"/?token={TOKEN}", headers={"Host": host}).status_code == 400


def test_localhost_is_an_accepted_host(browser):
    assert browser.get("/", headers={"Host": f"localhost:{PORT}"}).status_code == 200


def test_a_state_change_without_the_csrf_token_is_refused(browser, app, tenants_dir):
    body = {"name": "acme"}
    assert browser.post("/api/tenants", json=body).status_code == 403
    wrong = {"X-CSRF-Token": "guess"}
    assert browser.post("/api/tenants", json=body, headers=wrong).status_code == 403
    foreign = {**csrf(app), "Origin": "http://evil.example"}
    assert browser.post("/api/tenants", json=body, headers=foreign).status_code == 403
    cross = {**csrf(app), "Sec-Fetch-Site": "cross-site"}
    assert browser.post("/api/tenants", json=body, headers=cross).status_code == 403
    assert app.state.demo.jobs.views() == []
    assert not (tenants_dir / "acme.yaml").exists()


def test_a_state_change_needs_the_cookie_not_just_the_csrf_token(anonymous, app):
    answer = anonymous.post(f"/api/tenants?token={TOKEN}", json={"name": "acme"},
                            headers=csrf(app))
    assert answer.status_code == 403


def test_form_posts_are_refused(browser, app):
    answer = browser.post("/api/tenants", data={"name": "acme"}, headers=csrf(app))
    assert answer.status_code == 415


def test_pages_carry_a_strict_content_security_policy(browser):
    answer = browser.get("/")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert "<script>" not in answer.text  # the only script is the static file
    assert '<script src="/static/app.js" defer></script>' in answer.text
    assert browser.get("/static/app.js").headers["content-security-policy"] == policy


# --- hostile strings are shown, inert ----------------------------------------------------------


def test_a_manifest_variable_holding_html_is_shown_escaped(browser, write_tenant, fleet):
    path = write_tenant("acme")
    text = path.read_text().replace("auth_mode: both",
                                    f"auth_mode: both\n  variables:\n    NOTE: '{XSS_SCRIPT}'")
    path.write_text(text)
    assert load_tenant_file(path).manifest.gateway.variables["NOTE"] == XSS_SCRIPT
    browser.get("/")
    detail = browser.get("/fragment/tenant/acme")
    assert detail.status_code == 200
    assert XSS_SCRIPT not in detail.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.text


def test_an_unmanaged_project_named_with_html_is_shown_escaped(browser, client, fleet):
    ops.project_create(client, name=XSS_PROJECT, description="made by hand",
                       workspace_id=fleet.workspace())
    for path in ("/", "/fragment/fleet"):
        page = browser.get(path).text
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the row
        assert "luthien-&lt;img src=x onerror=alert(1)&gt;" in page  # the plan's finding


def test_a_bad_tenant_name_in_a_url_is_refused_before_any_file_is_touched(browser, app, tmp_path):
    outside = tmp_path / "secret.yaml"
    outside.write_text("precious")
    answer = browser.post("/api/tenants/..%2Fsecret/delete", json={}, headers=csrf(app))
    assert answer.status_code in (400, 404)
    answer = browser.get("/fragment/tenant/<b>")
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"  # never parsed as HTML
    assert outside.read_text() == "precious"


# --- the verbs ---------------------------------------------------------------------------------


def test_create_shows_the_keys_once_and_never_logs_them(browser, app, tenants_dir, caplog):
    caplog.set_level(logging.DEBUG)
    answer = browser.post("/api/tenants", json={"name": "acme"}, headers=csrf(app))
    assert answer.status_code == 202
    assert answer.json()["job"]
    assert app.state.demo.jobs.wait(timeout=30)
    first = browser.get("/api/jobs").json()["jobs"]
    job = first[0]
    assert job["state"] == "done", job
    keys = job["keys"]
    assert sorted(keys) == ["ADMIN_API_KEY", "CLIENT_API_KEY"]
    assert all(value.startswith("sk-") for value in keys.values())
    again = browser.get("/api/jobs").json()["jobs"][0]
    assert "keys" not in again and again["state"] == "done"
    seen = browser.get("/").text + browser.get("/fragment/tenant/acme").text
    manifest = (tenants_dir / "acme.yaml").read_text()
    for value in keys.values():
        assert value not in caplog.text
        assert value not in seen
        assert value not in manifest
    assert "create acme: started" in caplog.text  # the log is there, only without keys


def test_create_runs_the_cli_path_and_the_tenant_becomes_running(browser, app, tenants_dir, emu):
    browser.post("/api/tenants", json={"name": "acme", "source": "image",
                                       "image": "ghcr.io/luthienresearch/luthien-proxy:1.2.3"},
                 headers=csrf(app))
    job = finish(app)[0]
    assert job["state"] == "done", job
    assert "gateway deployment: SUCCESS" in job["lines"]
    spec = load_tenant_file(tenants_dir / "acme.yaml").manifest
    assert spec.gateway.image == "ghcr.io/luthienresearch/luthien-proxy:1.2.3"
    assert [p["name"] for p in fleet_projects(emu)] == ["luthien-acme"]
    row = browser.get("/fragment/fleet").text
    assert 'class="badge ok">running<' in row
    assert "Plan: no changes." in row


def test_create_with_an_existing_manifest_fails_as_the_cli_does(browser, app, write_tenant):
    write_tenant("acme")
    browser.post("/api/tenants", json={"name": "acme"}, headers=csrf(app))
    job = finish(app)[0]
    assert job["state"] == "failed"
    assert "Instance already exists: acme" in job["message"]


def test_create_refuses_a_bad_name_at_once(browser, app, tenants_dir):
    answer = browser.post("/api/tenants", json={"name": "Bad_Name"}, headers=csrf(app))
    assert answer.status_code == 400
    assert "not a tenant name" in answer.json()["error"]
    assert list(tenants_dir.iterdir()) == []


@pytest.mark.parametrize(("body", "field", "error"), [
    ({"name": "Bad_Name"}, "name", "not a tenant name: 'Bad_Name'"),
    ({"name": "acme", "source": "image", "image": "ghcr.io/acme/proxy:latest"}, "image",
     "':latest' is not a pin: use a version tag or an @sha256: digest"),
    ({"name": "acme", "repo": "https://github.com/acme/proxy"}, "repo",
     "give the GitHub repository as owner/repo, not a URL (e.g. LuthienResearch/luthien-proxy)"),
    ({"name": "acme", "source": "image"}, "image", "give an image"),
])
def test_create_refuses_a_bad_field_at_once_naming_it(browser, app, tenants_dir, body, field,
                                                      error):
    answer = browser.post("/api/tenants", json=body, headers=csrf(app))

    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert answer.json()["error"].startswith(error)
    assert list(tenants_dir.iterdir()) == []
    assert app.state.demo.jobs.views() == []  # no job started, nothing to fail later


def test_delete_schedules_then_cancel_removes_the_tombstone(browser, app, fleet, write_tenant,
                                                            clock):
    write_tenant("acme")
    browser.post("/api/tenants/acme/apply", json={}, headers=csrf(app))
    assert finish(app)[0]["state"] == "done"
    clock.advance(60)  # apply does not wait for the deployment, as on the command line
    browser.post("/api/tenants/acme/delete", json={"grace_days": 3}, headers=csrf(app))
    assert finish(app)[0]["state"] == "done"
    tombstone = load_tenant_file(fleet.tenants_dir / "acme.yaml").manifest.deletion
    assert tombstone is not None and tombstone.grace_days == 3 and not tombstone.force
    page = browser.get("/fragment/fleet").text
    # 3 days from the tombstone, less the fleet lock's few seconds of settle time in the pass
    assert "deletion scheduled" in page and "in 2d 23h" in page
    assert 'data-action="cancel-delete"' in page
    browser.post("/api/tenants/acme/cancel-delete", json={}, headers=csrf(app))
    assert finish(app)[0]["state"] == "done"
    assert load_tenant_file(fleet.tenants_dir / "acme.yaml").manifest.deletion is None
    assert 'class="badge ok">running<' in browser.get("/fragment/fleet").text


def test_delete_now_needs_the_typed_name(browser, app, fleet, write_tenant, emu):
    write_tenant("acme")
    browser.post("/api/tenants/acme/apply", json={}, headers=csrf(app))
    finish(app)
    refused = browser.post("/api/tenants/acme/delete", json={"force": True, "confirm": "acm"},
                           headers=csrf(app))
    assert refused.status_code == 400
    assert (fleet.tenants_dir / "acme.yaml").exists()
    browser.post("/api/tenants/acme/delete", json={"force": True, "confirm": "acme"},
                 headers=csrf(app))
    job = finish(app)[0]
    assert job["state"] == "done" and job["kind"] == "delete now", job
    assert not (fleet.tenants_dir / "acme.yaml").exists()
    assert fleet.observe().managed() == {}


def test_a_zero_day_grace_is_refused(browser, app, write_tenant):
    write_tenant("acme")
    answer = browser.post("/api/tenants/acme/delete", json={"grace_days": 0}, headers=csrf(app))
    assert answer.status_code == 400
    assert app.state.demo.jobs.views() == []


def test_a_long_operation_runs_off_the_event_loop(browser, app, write_tenant, monkeypatch):
    """While a verb blocks, the server still answers; a second verb on the tenant is refused."""
    write_tenant("acme")
    release = threading.Event()
    started = threading.Event()

    def slow_redeploy(fleet, name, **kwargs):
        started.set()
        assert release.wait(timeout=10)
        return verbs.VerbResult(name)

    monkeypatch.setattr(verbs, "redeploy", slow_redeploy)
    assert browser.post("/api/tenants/acme/redeploy", json={},
                        headers=csrf(app)).status_code == 202
    assert started.wait(timeout=10)
    assert browser.get("/api/jobs").json()["jobs"][0]["state"] == "running"
    assert "operation running" in browser.get("/fragment/fleet").text
    second = browser.post("/api/tenants/acme/redeploy", json={}, headers=csrf(app))
    assert second.status_code == 409
    release.set()
    assert finish(app)[0]["state"] == "done"


def test_the_tenant_detail_shows_secrets_by_name_and_variable_only(browser, write_tenant, fleet):
    path = write_tenant("acme")
    path.write_text(path.read_text() + "  secrets:\n"
                    "    ANTHROPIC_API_KEY: {from_env: LUTHIEN_ANTHROPIC_API_KEY}\n")
    browser.get("/")
    detail = browser.get("/fragment/tenant/acme")
    assert detail.status_code == 200
    assert "ANTHROPIC_API_KEY <small>secret</small>" in detail.text
    assert "from <code>LUTHIEN_ANTHROPIC_API_KEY</code>" in detail.text


def test_the_tenant_detail_shows_the_tenants_settings_and_never_a_secret_value(
        browser, write_tenant, fleet):
    path = write_tenant("acme")
    path.write_text(path.read_text() + "  replicas: 2\n"
                    "  resources: {vcpus: 2, memory_gb: 4}\n"
                    "  healthcheck: {path: /ready, timeout: 60}\n"
                    "  restart: {policy: always}\n"
                    "  sleep: true\n"
                    "  secrets:\n"
                    "    ANTHROPIC_API_KEY: {from_env: LUTHIEN_ANTHROPIC_API_KEY}\n"
                    "postgres:\n  backups: [daily, monthly]\n")
    fleet.env = {"LUTHIEN_ANTHROPIC_API_KEY": "sk-ant-never-shown"}
    apply_pass(fleet)
    browser.get("/")
    detail = browser.get("/fragment/tenant/acme")
    assert detail.status_code == 200
    page = detail.text
    assert "<dt>Replicas</dt><dd>2</dd>" in page
    assert "<dt>Resources</dt><dd>2 vCPU, 4 GB memory per replica</dd>" in page
    assert "<dt>Health check</dt><dd><code>/ready</code> <small>60 s</small></dd>" in page
    assert "<dt>Restart</dt><dd><code>always</code></dd>" in page
    assert "<dt>Sleep</dt><dd>on</dd>" in page
    assert "<dt>Backups</dt><dd>daily, monthly</dd>" in page
    assert "Backups: daily, monthly; none made yet" in page  # as Railway shows them
    assert "ANTHROPIC_API_KEY <small>secret</small>" in page
    assert "sk-ant-never-shown" not in page


def test_a_pinned_tenant_shows_its_pinned_commit_not_a_branch(browser, write_tenant, tenants_dir):
    write_tenant("acme")
    path = tenants_dir / "acme.yaml"
    path.write_text(path.read_text().replace("branch: main", f"commit: '{'c0ffee' * 6}c0ff'"))
    row = browser.get("/fragment/fleet").text
    assert "LuthienResearch/luthien-proxy@c0ffeec0ffee" in row.replace("<wbr>", "")
    assert "pinned" in row and "luthien-proxy@main" not in row.replace("<wbr>", "")


def test_the_tenant_detail_shows_a_channel_tenants_pin_and_channel(browser, tenants_dir):
    commit = "c0ffee" * 6 + "c0ff"
    (tenants_dir.parent / "fleet.yaml").write_text(
        "version: 1\ndefaults:\n  channel: stable\n  gateway: {repo: LuthienResearch/luthien-proxy}"
        f"\nchannels:\n  stable: {{commit: '{commit}'}}\n")
    (tenants_dir / "acme.yaml").write_text("version: 1\nname: acme\n")
    browser.get("/")
    detail = browser.get("/fragment/tenant/acme").text
    assert "LuthienResearch/luthien-proxy@c0ffeec0ffee" in detail
    assert "pinned (channel stable)" in detail and "luthien-proxy@main" not in detail
