"""The Emulator: one in-memory Railway that answers raw HTTP requests (method, URL, headers, body).

Request path: count → edge faults (latency, reset, 5xx, Cloudflare 429) → per-token rate limit →
parse and validate (cached by document text) → execute under the state lock (queries through
fastexec's compiled plans, mutations through graphql-core) → Railway-shaped JSON. It never
imports saas_infra.railway: it must not share the client's mistakes.
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    execute,
    parse,
    validate,
)

from saas_infra.clock import Clock, SystemClock

from . import commits, controls, fastexec, gateway, github, lifecycle, names, ops, triggers
from .context import ApiFailure, RequestContext
from .faults import Answer, FaultDice, Faults, GatewayTimeout
from .ratelimit import RateLimiter, RateLimits, Verdict
from .schema import executable_schema
from .snapshot import snapshot
from .state import (
    Grant,
    Instance,
    State,
    User,
    Workspace,
    from_json,
    instance_key,
    to_json,
    write_atomically,
)

log = logging.getLogger("saas_infra.emulator")

GRAPHQL_PATH = "/graphql/v2"
GATEWAY_SUFFIX = gateway.GATEWAY_SUFFIX
_JSON = {"Content-Type": "application/json"}
_DOCUMENT_CACHE_SIZE = 512


class _Prepared:
    """A valid document and, per operation name, its compiled fast plan (None: use graphql-core)."""

    def __init__(self, document: DocumentNode) -> None:
        self.document = document
        self._plans: dict[str | None, fastexec.Plan | None] = {}

    def plan(self, schema: GraphQLSchema, operation_name: str | None) -> fastexec.Plan | None:
        if operation_name not in self._plans:
            self._plans[operation_name] = fastexec.compile_query(
                schema, self.document, operation_name
            )
        return self._plans[operation_name]


def _never_awaitable(_value: Any) -> bool:
    return False  # every resolver is synchronous; skips graphql-core's per-field check


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, {**_JSON, **(headers or {})}, json.dumps(body, separators=(",", ":")).encode()


class Emulator:
    """One emulated Railway account: a user, its workspaces, an account and a workspace token.

    clock drives every life cycle (FakeClock in tests); seed makes ids, secrets and fault draws
    replayable; rate_limits defaults to the plan's (FREE/HOBBY/PRO); state_file, when given, is
    loaded at start if present and rewritten after every mutation; extra_workspaces adds
    workspaces the account token reaches (then workspaceId becomes required); deploy_seconds is
    how long a deployment takes from QUEUED to SUCCESS.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        seed: int = 0,
        rate_limits: RateLimits | None = None,
        plan: str = "PRO",
        state_file: str | Path | None = None,
        account_token: str | None = None,
        workspace_token: str | None = None,
        extra_workspaces: int = 0,
        deploy_seconds: float = 6.0,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.seed = seed
        self.plan = plan.upper()
        self.deploy_seconds = float(deploy_seconds)
        self.rate_limits = rate_limits or RateLimits.for_plan(self.plan)
        self.state_file = Path(state_file) if state_file is not None else None
        self.faults = Faults()
        # What Workspace.projectCount counts is unsourced (resolvers.workspace_project_count):
        # True counts projects pending deletion, False leaves them out.
        self.project_count_pending = True
        self.counts: Counter[str] = Counter()
        self.rng = random.Random(f"ids:{seed}")  # ids, names, secrets: persisted with the state
        self._dice = FaultDice(seed)
        self._traces = random.Random(f"traces:{seed}")
        self._limiter = RateLimiter(self.rate_limits)
        self._lock = threading.RLock()
        self._cooldowns: dict[str, float] = {}
        self._overlaps = 0  # template deploys that overlapped a running workflow
        self._documents: dict[str, _Prepared | list[dict[str, Any]]] = {}
        self._schema = executable_schema()
        if self.state_file is not None and self.state_file.exists():
            state = _read_state(self.state_file)
        else:
            state = self._fresh_state(extra_workspaces)
        self._adopt(state, account_token, workspace_token)

    # --- identity ------------------------------------------------------------------------------

    def _fresh_state(self, extra_workspaces: int) -> State:
        now = self._now()
        user = User(names.new_id(self.rng), "Emulated User", "user@example.com", "emulated", now)
        titles = ["Emulated Workspace"] + [
            f"Extra Workspace {n}" for n in range(1, extra_workspaces + 1)
        ]
        workspaces = {}
        for name in titles:
            workspace = Workspace(names.new_id(self.rng), name, self.plan, now)
            workspaces[workspace.id] = workspace
        state = State(user=user, workspaces=workspaces, tokens={}, triggers_modelled=True)
        commits.seed(state)  # the gateway repository's known commits (test fixtures)
        return state

    def _adopt(self, state: State, account_token: str | None, workspace_token: str | None) -> None:
        """Make `state` current; explicit tokens replace stored ones, missing ones are generated."""
        with self._lock:
            self.state = state
            if state.rng_state is not None:
                version, internal, gauss = state.rng_state
                self.rng.setstate((version, tuple(internal), gauss))
            if not state.triggers_modelled:  # saved before triggers existed: Railway had them
                triggers.backfill(state)
            every = list(state.workspaces)
            tokens = dict(state.tokens)
            self.account_token = self._install_token("account", account_token, every)
            self.workspace_token = self._install_token("workspace", workspace_token, every[:1])
            # A read-only run (plan --sandbox) must not rewrite a big state file it left as is.
            stored = self.state_file is not None and self.state_file.exists()
            if self.state.tokens != tokens or not stored:
                self._persist()

    def _install_token(self, kind: str, token: str | None, workspace_ids: list[str]) -> str:
        current = [
            t for t, grant in self.state.tokens.items() if grant.kind == kind and grant.decrypt
        ]
        if token is None and current:
            return current[0]
        token = token or secrets.token_hex(20)
        for old in current:
            del self.state.tokens[old]
        self.state.tokens[token] = Grant(kind, list(workspace_ids))
        return token

    @property
    def workspace_id(self) -> str:
        return next(iter(self.state.workspaces))

    @property
    def workspace_name(self) -> str:
        return self.state.workspaces[self.workspace_id].name

    @property
    def workspaces(self) -> list[dict[str, str]]:
        return [{"id": w.id, "name": w.name} for w in self.state.workspaces.values()]

    @property
    def fault_counts(self) -> Counter[str]:
        return self._dice.counts

    def transport(self) -> httpx.BaseTransport:
        from .transport import EmulatorTransport

        return EmulatorTransport(self)

    # --- requests ------------------------------------------------------------------------------

    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
        """Answer one HTTP request. Raises ConnectionDropped or GatewayTimeout for those faults."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host.endswith(GATEWAY_SUFFIX):
            return _json(*self.gateway_answer(host, parts.path))
        if parts.path.startswith(controls.PREFIXES):  # test controls: no token, limit or fault
            control = controls.answer(self, method, parts.path, headers, body)
            if control is not None:
                return control
        if parts.path.rstrip("/") != GRAPHQL_PATH or method.upper() != "POST":
            return _json(404, {"message": "Not Found", "requestId": str(uuid.uuid4())})
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            payload = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            return _json(400, _request_error("POST body must be a JSON object", "BAD_REQUEST"))
        return self._graphql(payload, _bearer(lowered.get("authorization")))

    def _graphql(self, payload: dict[str, Any], token: str | None) -> Answer:
        operation = payload.get("operationName")
        with self._lock:
            self.counts["total"] += 1
            self.counts[operation if isinstance(operation, str) else "<anonymous>"] += 1
        if self.faults.latency > 0:
            with self._lock:
                self._dice.counts["latency"] += 1
            self.clock.sleep(self.faults.latency)  # outside the lock: other requests go on
        with self._lock:
            edge = self._dice.edge(self.faults)
            if edge is not None:
                return edge
            now = self._now()
            verdict = self._limiter.take(token or "<anonymous>", now)
            if not verdict.allowed:
                return _json(429, _rate_limited(verdict), verdict.headers())
            status, body, ctx = self._run(payload, token, now)
            if ctx is not None and ctx.mutated:
                self._persist()
        if ctx is not None and ctx.timed_out:
            raise GatewayTimeout("the emulator committed the request, then timed out (fault)")
        return _json(status, body, verdict.headers())

    def _run(self, payload: dict[str, Any], token: str | None, now: float):
        """(status, body, context or None) for one GraphQL request. Caller holds the lock."""
        query, variables = payload.get("query"), payload.get("variables")
        if not isinstance(query, str) or not query.strip():
            return 400, _request_error("`query` must be a non-empty string", "BAD_REQUEST"), None
        if variables is not None and not isinstance(variables, dict):
            return 400, _request_error("`variables` must be a JSON object", "BAD_REQUEST"), None
        prepared = self._document(query)
        if isinstance(prepared, list):
            return 400, {"errors": prepared}, None
        ctx = RequestContext(self, now, self.state.tokens.get(token) if token else None, token)
        ctx.mutated = lifecycle.reap(self.state, now)
        operation = payload.get("operationName")
        operation = operation if isinstance(operation, str) else None
        plan = prepared.plan(self._schema, operation)
        if plan is not None:
            result = fastexec.run(plan, self._schema, ctx, variables)
        else:  # mutations and unusual documents: graphql-core's executor
            executed = execute(
                self._schema,
                prepared.document,
                context_value=ctx,
                variable_values=variables,
                operation_name=operation,
                is_awaitable=_never_awaitable,
            )
            assert isinstance(executed, ExecutionResult)  # nothing here is awaitable
            result = executed
        return (*self._shape(result), ctx)

    def _shape(self, result: ExecutionResult) -> tuple[int, dict[str, Any]]:
        errors = result.errors or []
        if errors and result.data is None and all(e.path is None for e in errors):
            # Variables that do not fit, or no operation to run: refused before execution.
            return 400, {"errors": [_located(e, {"code": "BAD_USER_INPUT"}) for e in errors]}
        body: dict[str, Any] = {}
        if errors:
            body["errors"] = [self._resolver_error(e) for e in errors]
        body["data"] = result.data
        return 200, body

    def _document(self, query: str) -> _Prepared | list[dict[str, Any]]:
        """The parsed, validated document, or its 400 errors; both cached by document text."""
        prepared = self._documents.get(query)
        if prepared is None:
            try:
                document = parse(query)
            except GraphQLSyntaxError as exc:
                prepared = [_located(exc, {"code": "GRAPHQL_PARSE_FAILED"})]
            else:
                problems = validate(self._schema, document)
                code = {"code": "GRAPHQL_VALIDATION_FAILED"}
                prepared = (
                    [_located(e, code) for e in problems] if problems else _Prepared(document)
                )
            if len(self._documents) >= _DOCUMENT_CACHE_SIZE:
                self._documents.clear()
            self._documents[query] = prepared
        return prepared

    def _resolver_error(self, error: GraphQLError) -> dict[str, Any]:
        original = error.original_error
        message = error.message
        if original is not None and not isinstance(original, ApiFailure | GraphQLError):
            log.error("emulator resolver failed: %s", message, exc_info=original)
            message = "Problem processing request"  # what Railway says when it breaks
        out = _located(error, {"code": "INTERNAL_SERVER_ERROR"}, message)
        out["traceId"] = str(self._traces.randrange(10**17, 10**19))
        return out

    def gateway_answer(self, host: str, path: str) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) of the gateway at `host` for `path`: its /health (gateway.py)."""
        with self._lock:
            return gateway.answer(self.state, host, path, self._now())

    # --- used by resolvers (under the lock) ------------------------------------------------------

    def roll_fault(self, kind: str) -> bool:
        return self._dice.roll(kind, getattr(self.faults, kind))

    def check_cooldown(self, resource_ids: tuple[str, ...], now: float) -> None:
        window = self.faults.cooldown_seconds
        if window <= 0:
            return
        for resource_id in resource_ids:
            last = self._cooldowns.get(resource_id)
            if last is not None and now - last < window:
                self._dice.counts["cooldown"] += 1
                raise ApiFailure("Endpoint too recently updated")

    def record_template_overlap(self) -> None:
        self._overlaps += 1

    def record_mutation(self, resource_ids: tuple[str, ...], now: float) -> None:
        for resource_id in resource_ids:
            self._cooldowns[resource_id] = now

    def rate_budget(self, token: str | None, now: float) -> tuple[int, int]:
        return self._limiter.peek(token or "<anonymous>", now)

    # --- test and sandbox helpers -----------------------------------------------------------

    def push_commit(self, repo: str, branch: str) -> str:
        """Advance a branch head (as a `git push` would) without telling Railway: nothing
        deploys (github_push() is the push Railway hears of). Returns the new commit sha."""
        with self._lock:
            ops.branch_head(self.state, self.rng, repo, branch)
            sha = ops.new_sha(self.rng)
            commits.history(self.state, repo, branch).append(sha)
            self._persist()
            return sha

    def github_push(
        self,
        repository: str,
        ref: str,
        after: str | None = None,
        *,
        message: str | None = None,
        author: str | None = None,
    ) -> dict[str, Any]:
        """GitHub tells Railway of a push (`POST /github/push`): the branch head moves to
        `after` (a new commit when None) and every service whose enabled deployment trigger
        names the repository and branch deploys it (github.py). `ref` is refs/heads/<branch>
        (a bare name is a branch too). Returns {"repository", "branch", "after",
        "deployments": [{"deploymentId", "projectId", "environmentId", "serviceId"}]}."""
        with self._lock:
            if after is None:
                after = ops.new_sha(self.rng)
            if not commits.is_sha(after):
                raise ValueError("after must be a full commit SHA: 40 lower-case hex digits")
            ctx = self._control_context()
            done = github.push(ctx, repository, ref, after, message=message, author=author)
            self._persist()
            return done

    def set_commit_outcome(self, repo: str, commit: str, outcome: str) -> None:
        """How `commit` of `repo` behaves once deployed: success, build_failed, crashes or
        unhealthy (commits.py); the commit becomes known in the repo even if no branch holds
        it. Deployments queued from now on take it (`POST /_emulator/commits`)."""
        with self._lock:
            commits.set_commit_outcome(self.state, repo, commit, outcome)
            self._persist()

    def set_image_outcome(self, image: str, outcome: str) -> None:
        """How an image behaves once deployed, by digest when the reference pins one
        (`POST /_emulator/images`)."""
        with self._lock:
            commits.set_image_outcome(self.state, image, outcome)
            self._persist()

    def set_autodeploy(self, project_name: str, service_name: str, enabled: bool) -> None:
        """The dashboard's autodeploy switch (no API sets or shows it): a disabled service's
        trigger stays listed, unchanged, and pushes no longer deploy it (triggers.py)."""
        with self._lock:
            found = [
                self.state.triggers[instance.trigger_id]
                for instance in self._instances_named(project_name, service_name)
                if instance.trigger_id in self.state.triggers
            ]
            if not found:
                raise ValueError(f"{service_name} has no deployment trigger")
            for trigger in found:
                trigger.enabled = enabled
            self._persist()

    def _control_context(self) -> RequestContext:
        """A request context for a test control: no token, `now` from the clock."""
        now = self._now()
        lifecycle.reap(self.state, now)
        return RequestContext(self, now, None, None)

    def fail_next_deploy(
        self, service_name: str = "gateway", status: str = "FAILED", project_name: str | None = None
    ) -> None:
        """The next deployment queued for that service ends FAILED (after BUILDING) or CRASHED."""
        if status not in ("FAILED", "CRASHED"):
            raise ValueError("status must be FAILED or CRASHED")
        self.script_next_deploy(status, service_name, project_name)

    def script_next_deploy(
        self, status: str, service_name: str = "gateway", project_name: str | None = None
    ) -> None:
        """The next deployment queued for that service takes this status: FAILED or CRASHED
        (it fails), or one of lifecycle.SCRIPTED (WAITING, NEEDS_APPROVAL, SKIPPED, SLEEPING,
        REMOVING), each as lifecycle.py describes."""
        if status not in ("FAILED", "CRASHED", *lifecycle.SCRIPTED):
            raise ValueError(f"status must be FAILED, CRASHED or one of {lifecycle.SCRIPTED}")
        with self._lock:
            wanted = {"service": service_name, "status": status, "project": project_name}
            self.state.pending_failures.append(wanted)
            self._persist()

    def seal_variable(self, project_name: str, service_name: str, name: str) -> None:
        """Seal a service variable, as Railway's dashboard does (there is no API for it): its
        value still reaches deployments and can be overwritten, but is never read back."""
        with self._lock:
            for instance in self._instances_named(project_name, service_name):
                if name not in instance.variables:
                    raise ValueError(f"{service_name} has no variable {name}")
                if name not in instance.sealed:
                    instance.sealed.append(name)
            self._persist()

    def masked_token(self) -> str:
        """A new account token whose owner may not see variable values: every value it reads
        comes back null, as Railway masks them."""
        with self._lock:
            token = secrets.token_hex(20)
            self.state.tokens[token] = Grant("account", list(self.state.workspaces), decrypt=False)
            self._persist()
            return token

    def template_overlaps(self) -> int:
        """How many template deploys started while another template workflow of the same
        environment was still running (nothing says Railway allows it; see mutations.py)."""
        return self._overlaps

    def _instances_named(self, project_name: str, service_name: str) -> list[Instance]:
        found = [
            self.state.instances[instance_key(sid, eid)]
            for project in self.state.projects.values()
            if project.name == project_name
            for sid in project.service_ids
            if self.state.services[sid].name == service_name
            for eid in project.environment_ids
            if instance_key(sid, eid) in self.state.instances
        ]
        if not found:
            raise ValueError(f"no service {service_name} in a project named {project_name}")
        return found

    def snapshot(self) -> dict[str, Any]:
        """Plain data for assertions: projects in creation order with their services, raw
        variables, deployments (status and meta) and domains. See snapshot.py."""
        with self._lock:
            now = self._now()
            lifecycle.reap(self.state, now)
            return snapshot(self.state, now)

    # --- persistence ---------------------------------------------------------------------------

    def save(self, path: str | Path | None = None) -> None:
        target = Path(path) if path is not None else self.state_file
        if target is None:
            raise ValueError("no path given and the emulator has no state_file")
        with self._lock:
            version, internal, gauss = self.rng.getstate()
            self.state.rng_state = [version, list(internal), gauss]
            write_atomically(target, to_json(self.state))

    @classmethod
    def load(cls, path: str | Path, clock: Clock | None = None, **kw: Any) -> Emulator:
        emulator = cls(clock=clock, **kw)
        state = _read_state(Path(path))
        emulator._adopt(state, kw.get("account_token"), kw.get("workspace_token"))
        return emulator

    def _persist(self) -> None:
        if self.state_file is not None:
            self.save()

    def _now(self) -> float:
        return self.clock.now().timestamp()


def _read_state(path: Path) -> State:
    try:
        return from_json(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a readable emulator state file: {exc}") from exc


# --- response shapes ---------------------------------------------------------------------------


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


_QUOTED_NAME = re.compile(r"'([$_A-Za-z][_0-9A-Za-z!\[\]$.]*)'")


def _js_quotes(message: str) -> str:
    """graphql-core quotes names 'like this'; Railway (graphql-js) says "like this"."""
    return _QUOTED_NAME.sub(r'"\1"', message)


def _located(error: GraphQLError, extensions: dict[str, Any], message: str | None = None) -> dict:
    out: dict[str, Any] = {"message": message or _js_quotes(error.message)}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path is not None:
        out["path"] = list(error.path)
    out["extensions"] = extensions
    return out


def _request_error(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def _rate_limited(verdict: Verdict) -> dict[str, Any]:
    message = f"Rate limit exceeded. Try again in {verdict.retry_after} seconds"
    return {"errors": [{"message": message, "extensions": {"code": "RATE_LIMITED"}}]}
