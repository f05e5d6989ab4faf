"""GitHub telling Railway about a push: the branch head moves, and every service whose deployment
trigger names that repo and branch deploys the pushed commit. Behind the test control
`POST /github/push` and Emulator.github_push(). (Emulator.push_commit() only moves a head, as a
push Railway never hears of: no webhook, autodeploy off.)

It reads the fields of GitHub's push event that matter here: `ref` (refs/heads/<branch>),
`after` (the new head's full SHA) and `repository.full_name`; `head_commit.message` and
`head_commit.author.name` when present (they show in the deployments' meta, commits.py).

Evidence (railwayapp/docs at c2a634f1):
- content/docs/deployments/github-autodeploys.md: "Services linked to a GitHub repository
  automatically deploy when new commits are pushed to the connected branch"; "Wait for CI":
  WAITING while the workflows run (triggers.py).
- content/docs/deployments/deployment-actions.md: "GitHub push deploys — even in a monorepo
  where one push triggers multiple services, each service deploys independently".
Where the sources are silent (the emulator's choices): a push to a tag or the deletion of a
branch (`after` all zeros) deploys nothing; the repository matches case-insensitively (GitHub
names do), the branch exactly; every workspace's triggers hear every push (one GitHub app).
"""

from __future__ import annotations

from typing import Any

from . import commits, ops, triggers
from .context import RequestContext
from .state import instance_key

BRANCH_PREFIX = "refs/heads/"
DELETED = "0" * 40


def branch_of(ref: str) -> str | None:
    """The branch a ref names ("main" is taken as a branch too), or None for a tag."""
    if ref.startswith(BRANCH_PREFIX):
        return ref[len(BRANCH_PREFIX):] or None
    return None if ref.startswith("refs/") else ref or None


def push(
    ctx: RequestContext,
    repository: str,
    ref: str,
    after: str,
    *,
    message: str | None = None,
    author: str | None = None,
) -> dict[str, Any]:
    """Apply one push (`after` is a full SHA, checked by the caller). Returns what happened:
    the branch, the commit, and each deployment it queued."""
    branch = branch_of(ref)
    done: dict[str, Any] = {"repository": repository, "branch": branch, "after": after,
                            "deployments": []}
    if branch is None or after == DELETED:
        return done
    history = commits.history(ctx.state, repository, branch)
    if not history or history[-1] != after:
        history.append(after)
    if message is not None or author is not None:
        commits.register(ctx.state, repository, after, message=message, author=author)
    for trigger in triggers.matching(ctx.state, repository, branch):
        instance = ctx.state.instances[instance_key(trigger.service_id, trigger.environment_id)]
        if not instance.repo:
            continue  # nothing to build from the push (an image source keeps its image)
        deployment = ops.queue_deployment(ctx, instance, commit=after)
        if deployment is None:
            continue
        if trigger.check_suites and deployment.started is None:
            # "Wait for CI": WAITING while the checks run, as long as the deployment itself.
            deployment.started = deployment.created + deployment.duration
        ctx.touched(instance.service_id)
        done["deployments"].append(
            {
                "deploymentId": deployment.id,
                "projectId": deployment.project_id,
                "environmentId": deployment.environment_id,
                "serviceId": deployment.service_id,
            }
        )
    return done
