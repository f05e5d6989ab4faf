"""Secret-leak audit: every command, in every output mode and error path, with a recognisable
token and the keys the tenants really got. Everything printed, logged, written to files or
recorded in a cassette is searched: the token never appears anywhere; a tenant's keys only in the
one reveal of its `create` (never under CI) and in `credentials`. Every tenant also has a secret
by reference (fleet.yaml defaults: gateway.secrets from_env): its value reaches Railway and
appears nowhere else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from saas_infra.cli import Runtime, cli
from saas_infra.clock import FakeClock
from saas_infra.emulator import Emulator
from saas_infra.railway import RetryPolicy
from tests.conftest import START

TOKEN = "tok-AUDIT-0123456789abcdef"
WORKSPACE_TOKEN = "wstok-AUDIT-fedcba9876543210"
PROVIDER_SECRET = "sk-ant-AUDIT-from-env-5f4e3d2c1b0a"  # the CI secret gateway.secrets names
FLEET = ("version: 1\ndefaults:\n  gateway:\n    secrets:\n"
         "      ANTHROPIC_API_KEY: {from_env: LUTHIEN_ANTHROPIC_API_KEY}\n")
REPO = Path(__file__).resolve().parent.parent
KNOWN = {  # every command and the arguments the audit gives it; `emulator` is run apart
    "validate", "plan", "apply", "create", "list", "status", "redeploy", "delete",
    "cancel-delete", "whoami", "credentials", "adopt", "schema", "unlock", "doctor",
}


@dataclass
class Output:
    label: str
    text: str
    reveal: bool  # a create's one reveal, or `credentials`: keys may appear here


class Exploding(httpx.BaseTransport):
    """Raises a foreign error on the n-th request: an unexpected failure for --debug to show."""

    def __init__(self, inner: httpx.BaseTransport, n: int) -> None:
        self.inner, self.n, self.calls = inner, n, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == self.n:
            raise RuntimeError("the transport exploded (injected)")
        return self.inner.handle_request(request)


class Audit:
    """Runs the CLI against one emulator whose account token is TOKEN, keeping every output and
    every key any tenant ever had (keys rotate and tenants go, so they are gathered as we go)."""

    def __init__(self, root: Path, monkeypatch) -> None:
        self.root = root
        self.clock = FakeClock(START)
        self.emu = Emulator(clock=self.clock, seed=5, account_token=TOKEN,
                            workspace_token=WORKSPACE_TOKEN)
        self.outputs: list[Output] = []
        self.keys: set[str] = set()
        monkeypatch.chdir(root)
        (root / "tenants").mkdir()
        (root / "fleet.yaml").write_text(FLEET)

    def run(self, *args: str, ci: bool = False, reveal: bool = False, token: str | None = TOKEN,
            transport: httpx.BaseTransport | None = None, interactive: bool = False,
            input: str | None = None, env: dict | None = None):
        env = {"NO_COLOR": "1", "COLUMNS": "200", **({"RAILWAY_TOKEN": token} if token else {}),
               **({"CI": "true"} if ci else {}), "LUTHIEN_ANTHROPIC_API_KEY": PROVIDER_SECRET,
               **(env or {})}
        runtime = Runtime(env=env, clock=self.clock, transport=transport or self.emu.transport(),
                          retry=RetryPolicy(sleep=self.clock.sleep), stdin_interactive=interactive)
        result = CliRunner(env=env).invoke(cli, list(args), obj=runtime, input=input)
        label = " ".join(args) + (" [CI]" if ci else "")
        text = f"{result.stdout}\n{result.stderr}\n{result.exception!r}"
        self.outputs.append(Output(label, text, reveal and not ci))
        self.harvest_keys()
        return result

    def every_mode(self, *args: str, reveal: bool = False) -> None:
        for ci in (False, True):
            for extra in ((), ("--json",)):
                self.run(*args, *extra, ci=ci, reveal=reveal)

    def harvest_keys(self) -> None:
        for project in self.emu.snapshot()["projects"]:
            for service in project["services"]:
                for name in ("CLIENT_API_KEY", "ADMIN_API_KEY"):
                    if service["variables"].get(name):
                        self.keys.add(service["variables"][name])


# --- the session ----------------------------------------------------------------------------------


def _session(audit: Audit, monkeypatch) -> None:
    run = audit.run
    run("create", "acme", reveal=True)  # the one reveal of acme's keys
    run("create", "globex", "--json", reveal=True)  # the one reveal of globex's keys
    run("create", "initech", ci=True)  # CI: never revealed
    run("create", "hooli", "--image", "ghcr.io/luthienresearch/luthien-proxy:1.0.0",
        "--json", ci=True)
    run("create", "draft", "--no-apply")
    audit.every_mode("apply", "--yes")  # creates `draft` through a pass: no reveal there
    audit.every_mode("validate")
    audit.every_mode("schema")
    audit.every_mode("whoami")
    audit.every_mode("list")
    audit.every_mode("list", "--all")
    audit.every_mode("status", "acme")
    for ci in (False, True):
        run("plan", ci=ci)
        run("plan", "--markdown", ci=ci)
        run("plan", "--json", "--detailed-exitcode", ci=ci)
        run("plan", "--out", f"saved-plan-{ci}.json", "--at", "2027-01-01T00:00:00Z", ci=ci)
    audit.every_mode("redeploy", "acme")
    for ci in (False, True):
        run("plan", "--resync-secrets", "--markdown", ci=ci)
        run("plan", "--resync-secrets", "--out", f"resync-plan-{ci}.json", ci=ci)
        run("apply", "--yes", "--resync-secrets", "--json", ci=ci)
    run("apply", "--yes", "--plan", "resync-plan-False.json")
    run("delete", "globex", "--yes")
    run("delete", "globex", "--yes", "--json")  # a second delete: the deadline stays
    audit.every_mode("cancel-delete", "globex")
    run("delete", "hooli", "--force", "--yes", "--json")
    run("delete", "initech", "--force", interactive=True, input="y\n")
    run("credentials", "acme", reveal=True)
    run("credentials", "acme", "--json", reveal=True)
    run("credentials", "acme", ci=True)  # refused under CI
    run("credentials", "globex", "--rotate", reveal=True)
    run("credentials", "globex", "--rotate", "--json", ci=True)
    (audit.root / "tenants" / "draft.yaml").unlink()  # an orphan to adopt
    audit.every_mode("adopt", "draft")
    audit.every_mode("unlock")
    audit.every_mode("doctor")  # reads every tenant's variables, keeps none of them
    for ci in (False, True):  # the cassettes land in the audit's folder, which is searched
        run("doctor", "--live", "--yes", "--record", f"doctor-cassettes-{ci}", ci=ci)
    run("doctor", "--cleanup", "--yes", "--json")
    _error_paths(audit, monkeypatch)
    _every_other_command(audit)


def _error_paths(audit: Audit, monkeypatch) -> None:
    run = audit.run
    for args in (("whoami",), ("list", "--json"), ("plan",), ("apply", "--yes")):
        run(*args, token=TOKEN + "-revoked")  # Railway: Not Authorized
        run(*args, "--debug", token=TOKEN + "-revoked", ci=True)
    run("list", token=None)  # no RAILWAY_TOKEN at all
    run("list", token="tok AUDIT with spaces")  # refused before any request
    for args in (("list",), ("status", "acme", "--json"), ("apply", "--yes")):
        run(*args, "--debug", transport=Exploding(audit.emu.transport(), 2))
        run(*args, transport=Exploding(audit.emu.transport(), 3), ci=True)
    bad = audit.root / "tenants" / "broken.yaml"
    bad.write_text("version: 1\nname: broken\ngateway:\n  repo: x\n  SECRET_TOKEN: tok\n")
    for args in (("validate",), ("plan", "--json"), ("apply", "--yes"), ("redeploy", "acme")):
        run(*args)
        run(*args, "--debug", ci=True)
    bad.unlink()
    run("status", "nobody")
    run("delete", "nobody", "--yes", "--json")
    run("create", "Bad_Name")


def _every_other_command(audit: Audit) -> None:
    """Commands added after this audit was written still run, with no arguments and --json."""
    for name in sorted(set(cli.commands) - KNOWN - {"emulator"}):
        audit.every_mode(name)


def _emulator_command(audit: Audit, monkeypatch) -> None:
    """`emulator` with the tokens given on its command line: it must not echo them."""
    def serve(emulator, host, port, on_ready=None, **kw):  # ready at once, then "stopped"
        on_ready(f"http://{host}:{port}")

    monkeypatch.setattr("saas_infra.emulator.server.serve", serve)
    for extra in ((), ("--json",)):
        audit.run("emulator", "--account-token", TOKEN, "--workspace-token", WORKSPACE_TOKEN,
                  "--port", "0", *extra)


def _sandbox(audit: Audit) -> None:
    """The sandbox ignores RAILWAY_TOKEN: the audit token must not reach .saas-infra/ either."""
    audit.run("--help")
    for args in (("list", "--sandbox"), ("plan", "--sandbox", "--json")):
        audit.run(*args)


# --- the audit --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("audit")
    audit = Audit(root, monkeypatch)
    handler = _Capture()
    logging.getLogger().addHandler(handler)
    old_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        _session(audit, monkeypatch)
        _emulator_command(audit, monkeypatch)
        _sandbox(audit)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(old_level)
        monkeypatch.undo()
    audit.outputs.append(Output("log records (DEBUG and up)", "\n".join(handler.lines), False))
    return audit


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {self.format(record)}")


def test_the_token_appears_in_no_output_log_or_file(audited: Audit) -> None:
    leaks = [o.label for o in audited.outputs if TOKEN in o.text or WORKSPACE_TOKEN in o.text]
    leaks += [str(p) for p, text in _files(audited.root) if TOKEN in text]
    assert leaks == []


def test_keys_appear_only_in_a_creates_one_reveal_and_in_credentials(audited: Audit) -> None:
    assert len(audited.keys) >= 8  # four tenants' keys, and globex's twice (rotated)
    leaks = [f"{o.label}" for o in audited.outputs if not o.reveal and _has_key(o.text, audited)]
    assert leaks == []
    for key in audited.keys:
        creates = [o.label for o in audited.outputs
                   if o.label.startswith("create") and key in o.text]
        assert len(creates) <= 1, creates


def test_keys_are_in_no_file_but_railways_own_sandbox_state(audited: Audit) -> None:
    leaks = [str(p) for p, text in _files(audited.root)
             if ".saas-infra" not in p.parts and _has_key(text, audited)]
    assert leaks == []


def test_doctor_wrote_its_cassettes_so_their_search_is_not_blind(audited: Audit) -> None:
    for ci in (False, True):
        cassettes = sorted((audited.root / f"doctor-cassettes-{ci}").glob("*.yaml"))
        assert len(cassettes) >= 9, cassettes  # the checks and each live step


def test_the_reveals_did_show_keys_so_the_search_is_not_blind(audited: Audit) -> None:
    shown = [o.label for o in audited.outputs if o.reveal and _has_key(o.text, audited)]
    assert "create acme" in shown and "create globex --json" in shown
    assert "credentials acme" in shown and "credentials acme --json" in shown


def test_the_session_ran_every_command_and_its_error_paths(audited: Audit) -> None:
    ran = {o.label.split()[0] for o in audited.outputs}
    assert set(cli.commands) <= ran
    texts = "\n".join(o.text for o in audited.outputs)
    assert "Not Authorized" in texts
    assert "Traceback (most recent call last)" in texts  # --debug showed one
    assert "RAILWAY_TOKEN" in texts  # the missing-token message


def test_a_from_env_secret_reaches_railway_and_nothing_else(audited: Audit) -> None:
    on_railway = [p["name"] for p in audited.emu.snapshot()["projects"]
                  for service in p["services"]
                  if service["variables"].get("ANTHROPIC_API_KEY") == PROVIDER_SECRET]
    assert "luthien-acme" in on_railway  # the search below is not blind
    leaks = [o.label for o in audited.outputs if PROVIDER_SECRET in o.text]
    leaks += [str(p) for p, text in _files(audited.root) if PROVIDER_SECRET in text]
    assert leaks == []
    saved = (audited.root / "resync-plan-False.json").read_text()
    assert '"ANTHROPIC_API_KEY": "LUTHIEN_ANTHROPIC_API_KEY"' in saved  # names, never the value


def test_committed_cassettes_hold_neither_the_token_nor_keys(audited: Audit) -> None:
    for path in sorted((REPO / "tests" / "cassettes").glob("*.yaml")):
        text = path.read_text()
        assert TOKEN not in text and not _has_key(text, audited), path.name
        assert "authorization" not in text.lower(), path.name


def test_a_recorded_session_keeps_the_token_out(audited: Audit, tmp_path: Path) -> None:
    """Recording with the suite's own recorder settings (tests/test_cassettes.py) filters the
    token. Keys can still travel in listing answers, so cassettes stay hand-written."""
    from saas_infra.emulator.server import start_in_thread
    from tests.test_cassettes import make_vcr

    server, base = start_in_thread(audited.emu)  # loopback: the recording is of real HTTP
    recorder = make_vcr(cassette_library_dir=str(tmp_path), record_mode="all")
    try:
        with recorder.use_cassette("session.yaml"):
            for args in (("whoami",), ("list", "--json"), ("plan",), ("status", "acme")):
                result = audited.run(*args, transport=httpx.HTTPTransport(),
                                     env={"RAILWAY_API_URL": base + "/graphql/v2"})
                assert result.exit_code == 0, result.stderr
    finally:
        server.stop()
    recorded = (tmp_path / "session.yaml").read_text()
    assert "query Me " in recorded or "ApiToken" in recorded  # whoami was recorded
    assert TOKEN not in recorded


def _has_key(text: str, audit: Audit) -> bool:
    return any(key in text for key in audit.keys)


def _files(root: Path):
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path, path.read_text(errors="replace")
