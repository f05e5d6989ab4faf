"""`python -m saas_infra.demo`: serve the demo web UI on 127.0.0.1 behind a fresh access token.

Builds the fleet from the same composition root as the command line (saas_infra.runtime,
--sandbox included) and prints the one URL that carries the token. Request logging stays off:
URLs can hold it.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import click
import uvicorn

from saas_infra.errors import SaasInfraError
from saas_infra.render import text
from saas_infra.runtime import Runtime, is_loopback, url_host

from .app import RAILWAY_REFRESH_MS, SANDBOX_REFRESH_MS, create_app

DEFAULT_PORT = 8899


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int,
              help="Port to listen on (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep it loopback: this is a demo tool.")
@click.option("--sandbox", is_flag=True,
              help="Use the embedded Railway emulator (state in .saas-infra/), not Railway.")
@click.option("--tenants-dir", type=click.Path(path_type=Path), default=None,
              help="Folder of tenant manifests [default: ./tenants].")
@click.pass_context
def main(ctx: click.Context, port: int, host: str, sandbox: bool, tenants_dir: Path | None) -> None:
    """Serve the saas-infra demo web UI: list, create, redeploy and delete tenants in a browser."""
    runtime = Runtime(sandbox_holder="the demo")  # what a command waiting for it is told
    console = runtime.console()
    try:
        settings = runtime.settings(sandbox=sandbox, tenants_dir=tenants_dir)
        fleet = runtime.fleet(settings)
        workspace = fleet.workspace()  # a wrong token fails here, not on the first page view
    except SaasInfraError as exc:
        for line in text.error_lines(exc):
            console.message(line.text, line.style)
        ctx.exit(exc.exit_code)
    sock = listen(host, port)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(32)
    app = create_app(
        fleet, token=token, port=port, host=host,
        mode=text.demo_mode(settings.sandbox_dir if sandbox else None, workspace,
                            settings.tenants_dir),
        health_client=runtime.health_client(settings),
        show_keys=not settings.ci,
        refresh_ms=SANDBOX_REFRESH_MS if sandbox else RAILWAY_REFRESH_MS,
        sandbox=sandbox,
    )
    lines = [] if is_loopback(host) else [
        text.exposed(host, "the demo", " (the token still guards it)")]
    for line in lines + text.demo_ready(f"http://{url_host(host)}:{port}/?token={token}"):
        console.message(line.text, line.style)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def listen(host: str, port: int) -> socket.socket:
    """Bind first, so that port 0 becomes a real port before the app (and its Host check) exist."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


if __name__ == "__main__":
    main(prog_name="python -m saas_infra.demo")
