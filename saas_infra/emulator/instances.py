"""A service instance's deploy settings (placement, replicas, health check, restart policy, app
sleeping) and resource limits: the mutations that set them, where they read back, and the
snapshot each deployment takes of them.

Evidence (read at the commits named; "reported" marks third-party observations):
- serviceInstanceUpdate stores settings and deploys nothing; they apply from the next
  deployment. The Terraform provider redeploys every instance after an update
  (terraform-community-providers/terraform-provider-railway `internal/provider/
  resource_service.go` redeployAllInstances, 7e5df59, at b1cd755); reported in its issue #29.
  `environmentId: null` updates every environment (same file, `resource_service.graphql`).
- It answers false when nothing changed: railwayapp/cli `src/commands/mcp/tools/project.rs`
  (do_update_service) at df3838bf.
- Placement is `multiRegionConfig` ({region: {numReplicas}}); the Terraform provider sends the
  whole map (`buildServiceInstanceInput`). Omitted regions are removed (reported:
  ctxpipe-ai/ctxpipe PR #327). Rules: regions.py.
- `ServiceInstance.region` reads null and the legacy `region` input moves nothing: Terraform
  93853d5 ("the API is always returning null") and 7e5df59 (switched to multiRegionConfig);
  reported in alchemy-run/alchemy issue #1748 (2026-09). Railway's CLI still sends `region` from
  its MCP tool (railwayapp/cli `src/commands/mcp/tools/project.rs`, 9dd0c3ea), so the sources
  disagree; the worst case is modelled: `region` is accepted and ignored, so a client that
  places through multiRegionConfig works either way.
- `ServiceInstance.numReplicas` is "the legacy per-region field and reports 1 for multi-region
  services": railwayapp/cli `src/commands/output/service_summary.rs` at df3838bf (a Railway
  engineer's comment, first in 0c235ede).
  Placement reads back from the environment config's `deploy.multiRegionConfig` (railwayapp/cli
  `src/controllers/config/environment.rs` DeployConfig, `src/commands/environment/config.rs`)
  and from each deployment's `meta.serviceManifest.deploy` (railwayapp/cli
  `src/controllers/regions.rs` region_data_from_deployment_meta; Terraform
  getRegionsFromLatestDeployment).
- Defaults (restartPolicyType ON_FAILURE, restartPolicyMaxRetries 10, healthcheckTimeout 300,
  numReplicas 1, sleepApplication false): railwayapp/docs `content/docs/integrations/api/
  manage-services.md` (apiDefault) at c2a634f1. Unset nullable fields read null here.
- A literal null resets a field, an omitted one keeps it (API-NOTES §4.4, from the CLI).
- `source` (ServiceSourceInput: image or repo, no branch) is no way to connect a repo: "Railway
  ignoring attached source repo since beginning of 2024", so the provider connects with
  serviceConnect (terraform resource_service.go comment, c84b997; PR #21; issue #16: "It creates
  the service but the repo is not connected to it"). A repo given here is ignored. An image is
  assigned without a deployment (PR #21: other paths "are doing only part of the job, for
  instance by assigning a docker image, but not triggering a deployment"), and the service's
  trigger goes, as when serviceConnect connects an image (triggers.py).
- serviceInstanceLimitsUpdate takes vCPUs and memoryGB (the schema) and, like settings, applies
  from the next deployment (reported). `serviceInstanceLimits` returns a JSON object; its keys
  here (`vCPUs`, `memoryGB`, plan defaults merged in) follow third-party readers: unverified.
  Plan maxima per replica: Free 1 vCPU / 0.5 GB (railwayapp/docs `content/docs/pricing/
  plans.md`), Hobby 8 / 8 (48 ÷ 6 replicas there), Pro 32 / 32 (the emulator's reading).
Worst cases chosen where sources are silent: limits do not show in the environment config
(Railway's CLI reads a `deploy.limitOverride` there, but nothing shows this mutation writes it),
and the refusal messages are the emulator's own.
"""

from __future__ import annotations

from typing import Any

from . import regions, triggers
from .context import ApiFailure, RequestContext
from .state import Deployment, Instance, Service

Info = Any

# ServiceInstanceUpdateInput fields stored as given (under the same names in `deploy`).
_PLAIN = (
    "healthcheckPath",
    "healthcheckTimeout",
    "restartPolicyType",
    "restartPolicyMaxRetries",
    "sleepApplication",
)
_DEFAULTS = {"restartPolicyType": "ON_FAILURE", "restartPolicyMaxRetries": 10}
PLAN_LIMITS = {"FREE": (1.0, 0.5), "HOBBY": (8.0, 8.0), "PRO": (32.0, 32.0)}  # vCPUs, memoryGB


def plan_of(ctx: RequestContext, instance: Instance) -> str:
    project = ctx.state.projects[instance.project_id]
    return ctx.state.workspaces[project.workspace_id].plan


def placement(instance: Instance) -> dict[str, dict[str, int]]:
    """Where the instance's next deployment runs: its multiRegionConfig, or the preferred
    region with the legacy replica count."""
    configured = instance.deploy.get("multiRegionConfig")
    if configured:
        return {name: dict(spec) for name, spec in configured.items()}
    return {regions.DEFAULT_REGION: {"numReplicas": instance.deploy.get("numReplicas", 1)}}


def home_region(instance: Instance) -> str:
    return next(iter(placement(instance)))


# --- serviceInstanceUpdate --------------------------------------------------------------------


def _instances_of(ctx: RequestContext, service: Service, environment_id: str | None):
    if environment_id is not None:
        return [ctx.instance(service.id, environment_id)]
    project = ctx.state.projects[service.project_id]
    keys = (f"{service.id}:{eid}" for eid in project.environment_ids)
    return [ctx.state.instances[key] for key in keys if key in ctx.state.instances]


def _settings(ctx: RequestContext, instance: Instance, given: dict[str, Any]) -> dict[str, Any]:
    """The instance's `deploy` after `given` (null resets a field), checked against its plan."""
    deploy = dict(instance.deploy)
    has_volume = instance.volume_instance_id is not None
    plan = plan_of(ctx, instance)
    for name in (*_PLAIN, "numReplicas", "multiRegionConfig"):
        if name not in given:
            continue
        value = given[name]
        if value is None:
            deploy.pop(name, None)
        elif name == "multiRegionConfig":
            deploy[name] = regions.placement(value, plan=plan, has_volume=has_volume)
        elif name == "numReplicas":
            if value < 1:
                raise ApiFailure("Invalid number of replicas")
            regions.check_replicas(value, plan, has_volume)
            deploy[name] = value
        else:
            deploy[name] = value
    return deploy


def m_service_instance_update(
    _root: Any,
    info: Info,
    serviceId: str,
    input: dict[str, Any],
    environmentId: str | None = None,
) -> bool:
    ctx: RequestContext = info.context
    service = ctx.service(serviceId)
    targets = _instances_of(ctx, service, environmentId)
    ctx.guard(service.id)
    updated = [(instance, _settings(ctx, instance, input)) for instance in targets]  # all or none
    changed = False
    for instance, deploy in updated:
        changed = changed or deploy != instance.deploy
        instance.deploy = deploy
        changed = _assign_image(ctx, instance, input.get("source")) or changed
    ctx.touched(service.id)
    # The legacy `region` input is accepted and moves nothing (see the module docstring).
    return changed or "region" in input


def _assign_image(ctx: RequestContext, instance: Instance, source: dict[str, Any] | None) -> bool:
    """An image in `source` becomes the instance's, deploying nothing; a repo is ignored (see
    the module docstring). Whether anything changed."""
    image = (source or {}).get("image")
    if not image or image == instance.image:
        return False
    instance.repo, instance.branch, instance.image = None, None, image
    triggers.connect(ctx.state, instance)  # an image has no trigger
    return True


# --- resource limits --------------------------------------------------------------------------


def _limit(value: Any, maximum: float, what: str) -> float:
    if value <= 0 or value > maximum:
        raise ApiFailure(f"{what} must be more than 0 and at most {maximum:g} on this plan")
    return float(value)


def m_service_instance_limits_update(_root: Any, info: Info, input: dict[str, Any]) -> bool:
    ctx: RequestContext = info.context
    instance = ctx.instance(input["serviceId"], input["environmentId"])
    ctx.guard(instance.service_id)
    max_cpu, max_memory = PLAN_LIMITS.get(plan_of(ctx, instance), PLAN_LIMITS["PRO"])
    limits = dict(instance.limits)
    for name, maximum in (("vCPUs", max_cpu), ("memoryGB", max_memory)):
        if name not in input:
            continue
        if input[name] is None:
            limits.pop(name, None)
        else:
            limits[name] = _limit(input[name], maximum, name)
    instance.limits = limits
    ctx.touched(instance.service_id)
    return True


def q_service_instance_limits(
    _root: Any, info: Info, environmentId: str, serviceId: str
) -> dict[str, float]:
    ctx: RequestContext = info.context
    instance = ctx.instance(serviceId, environmentId)
    max_cpu, max_memory = PLAN_LIMITS.get(plan_of(ctx, instance), PLAN_LIMITS["PRO"])
    return {
        "vCPUs": instance.limits.get("vCPUs", max_cpu),
        "memoryGB": instance.limits.get("memoryGB", max_memory),
    }


# --- read back --------------------------------------------------------------------------------


def config_deploy(instance: Instance) -> dict[str, Any] | None:
    """The `deploy` entry of the environment config: what was set, nothing filled in."""
    deploy = dict(instance.deploy)
    if instance.start_command:
        deploy["startCommand"] = instance.start_command
    return deploy or None


def manifest(instance: Instance) -> dict[str, Any]:
    """The settings a deployment is queued with: Railway's `meta.serviceManifest`. Only what was
    set and the resolved placement: nothing shows which defaults Railway writes there, and every
    fleet listing carries one per service."""
    return {"deploy": {**instance.deploy, "multiRegionConfig": placement(instance)}}


def from_template(ctx: RequestContext, instances: list[Instance],
                  service_config: dict[str, Any]) -> None:
    """A template service starts with its template's deploy settings (numReplicas, restart
    policy, ...), as Railway's Postgres and Redis templates carry them, and with the placement
    its serializedConfig gives (`deploy.multiRegionConfig`: Railway's CLI shapes a template's
    topology there before templateDeployV2, railwayapp/cli src/controllers/template_apply.rs),
    checked as serviceInstanceUpdate checks it; its volume is then created in that region."""
    given = service_config.get("deploy") or {}
    settings = {k: given[k] for k in (*_PLAIN, "numReplicas", "multiRegionConfig") if k in given}
    has_volume = bool(service_config.get("volumeMounts"))
    for instance in instances:
        if settings.get("multiRegionConfig") is not None:
            settings["multiRegionConfig"] = regions.placement(
                settings["multiRegionConfig"], plan=plan_of(ctx, instance), has_volume=has_volume)
        instance.deploy.update(settings)


def deployment_meta(dep: Deployment, _info: Info) -> dict[str, Any]:
    if dep.manifest is None:  # queued before settings were modelled (an old state file)
        return dep.meta
    return {**dep.meta, "serviceManifest": dep.manifest}


def _setting(name: str):
    default = _DEFAULTS.get(name)
    return lambda instance, _info: instance.deploy.get(name, default)


RESOLVERS: dict[str, dict[str, Any]] = {
    "Query": {"serviceInstanceLimits": q_service_instance_limits},
    "Mutation": {
        "serviceInstanceUpdate": m_service_instance_update,
        "serviceInstanceLimitsUpdate": m_service_instance_limits_update,
    },
    "ServiceInstance": {
        "region": lambda _instance, _info: None,
        "numReplicas": lambda instance, _info: instance.deploy.get("numReplicas", 1),
        **{name: _setting(name) for name in _PLAIN},
    },
    "Deployment": {"meta": deployment_meta},
}
