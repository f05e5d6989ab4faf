"""The demo web UI (`python -m saas_infra.demo`): the fleet, its plan and the operator's verbs in
a browser, through saas_infra.verbs exactly like the command line.

A demo tool, not a production service, yet safe by default: loopback only, an access token,
a Host check, CSRF tokens and a strict Content-Security-Policy. It never re-implements a verb.
"""

from .app import create_app

__all__ = ["create_app"]
