"""What a converged fleet looks like, checked on the emulator's own state rather than through the
client, so a mistake in the client cannot hide itself. Shared by the chaos runner and the
crash-at-every-step matrix. Expectations are written out here independently of diff.py; every
check returns violations as sentences and never raises.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import datetime

from saas_infra.clock import format_time
from saas_infra.lock import CONTROL_PROJECT, parse_lease
from saas_infra.marker import parse_marker

SERVICES = ["Postgres", "Redis", "gateway"]
KEYS = ("CLIENT_API_KEY", "ADMIN_API_KEY")
REFERENCES = {"DATABASE_URL": "${{Postgres.DATABASE_URL}}", "REDIS_URL": "${{Redis.REDIS_URL}}"}


def due(manifest, now: datetime) -> bool:
    """The tombstone allows deletion now: forced, or its deadline has passed."""
    deletion = manifest.deletion
    return deletion is not None and (deletion.force or now >= deletion.deadline)


def tenant_of(project: dict) -> str | None:
    marker = parse_marker(project.get("description"))
    return marker.tenant if marker else None


def live_by_tenant(snapshot: dict) -> dict[str, list[dict]]:
    """Managed projects not in Railway's scheduled delete, by tenant."""
    out: dict[str, list[dict]] = {}
    for project in snapshot["projects"]:
        tenant = tenant_of(project)
        if tenant and project["deletedAt"] is None:
            out.setdefault(tenant, []).append(project)
    return out


def fleet_violations(snapshot: dict, manifests: Iterable, now: datetime, *,
                     spy: DeploySpy | None = None, orphans: Iterable[str] = (),
                     unmanaged: dict[str, str] | None = None) -> list[str]:
    """Every way Railway differs from the manifests. `orphans`: tenants whose manifest was removed
    on purpose; `unmanaged`: project id -> description of projects saas-infra must never touch."""
    live = live_by_tenant(snapshot)
    pending: dict[str, int] = {}
    for project in snapshot["projects"]:
        if tenant_of(project) and project["deletedAt"] is not None:
            pending[tenant_of(project)] = pending.get(tenant_of(project), 0) + 1
    out: list[str] = []
    names = set()
    for manifest in manifests:
        names.add(manifest.name)
        mine = live.get(manifest.name, [])
        if len(mine) + pending.get(manifest.name, 0) > 1:
            out.append(f"{manifest.name}: {len(mine)} live and {pending.get(manifest.name, 0)} "
                       "scheduled-for-deletion projects; at most one project per tenant")
        if due(manifest, now):
            out += [f"{manifest.name}: its deletion is due, yet project {p['id']} is live"
                    for p in mine]
        elif manifest.deletion and not mine:
            # Never created and going anyway: fine, unless Railway is deleting it days early.
            if pending.get(manifest.name):
                out.append(f"{manifest.name}: in Railway's scheduled delete before its deadline")
        elif len(mine) != 1:
            out.append(f"{manifest.name}: {len(mine)} live projects, expected exactly 1")
        else:
            out += [f"{manifest.name}: {problem}"
                    for problem in project_violations(manifest, mine[0], spy)]
    for tenant in sorted(set(live) - names - set(orphans)):
        out.append(f"{tenant}: a managed project with no manifest (nobody orphaned it)")
    out += stray_violations(snapshot, unmanaged or {}, now)
    return out


def stray_violations(snapshot: dict, unmanaged: dict[str, str], now: datetime) -> list[str]:
    """Projects without our marker must be the unmanaged ones we planted, untouched, or the fleet
    lock's one control project: no services, and no live lease once every pass ended (a dead
    pass's may stand until it runs out; the next pass that locks takes over)."""
    out = []
    present = {p["id"]: p for p in snapshot["projects"]}
    controls = []
    for project in snapshot["projects"]:
        if tenant_of(project) is not None or project["id"] in unmanaged:
            continue
        if project["name"] == CONTROL_PROJECT:
            if project["deletedAt"] is None:  # a second one, made in a race, is deleted at once
                controls.append(project)
            continue
        out.append(f"stray project {project['id']} ({project['name']}) without a marker")
    if len(controls) > 1:
        out.append(f"{len(controls)} fleet-lock control projects, expected at most one")
    for control in controls:
        if control["services"]:
            out.append(f"the fleet lock's control project {control['id']} has services")
        lease = parse_lease(control["description"])
        if lease is not None and not lease.expired(now):
            out.append(f"the fleet lock is still held by {lease.holder}, after every pass ended")
    for project_id, description in unmanaged.items():
        project = present.get(project_id)
        if project is None or project["deletedAt"] is not None:
            out.append(f"unmanaged project {project_id} was deleted")
        elif project["description"] != description:
            out.append(f"unmanaged project {project_id} was changed")
    return out


def project_violations(manifest, project: dict, spy: DeploySpy | None = None) -> list[str]:
    names = sorted(s["name"] for s in project["services"])
    if names != sorted(SERVICES):
        return [f"services are {names}, expected exactly {SERVICES}"]
    gateway = next(s for s in project["services"] if s["name"] == "gateway")
    out = gateway_violations(manifest, gateway)
    out += marker_violations(manifest, project)
    if spy is not None and gateway["id"] in spy.undeployed():
        out.append("a gateway variable change was never deployed")
    return out


def gateway_violations(manifest, gateway: dict) -> list[str]:
    out = []
    spec = manifest.gateway
    auth_mode = getattr(spec.auth_mode, "value", spec.auth_mode)
    wanted = {**(spec.variables or {}), **REFERENCES, "AUTH_MODE": str(auth_mode)}
    raw = gateway["variables"]
    have = {k: v for k, v in raw.items() if k not in KEYS and not k.startswith("RAILWAY_")}
    if have != wanted:
        out.append(f"gateway variables {sorted(have.items())} != {sorted(wanted.items())}")
    missing = [key for key in KEYS if not raw.get(key)]
    if missing:
        out.append(f"gateway keys missing: {missing}")
    source = gateway["source"] or {}
    if spec.image:
        right = source.get("image") == spec.image and not source.get("repo")
    else:
        right = (source.get("repo"), source.get("branch")) == (spec.repo, spec.branch or "main")
    if not right:
        out.append(f"gateway source {source} does not match the manifest")
    if len(gateway["domains"]) != 1:
        out.append(f"gateway has {len(gateway['domains'])} domains, expected 1")
    if not gateway["deployments"]:
        out.append("gateway was never deployed")
    return out


def marker_violations(manifest, project: dict) -> list[str]:
    marker = parse_marker(project["description"])
    deletion = manifest.deletion
    deadline = deletion.deadline if deletion and not deletion.force else None
    redeploy = format_time(manifest.redeploy.requested_at) if manifest.redeploy else None
    # The last redeploy honoured; with none asked for, whatever a restored project carries is fine.
    seen = marker.redeploy if redeploy else None
    if (marker.delete_after, seen) != (deadline, redeploy):
        said = f"delete-after={marker.delete_after} redeploy={marker.redeploy}"
        return [f"marker says {said}, the manifest {deadline} and {redeploy}"]
    return []


def deletion_violations(before: dict[str, str], snapshot: dict, manifests: Iterable,
                        now: datetime) -> list[str]:
    """`before`: live project id -> tenant before a round. Each one gone (or in Railway's
    scheduled delete) since must belong to a tenant whose tombstone was forced or expired."""
    still = {p["id"] for p in snapshot["projects"] if p["deletedAt"] is None}
    allowed = {m.name for m in manifests if due(m, now)}
    return [
        f"{tenant}: project {project_id} was deleted without an expired or forced tombstone"
        for project_id, tenant in sorted(before.items())
        if project_id not in still and tenant not in allowed
    ]


class DeploySpy:
    """Watches requests and answers for variable writes and deploys, per service, in order, to
    find a variable change that no later deploy picked up (a crash between the two)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self.writes: dict[str, int] = {}
        self.deploys: dict[str, int] = {}

    def record(self, request_body: bytes, status: int, answer: bytes) -> None:
        try:
            payload = json.loads(request_body or b"{}")
            body = json.loads(answer or b"{}") if status == 200 else {}
        except ValueError:
            return
        if not isinstance(body, dict) or body.get("errors") or not body.get("data"):
            return  # refused or not executed: nothing changed
        for kind, service_id in _effects(payload, body["data"]):
            with self._lock:
                self._seq += 1
                (self.writes if kind == "write" else self.deploys)[service_id] = self._seq

    def undeployed(self) -> set[str]:
        with self._lock:
            return {s for s, seq in self.writes.items() if self.deploys.get(s, 0) < seq}


def _effects(payload: dict, data: dict) -> list[tuple[str, str]]:
    """(write|deploy, service id) for one executed operation, in the order they took effect."""
    name = payload.get("operationName")
    variables = payload.get("variables") or {}
    given = variables.get("input") or {}
    if name == "VariableCollectionUpsert":
        effects = [("write", given.get("serviceId"))]
        return effects + ([] if given.get("skipDeploys") else [("deploy", given.get("serviceId"))])
    if name == "VariableDelete":  # Railway has no skipDeploys here: a delete always redeploys
        return [("write", given.get("serviceId")), ("deploy", given.get("serviceId"))]
    if name in ("ServiceInstanceDeploy", "ServiceInstanceDeployV2", "ServiceInstanceRedeploy"):
        return [("deploy", variables.get("serviceId"))]
    if name == "ServiceConnect":
        return [("deploy", variables.get("id"))]
    if name == "ServiceCreate":
        return [("deploy", (data.get("serviceCreate") or {}).get("id"))]
    return []
