"""`python -m saas_infra.manifest [fleet]` prints the manifest's (or the fleet file's) JSON
schema, to refresh the committed copy."""

import sys

from saas_infra.manifest.schema import fleet_json_schema_text, json_schema_text

print(fleet_json_schema_text() if sys.argv[1:] == ["fleet"] else json_schema_text(), end="")
