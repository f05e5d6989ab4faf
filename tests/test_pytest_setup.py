"""How the test suite itself behaves for a newcomer: `uv run pytest -q` ends with pytest's
"N passed" line, and the browser tests say what they need when they skip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_demo_browser import require_chromium

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("quiet", [["-q"], []])
def test_the_summary_line_stays_visible(tmp_path, quiet):
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")

    run = subprocess.run(
        [sys.executable, "-m", "pytest", *quiet, "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(tmp_path), "-p", "no:cacheprovider", str(tmp_path / "test_one.py")],
        capture_output=True, text=True, check=False, timeout=120, cwd=tmp_path,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[-1].lstrip("= ").startswith("1 passed in ")


def test_the_browser_tests_skip_reason_names_debians_chromium(tmp_path):
    missing = tmp_path / "chromium"

    with pytest.raises(pytest.skip.Exception) as skipped:
        require_chromium(missing, env={})

    assert str(skipped.value) == (
        f"the demo's browser tests need Debian's `chromium` package at {missing} "
        "(apt-get install chromium)")
    with pytest.raises(pytest.fail.Exception, match="CI installs Debian's `chromium` package"):
        require_chromium(missing, env={"CI": "true"})
