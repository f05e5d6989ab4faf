"""Which Railway workspace a token manages, found as Railway's own clients find it.

`resolve_workspace(client, configured)` is the one place that decides it, for every command
(and `doctor`): a configured RAILWAY_WORKSPACE_ID is checked with `workspace(workspaceId:)`, the
query Railway's docs give for both token kinds (railwayapp/docs content/docs/integrations/api.md);
otherwise the workspaces come from `me { workspaces }` (railwayapp/docs
content/docs/integrations/oauth/fetching-workspaces-or-projects.md; railwayapp/cli
src/workspace.rs), which a workspace token may not read. Only then, as a fallback, from
`apiToken { workspaces }`, a field no Railway client or document uses. It never prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from saas_infra.errors import (
    ApiError,
    AuthError,
    ConfigError,
    NotFoundError,
    ProblemProcessingError,
    QueryValidationError,
)
from saas_infra.railway import operations as ops

WORKSPACE_VARIABLE = "RAILWAY_WORKSPACE_ID"
PERSONAL, WORKSPACE_TOKEN = "personal", "workspace"


@dataclass(frozen=True)
class TokenIdentity:
    """What a token is: a personal account token (with its user) or a workspace token, and the
    workspaces it reaches ({id, name, plan?} each)."""

    kind: str  # PERSONAL or WORKSPACE_TOKEN
    user: dict | None
    workspaces: tuple[dict, ...]


@dataclass(frozen=True)
class WorkspaceChoice:
    """The workspace a pass manages, and how it was chosen."""

    id: str
    name: str | None
    source: str  # "RAILWAY_WORKSPACE_ID", or "the only workspace the token reaches"


def token_identity(client: ops.Executor) -> TokenIdentity:
    """`me` answers for a personal token; a workspace token gets "Not Authorized" there (Railway's
    docs say so) and its workspaces come from the undocumented `apiToken` instead. A token that
    neither answers is invalid or revoked: that second AuthError is raised. If `apiToken` itself
    is gone or broken, a ConfigError asks for RAILWAY_WORKSPACE_ID, which needs no listing."""
    try:
        user = ops.me(client)
    except AuthError:
        try:
            workspaces = ops.token_workspaces(client)
        except (ApiError, QueryValidationError, ProblemProcessingError) as exc:
            raise ConfigError(
                "Railway refuses this token `me` (so it is a workspace token) and did not answer "
                "`apiToken`, the only query that lists a workspace token's workspace",
                hint=f"set {WORKSPACE_VARIABLE} to the workspace's id: it is then checked with "
                "the query Railway documents for workspace tokens",
            ) from exc
        return TokenIdentity(WORKSPACE_TOKEN, None, tuple(workspaces))
    fields = ("id", "name", "email", "username")
    return TokenIdentity(PERSONAL, {k: user.get(k) for k in fields},
                         tuple(user.get("workspaces") or ()))


def resolve_workspace(client: ops.Executor, configured: str | None = None) -> WorkspaceChoice:
    """The workspace to manage: `configured` (RAILWAY_WORKSPACE_ID) once Railway confirms the
    token reaches it, else the only workspace the token reaches. A ConfigError names
    RAILWAY_WORKSPACE_ID and the workspaces the token reaches when neither holds."""
    if configured:
        return _check_configured(client, configured)
    workspaces = token_identity(client).workspaces
    if len(workspaces) == 1:
        only = workspaces[0]
        return WorkspaceChoice(only["id"], only.get("name"), "the only workspace the token reaches")
    if not workspaces:
        raise ConfigError("the Railway token reaches no workspace",
                          hint="create the token for a workspace, or join one")
    raise ConfigError(
        f"the Railway token reaches {len(workspaces)} workspaces: {describe(workspaces)}",
        hint=f"set {WORKSPACE_VARIABLE} to the one saas-infra should manage",
    )


def _check_configured(client: ops.Executor, configured: str) -> WorkspaceChoice:
    try:
        found = ops.workspace(client, configured)
    except (AuthError, NotFoundError) as refused:
        # Railway answers "Not Authorized" both for a bad token and for a workspace out of
        # reach: ask what the token does reach to tell the two apart.
        try:
            reachable = token_identity(client).workspaces
        except AuthError:
            refused.hint = (f"the token is invalid or revoked, or {WORKSPACE_VARIABLE}="
                            f"{configured} is not a workspace it reaches")
            raise refused from None
        except ConfigError:
            reachable = None  # a workspace token whose workspaces Railway would not list
        raise not_reached(configured, reachable) from None
    return WorkspaceChoice(found["id"], found.get("name"), WORKSPACE_VARIABLE)


def not_reached(configured: str, reachable: Sequence[dict[str, Any]] | None) -> ConfigError:
    """The error for a RAILWAY_WORKSPACE_ID the token does not reach, naming those it does."""
    if reachable is None:
        reaches = "Railway would not list the workspaces it reaches"
    else:
        reaches = f"it reaches {describe(reachable)}" if reachable else "it reaches no workspace"
    return ConfigError(
        f"{WORKSPACE_VARIABLE}={configured} is not a workspace this Railway token reaches; "
        f"{reaches}",
        hint=f"set {WORKSPACE_VARIABLE} to one of those ids, or use a token of that workspace",
    )


def describe(workspaces: Iterable[dict[str, Any]]) -> str:
    return ", ".join(f"{w.get('name') or '?'} ({w['id']})" for w in workspaces)
