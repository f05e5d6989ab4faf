"""Tenant manifests: one YAML file per tenant in tenants/, the desired state saas-infra reconciles.

models.py defines what a valid manifest (and fleet.yaml) is; compose.py and loader.py read files
into models with file/line/field errors; fleet.py merges what a manifest inherits from fleet.yaml;
edit.py changes files line by line for the operator verbs; schema.py generates the JSON schemas. Nothing in this package talks to Railway or the network.
"""

from saas_infra.manifest.canaries import canary_warnings
from saas_infra.manifest.edit import (
    clear_tombstone,
    render_manifest,
    set_gateway_commit,
    set_gateway_source,
    set_redeploy,
    set_tombstone,
    write_new_manifest,
)
from saas_infra.manifest.loader import (
    FLEET_FILE,
    MAX_MANIFEST_BYTES,
    LoadedFleet,
    LoadedManifest,
    Tenant,
    fingerprint_file,
    fleet_path,
    load_tenant_file,
    load_tenants,
    parse_fleet,
    parse_manifest,
    read_fleet,
    read_tenants,
)
from saas_infra.manifest.models import (
    AUTH_MODES,
    DEFAULT_AUTH_MODE,
    DEFAULT_BRANCH,
    DEFAULT_GRACE_DAYS,
    DEFAULT_REPO,
    MANIFEST_VERSION,
    PROVIDER_KEY,
    AuthMode,
    FleetFile,
    GatewaySpec,
    RedeployRequest,
    TenantManifest,
    Tombstone,
    check_name,
    lacks_provider_key,
    set_on_railway,
)
from saas_infra.manifest.regions import KnownRegion, fleet_region_problems, region_problems
from saas_infra.manifest.schema import (
    fleet_json_schema,
    fleet_json_schema_text,
    json_schema,
    json_schema_text,
)

__all__ = [
    "FLEET_FILE",
    "AUTH_MODES",
    "DEFAULT_AUTH_MODE",
    "DEFAULT_BRANCH",
    "DEFAULT_GRACE_DAYS",
    "DEFAULT_REPO",
    "MANIFEST_VERSION",
    "MAX_MANIFEST_BYTES",
    "PROVIDER_KEY",
    "AuthMode",
    "FleetFile",
    "GatewaySpec",
    "KnownRegion",
    "LoadedFleet",
    "LoadedManifest",
    "RedeployRequest",
    "Tenant",
    "TenantManifest",
    "Tombstone",
    "canary_warnings",
    "check_name",
    "region_problems",
    "fleet_region_problems",
    "lacks_provider_key",
    "set_on_railway",
    "clear_tombstone",
    "fingerprint_file",
    "fleet_json_schema",
    "fleet_path",
    "fleet_json_schema_text",
    "json_schema",
    "json_schema_text",
    "load_tenant_file",
    "load_tenants",
    "parse_fleet",
    "parse_manifest",
    "read_fleet",
    "read_tenants",
    "render_manifest",
    "set_gateway_commit",
    "set_gateway_source",
    "set_redeploy",
    "set_tombstone",
    "write_new_manifest",
]
