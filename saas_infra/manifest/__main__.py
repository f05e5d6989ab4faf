"""`python -m saas_infra.manifest` prints the manifest JSON schema (to refresh the copy)."""

from saas_infra.manifest.schema import json_schema_text

print(json_schema_text(), end="")
