"""`saas-infra emulator`: a port that cannot be had fails before any "listening" line, the printed
export line is complete, a non-loopback host is warned about, and every option has help."""

from __future__ import annotations

import json
import re
import socket

import click
import pytest
from click.testing import CliRunner

from saas_infra.cli import cli


def run(*args: str, serve=None, monkeypatch=None):
    if serve is not None:
        monkeypatch.setattr("saas_infra.emulator.server.serve", serve)
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "200"})
    return runner.invoke(cli, ["emulator", *args], catch_exceptions=False)


def ready_at_once(emulator, host, port, on_ready=None, **kw):
    """The real serve() calls on_ready once bound, then blocks; this one returns at once."""
    on_ready(f"http://{host}:{port}")


def test_a_port_in_use_fails_before_listening_is_announced():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--port", str(port))

    assert result.exit_code == 1
    assert "listening" not in result.output
    assert "token" not in result.output
    assert result.stderr.splitlines()[0] == (
        f"Error: the emulator cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "unexpected" not in result.stderr


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_port_out_of_range_is_a_usage_error(port):
    result = run("--port", port)

    assert result.exit_code == 1
    assert f"Invalid value for '--port': {port} is not in the range 0<=x<=65535" in result.stderr
    assert "listening" not in result.output


def test_the_export_line_carries_the_url_and_the_printed_token(monkeypatch):
    result = run("--port", "8787", serve=ready_at_once, monkeypatch=monkeypatch)

    assert result.exit_code == 0, result.stderr
    token = re.search(r"account token    (\S+)", result.stderr).group(1)
    assert result.stderr.splitlines()[-1] == (
        f"  export RAILWAY_API_URL=http://127.0.0.1:8787/graphql/v2 RAILWAY_API_TOKEN={token}")
    assert "Listening on" not in result.stderr  # loopback: no warning


def test_a_given_token_is_not_echoed_in_the_export_line(monkeypatch):
    result = run("--account-token", "tok-given-123456", serve=ready_at_once,
                 monkeypatch=monkeypatch)

    assert "tok-given-123456" not in result.output
    assert result.stderr.splitlines()[-1] == (
        "  export RAILWAY_API_URL=http://127.0.0.1:8787/graphql/v2 "
        "RAILWAY_API_TOKEN=<your --account-token>")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7"])
def test_a_non_loopback_host_is_warned_about(monkeypatch, host):
    result = run("--host", host, "--json", serve=ready_at_once, monkeypatch=monkeypatch)

    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(f"Listening on {host}: other machines can reach the emulator")
    shown = "127.0.0.1" if host == "0.0.0.0" else host  # a wildcard is reached through loopback
    assert json.loads(result.stdout)["url"] == f"http://{shown}:8787/graphql/v2"


def test_every_option_has_help():
    command = cli.commands["emulator"]
    missing = [p.name for p in command.params
               if isinstance(p, click.Option) and not p.help]
    assert missing == []
    text = CliRunner().invoke(cli, ["emulator", "--help"], terminal_width=200).output
    assert "--rate-per-second INTEGER RANGE" in text and "Requests a token may make per" in text
