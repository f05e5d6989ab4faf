"""deploymentRollback and Deployment.canRollback: going back to what a deployment ran.

Evidence (railwayapp/docs at c2a634f1):
- content/docs/deployments/deployment-actions.md, "Rollback": "A deployment rollback will revert
  to the previously successful deployment. Both the Docker image and custom variables are
  restored during the rollback process"; "Deployments older than your plan's retention policy
  cannot be restored via rollback". content/guides/ship-on-merge-pr-canaries.md, step 5: it
  "does not rebuild" and "does not depend on reverting the commit in Git"; "Until main is
  fixed, the next merge would redeploy the bad code".
- content/docs/pricing/plans.md, "Image retention policy": an image is kept 24 h (Free), 72 h
  (Hobby), 120 h (Pro) after its deployment is removed.
- content/docs/integrations/api/manage-deployments.md: "You can only rollback to deployments
  that have `canRollback: true`". The schema's deploymentRollback(id:) returns Boolean! (the
  docs' examples select fields on it: API-NOTES §9, item 10).

Modelled:
- canRollback: the deployment succeeded, no longer runs (REMOVED: replaced or removed) and was
  removed less than the plan's retention ago. Where the sources are silent, the worst case:
  one that never succeeded (FAILED, CRASHED, SKIPPED, in progress) cannot be rolled back to,
  nor the one running now (SUCCESS or SLEEPING). After a failed build the one before still
  runs, so a client finds its tenant already back on it and has nothing to roll back.
- deploymentRollback(id) queues a new deployment of that one's snapshot: the same meta (commit
  or image), the settings it ran with (meta.serviceManifest), and the service's variables set
  back to those it ran with. The service's other settings and its source stay as they are (the
  docs name the image and the variables only): a later push, a `latestCommit` deploy or, for an
  image source, any redeploy brings the current source back (worst case). It goes through the
  usual phases in the usual time (the docs call it fast; as slow is the worst case for a client
  waiting on it), and its version keeps its outcome (commits.py).
- Refused with "Deployment cannot be rolled back" (the emulator's wording) when canRollback is
  false.
"""

from __future__ import annotations

from typing import Any

from . import lifecycle, ops
from .context import ApiFailure, RequestContext
from .state import Deployment, State, instance_key

Info = Any

RETENTION_SECONDS = {"FREE": 24 * 3600.0, "HOBBY": 72 * 3600.0, "PRO": 120 * 3600.0}


def can_rollback(state: State, deployment: Deployment, now: float) -> bool:
    status, since = lifecycle.deployment_status(state, deployment, now)
    if status != "REMOVED":  # only a deployment that succeeded reaches REMOVED
        return False
    project = state.projects.get(deployment.project_id)
    plan = state.workspaces[project.workspace_id].plan if project else "FREE"
    return now < since + RETENTION_SECONDS.get(plan, RETENTION_SECONDS["FREE"])


def m_deployment_rollback(_root: Any, info: Info, id: str) -> bool:
    ctx: RequestContext = info.context
    target = ctx.deployment(id)
    ctx.guard(target.service_id)
    if not can_rollback(ctx.state, target, ctx.now):
        raise ApiFailure("Deployment cannot be rolled back")
    instance = ctx.state.instances[instance_key(target.service_id, target.environment_id)]
    if target.variables is not None:  # None: queued before snapshots were kept (old state)
        instance.variables = dict(target.variables)
        instance.sealed = [name for name in instance.sealed if name in instance.variables]
    ops.deploy(ctx, instance, dict(target.meta), manifest=target.manifest)
    ctx.touched(target.service_id)
    return True


RESOLVERS: dict[str, dict[str, Any]] = {
    "Mutation": {"deploymentRollback": m_deployment_rollback},
    "Deployment": {
        "canRollback": lambda dep, info: can_rollback(info.context.state, dep, info.context.now)
    },
}
