"""The supported LiteLLM releases: declared once, checked at install, and an import failure never stops the proxy."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from litellm_vertex_batch.core import versions
from litellm_vertex_batch.edge import install as hook
from tests.unit.test_hook import install_and_capture

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_declares_exactly_the_supported_range():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert versions.REQUIREMENT in dependencies
    assert [d for d in dependencies if d.startswith("litellm")] == [versions.REQUIREMENT]


def test_ci_pins_the_newest_tested_release():
    pins = (ROOT / ".ci" / "constraints.txt").read_text().splitlines()
    assert f"litellm=={versions.NEWEST_TESTED}" in pins
    assert versions.supported(versions.NEWEST_TESTED) and versions.supported(versions.OLDEST)


@pytest.mark.parametrize(("version", "expected"), [
    ("1.103.0", True), ("1.106.2", True), ("1.108.14", True), ("1.108.7.post1", True),
    ("1.102.4", False), ("1.90.0", False), ("1.109.0", False), ("1.110.2", False), ("2.0", False),
    ("unknown", False), ("", False)])
def test_supported_releases(version, expected):
    assert versions.supported(version) is expected


def test_an_untested_release_is_refused_unless_the_operator_allows_it():
    problem = versions.version_problem("1.109.0", {})
    assert problem is not None and "outside" in problem and versions.ALLOW_UNTESTED_ENV in problem
    assert versions.version_problem("1.109.0", {versions.ALLOW_UNTESTED_ENV: "true"}) is None
    assert versions.version_problem("1.106.2", {}) is None


def test_install_on_an_unsupported_release_logs_not_active_and_changes_nothing(monkeypatch):
    import litellm

    before = {name: getattr(litellm, name) for name in hook.HANDLERS}
    monkeypatch.setattr(hook, "litellm_version", lambda: "1.90.0")
    monkeypatch.delenv(versions.ALLOW_UNTESTED_ENV, raising=False)
    installed, [message] = install_and_capture(object())
    assert installed is False
    assert {name: getattr(litellm, name) for name in hook.HANDLERS} == before
    assert "NOT active on LiteLLM 1.90.0" in message and "outside the ones it is tested on" in message


BLOCK_HANDLERS = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "litellm_vertex_batch.edge.handlers":
            raise ImportError("cannot import name 'FileContentStreamingResult' from 'litellm.files.types'")
sys.meta_path.insert(0, Block())
import litellm_vertex_batch, litellm
from litellm.integrations.custom_logger import CustomLogger
assert type(litellm_vertex_batch.plugin) is CustomLogger, litellm_vertex_batch.plugin
assert litellm.acreate_file.__module__.startswith("litellm."), litellm.acreate_file.__module__
print("imported")
"""


def test_a_failing_import_leaves_a_do_nothing_callback_and_one_not_active_line():
    done = subprocess.run([sys.executable, "-c", BLOCK_HANDLERS], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"
    [line] = [line for line in done.stderr.splitlines() if "litellm-vertex-batch" in line]
    assert "NOT active on LiteLLM " in line and "importing it failed (ImportError: cannot import name" in line
    assert f"supports LiteLLM {versions.OLDEST}" in line
