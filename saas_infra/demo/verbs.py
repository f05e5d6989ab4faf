"""The demo's verbs as job work: each calls saas_infra.operator, the command line's own path
(edit the manifest, run a reconcile pass for that tenant), and turns its result into a message.

Nothing here edits a manifest or talks to Railway by itself. Keys go only into Job.keys.
"""

from __future__ import annotations

from saas_infra import operator
from saas_infra.reconcile import ApplyReport, Fleet, apply_pass
from saas_infra.tenancy import FAILED

from .jobs import Job, JobFailed


def create(fleet: Fleet, job: Job, name: str, source: dict[str, str], *, show_keys: bool) -> str:
    result = operator.create(fleet, name, progress=job.progress, on_status=job.deployment,
                             **source)
    _check(result)
    if result.credentials and show_keys:
        job.keys = dict(result.credentials)
    deployment = result.deployment["status"] if result.deployment else "not deployed yet"
    message = f"Created {name}: gateway {deployment}, {result.url or 'no domain yet'}."
    if result.credentials and not show_keys:
        message += f" Keys not shown (CI is set); `saas-infra credentials {name}` reads them."
    return message


def redeploy(fleet: Fleet, job: Job, name: str) -> str:
    result = operator.redeploy(fleet, name, progress=job.progress, on_status=job.deployment)
    _check(result)
    if result.deployment:
        return f"Redeployed {name}: {result.deployment['status']}."
    return f"Redeploy of {name} requested."


def delete(fleet: Fleet, job: Job, name: str, *, force: bool, grace_days: int) -> str:
    result = operator.delete(fleet, name, force=force, grace_days=grace_days,
                             progress=job.progress)
    _check(result)
    return result.message


def cancel_delete(fleet: Fleet, job: Job, name: str) -> str:
    result = operator.cancel_delete(fleet, name, progress=job.progress)
    _check(result)
    return result.message


def apply(fleet: Fleet, job: Job, name: str) -> str:
    """`saas-infra apply --target NAME`: plan, refuse a deletion (the scheduled pass's job),
    then apply exactly that plan. New keys are not shown, as on the command line."""
    plan = fleet.plan(targets=[name])
    if plan.destructive:
        raise JobFailed(f"the plan deletes {name}; only the scheduled pass or Delete now does that")
    report = apply_pass(fleet, plan=plan, progress=job.progress)
    _check_report(report)
    steps = [f"{s.name} {s.result}" for o in report.outcomes for s in o.steps]
    message = f"Applied {name}: {', '.join(steps) or 'nothing to do'}."
    if any(o.credentials for o in report.outcomes):
        message += f" `saas-infra credentials {name}` reads its new keys from Railway."
    return message


def _check(result: operator.VerbResult) -> None:
    """Raise JobFailed with the reason when the verb's pass or deployment did not succeed."""
    if result.report is not None:
        _check_report(result.report)
    status = (result.deployment or {}).get("status")
    if status in FAILED:
        raise JobFailed(f"the gateway deployment {status}; the Railway console has its logs: "
                        f"{result.console_url}")
    if result.deploy_stopped:
        raise JobFailed(result.deploy_stopped)


def _check_report(report: ApplyReport) -> None:
    if report.failed:
        raise JobFailed("; ".join(f"{o.tenant}: {o.error}" for o in report.failed))
    if not report.converged:
        left = [f"{a.kind.value} ({a.reason})" for a in report.after.actions]
        left += [g.message for g in report.after.guards]
        raise JobFailed("not converged; still to do: " + "; ".join(left))
