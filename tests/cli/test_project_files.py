"""LICENSE, CHANGELOG and the README's installation and test-requirement notes agree with the project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ruledsl._version import __version__

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8") if (ROOT / "pyproject.toml").is_file() else ""

pytestmark = pytest.mark.skipif(not PYPROJECT, reason="needs the source checkout")


def _project(key: str) -> str:
    """A string value of pyproject's [project] table (tomllib is 3.11+; this runs on 3.10 too)."""
    found = re.search(rf'^{key} = (?:\{{ text = )?"([^"]+)"', PYPROJECT, re.M)
    assert found is not None, key
    return found.group(1)


LICENSE_HEADINGS = {"Apache-2.0": ("Apache License", "Version 2.0, January 2004")}


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_license_file_matches_pyproject():
    spdx = _project("license")
    head = (ROOT / "LICENSE").read_text(encoding="utf-8")[:400]
    for words in LICENSE_HEADINGS[spdx]:
        assert words in head, f"LICENSE does not look like {spdx}"


def test_changelog_has_the_current_version_first():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## (\d+\.\d+\.\d+)", text, re.M)
    assert versions and versions[0] == _project("version") == __version__
    assert "(issue 14)" in text and "(issue 2)" in text


def test_readme_says_how_to_install_from_a_wheel():
    text = _readme()
    assert "pip wheel . --no-deps -w dist/" in text and "pip install dist/ruledsl-*.whl" in text
    assert "kernels: pure Python" in text  # what `ruledsl --version` says after the no-compiler fallback


def test_readme_names_the_tests_system_programs_and_ci_installs_them():
    text = _readme()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = re.search(r"apt-get install[^\n]*", ci)
    assert install is not None
    for program in ("redis-server", "chromium", "curl"):
        assert f"`{program}`" in text, program
        assert program in install.group(0), program
    assert "`.ci/run`" in text


def test_readme_commands_exist():
    from ruledsl.cli.app import app

    block = _readme().split("## Command line", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    used = set(re.findall(r"^ruledsl ([a-z][a-z-]*)", block, re.M))
    known = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    assert "generate" in used
    assert used <= known, used - known
