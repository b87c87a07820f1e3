"""A gateway on a LiteLLM release the plugin does not support still starts, says why the plugin is not active, and
serves every other provider. The release is a real one, installed in a venv of its own (``.venv-litellm-old``,
made on first use): LiteLLM 1.90.7, older than the supported range and without the internals the plugin uses, with
the plugin installed into it the way ``pip install --no-deps`` would leave it.

LiteLLM before 1.94 loads ``callbacks`` only from a file beside the config (it never imports an installed package
from there), so this gateway names the one-line file the README gives for those releases. It runs twice: as
installed (the release is refused) and with the operator's "try it anyway" switch (the missing internals are)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from litellm_vertex_batch.core import versions
from tests.stand_ins.proxy import MASTER_KEY, REPO_ROOT, Proxy

OLD_LITELLM = "1.90.7"
VENV = REPO_ROOT / ".venv-litellm-old"
pytestmark = pytest.mark.slow


def _old_venv() -> Path:
    python = VENV / "bin" / "python"
    marker = VENV / f"litellm-{OLD_LITELLM}"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, f"litellm[proxy]=={OLD_LITELLM}"], check=True, capture_output=True)
        # the plugin's own dependencies, then the plugin, without letting pip move LiteLLM into the range
        subprocess.run([*pip, "google-cloud-storage>=3.0,<4", "google-auth>=2.40,<3"], check=True, capture_output=True)
        subprocess.run([*pip, "--no-deps", "-e", str(REPO_ROOT)], check=True, capture_output=True)
        marker.touch()
    return VENV / "bin" / "litellm"


SHIM = "from litellm_vertex_batch import plugin  # noqa: F401\n"
REASONS = {"as installed": "this release is outside the ones it is tested on",
           "tried anyway": "it lacks "}


@pytest.fixture(scope="module", params=sorted(REASONS))
def old_gateway(request, stand_ins, tmp_path_factory):
    config = yaml.safe_load((REPO_ROOT / "proxy_config.yaml").read_text())
    config["litellm_settings"]["callbacks"] = ["vertex_batch_plugin.plugin"]
    config["model_list"].append({"model_name": "other-provider", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_key": "sk-never-called", "mock_response": "still served"}})
    directory = tmp_path_factory.mktemp("old")
    (directory / "vertex_batch_plugin.py").write_text(SHIM)
    (directory / "proxy_config.yaml").write_text(yaml.safe_dump(config))
    allow = {versions.ALLOW_UNTESTED_ENV: "true" if request.param == "tried anyway" else ""}
    with Proxy(stand_ins.env, config=directory / "proxy_config.yaml", extra_env=allow, litellm_cli=_old_venv(),
               timeout=180) as running:
        running.reason = REASONS[request.param]
        yield running


def test_the_proxy_starts_and_says_the_plugin_is_not_active_and_why(old_gateway):
    lines = [line for line in old_gateway.log_text().splitlines() if "litellm-vertex-batch" in line]
    assert any(f"NOT active on LiteLLM {OLD_LITELLM}: {old_gateway.reason}" in line
               and f"supports LiteLLM {versions.OLDEST}" in line for line in lines), lines
    assert not any("active on LiteLLM" in line and "NOT" not in line for line in lines), lines


def test_every_other_provider_keeps_working(old_gateway):
    answer = httpx.post(f"{old_gateway.url}/v1/chat/completions", headers={"Authorization": f"Bearer {MASTER_KEY}"},
                        json={"model": "other-provider", "messages": [{"role": "user", "content": "hi"}]}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "still served"


def test_files_calls_for_the_plugin_get_litellms_own_answer_not_the_plugins(old_gateway):
    answer = httpx.post(f"{old_gateway.url}/v1/files", headers={"Authorization": f"Bearer {MASTER_KEY}",
                                                                "custom-llm-provider": "vertex_batch"},
                        files={"file": ("b.jsonl", b"{}\n")}, data={"purpose": "batch"}, timeout=60)
    assert answer.status_code >= 400 and "file-vb" not in answer.text
    assert httpx.get(f"{old_gateway.url}/health/liveliness", timeout=10).status_code == 200
