"""The verbs that edit a manifest and run a pass for that tenant: create, redeploy, delete,
cancel-delete, adopt. Each calls saas_infra.verbs and hands its result to the render layer; the
result line goes to stdout, progress and warnings to stderr. Keys reach stdout only from
`create` (and `credentials`), and never when CI is set."""

from __future__ import annotations

import click

from saas_infra import verbs
from saas_infra.errors import ConfigError
from saas_infra.render import data, text
from saas_infra.verbs import VerbResult

from .base import EXIT_ERROR, EXIT_OK, Session, command, common

NAME = click.argument("name")
NO_APPLY = click.option("--no-apply", is_flag=True,
                        help="Only edit tenants/NAME.yaml (for a pull request); run no pass.")


def _exit(result: VerbResult) -> int:
    return EXIT_OK if result.ok else EXIT_ERROR


@command()
@NAME
@common
@click.option("--repo", help="GitHub repo owner/repo [fleet.yaml's defaults if it has any, else "
              "LuthienResearch/luthien-proxy].")
@click.option("--branch", help="Branch to deploy from [fleet.yaml's defaults if it has any, else "
              "main].")
@click.option("--commit", help="Pin the gateway to this full commit SHA of the repo: it runs "
              "exactly that commit, and no push deploys it.")
@click.option("--image", help="Deploy a pinned image instead of a repo (digest or tag).")
@NO_APPLY
@click.option("--no-wait", is_flag=True, help="Return once provisioned, before the deploy ends.")
def create(s: Session, name: str, repo: str | None, branch: str | None, commit: str | None,
           image: str | None, no_apply: bool, no_wait: bool) -> int:
    """Create a tenant: write tenants/NAME.yaml, provision it, show its keys once.

    Without --repo, --branch, --commit or --image, a fleet.yaml whose defaults give the gateway's
    source or a release channel gives them to the tenant: its manifest names no source (it
    inherits, and follows the channel).

    Waits until the gateway's first deployment succeeds. The keys are printed once, and never
    when CI is set; `saas-infra credentials NAME` reads them back from Railway.
    """
    verbs.check_tenant_name(name)
    verbs.check_source(repo, branch, image, commit)
    verbs.check_manifests(s.fleet_for(False))  # before "Creating": a broken file stops it
    with s.working("Creating", name, not no_apply) as on_status:
        result = verbs.create(
            s.fleet_for(not no_apply), name, repo=repo, branch=branch, commit=commit, image=image,
            apply=not no_apply, wait=not no_wait, progress=s.progress(), on_status=on_status)
    keys = result.credentials if result.credentials and not s.settings.ci else None
    s.show_or_emit(text.create_lines(result, keys), data.created(result, keys))
    return _exit(result)


@command()
@NAME
@common
@NO_APPLY
@click.option("--no-wait", is_flag=True, help="Return once the deploy is requested.")
def redeploy(s: Session, name: str, no_apply: bool, no_wait: bool) -> int:
    """Deploy the gateway again from the newest commit of its branch, and wait for it.

    A pinned gateway (gateway.commit) deploys its pinned commit again, never the branch's head;
    an image tenant redeploys the image it runs. A channel tenant that its rollout has not reached
    yet redeploys the version it runs, never the channel's new one.
    """
    verbs.require_manifest(s.fleet_for(False), name)  # a typo fails before "Redeploying"
    verbs.check_manifests(s.fleet_for(False))
    with s.working("Redeploying", name, not no_apply) as on_status:
        result = verbs.redeploy(s.fleet_for(not no_apply), name, wait=not no_wait,
                                apply=not no_apply, progress=s.progress(), on_status=on_status)
    s.show_or_emit(text.redeploy_lines(result), data.verb(result, "redeploy"))
    return _exit(result)


@command()
@NAME
@common
@click.option("--force", is_flag=True, help="Delete now, without the grace period.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--grace-days", type=click.IntRange(0, 365), default=7, show_default=True,
              help="Days the tenant keeps running before it is deleted.")
@NO_APPLY
def delete(s: Session, name: str, force: bool, yes: bool, grace_days: int, no_apply: bool) -> int:
    """Schedule a tenant's deletion (7-day grace period), or delete now with --force.

    The tenant keeps running until the deadline; the scheduled pass (`saas-infra apply` from
    cron) then hands it to Railway's scheduled delete. Running delete twice keeps the deadline.
    """
    verbs.require_manifest(s.fleet_for(False), name)  # a typo fails before the question
    verbs.check_manifests(s.fleet_for(False))  # as does another manifest that is broken
    if not yes and not _confirm_delete(s, name, force, grace_days):
        s.console.message(text.NOTHING_DELETED)
        if s.as_json:
            s.emit(data.not_deleted(name))
        return EXIT_OK
    if force:  # said even with --yes: a script's log should show what went with the tenant
        s.console.warn(text.forced_delete_warning(name))
    result = verbs.delete(s.fleet_for(not no_apply), name, force=force, grace_days=grace_days,
                          apply=not no_apply, progress=s.progress())
    s.show_or_emit(text.delete_lines(result), data.deleted(result))
    return _exit(result)


def _confirm_delete(s: Session, name: str, force: bool, grace_days: int) -> bool:
    if not s.interactive:
        raise ConfigError(f"refusing to delete {name} without confirmation (stdin is not a "
                          "terminal)", hint="add --yes to confirm in a script")
    return click.confirm(text.delete_question(name, force, grace_days), default=False, err=True)


@command(name="cancel-delete")
@NAME
@common
@NO_APPLY
def cancel_delete(s: Session, name: str, no_apply: bool) -> int:
    """Cancel a scheduled deletion: remove the tombstone and the mark on Railway."""
    result = verbs.cancel_delete(s.fleet_for(not no_apply), name, apply=not no_apply,
                                 progress=s.progress())
    s.show_or_emit(text.cancel_lines(result), data.cancelled(result))
    return _exit(result)


@command()
@NAME
@common
def adopt(s: Session, name: str) -> int:
    """Write a manifest for an orphan: a managed project on Railway with no manifest.

    Carries its source, AUTH_MODE and non-secret variables over, so the next plan is empty.
    """
    result = verbs.adopt(s.fleet, name)
    s.show_or_emit([text.out(text.adopt_message(result))], data.adopted(result))
    return EXIT_OK


COMMANDS = [create, redeploy, delete, cancel_delete, adopt]
