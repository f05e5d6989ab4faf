"""What an emulated gateway answers at https://<service domain>/<path>: its health.

The deployment that serves is the newest one that went live. Newer ones still in progress,
waiting, failed (build or health check) or skipped never replaced it, so it keeps serving
(railwayapp/docs content/docs/deployments/reference.md, "Singleton deploys": the old version is
removed once the new one is online; content/guides/ship-on-merge-pr-canaries.md: after a failed
health check "the previous one keeps serving traffic"). A crashed or removed one serves nothing.
A serving deployment answers 200, or 503 when its version is unhealthy (commits.py); a sleeping
one wakes on the request (docs content/docs/deployments/serverless.md).

Reached in-process through the transport (any request to a *.up.railway.app host), over HTTP by a
Host header naming the domain, or at /_emulator/gateway/<domain>/<path> on the emulator's own
port (controls.py; probes.py maps public URLs there for clients).
"""

from __future__ import annotations

from typing import Any

from . import lifecycle
from .state import Instance, State, instance_key

GATEWAY_SUFFIX = ".up.railway.app"
HEALTH_PATH = "/health"
_NEVER_SERVED = ("CRASHED", "REMOVING", "REMOVED")


def serving(state: State, instance: Instance, now: float):
    """The deployment answering the gateway's requests, or None when nothing serves."""
    for deployment_id in reversed(instance.deployment_ids):
        deployment = state.deployments[deployment_id]
        status = lifecycle.deployment_status(state, deployment, now)[0]
        if status in lifecycle.RUNNING:
            return deployment
        if status in _NEVER_SERVED:
            return None  # it had replaced the ones before it
    return None


def answer(state: State, host: str, path: str, now: float) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of a request to the gateway at `host`."""
    domain = state.domains.get(host.lower())
    if domain is None:
        return 404, {"status": "error", "code": 404, "message": "Application not found"}
    if path.rstrip("/") != HEALTH_PATH:
        return 404, {"detail": "Not Found"}
    instance = state.instances[instance_key(domain.service_id, domain.environment_id)]
    deployment = serving(state, instance, now)
    if deployment is None:
        return 503, {"status": "unavailable"}
    if deployment.unhealthy:
        return 503, {"status": "unhealthy"}
    return 200, {"status": "healthy"}
