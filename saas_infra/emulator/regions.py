"""Railway's deploy regions as `regions(projectId:)` lists them, and the placement rules a
`multiRegionConfig` must follow. Pure data and checks: no state, no clock.

Evidence (read at the commits named):
- The four regions, their ids and places: railwayapp/docs `content/docs/deployments/regions.md`
  and `content/guides/multi-region-api-failover.md` at c2a634f1 ("Railway offers four
  deployment regions": us-west2, us-east4-eqdc4a, europe-west4-drams3a, asia-southeast1-eqsg3a).
- `name` is the id a multiRegionConfig is keyed by, `location` the friendly name the CLI slugs
  into `us-west` / `eu-west`, `country` an ISO code: railwayapp/cli `src/controllers/regions.rs`
  (resolve_deploy_region_id, region_flag_name, its tests) and `src/commands/scale.rs`
  (SCALE_AFTER_HELP "Regions: us-west, us-east, eu-west, southeast-asia") at df3838bf.
- Deprecated entries stay in the list with `deploymentConstraints.deprecationInfo`; the CLI
  refuses them for new placements (regions.rs region_is_available). The emulator lists one:
  `us-west1` (Oregon), the Terraform provider's default region until
  terraform-community-providers/terraform-provider-railway e0b60a6 and the "US West (Oregon)"
  of railwayapp/docs `content/docs/platform/railway-metal.md`.
- Replicas per service by plan: railwayapp/docs `content/docs/pricing/plans.md` (Free 1,
  Hobby 6, Pro 42). A region set to `null` is absent (the dashboard's way: regions.rs
  convert_hashmap_to_map); `numReplicas: 0` is refused (reported: ctxpipe-ai/ctxpipe PR #327).
- Services with a volume run one replica in one region: railwayapp/docs
  `content/docs/volumes/reference.md` ("Replicas cannot be used with volumes") and
  `content/guides/multi-region-api-failover.md` (a volume locks a service to one region).
Sources are silent on: the `region` field of non-US-West entries (the CLI's only example has
it equal to `name`, so all do here), `id` (left out of the emulator's schema), and the error
messages below, which are the emulator's own wording.
"""

from __future__ import annotations

from typing import Any

from .context import ApiFailure, RequestContext

# The workspace's preferred region, where a service without a placement deploys. Railway lets
# each workspace choose it (docs regions.md); the emulator's workspaces all prefer us-west2.
DEFAULT_REGION = "us-west2"

_REGIONS: tuple[dict[str, Any], ...] = (
    {"name": "us-west2", "location": "US West", "country": "US"},
    {"name": "us-east4-eqdc4a", "location": "US East", "country": "US"},
    {"name": "europe-west4-drams3a", "location": "EU West", "country": "NL"},
    {"name": "asia-southeast1-eqsg3a", "location": "Southeast Asia", "country": "SG"},
    {
        "name": "us-west1",
        "location": "US West (Oregon)",
        "country": "US",
        "replacement": "us-west2",
    },
)

MAX_REPLICAS = {"FREE": 1, "HOBBY": 6, "PRO": 42}


def listing() -> list[dict[str, Any]]:
    """Fresh Region objects, in the order the emulator lists them."""
    out = []
    for entry in _REGIONS:
        replacement = entry.get("replacement")
        constraints = (
            {"deprecationInfo": {"isDeprecated": True, "replacementRegion": replacement}}
            if replacement
            else None
        )
        out.append(
            {
                "name": entry["name"],
                "region": entry["name"],
                "location": entry["location"],
                "country": entry["country"],
                "workspaceId": None,
                "deploymentConstraints": constraints,
            }
        )
    return out


def deployable(name: str) -> bool:
    return any(e["name"] == name and "replacement" not in e for e in _REGIONS)


def q_regions(_root: Any, info: Any, projectId: str | None = None) -> list[dict[str, Any]]:
    ctx: RequestContext = info.context
    ctx.require_grant()
    if projectId is not None:
        ctx.project(projectId)  # "Not Authorized" outside the token's reach
    return listing()


def placement(value: Any, *, plan: str, has_volume: bool) -> dict[str, dict[str, int]]:
    """A multiRegionConfig as Railway would store it ({region: {"numReplicas": n}}), or
    ApiFailure. Regions mapped to null are dropped: that is how a region is removed."""
    if not isinstance(value, dict):
        raise ApiFailure("Problem processing request")
    out: dict[str, dict[str, int]] = {}
    for name, spec in value.items():
        if spec is None:
            continue
        replicas = spec.get("numReplicas") if isinstance(spec, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1:
            raise ApiFailure(f'Invalid number of replicas for region "{name}"')
        if not deployable(name):
            raise ApiFailure(f'Region "{name}" is not available for deployments')
        out[name] = {"numReplicas": replicas}
    if not out:
        raise ApiFailure("A service must be deployed to at least one region")
    check_replicas(sum(r["numReplicas"] for r in out.values()), plan, has_volume, len(out))
    return out


def check_replicas(total: int, plan: str, has_volume: bool, regions: int = 1) -> None:
    if has_volume and (total > 1 or regions > 1):
        raise ApiFailure("Replicas cannot be used with volumes")
    limit = MAX_REPLICAS.get(plan, MAX_REPLICAS["PRO"])
    if total > limit:
        raise ApiFailure(f"Your plan allows at most {limit} replicas per service")
