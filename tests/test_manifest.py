"""Tenant manifests: loading good files, the rules, line-exact edits, and the committed schema.

The catalogue of bad files lives in test_manifest_corpus.py; here each rule is pinned once by
name, and the edits are checked against the exact text they must produce.
"""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from saas_infra.errors import ManifestError
from saas_infra.manifest import (
    DEFAULT_REPO,
    GatewaySpec,
    TenantManifest,
    Tombstone,
    clear_tombstone,
    json_schema,
    json_schema_text,
    load_tenant_file,
    load_tenants,
    parse_manifest,
    render_manifest,
    set_gateway_source,
    set_redeploy,
    set_tombstone,
    write_new_manifest,
)
from saas_infra.manifest import edit as edit_module

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

MINIMAL = """\
version: 1
name: acme
gateway:
  repo: LuthienResearch/luthien-proxy
"""

# A hand-written manifest with the habits edits must respect: comments everywhere, a blank
# line, quoted values, four-space indentation and a comment after the last key.
COMMENTED = """\
# yaml-language-server: $schema=../schema/tenant.schema.json
# Acme Corp: paying since 2026.
version: 1
name: acme          # must equal the file name

gateway:
    repo: LuthienResearch/luthien-proxy   # upstream
    branch: "main"
    # clients bring their own Anthropic keys, or ours
    auth_mode: 'both'
    variables:
        LOG_LEVEL: info   # debug when investigating

# end of acme
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def problems_for(
    tmp_path: Path, text: str, name: str = "acme"
) -> list[tuple[int | None, str, str]]:
    manifest, problems = parse_manifest(text.encode(), f"{name}.yaml", stem=name)
    assert manifest is None
    return [(p.line, p.field, p.message) for p in problems]


# ---- loading good manifests ---------------------------------------------------------------


def test_sample_tenants_load() -> None:
    tenants = load_tenants(ROOT / "tenants")
    assert [t.name for t in tenants] == ["acme", "globex"]
    acme, globex = (t.manifest for t in tenants)
    assert (acme.gateway.repo, acme.gateway.branch, acme.gateway.image) == (
        DEFAULT_REPO,
        "main",
        None,
    )
    assert globex.gateway.repo is None and "@sha256:" in (globex.gateway.image or "")
    assert acme.project_name == "luthien-acme"


def test_minimal_manifest_gets_explicit_defaults(tmp_path: Path) -> None:
    loaded = load_tenant_file(write(tmp_path, "acme.yaml", MINIMAL))
    gateway = loaded.manifest.gateway
    assert (gateway.branch, gateway.auth_mode, gateway.variables) == ("main", "both", {})
    assert loaded.manifest.redeploy is None and loaded.manifest.deletion is None


def test_full_manifest_loads_every_field(tmp_path: Path) -> None:
    text = MINIMAL + (
        "  branch: release/1.4\n  auth_mode: client_key\n  variables:\n    LOG_LEVEL: debug\n"
        "redeploy:\n  requested_at: 2026-11-26T10:00:00Z\n"
        "deletion:\n  requested_at: 2026-11-26T12:00:00+02:00\n  grace_days: 0\n  force: true\n"
    )
    manifest = load_tenant_file(write(tmp_path, "acme.yaml", text)).manifest
    assert manifest.gateway.branch == "release/1.4"
    assert manifest.gateway.variables == {"LOG_LEVEL": "debug"}
    assert manifest.redeploy is not None and manifest.redeploy.requested_at == NOW
    assert manifest.deletion == Tombstone(requested_at=NOW, grace_days=0, force=True)


def test_times_are_converted_to_utc(tmp_path: Path) -> None:
    text = MINIMAL + 'redeploy:\n  requested_at: "2026-11-26T11:00:00+01:00"\n'
    manifest = load_tenant_file(write(tmp_path, "acme.yaml", text)).manifest
    assert manifest.redeploy is not None
    assert manifest.redeploy.requested_at.tzinfo == UTC
    assert manifest.redeploy.requested_at == NOW


def test_tombstone_deadline_is_requested_at_plus_grace() -> None:
    tombstone = Tombstone(requested_at=NOW, grace_days=7)
    assert tombstone.deadline == NOW + timedelta(days=7)
    assert not tombstone.is_due(NOW + timedelta(days=6))
    assert tombstone.is_due(NOW + timedelta(days=7))
    assert Tombstone(requested_at=NOW, force=True).is_due(NOW)


def test_crlf_and_byte_order_mark_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.replace("\n", "\r\n").encode())
    assert load_tenant_file(path).name == "acme"


def test_tenants_are_sorted_by_name_and_yml_is_read(tmp_path: Path) -> None:
    for name in ("zeta", "alpha"):
        write(tmp_path, f"{name}.yaml", MINIMAL.replace("acme", name))
    write(tmp_path, "mid.yml", MINIMAL.replace("acme", "mid"))
    write(tmp_path, "README.md", "not a manifest")
    write(tmp_path, ".draft.yaml", "not: valid: yaml:")  # hidden files are editor noise
    assert [t.name for t in load_tenants(tmp_path)] == ["alpha", "mid", "zeta"]


def test_empty_directory_gives_no_tenants(tmp_path: Path) -> None:
    assert load_tenants(tmp_path) == []


def test_fingerprint_is_sha256_of_the_file_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "acme.yaml", MINIMAL)
    assert load_tenant_file(path).fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_text(MINIMAL + "# a comment changes the fingerprint too\n")
    assert load_tenant_file(path).fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()


# ---- problems ------------------------------------------------------------------------------


def test_all_problems_in_all_files_are_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", MINIMAL.replace("acme", "good"))
    write(tmp_path, "bad.yaml", "version: 2\nname: bad\ngateway:\n  repo: nope\n")
    write(tmp_path, "ugly.yaml", "version: 1\nname: [ugly\n")
    with pytest.raises(ManifestError) as caught:
        load_tenants(tmp_path)
    found = {(Path(p.file).name, p.line, p.field) for p in caught.value.problems}
    assert found == {
        ("bad.yaml", 1, "version"),
        ("bad.yaml", 4, "gateway.repo"),
        ("ugly.yaml", 3, ""),
    }


def test_problem_files_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tenants").mkdir()
    write(tmp_path / "tenants", "acme.yaml", "version: 1\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ManifestError) as caught:
        load_tenants(tmp_path / "tenants")
    assert {p.file for p in caught.value.problems} == {os.path.join("tenants", "acme.yaml")}
    assert str(caught.value).startswith("tenants/acme.yaml:1: name: this required field is missing")


def test_missing_field_points_at_the_mapping_that_should_hold_it(tmp_path: Path) -> None:
    text = "version: 1\nname: acme\ngateway:\n  repo: a/b\ndeletion:\n  grace_days: 3\n"
    assert problems_for(tmp_path, text) == [
        (5, "deletion.requested_at", "this required field is missing")
    ]


def test_name_must_equal_the_file_stem(tmp_path: Path) -> None:
    assert problems_for(tmp_path, MINIMAL, name="other") == [
        (2, "name", "'acme' must equal the file name without its extension ('other')")
    ]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a", True),
        ("acme-corp", True),
        ("test-instance-1", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("Acme", False),
        ("1acme", False),
        ("-acme", False),
        ("acme-", False),
        ("acme_corp", False),
        ("acme.corp", False),
        ("", False),
        ("ünicode", False),
    ],
)
def test_tenant_name_rules(name: str, ok: bool) -> None:
    data = {"version": 1, "name": name, "gateway": {"repo": "a/b"}}
    if ok:
        assert TenantManifest.model_validate(data).name == name
    else:
        with pytest.raises(ValueError):
            TenantManifest.model_validate(data)


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("repo", "LuthienResearch/luthien-proxy", True),
        ("repo", "a/b.c_d-e", True),
        ("repo", "a--b/c", False),
        ("repo", "owner/repo/extra", False),
        ("repo", "github.com/a/b", False),
        ("image", "ghcr.io/luthienresearch/luthien-proxy:1.4.0", True),
        ("image", "ghcr.io/luthienresearch/luthien-proxy@sha256:" + "ab" * 32, True),
        ("image", "luthien-proxy:latest@sha256:" + "ab" * 32, True),  # the digest pins it
        ("image", "localhost:5000/proxy:dev", True),
        ("image", "luthien-proxy", False),
        ("image", "luthien-proxy:LATEST", False),
        ("image", "Uppercase/Proxy:1", False),
        ("image", "proxy@sha256:" + "AB" * 32, False),
    ],
)
def test_gateway_source_rules(field: str, value: str, ok: bool) -> None:
    if ok:
        assert getattr(GatewaySpec.model_validate({field: value}), field) == value
    else:
        with pytest.raises(ValueError):
            GatewaySpec.model_validate({field: value})


@pytest.mark.parametrize("branch", ["main", "release/1.4", "feature/x-y_z", "v1.2.3"])
def test_good_branches(branch: str) -> None:
    assert GatewaySpec.model_validate({"repo": "a/b", "branch": branch}).branch == branch


@pytest.mark.parametrize(
    "branch",
    [
        "",
        "-x",
        "a..b",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[",
        "a\\b",
        "a/",
        "/a",
        "a//b",
        "a.",
        "a.lock",
        ".a",
        "a/.b",
        "@",
        "a@{1}",
        "refs/heads/main",
    ],
)
def test_bad_branches(branch: str) -> None:
    with pytest.raises(ValueError):
        GatewaySpec.model_validate({"repo": "a/b", "branch": branch})


@pytest.mark.parametrize(
    ("variable", "reason"),
    [
        ("DATABASE_URL", "is reserved"),
        ("REDIS_URL", "is reserved"),
        ("CLIENT_API_KEY", "generates it"),
        ("ADMIN_API_KEY", "generates it"),
        ("AUTH_MODE", "gateway.auth_mode"),
        ("PORT", "bridges it itself"),
        ("GATEWAY_PORT", "GATEWAY_PORT=${{PORT}} once broke every deploy"),
        ("RAILWAY_ANYTHING", "Railway's"),
        ("ANTHROPIC_API_KEY", "secrets never go in manifests"),
        ("WEBHOOK_SECRET", "contains SECRET"),
        ("GH_TOKEN", "contains TOKEN"),
        ("DB_PASSWORD", "contains PASSWORD"),
        ("FTP_PASSWD", "contains PASSWD"),
        ("GCP_CREDENTIALS", "contains CREDENTIAL"),
        ("9LIVES", "is not a variable name"),
        ("LOG-LEVEL", "is not a variable name"),
    ],
)
def test_refused_variable_names(tmp_path: Path, variable: str, reason: str) -> None:
    text = MINIMAL + f"  variables:\n    {variable}: x\n"
    [(line, field, message)] = problems_for(tmp_path, text)
    assert (line, field) == (6, f"gateway.variables.{variable}")
    assert reason in message


def test_variable_values_must_be_quoted_strings(tmp_path: Path) -> None:
    text = MINIMAL + "  variables:\n    A: 1\n    B: off\n    C: 1.5\n    D:\n    E: '1'\n"
    found = problems_for(tmp_path, text)
    assert [(line, field) for line, field, _ in found] == [
        (6, "gateway.variables.A"),
        (7, "gateway.variables.B"),
        (8, "gateway.variables.C"),
        (9, "gateway.variables.D"),
    ]
    assert found[1][2] == "must be text, but YAML read the boolean false; put the value in quotes"


def test_variable_value_limit_is_4_kib_in_bytes() -> None:
    GatewaySpec.model_validate({"repo": "a/b", "variables": {"NOTE": "x" * 4096}})
    with pytest.raises(ValueError, match="4098 bytes"):
        GatewaySpec.model_validate({"repo": "a/b", "variables": {"NOTE": "é" * 2049}})


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        Tombstone(requested_at=datetime(2026, 11, 26, 10, 0))


def test_other_time_zones_become_utc() -> None:
    tombstone = Tombstone(
        requested_at=datetime(2026, 11, 26, 5, 0, tzinfo=timezone(timedelta(hours=-5)))
    )
    assert tombstone.requested_at == NOW and tombstone.requested_at.tzinfo == UTC


# ---- edits ---------------------------------------------------------------------------------


@pytest.fixture
def commented(tmp_path: Path) -> Path:
    return write(tmp_path, "acme.yaml", COMMENTED)


def test_set_tombstone_adds_only_the_deletion_block(commented: Path) -> None:
    tombstone = set_tombstone(commented, NOW)
    assert tombstone == Tombstone(requested_at=NOW, grace_days=7, force=False)
    assert commented.read_text() == COMMENTED.replace(
        "        LOG_LEVEL: info   # debug when investigating\n",
        "        LOG_LEVEL: info   # debug when investigating\n"
        "deletion:\n"
        "    requested_at: 2026-11-26T10:00:00Z\n"
        "    grace_days: 7\n"
        "    force: false\n",
    )


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda t: t, id="commented"),
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: t.removesuffix("\n# end of acme\n"), id="no-final-newline"),
        pytest.param(
            lambda t: t.replace(
                "# end of acme\n", "redeploy:\n    requested_at: 2026-01-01T00:00:00Z\n"
            ),
            id="redeploy-last",
        ),
        pytest.param(lambda t: "\ufeff" + t, id="byte-order-mark"),
    ],
)
def test_set_then_clear_tombstone_restores_the_exact_bytes(tmp_path: Path, variant) -> None:
    path = tmp_path / "acme.yaml"
    path.write_bytes(variant(COMMENTED).encode())
    original = path.read_bytes()
    set_tombstone(path, NOW, grace_days=3)
    assert path.read_bytes() != original
    assert load_tenant_file(path).manifest.deletion == Tombstone(requested_at=NOW, grace_days=3)
    assert clear_tombstone(path) is True
    assert path.read_bytes() == original


def test_delete_twice_never_moves_the_deadline(commented: Path) -> None:
    first = set_tombstone(commented, NOW)
    text = commented.read_text()
    again = set_tombstone(commented, NOW + timedelta(days=3), grace_days=30)
    assert again == first
    assert commented.read_text() == text


def test_force_keeps_the_original_request_time(commented: Path) -> None:
    set_tombstone(commented, NOW)
    before = commented.read_text()
    forced = set_tombstone(commented, NOW + timedelta(days=2), force=True)
    assert forced == Tombstone(requested_at=NOW, grace_days=7, force=True)
    assert commented.read_text() == before.replace("    force: false\n", "    force: true\n")


def test_force_on_a_tombstone_without_a_force_line_adds_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "acme.yaml",
        MINIMAL + "deletion:\n  requested_at: 2026-11-26T10:00:00Z  # by ops\n",
    )
    set_tombstone(path, NOW, force=True)
    assert path.read_text() == MINIMAL + (
        "deletion:\n  requested_at: 2026-11-26T10:00:00Z  # by ops\n  force: true\n"
    )


def test_delete_force_on_a_live_tenant_writes_a_forced_tombstone(commented: Path) -> None:
    assert set_tombstone(commented, NOW, force=True).force is True
    assert "    force: true\n" in commented.read_text()


def test_tombstone_times_are_written_in_whole_seconds_utc(commented: Path) -> None:
    moment = datetime(2026, 11, 26, 11, 0, 0, 987654, tzinfo=timezone(timedelta(hours=1)))
    assert set_tombstone(commented, moment).requested_at == NOW
    assert "    requested_at: 2026-11-26T10:00:00Z\n" in commented.read_text()


def test_clear_without_tombstone_returns_false_and_leaves_the_file(commented: Path) -> None:
    mtime = commented.stat().st_mtime_ns
    assert clear_tombstone(commented) is False
    assert commented.read_text() == COMMENTED and commented.stat().st_mtime_ns == mtime


def test_set_redeploy_inserts_then_replaces_only_the_time(commented: Path) -> None:
    set_tombstone(commented, NOW)
    set_redeploy(commented, NOW)
    text = commented.read_text()
    # redeploy goes before deletion, in the documented order of fields
    block = "redeploy:\n    requested_at: 2026-11-26T10:00:00Z\ndeletion:\n"
    assert "    LOG_LEVEL: info   # debug when investigating\n" + block in text
    later = NOW + timedelta(hours=1)
    assert set_redeploy(commented, later).requested_at == later
    assert commented.read_text() == text.replace(
        "redeploy:\n    requested_at: 2026-11-26T10:00:00Z",
        "redeploy:\n    requested_at: 2026-11-26T11:00:00Z",
    )


def test_set_redeploy_replaces_an_empty_redeploy_key(tmp_path: Path) -> None:
    path = write(tmp_path, "acme.yaml", MINIMAL + "redeploy:\n# keep me\n")
    set_redeploy(path, NOW)
    assert (
        path.read_text() == MINIMAL + "redeploy:\n  requested_at: 2026-11-26T10:00:00Z\n# keep me\n"
    )


def test_switching_to_an_image_replaces_repo_and_branch_lines(commented: Path) -> None:
    image = "ghcr.io/luthienresearch/luthien-proxy:1.4.0"
    assert set_gateway_source(commented, image=image).image == image
    assert commented.read_text() == COMMENTED.replace(
        '    repo: LuthienResearch/luthien-proxy   # upstream\n    branch: "main"\n',
        f"    image: {image}\n",
    )


def test_switching_back_to_a_repo_replaces_the_image_line(commented: Path) -> None:
    set_gateway_source(commented, image="ghcr.io/luthienresearch/luthien-proxy:1.4.0")
    set_gateway_source(commented, repo="acme-corp/luthien-proxy-fork", branch="acme")
    assert commented.read_text() == COMMENTED.replace(
        '    repo: LuthienResearch/luthien-proxy   # upstream\n    branch: "main"\n',
        "    repo: acme-corp/luthien-proxy-fork\n    branch: acme\n",
    )


def test_changing_the_branch_keeps_its_quotes_and_the_comments(commented: Path) -> None:
    set_gateway_source(commented, repo=DEFAULT_REPO, branch="release/1.4")
    assert commented.read_text() == COMMENTED.replace('branch: "main"', 'branch: "release/1.4"')


def test_repo_without_branch_means_main_and_writes_no_branch_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "acme.yaml",
        MINIMAL.replace("  repo: LuthienResearch/luthien-proxy\n", "  image: x/y:1\n"),
    )
    assert set_gateway_source(path, repo="a/b").branch == "main"
    assert path.read_text() == MINIMAL.replace("LuthienResearch/luthien-proxy", "a/b")


def test_bad_source_arguments_are_refused_without_touching_the_file(commented: Path) -> None:
    for kwargs in (
        {"repo": "a/b", "image": "x/y:1"},
        {"image": "x/y:1", "branch": "dev"},
        {"image": "x/y"},
        {},
    ):
        with pytest.raises(ManifestError):
            set_gateway_source(commented, **kwargs)
    assert commented.read_text() == COMMENTED


def test_edits_refuse_a_manifest_that_does_not_validate(tmp_path: Path) -> None:
    path = write(tmp_path, "acme.yaml", MINIMAL + "  auth_mode: sometimes\n")
    with pytest.raises(ManifestError) as caught:
        set_tombstone(path, NOW)
    assert [(p.line, p.field) for p in caught.value.problems] == [(5, "gateway.auth_mode")]
    assert path.read_text() == MINIMAL + "  auth_mode: sometimes\n"


def test_edits_refuse_naive_times(commented: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        set_tombstone(commented, datetime(2026, 11, 26, 10, 0))
    assert caught.value.problems[0].field == "deletion.requested_at"
    assert commented.read_text() == COMMENTED


def test_edits_refuse_flow_style_blocks(tmp_path: Path) -> None:
    path = write(tmp_path, "acme.yaml", "version: 1\nname: acme\ngateway: {repo: a/b}\n")
    with pytest.raises(ManifestError, match="block-style"):
        set_gateway_source(path, image="x/y:1")


def test_edits_keep_file_mode_and_leave_no_temporary_files(commented: Path) -> None:
    commented.chmod(0o640)
    set_tombstone(commented, NOW)
    assert stat.S_IMODE(commented.stat().st_mode) == 0o640
    assert [p.name for p in commented.parent.iterdir()] == ["acme.yaml"]


def test_write_new_manifest_writes_the_canonical_text_with_a_schema_header(tmp_path: Path) -> None:
    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "tenant.schema.json").write_text("{}")
    path = write_new_manifest(tmp_path / "tenants", "acme")
    assert path == tmp_path / "tenants" / "acme.yaml"
    assert path.read_text() == (
        "# yaml-language-server: $schema=../schema/tenant.schema.json\n"
        "version: 1\nname: acme\ngateway:\n"
        "  repo: LuthienResearch/luthien-proxy\n  branch: main\n  auth_mode: both\n"
    )
    assert load_tenant_file(path).manifest.gateway.auth_mode == "both"


def test_write_new_manifest_from_an_image_without_a_schema_in_reach(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # the search for schema/ stops at the repository root
    image = "ghcr.io/luthienresearch/luthien-proxy@sha256:" + "0f" * 32
    path = write_new_manifest(tmp_path, "globex", image=image, auth_mode="client_key")
    assert (
        path.read_text()
        == f"version: 1\nname: globex\ngateway:\n  image: {image}\n  auth_mode: client_key\n"
    )


@pytest.mark.parametrize("existing", ["acme.yaml", "acme.yml"])
def test_write_new_manifest_refuses_an_existing_tenant(tmp_path: Path, existing: str) -> None:
    write(tmp_path, existing, "# keep\n")
    with pytest.raises(ManifestError, match="already has a manifest"):
        write_new_manifest(tmp_path, "acme")
    assert (tmp_path / existing).read_text() == "# keep\n"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "../evil"},
        {"name": "Acme"},
        {"name": "acme", "image": "x/y:latest"},
        {"name": "acme", "auth_mode": "open"},
    ],
)
def test_write_new_manifest_validates_before_writing(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ManifestError):
        write_new_manifest(tmp_path / "tenants", **kwargs)
    assert not (tmp_path / "tenants").exists() and not (tmp_path / "evil.yaml").exists()


def test_render_manifest_round_trips_every_field() -> None:
    manifest = TenantManifest.model_validate(
        {
            "version": 1,
            "name": "acme",
            "gateway": {
                "repo": "a/b",
                "branch": "dev",
                "variables": {"LOG_LEVEL": "debug", "FLAG": "yes"},
            },
            "redeploy": {"requested_at": NOW},
            "deletion": {"requested_at": NOW, "grace_days": 0, "force": True},
        }
    )
    text = render_manifest(manifest)
    assert "    FLAG: 'yes'\n" in text  # quoted, or YAML would read a boolean
    assert parse_manifest(text.encode(), "acme.yaml", stem="acme") == (manifest, [])


# ---- schema --------------------------------------------------------------------------------


def test_committed_schema_is_current() -> None:
    committed = (ROOT / "schema" / "tenant.schema.json").read_text()
    assert committed == json_schema_text(), (
        "regenerate: uv run python -m saas_infra.manifest > schema/tenant.schema.json"
    )


def test_schema_describes_itself_and_the_rules() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"$id", "title", "description"} <= schema.keys()
    gateway = schema["$defs"]["GatewaySpec"]
    assert gateway["properties"]["auth_mode"]["enum"] == ["client_key", "passthrough", "both"]
    assert gateway["additionalProperties"] is False and "not" in gateway  # not repo and image
    # the gateway (or its source) may come from fleet.yaml, which the schema cannot see
    assert schema["required"] == ["version", "name"]


def test_sample_tenants_point_editors_at_the_schema() -> None:
    for path in sorted((ROOT / "tenants").glob("*.yaml")):
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schema/tenant.schema.json"


def test_a_failed_write_leaves_the_manifest_whole_and_raises_our_error(
    commented: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(edit_module.os, "replace", disk_full)
    with pytest.raises(ManifestError, match="cannot write the file: No space left on device"):
        set_tombstone(commented, NOW)
    assert commented.read_text() == COMMENTED
    assert [p.name for p in commented.parent.iterdir()] == ["acme.yaml"]


def test_an_edit_refuses_to_overwrite_a_concurrent_change(
    commented: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = edit_module.parse_manifest
    calls = []

    def meanwhile(*args, **kwargs):  # someone saves the file while the edit is being checked
        calls.append(1)
        if len(calls) == 2:
            commented.write_text(COMMENTED + "# theirs\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(edit_module, "parse_manifest", meanwhile)
    with pytest.raises(ManifestError, match="changed while saas-infra was editing it"):
        set_tombstone(commented, NOW)
    assert commented.read_text() == COMMENTED + "# theirs\n"


def test_new_manifests_are_written_where_hard_links_are_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(edit_module.os, "link", no_links)
    path = write_new_manifest(tmp_path, "acme")
    assert load_tenant_file(path).name == "acme"
    assert [p.name for p in tmp_path.iterdir()] == ["acme.yaml"]
