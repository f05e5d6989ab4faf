"""Tools around the reconciler: `schema` (the manifest's JSON Schema) and `emulator` (the local
Railway emulator over HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from saas_infra.errors import ConfigError
from saas_infra.render import text
from saas_infra.runtime import is_loopback, url_host

from .base import EXIT_OK, Session, command, common


@command()
@common
def schema(s: Session) -> int:
    """Print the JSON Schema of the tenant manifest format."""
    from saas_infra import manifest

    s.console.data(json.dumps(manifest.json_schema(), indent=2))
    return EXIT_OK


@command()
@common
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback lets other machines in.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--state", "state_file", type=click.Path(path_type=Path),
              help="Keep the emulator's state in this JSON file across restarts.")
@click.option("--account-token", help="The personal account token it accepts [random].")
@click.option("--workspace-token", help="The workspace token it accepts [random].")
@click.option("--rate-per-second", type=click.IntRange(min=1), default=50, show_default=True,
              help="Requests a token may make per second before a 429 (Railway Pro: 50).")
@click.option("--rate-per-hour", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Requests a token may make per hour before a 429 (Railway Pro: 10,000).")
def emulator(s: Session, host: str, port: int, state_file: Path | None,
             account_token: str | None, workspace_token: str | None, rate_per_second: int,
             rate_per_hour: int) -> int:
    """Serve the local Railway emulator over HTTP (POST /graphql/v2).

    Point saas-infra at it with RAILWAY_API_URL=http://HOST:PORT/graphql/v2 and one of the
    printed tokens as RAILWAY_API_TOKEN.
    """
    from saas_infra.emulator import Emulator, RateLimits
    from saas_infra.emulator.server import serve

    emu = Emulator(
        state_file=state_file,
        account_token=account_token,
        workspace_token=workspace_token,
        rate_limits=RateLimits(per_second=rate_per_second, per_hour=rate_per_hour),
    )
    listening = []

    def ready(base_url: str) -> None:  # only once the port is ours: a busy one fails first
        listening.append(base_url)
        _ready(s, emu, host, base_url, given=(account_token, workspace_token))

    try:
        serve(emu, host=host, port=port, on_ready=ready)
    except OSError as exc:
        if listening:
            raise
        raise ConfigError(f"the emulator cannot listen on {host}:{port}: {exc.strerror or exc}",
                          hint="choose another --port (0 picks a free one) or --host") from None
    return EXIT_OK


def _ready(s: Session, emu: Any, host: str, base_url: str,
           given: tuple[str | None, str | None]) -> None:
    port = base_url.rsplit(":", 1)[1]
    # Tokens are printed only when the emulator made them up: one given on the command line
    # may be a real token reused, and the token never appears in output.
    info = {
        "url": f"http://{url_host(host)}:{port}/graphql/v2",
        "workspace_id": emu.workspace_id,
        "account_token": None if given[0] else emu.account_token,
        "workspace_token": None if given[1] else emu.workspace_token,
    }
    if not is_loopback(host):
        s.show([text.exposed(host, "the emulator",
                             ", and anyone with a printed token can use it")])
    s.show_or_emit(text.emulator_lines(info), info)


COMMANDS = [schema, emulator]
