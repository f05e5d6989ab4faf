"""The bad-manifest corpus: every case in tests/bad_manifests/cases.yaml fails with its problem.

Cases that would mean committing huge, binary or hostile files (over-size, invalid UTF-8,
control characters, alias bombs, deep nesting) are generated into tmp_path here instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from saas_infra.errors import ManifestError, ManifestProblem
from saas_infra.manifest import MAX_MANIFEST_BYTES, load_tenant_file, load_tenants
from saas_infra.manifest.loader import display_path

CORPUS = Path(__file__).parent / "bad_manifests"
CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "cases.yaml").read_text())


def _problems_of(path: Path) -> list[ManifestProblem]:
    load = load_tenants if path.is_dir() else load_tenant_file
    with pytest.raises(ManifestError) as caught:
        load(path)
    return caught.value.problems


def _matches(problem: ManifestProblem, path: Path, want: dict[str, Any]) -> bool:
    return (
        problem.file == display_path(path)
        and problem.file.endswith(path.name)
        and problem.line == want["line"]
        and problem.field == want["field"]
        and want["message"] in problem.message
    )


@pytest.mark.parametrize("case", CASES, ids=[c["path"] for c in CASES])
def test_bad_manifest_is_reported_at_its_line_and_field(case: dict[str, Any]) -> None:
    path = CORPUS / case["path"]
    problems = _problems_of(path)
    expected = case.get("expect") or [case]
    for want in expected:
        where = path / want["file"] if "file" in want else path
        assert any(_matches(p, where, want) for p in problems), (want, problems)
    assert len(problems) == case.get("count", len(expected)), problems


def test_corpus_is_large_and_every_file_has_a_case() -> None:
    listed = {c["path"] for c in CASES}
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "cases.yaml"}
    assert on_disk == listed
    assert len(CASES) >= 30


def _one_problem(path: Path) -> ManifestProblem:
    problems = _problems_of(path)
    assert len(problems) == 1, problems
    return problems[0]


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    # valid YAML would take long to parse; what matters is that it is never parsed at all
    path.write_bytes(b"version: 1\n" + b"# padding\n" * (MAX_MANIFEST_BYTES // 10 + 1))
    problem = _one_problem(path)
    assert (problem.line, problem.field) == (None, "")
    assert f"at most {MAX_MANIFEST_BYTES}" in problem.message


def test_invalid_utf8_is_reported_at_the_line_of_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(
        "version: 1\nname: latin1\ngateway:\n  repo: a/b\n# caf\xe9\n".encode("latin-1")
    )
    problem = _one_problem(path)
    assert problem.line == 5
    assert "not valid UTF-8 (byte 0xe9" in problem.message


def test_control_character_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bell.yaml"
    path.write_bytes(b"version: 1\nname: bell\ngateway:\n  repo: a/b\x07\n")
    problem = _one_problem(path)
    assert problem.line == 4
    assert "U+0007 is not allowed" in problem.message


def test_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    # "billion laughs": nine levels of nine aliases each would expand to 9**9 strings
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    problem = _one_problem(path)
    assert (problem.line, problem.field) == (1, "l0")
    assert "anchors (&name) are not allowed" in problem.message


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(
        "version: 1\nname: deep\ngateway:\n  variables:\n    X:\n      " + "- " * 100_000 + "x\n"
    )
    problem = _one_problem(path)
    assert problem.line == 6
    assert problem.field.startswith("gateway.variables.X")
    assert "nested more than" in problem.message


def test_directory_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_tenants(tmp_path / "no-such-dir")
    [problem] = caught.value.problems
    assert problem.file.endswith("no-such-dir")
    assert "the tenants directory does not exist" in problem.message


def test_file_given_as_the_tenants_directory_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "tenants"
    path.write_text("")
    with pytest.raises(ManifestError) as caught:
        load_tenants(path)
    assert "is not a directory" in str(caught.value)
