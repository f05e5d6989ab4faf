"""The JSON schema of manifest version 1, generated from the pydantic models.

The committed copy at schema/tenant.schema.json gives editors completion and checks through the
`# yaml-language-server: $schema=...` header; a test keeps it equal to what this module
generates. `python -m saas_infra.manifest > schema/tenant.schema.json` refreshes it. No I/O here.
"""

from __future__ import annotations

import json
from typing import Any

from saas_infra.manifest.models import MANIFEST_VERSION, TenantManifest

SCHEMA_ID = f"urn:luthien:saas-infra:tenant-manifest:v{MANIFEST_VERSION}"
TITLE = f"saas-infra tenant manifest, version {MANIFEST_VERSION}"
DESCRIPTION = (
    "The desired state of one luthien-proxy tenant on Railway: one file per tenant in tenants/, "
    "named <name>.yaml. saas-infra reconciles Railway to match. Secrets never go here."
)


def json_schema() -> dict[str, Any]:
    """The manifest's JSON schema (draft 2020-12), with $schema, $id, title and description."""
    generated = TenantManifest.model_json_schema(mode="validation")
    generated.pop("title", None)
    generated.pop("description", None)
    head = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": TITLE,
        "description": DESCRIPTION,
    }
    return {**head, **generated}


def json_schema_text() -> str:
    """The schema exactly as committed: two-space indented JSON and a final newline."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
