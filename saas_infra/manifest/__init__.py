"""Tenant manifests: one YAML file per tenant in tenants/, the desired state saas-infra reconciles.

models.py defines what a valid manifest is; compose.py and loader.py read files into models with
file/line/field errors; edit.py changes files line by line for the operator verbs; schema.py
generates the JSON schema. Nothing in this package talks to Railway or the network.
"""

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
    MAX_MANIFEST_BYTES,
    LoadedManifest,
    Tenant,
    fingerprint_file,
    load_tenant_file,
    load_tenants,
    parse_manifest,
    read_tenants,
)
from saas_infra.manifest.models import (
    AUTH_MODES,
    DEFAULT_AUTH_MODE,
    DEFAULT_BRANCH,
    DEFAULT_GRACE_DAYS,
    DEFAULT_REPO,
    MANIFEST_VERSION,
    AuthMode,
    GatewaySpec,
    RedeployRequest,
    TenantManifest,
    Tombstone,
    check_name,
    set_on_railway,
)
from saas_infra.manifest.schema import json_schema, json_schema_text

__all__ = [
    "AUTH_MODES",
    "DEFAULT_AUTH_MODE",
    "DEFAULT_BRANCH",
    "DEFAULT_GRACE_DAYS",
    "DEFAULT_REPO",
    "MANIFEST_VERSION",
    "MAX_MANIFEST_BYTES",
    "AuthMode",
    "GatewaySpec",
    "LoadedManifest",
    "RedeployRequest",
    "Tenant",
    "TenantManifest",
    "Tombstone",
    "check_name",
    "set_on_railway",
    "clear_tombstone",
    "fingerprint_file",
    "json_schema",
    "json_schema_text",
    "load_tenant_file",
    "load_tenants",
    "parse_manifest",
    "read_tenants",
    "render_manifest",
    "set_gateway_commit",
    "set_gateway_source",
    "set_redeploy",
    "set_tombstone",
    "write_new_manifest",
]
