"""The JSON schemas of manifest version 1 and of the fleet file, generated from the models.

The committed copies at schema/tenant.schema.json and schema/fleet.schema.json give editors
completion and checks through the `# yaml-language-server: $schema=...` header; a test keeps them
equal to what this module generates. `python -m saas_infra.manifest > schema/tenant.schema.json`
and `python -m saas_infra.manifest fleet > schema/fleet.schema.json` refresh them. No I/O here.
"""

from __future__ import annotations

import json
from typing import Any

from saas_infra.manifest.models import (
    MANIFEST_VERSION,
    SOURCE_AT_MOST_ONE,
    FleetFile,
    TenantManifest,
)

SCHEMA_ID = f"urn:luthien:saas-infra:tenant-manifest:v{MANIFEST_VERSION}"
TITLE = f"saas-infra tenant manifest, version {MANIFEST_VERSION}"
DESCRIPTION = (
    "The desired state of one luthien-proxy tenant on Railway: one file per tenant in tenants/, "
    "named <name>.yaml. saas-infra reconciles Railway to match. Secrets never go here."
)


FLEET_SCHEMA_ID = "urn:luthien:saas-infra:fleet-file:v1"
FLEET_TITLE = "saas-infra fleet file, version 1"
FLEET_DESCRIPTION = (
    "fleet.yaml, beside tenants/: the defaults every tenant manifest inherits and named tiers a "
    "manifest picks with `tier:`. A manifest's own fields win. Secrets never go here."
)


def json_schema() -> dict[str, Any]:
    """The manifest's JSON schema (draft 2020-12), with $schema, $id, title and description."""
    generated = TenantManifest.model_json_schema(mode="validation")
    generated["required"] = [f for f in generated["required"] if f != "gateway"]
    gateway = generated["$defs"]["GatewaySpec"]
    gateway.pop("oneOf", None)
    gateway.update(SOURCE_AT_MOST_ONE)  # the source may come from fleet.yaml
    # A pinned commit belongs to a repo: never beside an image (which pins itself).
    gateway["not"] = {"anyOf": [{"required": ["repo", "image"]}, {"required": ["image", "branch"]},
                                {"required": ["image", "commit"]}]}
    return _with_head(generated, SCHEMA_ID, TITLE, DESCRIPTION)


def fleet_json_schema() -> dict[str, Any]:
    """The fleet file's JSON schema (draft 2020-12)."""
    generated = FleetFile.model_json_schema(mode="validation")
    return _with_head(generated, FLEET_SCHEMA_ID, FLEET_TITLE, FLEET_DESCRIPTION)


def _with_head(generated: dict[str, Any], id_: str, title: str, description: str
               ) -> dict[str, Any]:
    generated.pop("title", None)
    generated.pop("description", None)
    head = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": id_,
        "title": title,
        "description": description,
    }
    return {**head, **generated}


def json_schema_text() -> str:
    """The schema exactly as committed: two-space indented JSON and a final newline."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def fleet_json_schema_text() -> str:
    """The fleet file's schema exactly as committed."""
    return json.dumps(fleet_json_schema(), indent=2, ensure_ascii=False) + "\n"
