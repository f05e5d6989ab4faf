"""The demo's verbs as job work: each calls saas_infra.verbs, the command line's own path
(edit the manifest, run a reconcile pass for that tenant), and words its result with the render
layer's summaries.

Nothing here edits a manifest or talks to Railway by itself. Keys go only into Job.keys.
"""

from __future__ import annotations

from saas_infra import verbs as core
from saas_infra.reconcile import ApplyReport, Fleet, apply_pass
from saas_infra.render import text

from .jobs import Job, JobFailed


def create(fleet: Fleet, job: Job, name: str, source: dict[str, str], *, show_keys: bool) -> str:
    result = core.create(fleet, name, repo=source.get("repo"), branch=source.get("branch"),
                         image=source.get("image"), progress=job.progress,
                         on_status=job.deployment)
    _check(result)
    if result.credentials and show_keys:
        job.keys = dict(result.credentials)
    return text.created_summary(result, keys_hidden=bool(result.credentials) and not show_keys)


def redeploy(fleet: Fleet, job: Job, name: str) -> str:
    result = core.redeploy(fleet, name, progress=job.progress, on_status=job.deployment)
    _check(result)
    return text.redeployed_summary(result)


def delete(fleet: Fleet, job: Job, name: str, *, force: bool, grace_days: int) -> str:
    result = core.delete(fleet, name, force=force, grace_days=grace_days, progress=job.progress)
    _check(result)
    return text.delete_message(result)


def cancel_delete(fleet: Fleet, job: Job, name: str) -> str:
    result = core.cancel_delete(fleet, name, progress=job.progress)
    _check(result)
    return text.cancel_message(result)


def apply(fleet: Fleet, job: Job, name: str) -> str:
    """`saas-infra apply --target NAME`: plan, refuse a deletion (the scheduled pass's job),
    then apply exactly that plan. New keys are not shown, as on the command line."""
    plan = fleet.plan(targets=[name])
    if plan.destructive:
        raise JobFailed(f"the plan deletes {name}; only the scheduled pass or Delete now does that")
    report = apply_pass(fleet, plan=plan, progress=job.progress)
    _check_report(report)
    return text.applied_summary(report, name)


def _check(result: core.VerbResult) -> None:
    """Raise JobFailed with the reason when the verb's pass or deployment did not succeed."""
    if result.report is not None:
        _check_report(result.report)
    if result.deploy_failed:
        raise JobFailed(text.deploy_failed(result))
    if result.deploy_stopped:
        raise JobFailed(text.deploy_stopped(result) or "")


def _check_report(report: ApplyReport) -> None:
    if report.failed or not report.converged:
        raise JobFailed(text.pass_failed_summary(report))
