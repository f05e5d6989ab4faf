"""Versions: which commits exist, what a version does once deployed, and what a deployment's
`meta` says about it. Behind the test controls `POST /_emulator/commits` and `/_emulator/images`
(Emulator.set_commit_outcome() / set_image_outcome()); pure State changes, no clock.

Outcomes of a version (a commit of a repo, or an image):
- success       the usual life cycle; every version's outcome until a test control says otherwise
- build_failed  FAILED after BUILDING; the deployment before it keeps serving
- crashes       CRASHED after DEPLOYING: it had replaced the deployment before it, then its
                process exited, so nothing serves
- unhealthy     SUCCESS, but the gateway's health path answers 503. On an instance with a
                `healthcheckPath`, Railway's own health check never passes: the deployment
                stays DEPLOYING for `healthcheckTimeout` (300 s unless set), then FAILED, and
                the one before keeps serving
A deployment takes its version's outcome when it is queued (set outcomes first); a status
scripted with Emulator.script_next_deploy() wins over it.

Evidence (railwayapp/docs at c2a634f1, railwayapp/cli at df3838bf; "reported": a third party):
- FAILED "failed to build or deploy", CRASHED "crashed after starting": docs
  content/docs/integrations/api/manage-deployments.md (status table); "Restart a crashed
  deployment" in content/docs/deployments/deployment-actions.md (the process exited non-zero).
- The old deployment is removed only once the new one is online: docs
  content/docs/deployments/reference.md, "Singleton deploys". So a failed build leaves it
  serving, and a crashed deployment had already replaced it (lifecycle.went_live_at).
- The health check gate: docs content/guides/ship-on-merge-pr-canaries.md, step 4: "if the
  endpoint never returns 200 in that window, the deployment is marked failed and the previous
  one keeps serving traffic"; 300 s: same page and content/docs/integrations/api/
  manage-services.md (healthcheckTimeout apiDefault). The emulator's gateways serve any
  configured path: only an unhealthy version fails the check (worst case for nothing).
- Which commits exist: docs manage-services.md, "Deploy a service": `commitSha` "is validated
  against the connected GitHub repo; an unknown SHA returns a "Commit not found" error and no
  deployment is created". Any commit of the repo counts, on any branch or none (a test control
  may name one that no branch holds); only a full 40-hex SHA matches (reported: a short SHA
  fails with "couldn't find remote ref"). Repo names match case-insensitively, as GitHub's do.
- `meta.commitHash` is the full SHA: cli src/commands/mcp/handler.rs list_deployments
  (a7aeeccf, #813) prints `meta.commitHash`; `repo` and `branch` beside it (the service's
  branch, even for a commit from elsewhere: the worst case). `commitMessage` and
  `commitAuthor` are the names of Railway's deployment webhook details (docs
  content/docs/observability/webhooks.md); the emulator adds them only when a push carried
  them, so a client must not need them. An image deployment's meta has `image` as the source
  names it, and `imageDigest` only when the reference pins a digest (reported: CopilotKit PR
  #4210 reads `meta.imageDigest`; for a tag the emulator cannot know the digest).

The gateway repository's seeded history (SEEDED_HISTORY, seed()): every new emulator state
starts with five commits on LuthienResearch/luthien-proxy's `main`, each with a message and an
outcome, so a release can be tried in `--sandbox` without a test control. They are test fixtures
of the emulator's stand-in for GitHub, not anything Railway does or shows: the real repository's
commits are other ones. The README ("Releasing a new version to the fleet") lists them, and a test
keeps that list equal to this one.
"""

from __future__ import annotations

import re
from typing import Any

from .state import Deployment, Instance, State

OUTCOMES = ("success", "build_failed", "crashes", "unhealthy")
DEFAULT_HEALTHCHECK_TIMEOUT = 300.0  # docs manage-services.md, healthcheckTimeout apiDefault

_SHA = re.compile(r"[0-9a-f]{40}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def is_sha(value: Any) -> bool:
    return isinstance(value, str) and _SHA.fullmatch(value) is not None


def _key(repo: str, sha: str) -> str:
    return f"{repo.lower()}@{sha}"


# --- branches and known commits ----------------------------------------------------------------


def history(state: State, repo: str, branch: str) -> list[str]:
    """The branch's commits, oldest first (created empty): one list whatever the repo's case."""
    folded = repo.lower()
    for key, commits in state.heads.items():
        name, _, rest = key.partition("@")
        if rest == branch and name.lower() == folded:
            return commits
    return state.heads.setdefault(f"{repo}@{branch}", [])


def known(state: State, repo: str, sha: str) -> bool:
    """Whether `sha` is a commit of `repo`: on one of its branches, or made known by a control."""
    if _key(repo, sha) in state.commits:
        return True
    folded = repo.lower()
    return any(
        key.partition("@")[0].lower() == folded and sha in commits
        for key, commits in state.heads.items()
    )


def register(
    state: State, repo: str, sha: str, *, message: str | None = None, author: str | None = None
) -> dict[str, Any]:
    record = state.commits.setdefault(_key(repo, sha), {"repo": repo, "sha": sha})
    if message is not None:
        record["message"] = message
    if author is not None:
        record["author"] = author
    return record


# --- the gateway repository's seeded history (test fixtures, see the module docstring) ---------

GATEWAY_REPO = "LuthienResearch/luthien-proxy"
GATEWAY_BRANCH = "main"

# (sha, message, outcome), oldest first; the last, a good one, is the branch head.
SEEDED_HISTORY: tuple[tuple[str, str, str], ...] = (
    ("550ad2a7431b8d986ec9a8abc57c00be63d2cc51", "v1.4.0", "success"),
    ("d82e6376367c165e38e18ce15f990dd037c5e07c", "v1.5.0", "success"),
    ("7558c103ad199ea7c6e36eb2589eac4e0625c18b", "v1.6.0-rc1: crashes on start", "crashes"),
    ("1623cc3c5fe5de5ae6b1de4a5955c960ae0ecc67", "v1.6.0-rc2: fails its build", "build_failed"),
    ("559266bc0610d8c620b7240e247817fa027f4f91", "v1.6.0", "success"),
)


def seed(state: State) -> None:
    """Give a new state the gateway repository's seeded history (draws nothing from the rng)."""
    history(state, GATEWAY_REPO, GATEWAY_BRANCH).extend(sha for sha, _, _ in SEEDED_HISTORY)
    for sha, message, outcome in SEEDED_HISTORY:
        register(state, GATEWAY_REPO, sha, message=message)["outcome"] = outcome


# --- outcomes ----------------------------------------------------------------------------------


def check_outcome(outcome: Any) -> str:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    return outcome


def set_commit_outcome(state: State, repo: Any, sha: Any, outcome: Any) -> None:
    """Make the commit known in `repo` and give it an outcome. ValueError for bad input."""
    if not isinstance(repo, str) or not _REPO.fullmatch(repo):
        raise ValueError("repo must be a GitHub repository as owner/name")
    if not is_sha(sha):
        raise ValueError("commit must be a full commit SHA: 40 lower-case hex digits")
    register(state, repo, sha)["outcome"] = check_outcome(outcome)


def image_key(image: str) -> str:
    """An image's outcome follows its content: a pinned reference by its digest, a tag by name."""
    _, at, digest = image.partition("@")
    return digest if at else image


def set_image_outcome(state: State, image: Any, outcome: Any) -> None:
    if not isinstance(image, str) or not image.strip():
        raise ValueError("image must be an image reference such as ghcr.io/owner/name@sha256:...")
    state.images[image_key(image)] = check_outcome(outcome)


def outcome_of(state: State, meta: dict[str, Any]) -> str:
    if meta.get("image"):
        return state.images.get(image_key(meta["image"]), "success")
    record = state.commits.get(_key(meta.get("repo") or "", meta.get("commitHash") or ""))
    return (record or {}).get("outcome", "success")


def shape(deployment: Deployment, outcome: str, instance: Instance) -> None:
    """Give a deployment being queued its version's outcome (see the module docstring)."""
    if outcome == "build_failed":
        deployment.fail = "FAILED"
    elif outcome == "crashes":
        deployment.fail = "CRASHED"
    elif outcome == "unhealthy":
        deployment.unhealthy = True
        if instance.deploy.get("healthcheckPath"):
            deployment.fail = "FAILED"
            timeout = instance.deploy.get("healthcheckTimeout") or DEFAULT_HEALTHCHECK_TIMEOUT
            deployment.gate = float(timeout)


# --- meta --------------------------------------------------------------------------------------


def commit_meta(state: State, repo: str, branch: str, sha: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"repo": repo, "branch": branch, "commitHash": sha}
    record = state.commits.get(_key(repo, sha)) or {}
    if "message" in record:
        meta["commitMessage"] = record["message"]
    if "author" in record:
        meta["commitAuthor"] = record["author"]
    return meta


def image_meta(image: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"image": image}
    digest = image.partition("@")[2]
    if _DIGEST.fullmatch(digest):
        meta["imageDigest"] = digest
    return meta
