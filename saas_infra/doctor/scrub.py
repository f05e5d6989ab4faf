"""The body filter for recorded cassettes: what Railway said, minus everything that identifies or
unlocks an account.

Removed: the Authorization header (every header not on a short allow-list), the token, every
variable value (null and "" stay null and "", so masked values still read as masked), generated
keys, passwords, connection URLs, emails, user, workspace, project and service names, domains,
cursors and lock holders. Ids are replaced by stand-ins (`project-1`, `service-2`, ...), the
same stand-in for the same id in every request and answer of a run, so references between
answers still match; tenant names likewise (`luthien-tenant-1` and `tenant=tenant-1` agree).
Kept: statuses, plans, times, template codes, sources (repo, branch, image: they come from the
manifests in git), Railway's own service names (Postgres, Redis, gateway), error messages with
every known id, name and secret replaced. A string field this module does not know is replaced
too: new fields are scrubbed until someone decides they are safe. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from saas_infra.errors import SaasInfraError
from saas_infra.marker import MARKS, mark_items
from saas_infra.tenancy import PROJECT_PREFIX, SERVICES, looks_secret

SCRUBBED = "[scrubbed]"
REQUEST_HEADERS = ("content-type", "user-agent", "x-source", "accept")
RESPONSE_HEADERS = ("content-type", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining",
                    "x-ratelimit-reset")
# Strings kept as they are, by key: enums, times, public template codes, manifest sources.
_KEEP = frozenset({
    "status", "plan", "code", "createdAt", "updatedAt", "deletedAt", "statusUpdatedAt",
    "repo", "branch", "image", "commitHash", "builder", "region", "restartPolicyType", "suffix",
    "syncStatus", "operationName", "query", "__typename", "defaultEnvironmentName",
})
_KEEP_PROJECTS = re.compile(
    r"^(saas-infra-lock|saas-infra-control|saas-infra-doctor-[0-9a-f]{1,16})$")
_KIND_OF = {  # the field an object sits under -> what its `id` and `name` are
    "projects": "project", "project": "project", "projectCreate": "project",
    "projectUpdate": "project", "services": "service", "service": "service",
    "serviceCreate": "service", "serviceConnect": "service", "environments": "environment",
    "environment": "environment", "serviceInstances": "instance", "latestDeployment": "deployment",
    "deployments": "deployment", "deployment": "deployment", "serviceDomains": "domain",
    "serviceDomainCreate": "domain", "workspaces": "workspace", "workspace": "workspace",
    "me": "user", "template": "template", "templateDeployV2": "workflow",
}
_OPERATION_KIND = {  # what a request's top-level `id` / `input.name` is, by operation
    "ProjectCreate": "project", "ProjectUpdate": "project", "ProjectDelete": "project",
    "ProjectScheduleDelete": "project", "ProjectScheduleDeleteCancel": "project",
    "Project": "project", "ServiceCreate": "service", "ServiceConnect": "service",
    "Deployment": "deployment", "VariableDelete": "variable",
    "LockRead": "project", "LockClaim": "project", "LockWrite": "project",
}
# saas-infra's own marks: a tenant's, the fleet lock's (a ticket, or the control project's
# lease), a doctor project's. Their fields are kept but for names and holders.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_URL_WITH_USER = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/@\"']+@[^\s\"']+", re.IGNORECASE)
_OPAQUE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_\-+/=.]{32,}")
_EXPRESSION = re.compile(r"^(\$\{\{[^{}]*\}\})+$")  # template functions and references only
_MIN_SECRET = 6


class ScrubError(SaasInfraError):
    """A known secret survived scrubbing: nothing is written."""


@dataclass
class Exchange:
    """One request and its answer, raw (as sent and received)."""

    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int
    reason: str
    response_headers: list[tuple[str, str]]
    response_body: bytes


class Scrubber:
    """One run's scrubber. `scrub(exchanges)` learns from all of them first, so a name or an id
    seen only in a later answer is still replaced in an earlier error message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: set[str] = {s for s in secrets if s and len(s) >= _MIN_SECRET}
        self.aliases: dict[str, str] = {}  # original id, name, cursor, domain -> stand-in
        self.tenants: dict[str, str] = {}  # tenant name -> tenant-N
        self.domains: dict[str, str] = {}  # host -> stand-in host
        self.identifying: set[str] = set()  # ids, emails, holders: verify() looks for these
        self._counts: dict[str, int] = {}
        self._learning = False

    # --- public -------------------------------------------------------------------------------

    def scrub(self, exchanges: list[Exchange]) -> list[dict]:
        """vcrpy interactions ({request, response}) for the exchanges, scrubbed."""
        self._learning = True
        for exchange in exchanges:
            self._interaction(exchange)
        self._learning = False
        return [self._interaction(exchange) for exchange in exchanges]

    def verify(self, text: str) -> None:
        """Raise ScrubError if any known secret, id or email is still in `text`."""
        left = [s for s in self.secrets | self.identifying if len(s) >= _MIN_SECRET and s in text]
        if left:
            raise ScrubError(f"{len(left)} known secrets or ids survived scrubbing")

    # --- one exchange ---------------------------------------------------------------------------

    def _interaction(self, exchange: Exchange) -> dict:
        operation, request_body = self._request_body(exchange.request_body)
        return {
            "request": {
                "body": request_body,
                "headers": _headers(exchange.request_headers, REQUEST_HEADERS),
                "method": exchange.method,
                "uri": _uri(exchange.url),
            },
            "response": {
                "body": {"string": self._response_body(exchange.response_body, operation)},
                "headers": _headers(exchange.response_headers, RESPONSE_HEADERS),
                "status": {"code": exchange.status, "message": exchange.reason},
            },
        }

    def _request_body(self, body: bytes) -> tuple[str | None, str]:
        try:
            payload = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            return None, self._text(body.decode("utf-8", "replace"))
        if not isinstance(payload, dict):
            return None, SCRUBBED
        operation = payload.get("operationName") if isinstance(
            payload.get("operationName"), str) else None
        out = {
            "query": payload.get("query") if isinstance(payload.get("query"), str) else SCRUBBED,
            "variables": self._graphql_variables(payload.get("variables") or {}, operation),
            "operationName": operation,
        }
        return operation, _compact(out)

    def _graphql_variables(self, variables: Any, operation: str | None) -> Any:
        kind = _OPERATION_KIND.get(operation or "", "id")
        if not isinstance(variables, dict):
            return self._value(variables, (), kind)
        out = {}
        for key, value in variables.items():
            if key == "input" and isinstance(value, dict):
                out[key] = {k: self._field(k, v, ("input",), kind) for k, v in value.items()}
            else:
                out[key] = self._field(key, value, (), kind)
        return out

    def _response_body(self, body: bytes, operation: str | None) -> str:
        try:
            payload = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            return self._text(body.decode("utf-8", "replace"))
        return _compact(self._value(payload, (), _OPERATION_KIND.get(operation or "", "id")))

    # --- the walk -------------------------------------------------------------------------------

    def _value(self, value: Any, path: tuple[str, ...], kind: str) -> Any:
        if isinstance(value, dict):
            return {k: self._field(k, v, path, kind) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(item, path, kind) for item in value]
        if isinstance(value, str):
            return self._string(path[-1] if path else "", value, kind)
        return value

    def _field(self, key: str, value: Any, path: tuple[str, ...], kind: str) -> Any:
        here = (*path, key)
        if key in ("variables", "sharedVariables") and path != () and isinstance(value, dict):
            return self._env_variables(value)
        if key == "serializedConfig":
            return _same_form(value, self._template_config)
        if key == "config":
            return _same_form(value, self._environment_config)
        if key == "meta":
            return _same_form(value, self._meta)
        if key == "path" and isinstance(value, list):  # an error's path: field names, indexes
            return [v if isinstance(v, int) or isinstance(v, str) and v.isidentifier()
                    else SCRUBBED for v in value]
        return self._value(value, here, _KIND_OF.get(key, kind))

    def _string(self, key: str, value: str, kind: str) -> str:
        if not value:
            return value
        if key in _KEEP:
            return value
        if key == "id":
            return self._alias(value, kind, identifying=True)
        if key.endswith("Id"):
            return self._alias(value, key[:-2] or "id", identifying=True)
        if key in ("endCursor", "startCursor", "cursor", "after", "before"):
            return self._alias(value, "cursor")
        if key == "name":
            return self._name(value, kind)
        if key in ("serviceName",):
            return self._name(value, "service")
        if key == "username":
            return self._alias(value, "user")
        if key == "email":
            return self._alias(value, "email", identifying=True)
        if key == "description":
            return self._description(value)
        if key in ("domain", "url", "staticUrl"):
            return self._domain(value)
        if key in ("message", "error"):
            return self._text(value)
        return SCRUBBED

    # --- names, markers, domains ------------------------------------------------------------

    def _name(self, value: str, kind: str) -> str:
        if kind == "project":
            if _KEEP_PROJECTS.match(value):
                return value
            if value.startswith(PROJECT_PREFIX):
                return PROJECT_PREFIX + self._tenant(value.removeprefix(PROJECT_PREFIX))
            return self._alias(value, "project-name")
        if kind == "service":
            return value if value in SERVICES else self._alias(value, "service-name")
        if kind == "environment":
            return value if value == "production" else self._alias(value, "environment-name")
        if kind in ("template", "variable"):
            return value  # public template names; a variable's name is not its value
        if kind in ("workspace", "user"):
            return self._alias(value, f"{kind}-name")
        return self._alias(value, "name")

    def _tenant(self, name: str) -> str:
        if name not in self.tenants:
            self.tenants[name] = f"tenant-{len(self.tenants) + 1}"
            self.aliases.setdefault(f"luthien-{name}", f"luthien-{self.tenants[name]}")
        return self.tenants[name]

    def _description(self, value: str) -> str:
        markers = [self._marker(m) for m in MARKS.finditer(value)]
        rest = MARKS.sub("", value).strip()
        return " ".join(([SCRUBBED] if rest else []) + markers)

    def _marker(self, match: re.Match) -> str:
        out = []
        for key, value in mark_items(match.group("body")):
            if key == "tenant":
                value = self._tenant(value)
            elif key == "holder":
                value = self._alias(value, "holder", identifying=True)
            out.append(f"{key}={value}")
        body = " " + " ".join(out) if out else ""
        return f"[saas-infra{match.group('kind') or ''}{body}]"

    def _domain(self, value: str) -> str:
        parts = urlsplit(value if "://" in value else f"//{value}")
        host = parts.hostname or value
        if host not in self.domains:
            suffix = ".up.railway.app" if host.endswith(".up.railway.app") else ".example.invalid"
            self.domains[host] = f"domain-{len(self.domains) + 1}{suffix}"
            self.identifying.add(host)
        stand_in = self.domains[host]
        if "://" not in value:
            return stand_in
        return urlunsplit((parts.scheme, stand_in, parts.path, "", ""))

    def _alias(self, value: str, kind: str, *, identifying: bool = False) -> str:
        if identifying:
            self.identifying.add(value)
        if value in self.aliases:
            return self.aliases[value]
        count = self._counts.get(kind, 0) + 1
        self._counts[kind] = count
        alias = f"{kind}-{count}@example.invalid" if kind == "email" else f"{kind}-{count}"
        self.aliases[value] = alias
        return alias

    # --- variables and configs --------------------------------------------------------------

    def _env_variables(self, variables: dict) -> dict:
        return {name: self._env_value(name, spec) for name, spec in variables.items()}

    def _env_value(self, name: str, spec: Any) -> Any:
        if isinstance(spec, dict):
            out = {}
            for key, value in spec.items():
                if key in ("value", "defaultValue"):
                    out[key] = self._secret(name, value, keep_expressions=key == "defaultValue")
                elif key == "isOptional" or not isinstance(value, str):
                    out[key] = value
                else:
                    out[key] = SCRUBBED
            return out
        return self._secret(name, spec, keep_expressions=False)

    def _secret(self, name: str, value: Any, *, keep_expressions: bool) -> Any:
        if not isinstance(value, str) or not value:
            return value  # null stays null (masked), "" stays ""
        if keep_expressions and _EXPRESSION.match(value):
            return value  # `${{secret(32)}}`, `${{POSTGRES_USER}}`: instructions, not values
        # Railway's own RAILWAY_* values are names, ids and domains, handled where they occur.
        worth = not name.startswith("RAILWAY_") and (
            looks_secret(name) or len(value) >= 16 or "://" in value or "@" in value)
        if self._learning and worth and len(value) >= _MIN_SECRET and not _EXPRESSION.match(value):
            self.secrets.add(value)
        return SCRUBBED

    def _template_config(self, config: Any) -> Any:
        """A template's config is Railway's public data, except the variable values in it."""
        if isinstance(config, dict):
            return {k: (self._env_variables(v) if k == "variables" and isinstance(v, dict)
                        else self._template_config(v)) for k, v in config.items()}
        if isinstance(config, list):
            return [self._template_config(v) for v in config]
        return config

    def _environment_config(self, config: Any) -> Any:
        if not isinstance(config, dict):
            return self._value(config, ("config",), "id")
        out = {}
        for key, value in config.items():
            if key == "services" and isinstance(value, dict):
                out[key] = {self._alias(sid, "service", identifying=True):
                            self._value(entry, ("services",), "service")
                            for sid, entry in value.items()}
            elif key == "sharedVariables" and isinstance(value, dict):
                out[key] = self._env_variables(value)
            else:
                out[key] = self._field(key, value, ("config",), "id")
        return out

    def _meta(self, meta: Any) -> Any:
        if not isinstance(meta, dict):
            return meta if meta is None else SCRUBBED
        return {k: (v if k in _KEEP or not isinstance(v, (str, dict, list)) else
                    self._value(v, ("meta", k), "id")) for k, v in meta.items()}

    # --- free text ------------------------------------------------------------------------------

    def _text(self, text: str) -> str:
        """A message or a page: every known secret, id and name replaced, then patterns."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, SCRUBBED)
        known = {**self.aliases, **self.domains}
        for original, alias in sorted(known.items(), key=lambda kv: -len(kv[0])):
            if len(original) >= 3:
                text = re.sub(rf"(?<![\w-]){re.escape(original)}(?![\w-])", alias, text)
        text = _URL_WITH_USER.sub(SCRUBBED, text)
        text = _EMAIL.sub(self._email, text)
        return _OPAQUE.sub(SCRUBBED, text)


    def _email(self, match: re.Match) -> str:
        found = match.group(0)
        if found.endswith("@example.invalid"):  # a stand-in already
            return found
        return self._alias(found, "email", identifying=True)


def _same_form(value: Any, scrub) -> Any:
    """Scrub JSON that Railway may send as an object or as a string holding one."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return SCRUBBED
        return _compact(scrub(parsed))
    return scrub(value)


def _headers(headers: list[tuple[str, str]], allowed: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in headers:
        if name.lower() in allowed:
            out.setdefault(name, []).append(value)
    return out


def _uri(url: str) -> str:
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k == "source"])
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=False)
