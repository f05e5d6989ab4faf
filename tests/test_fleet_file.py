"""fleet.yaml: defaults and tiers every manifest inherits, read as strictly as a manifest.

Each rule is pinned by name: where the file is found, what a manifest inherits and what it
overrides, every error with its file, line and field, the committed schema, and the commands
(`validate`, a pass, the verbs that edit a manifest) reading through it.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from saas_infra.errors import ManifestError
from saas_infra.manifest import (
    fleet_json_schema,
    fleet_json_schema_text,
    json_schema,
    load_tenant_file,
    load_tenants,
    read_tenants,
    set_gateway_source,
    set_tombstone,
)

ROOT = Path(__file__).resolve().parent.parent

FLEET = """\
version: 1
defaults:
  gateway:
    repo: LuthienResearch/luthien-proxy
    auth_mode: client_key
    variables:
      LOG_LEVEL: info
      REGION_HINT: us
tiers:
  trial:
    gateway:
      auth_mode: passthrough
  enterprise:
    gateway:
      branch: stable
      variables:
        LOG_LEVEL: warning
"""

BARE = """\
version: 1
name: acme
"""


@pytest.fixture
def fleet_file(tenants_dir: Path) -> Path:
    path = tenants_dir.parent / "fleet.yaml"
    path.write_text(FLEET)
    return path


def write(tenants_dir: Path, name: str, text: str) -> Path:
    path = tenants_dir / f"{name}.yaml"
    path.write_text(text)
    return path


def problems_of(call) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        call()
    return [str(p) for p in caught.value.problems]


# ---- inheriting ----------------------------------------------------------------------------


def test_a_manifest_without_a_gateway_inherits_the_fleet_defaults(tenants_dir, fleet_file):
    write(tenants_dir, "acme", BARE)
    [acme] = load_tenants(tenants_dir)
    gateway = acme.manifest.gateway
    assert (gateway.repo, gateway.branch, gateway.auth_mode) == (
        "LuthienResearch/luthien-proxy", "main", "client_key")
    assert gateway.variables == {"LOG_LEVEL": "info", "REGION_HINT": "us"}
    assert acme.manifest.tier is None


def test_a_tier_overrides_the_defaults_and_the_manifest_overrides_one_field(
        tenants_dir, fleet_file):
    write(tenants_dir, "acme", BARE + "tier: enterprise\ngateway:\n  variables:\n"
                                      "    REGION_HINT: eu\n")
    [acme] = load_tenants(tenants_dir)
    gateway = acme.manifest.gateway
    assert acme.manifest.tier == "enterprise"
    assert (gateway.repo, gateway.branch, gateway.auth_mode) == (
        "LuthienResearch/luthien-proxy", "stable", "client_key")
    # variables merge name by name: the tier's LOG_LEVEL, the manifest's REGION_HINT
    assert gateway.variables == {"LOG_LEVEL": "warning", "REGION_HINT": "eu"}


def test_a_manifest_naming_an_image_replaces_the_whole_inherited_source(
        tenants_dir, fleet_file):
    image = "ghcr.io/luthienresearch/luthien-proxy:1.2.3"
    write(tenants_dir, "acme", BARE + f"tier: enterprise\ngateway:\n  image: {image}\n")
    [acme] = load_tenants(tenants_dir)
    assert (acme.manifest.gateway.repo, acme.manifest.gateway.branch,
            acme.manifest.gateway.image) == (None, None, image)


def test_without_a_fleet_file_manifests_stand_alone_as_before(tenants_dir, write_tenant):
    write_tenant("acme")
    [acme] = load_tenants(tenants_dir)
    assert acme.manifest.gateway.auth_mode == "both"
    globex = BARE.replace("acme", "globex")
    assert problems_of(lambda: load_tenants(_with(tenants_dir, "globex", globex))) == [
        "tenants/globex.yaml:1: gateway: this required field is missing"]


def _with(tenants_dir: Path, name: str, text: str) -> Path:
    write(tenants_dir, name, text)
    return tenants_dir


def test_a_fleet_file_elsewhere_is_read_when_given(tenants_dir, tmp_path):
    elsewhere = tmp_path / "config" / "fleet.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(FLEET)
    write(tenants_dir, "acme", BARE)
    [acme] = load_tenants(tenants_dir, fleet_file=elsewhere)
    assert acme.manifest.gateway.auth_mode == "client_key"
    missing = tmp_path / "nope.yaml"
    assert problems_of(lambda: load_tenants(tenants_dir, fleet_file=missing)) == [
        "nope.yaml: cannot read the fleet file: No such file or directory"]


def test_the_fleet_file_is_part_of_each_fingerprint(tenants_dir, fleet_file):
    write(tenants_dir, "acme", BARE)
    before = load_tenants(tenants_dir)[0].fingerprint
    fleet_file.write_text(FLEET.replace("auth_mode: client_key", "auth_mode: both"))
    assert load_tenants(tenants_dir)[0].fingerprint != before


# ---- errors --------------------------------------------------------------------------------


def test_an_unknown_tier_is_an_error_at_the_manifests_line(tenants_dir, fleet_file):
    write(tenants_dir, "acme", BARE + "tier: enterprize\n")
    assert problems_of(lambda: load_tenants(tenants_dir)) == [
        "tenants/acme.yaml:3: tier: unknown tier 'enterprize': fleet.yaml defines enterprise, "
        "trial; did you mean 'enterprise'?"]


def test_a_tier_without_a_fleet_file_is_an_error(tenants_dir, write_tenant):
    path = write_tenant("acme")
    path.write_text(path.read_text().replace("name: acme\n", "name: acme\ntier: gold\n"))
    [problem] = problems_of(lambda: load_tenants(tenants_dir))
    assert problem.endswith("tier: tier 'gold' needs a fleet file that defines it; there is none")


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 2\n", "fleet.yaml:1: version: unsupported fleet file version: the number 2; this saas-infra "
                     "reads version 1"),
    ("defaults: {}\n", "fleet.yaml:1: version: this required field is missing"),
    ("version: 1\ndefaults:\n  gateway:\n    auth_mod: both\n",
     "fleet.yaml:4: defaults.gateway.auth_mod: unknown field 'auth_mod' (allowed here: repo, "
     "branch, image, auth_mode, variables, secrets, healthcheck, restart, sleep, replicas, "
     "resources); did you mean 'auth_mode'?"),
    ("version: 1\ntiers:\n  gold:\n    gateway:\n      auth_mode: proxy_key\n",
     "fleet.yaml:5: tiers.gold.gateway.auth_mode: must be one of client_key, passthrough, both, "
     "got the text 'proxy_key'; 'proxy_key' was renamed 'client_key' in luthien-proxy"),
    ("version: 1\ntiers:\n  Gold: {}\n",
     "fleet.yaml:3: tiers.Gold: 'Gold' is not a tier name (a lowercase letter, then lowercase "
     "letters, digits, - or _; at most 63 characters)"),
    ("version: 1\ndefaults:\n  gateway:\n    variables:\n      API_TOKEN: x\n",
     "fleet.yaml:5: defaults.gateway.variables.API_TOKEN: API_TOKEN looks like a secret (it "
     "contains TOKEN); secrets never go in manifests, which live in git. Name it under "
     "gateway.secrets instead (API_TOKEN: {from_env: VAR}: the pass reads it from its "
     "environment variable VAR), or set it on Railway"),
    ("version: 1\ndefaults:\n  gateway:\n    repo: a/b\n    image: x/y:1\n",
     "fleet.yaml:5: defaults.gateway.image: give either repo or image, not both"),
    ("version: 1\nreleases: {}\n",
     "fleet.yaml:2: releases: unknown field 'releases' (allowed here: version, defaults, tiers, "
     "channels, rollout)"),
    ("- 1\n", "fleet.yaml:1: a fleet file must be a mapping of fields (version, defaults, "
              "tiers), got a list"),
])
def test_a_bad_fleet_file_is_reported_with_file_line_and_field(
        tenants_dir, text, expected):
    (tenants_dir.parent / "fleet.yaml").write_text(text)
    write(tenants_dir, "acme", BARE)
    assert problems_of(lambda: load_tenants(tenants_dir)) == [expected]


def test_a_broken_fleet_file_leaves_every_tenant_out_of_the_views(tenants_dir, write_tenant):
    write_tenant("acme")
    (tenants_dir.parent / "fleet.yaml").write_text("version: 1\nbogus: 1\n")
    valid, problems = read_tenants(tenants_dir)
    assert valid == []
    assert [str(p) for p in problems] == [
        "fleet.yaml:2: bogus: unknown field 'bogus' (allowed here: version, defaults, tiers, "
        "channels, rollout)",
        "tenants/acme.yaml: inherits from fleet.yaml, which has problems"]


def test_list_shows_tenants_of_a_broken_fleet_file_as_invalid_not_orphans(
        run_cli, tenants_dir, fleet_file):
    write(tenants_dir, "acme", BARE)
    assert run_cli("apply", "--yes").exit_code == 0
    fleet_file.write_text("version: 1\nbogus: 1\n")
    rows = json.loads(run_cli("list", "--json").stdout)
    assert [(r["name"], r["status"]) for r in rows["instances"]] == [("acme", "invalid_manifest")]


def test_a_combination_is_reported_at_the_manifests_line(tenants_dir):
    (tenants_dir.parent / "fleet.yaml").write_text(
        "version: 1\ndefaults:\n  gateway:\n    image: x/y:1\n")
    write(tenants_dir, "acme", BARE + "gateway:\n  branch: main\n")
    assert problems_of(lambda: load_tenants(tenants_dir)) == [
        "tenants/acme.yaml:4: gateway.branch: branch only applies to repo; remove it"]


# ---- schema --------------------------------------------------------------------------------


def test_committed_fleet_schema_is_current() -> None:
    committed = (ROOT / "schema" / "fleet.schema.json").read_text()
    assert committed == fleet_json_schema_text(), (
        "regenerate: uv run python -m saas_infra.manifest fleet > schema/fleet.schema.json"
    )


def test_the_schemas_accept_the_example_and_refuse_what_the_loader_refuses() -> None:
    fleet = jsonschema.Draft202012Validator(fleet_json_schema())
    assert not list(fleet.iter_errors(yaml.safe_load(FLEET)))
    assert list(fleet.iter_errors({"version": 1, "defaults": {"gateway": {"bogus": 1}}}))
    assert list(fleet.iter_errors({"version": 1, "tiers": {"Gold": {}}}))
    tenant = jsonschema.Draft202012Validator(json_schema())
    assert not list(tenant.iter_errors({"version": 1, "name": "acme", "tier": "trial"}))
    both = {"version": 1, "name": "acme", "gateway": {"repo": "a/b", "image": "x/y:1"}}
    assert list(tenant.iter_errors(both))


# ---- commands ------------------------------------------------------------------------------


def test_validate_names_the_fleet_file_and_its_errors(run_cli, tenants_dir, fleet_file, emu):
    write(tenants_dir, "acme", BARE + "tier: trial\n")
    result = run_cli("validate")
    assert (result.exit_code, result.stderr) == (
        0, "1 manifest valid in tenants/, with the fleet file fleet.yaml\n")
    assert json.loads(run_cli("validate", "--json").stdout)["fleet_file"] == "fleet.yaml"
    fleet_file.write_text("version: 1\ntiers:\n  trial:\n    gateway: 5\n")
    bad = run_cli("validate")
    assert bad.exit_code == 1
    assert "fleet.yaml:4: tiers.trial.gateway: must be a mapping of fields, got the number 5" in bad.stderr
    assert emu.counts["total"] == 0


def test_fleet_file_option_points_elsewhere(run_cli, tenants_dir, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(FLEET)
    write(tenants_dir, "acme", BARE)
    assert run_cli("validate").exit_code == 1  # no fleet.yaml beside tenants/: no gateway
    result = run_cli("validate", "--fleet-file", str(other))
    assert result.exit_code == 0, result.stderr


def test_a_pass_creates_a_tenant_from_the_fleet_defaults(run_cli, tenants_dir, fleet_file, emu):
    write(tenants_dir, "acme", BARE + "tier: trial\n")
    result = run_cli("apply", "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    [project] = [p for p in emu.snapshot()["projects"] if p["name"] == "luthien-acme"]
    gateway = next(s for s in project["services"] if s["name"] == "gateway")
    variables = gateway["variables"]
    assert (variables["AUTH_MODE"], variables["LOG_LEVEL"]) == ("passthrough", "info")
    again = run_cli("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.stdout


def test_verbs_edit_a_manifest_that_relies_on_the_fleet_file(tenants_dir, fleet_file, clock):
    path = write(tenants_dir, "acme", BARE + "tier: trial\n")
    set_tombstone(path, clock.now())
    assert load_tenant_file(path).manifest.deletion is not None
    gateway = set_gateway_source(path, image="x/y:1")
    assert gateway.auth_mode == "passthrough" and gateway.image == "x/y:1"
    assert "tier: trial\ngateway:\n  image: x/y:1\ndeletion:\n" in path.read_text()
    assert load_tenant_file(path).manifest.gateway.image == "x/y:1"
