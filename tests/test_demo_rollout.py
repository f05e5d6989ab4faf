"""The demo's rollout panel (rollouts.html): each release channel's rollout as `rollout status`
shows it, per wave the tenants on the old version, in progress, healthy and failed; a halt with
its reason and the resume command. Rendered from the pure model, then over HTTP on the
in-process emulator (no browser)."""

from __future__ import annotations

import warnings
from datetime import timedelta
from html.parser import HTMLParser

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from saas_infra.demo import create_app, views
from saas_infra.emulator import Emulator
from saas_infra.reconcile import Fleet, apply_pass
from saas_infra.rollout import derive
from tests.test_rollout_model import (
    NEW,
    OLD,
    ROLLOUT,
    T0,
    dep,
    fleet_file,
    manifests,
    observed,
    project,
)

TOKEN = "test-token-0123456789"
PORT = 8899
REPO = "LuthienResearch/luthien-proxy"
SHA_A, SHA_B = "a" * 40, "b" * 40


class Panel(HTMLParser):
    """The panel as data: per channel its badge, reason and resume text, and per wave the
    tenant names in each state's cell (a cell's count included, as `count`)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.channels: dict[str, dict] = {}
        self._channel: dict | None = None
        self._wave: dict | None = None
        self._cell: str | None = None
        self._into: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        css = a.get("class") or ""
        if tag == "article" and "data-channel" in a:
            self._channel = {"halted": a["data-halted"] == "true", "badge": "", "reason": "",
                             "resume": "", "waves": {}}
            self.channels[a["data-channel"]] = self._channel
        elif tag == "tr" and "data-wave" in a and self._channel is not None:
            self._wave = {"next": "next" in css}
            self._channel["waves"][int(a["data-wave"])] = self._wave
        elif tag == "td" and "data-state" in a and self._wave is not None:
            self._cell = a["data-state"]
            self._wave[self._cell] = {"names": [], "count": 0, "more": 0, "notes": []}
        elif tag == "span" and "badge" in css and self._channel is not None:
            self._into = "badge"
        elif tag == "p" and css in ("reason", "resume") and self._channel is not None:
            self._into = css
        elif self._cell and tag == "code":
            self._into = "name"
        elif self._cell and tag == "strong":
            self._into = "count"
        elif self._cell and tag == "small":
            self._into = "note"
        elif self._cell and tag == "li" and "muted" in css:
            self._into = "more"

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._wave = None
        elif tag == "article":
            self._channel = None
        if tag in ("span", "p", "code", "strong", "small", "li"):
            self._into = None

    def handle_data(self, data: str) -> None:
        into, cell = self._into, self._wave[self._cell] if self._cell and self._wave else None
        if into in ("badge", "reason", "resume") and self._channel is not None:
            self._channel[into] += data
        elif cell is not None and into == "name":
            cell["names"].append(data)
        elif cell is not None and into == "count":
            cell["count"] = int(data)
        elif cell is not None and into == "note":
            cell["notes"].append(data)
        elif cell is not None and into == "more":
            cell["more"] = int(data.split()[1])


def render(rollouts) -> str:
    return views.templates().get_template("rollouts.html").render(
        {"rollouts": views.rollout_context(rollouts)})


def names(panel: Panel, channel: str, wave: int, state: str) -> list[str]:
    return panel.channels[channel]["waves"][wave][state]["names"]


# --- rendered from the model ------------------------------------------------------------------


def test_each_wave_shows_its_tenants_by_state():
    """zed (canary) healthy on the new version, a deploying, b and c still old: the rollout is
    past the soak and its second wave is under way."""
    seen = observed(project("zed", dep("z", NEW, "SUCCESS", T0)),
                    project("a", dep("n", NEW, "DEPLOYING", T0 + timedelta(minutes=20))),
                    project("b", dep("ob", OLD, "SUCCESS", T0)),
                    project("c", dep("oc", OLD, "SUCCESS", T0)))
    rollouts = derive(manifests("a", "b", "c", "zed"), fleet_file(ROLLOUT), seen,
                      T0 + timedelta(minutes=21))
    panel = Panel(render(rollouts))
    stable = panel.channels["stable"]
    assert not stable["halted"] and stable["badge"] == "deploying"
    assert names(panel, "stable", 1, "healthy") == ["zed"]
    assert names(panel, "stable", 2, "in_progress") == ["a"]
    assert names(panel, "stable", 3, "old") == ["b", "c"]
    assert stable["waves"][3]["old"]["count"] == 2
    assert names(panel, "stable", 3, "healthy") == [] and stable["waves"][1]["old"]["count"] == 0
    assert stable["resume"] == ""


def test_a_halted_rollout_says_who_failed_how_and_how_to_resume():
    crashed = dep("n", NEW, "CRASHED", T0 + timedelta(minutes=1))
    back = dep("r", OLD, "SUCCESS", T0 + timedelta(minutes=2))
    seen = observed(project("zed", back, crashed), project("a", dep("o", OLD, "SUCCESS", T0)))
    rollouts = derive(manifests("a", "zed"), fleet_file(ROLLOUT), seen, T0 + timedelta(hours=1))
    panel = Panel(render(rollouts))
    stable = panel.channels["stable"]
    assert stable["halted"] and stable["badge"] == "halted"
    assert names(panel, "stable", 1, "failed") == ["zed"]
    assert stable["waves"][1]["failed"]["notes"] == ["crashed, rolled back"]
    assert names(panel, "stable", 2, "old") == ["a"]  # the next wave did not start
    assert "zed (crashed, rolled back) failed" in stable["reason"]
    assert "saas-infra rollout resume stable" in stable["resume"]


def test_a_soaking_wave_shows_the_time_left_and_the_next_wave():
    seen = observed(project("zed", dep("n", NEW, "SUCCESS", T0 + timedelta(minutes=1))),
                    *(project(n, dep(f"o{n}", OLD, "SUCCESS", T0)) for n in "abc"))
    [soaking] = derive(manifests("a", "b", "c", "zed"), fleet_file(ROLLOUT), seen,
                       T0 + timedelta(minutes=5))
    panel = Panel(render([soaking]))
    assert panel.channels["stable"]["badge"] == "soaking, 6 min left"
    assert panel.channels["stable"]["reason"] == "wave 1 is soaking"
    [ready] = derive(manifests("a", "b", "c", "zed"), fleet_file(ROLLOUT), seen,
                     T0 + timedelta(minutes=12))
    panel = Panel(render([ready]))
    assert panel.channels["stable"]["badge"] == "wave 2 starts on the next pass"
    assert panel.channels["stable"]["waves"][2]["next"]
    assert not panel.channels["stable"]["waves"][3]["next"]


def test_a_big_wave_shows_a_count_and_the_first_names():
    many = [f"t{i:03}" for i in range(40)]
    seen = observed(*(project(n, dep(f"o{n}", OLD, "SUCCESS", T0)) for n in many))
    rollouts = derive(manifests(*many), fleet_file("rollout:\n  waves: [1, '100%']\n"), seen, T0)
    panel = Panel(render(rollouts))
    old = panel.channels["stable"]["waves"][2]["old"]
    assert old["count"] == 39
    assert old["names"] == many[1:1 + views.ROLLOUT_NAMES_SHOWN]
    assert old["more"] == 39 - views.ROLLOUT_NAMES_SHOWN


# --- over HTTP, on the emulator ---------------------------------------------------------------


FLEET = f"""version: 1
defaults:
  channel: stable
  gateway: {{repo: {REPO}, auth_mode: both}}
channels:
  stable: {{commit: '{{commit}}'}}
rollout:
  waves: [1, "100%"]
  canary: [acme]
"""


@pytest.fixture
def app(fleet: Fleet, emu: Emulator):
    app = create_app(fleet, token=TOKEN, port=PORT,
                     health_client=httpx.Client(transport=emu.transport()))
    yield app
    app.state.demo.jobs.close()


@pytest.fixture
def browser(app):
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}", follow_redirects=False) as http:
        assert http.get(f"/?token={TOKEN}").status_code == 303
        yield http


def test_the_fleet_page_shows_a_channel_rollout_halting_on_a_crashing_canary(
        browser, fleet: Fleet, emu: Emulator, tenants_dir):
    emu.set_commit_outcome(REPO, SHA_A, "success")
    emu.set_commit_outcome(REPO, SHA_B, "crashes")
    fleet_yaml = tenants_dir.parent / "fleet.yaml"
    fleet_yaml.write_text(FLEET.replace("{commit}", SHA_A))
    for name in ("acme", "globex", "hooli"):
        (tenants_dir / f"{name}.yaml").write_text(f"version: 1\nname: {name}\n")
    assert not apply_pass(fleet).failed
    fleet.clock.advance(minutes=15)
    panel = Panel(browser.get("/fragment/fleet").text)
    assert panel.channels["stable"]["badge"] == "done"
    assert names(panel, "stable", 2, "healthy") == ["globex", "hooli"]

    fleet_yaml.write_text(FLEET.replace("{commit}", SHA_B))
    panel = Panel(browser.get("/").text)
    assert panel.channels["stable"]["badge"] == "wave 1 starts on the next pass"
    assert names(panel, "stable", 1, "old") == ["acme"]

    report = apply_pass(fleet)  # the canary crashes its health gate: the rollout halts
    assert [o.tenant for o in report.failed] == ["acme"]
    panel = Panel(browser.get("/fragment/fleet").text)
    stable = panel.channels["stable"]
    assert stable["halted"], stable
    assert names(panel, "stable", 1, "failed") == ["acme"]
    assert names(panel, "stable", 2, "old") == ["globex", "hooli"]
    assert "saas-infra rollout resume stable" in stable["resume"]


def test_without_a_fleet_file_the_page_has_no_rollout_panel(browser, write_tenant, fleet):
    write_tenant("acme")
    assert 'id="rollouts"' not in browser.get("/fragment/fleet").text
