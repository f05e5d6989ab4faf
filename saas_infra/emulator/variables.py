"""Variable references, rendered on read: `${{Service.VAR}}`, `${{shared.VAR}}`, `${{VAR}}`.

Values are stored raw; rendering happens per request against the current state, resolving the
Railway-provided RAILWAY_* variables of each service instance. A reference to something missing
renders as "", and an unevaluated template function (`${{secret()}}`) stays literal, as reported
for Railway. Read-only over State.
"""

from __future__ import annotations

import re

from .state import Instance, State, instance_key

_REFERENCE = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_FUNCTION = re.compile(r"^\w+\(.*\)$")
_MAX_DEPTH = 12  # references of references; deeper (or cyclic) chains render as ""


def private_domain(service_name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", service_name.lower()).strip("-") + ".railway.internal"


def provided(state: State, instance: Instance) -> dict[str, str]:
    """The RAILWAY_* variables Railway injects into this service instance."""
    project = state.projects[instance.project_id]
    environment = state.environments[instance.environment_id]
    service = state.services[instance.service_id]
    out = {
        "RAILWAY_PROJECT_NAME": project.name,
        "RAILWAY_PROJECT_ID": project.id,
        "RAILWAY_ENVIRONMENT_NAME": environment.name,
        "RAILWAY_ENVIRONMENT_ID": environment.id,
        "RAILWAY_SERVICE_NAME": service.name,
        "RAILWAY_SERVICE_ID": service.id,
        "RAILWAY_PRIVATE_DOMAIN": private_domain(service.name),
    }
    if instance.domains:
        out["RAILWAY_PUBLIC_DOMAIN"] = instance.domains[0]
    return out


class Renderer:
    """Renders the values of one environment; caches per-instance lookups for one request."""

    def __init__(self, state: State, environment_id: str) -> None:
        self.state = state
        self.environment = state.environments[environment_id]
        project = state.projects[self.environment.project_id]
        self._by_name = {state.services[sid].name: sid for sid in project.service_ids}
        self._provided: dict[str, dict[str, str]] = {}

    def service_variables(self, instance: Instance) -> dict[str, str]:
        """Provided RAILWAY_* values overlaid with the service's own, all rendered."""
        merged = {**self._provided_for(instance), **instance.variables}
        return {name: self._render(value, instance, 0) for name, value in merged.items()}

    def shared_variables(self) -> dict[str, str]:
        shared = self.environment.shared_variables
        return {name: self._render(value, None, 0) for name, value in shared.items()}

    def _provided_for(self, instance: Instance) -> dict[str, str]:
        if instance.id not in self._provided:
            self._provided[instance.id] = provided(self.state, instance)
        return self._provided[instance.id]

    def _render(self, value: str, instance: Instance | None, depth: int) -> str:
        if "${{" not in value:
            return value
        return _REFERENCE.sub(
            lambda m: self._resolve(m.group(0), m.group(1), instance, depth), value
        )

    def _resolve(self, literal: str, inner: str, instance: Instance | None, depth: int) -> str:
        if _FUNCTION.match(inner):
            return literal
        if depth >= _MAX_DEPTH:
            return ""
        namespace, _, name = inner.rpartition(".")
        namespace, name = namespace.strip(), name.strip()
        if namespace == "shared" or (not namespace and instance is None):
            raw = self.environment.shared_variables.get(name)
            return "" if raw is None else self._render(raw, None, depth + 1)
        target = instance if not namespace else self._instance_named(namespace)
        if target is None:
            return ""
        raw = target.variables.get(name)
        if raw is None:
            raw = self._provided_for(target).get(name)
        return "" if raw is None else self._render(raw, target, depth + 1)

    def _instance_named(self, service_name: str) -> Instance | None:
        service_id = self._by_name.get(service_name)
        if service_id is None:
            return None
        return self.state.instances.get(instance_key(service_id, self.environment.id))
