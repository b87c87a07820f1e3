"""The one start-up line: what the plugin serves, or exactly what is missing (environment-only settings here)."""

from __future__ import annotations

import logging

from litellm_vertex_batch.edge.startup import serving_line

NAMES = frozenset({"vertex_batch"})


def test_missing_settings_are_named_with_where_to_set_them(monkeypatch):
    for name in ("GCS_BUCKET_NAME", "VERTEXAI_PROJECT", "VERTEX_PROJECT", "VERTEXAI_LOCATION", "VERTEX_LOCATION"):
        monkeypatch.delenv(name, raising=False)
    level, line = serving_line("1.2.3", NAMES)
    assert level == logging.ERROR and "NOT ready on LiteLLM 1.2.3" in line
    assert "GCS_BUCKET_NAME" in line and "VERTEXAI_PROJECT" in line and "VERTEXAI_LOCATION" in line


def test_unreadable_credentials_are_reported_at_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("GCS_BUCKET_NAME", "b")
    monkeypatch.setenv("VERTEXAI_PROJECT", "p")
    monkeypatch.setenv("VERTEXAI_LOCATION", "europe-west4")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.delenv("GCS_PATH_SERVICE_ACCOUNT", raising=False)
    level, line = serving_line("1.2.3", NAMES)
    assert level == logging.ERROR and "active on LiteLLM 1.2.3" in line
    assert "gs://b/litellm-vertex-batch/" in line and "project p in europe-west4" in line
    assert "But: vertex_credentials names a credentials file that does not exist" in line


def test_a_complete_setup_is_one_info_line(monkeypatch, tmp_path):
    from tests.stand_ins.credentials import write_service_account

    key = write_service_account("http://127.0.0.1:1/token", "p", str(tmp_path))
    for name, value in (("GCS_BUCKET_NAME", "b"), ("VERTEXAI_PROJECT", "p"), ("VERTEXAI_LOCATION", "global"),
                        ("GOOGLE_APPLICATION_CREDENTIALS", key), ("GCS_PATH_SERVICE_ACCOUNT", key)):
        monkeypatch.setenv(name, value)
    level, line = serving_line("1.2.3", NAMES)
    assert level == logging.INFO and "serves custom-llm-provider vertex_batch" in line and "But:" not in line
    assert "no native_storage" in line
