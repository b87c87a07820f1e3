"""settings: call kwargs > files_settings entry > environment, with an explicit environ (never os.environ)."""

from __future__ import annotations

import dataclasses

import pytest

from litellm_vertex_batch.core.errors import ConfigurationError
from litellm_vertex_batch.core.settings import DEFAULT_PREFIX, Settings, resolve, resolve_env_reference

BASE_ENV = {"GCS_BUCKET_NAME": "env-bucket", "VERTEXAI_PROJECT": "env-project", "VERTEXAI_LOCATION": "us-central1"}


def test_environment_alone() -> None:
    settings = resolve({}, None, BASE_ENV)
    assert settings == Settings(bucket="env-bucket", project="env-project", location="us-central1")
    assert settings.prefix == DEFAULT_PREFIX == "litellm-vertex-batch/"
    assert settings.parent == "projects/env-project/locations/us-central1"


def test_config_beats_environment() -> None:
    config = {"gcs_bucket_name": "cfg-bucket", "vertex_project": "cfg-project", "vertex_location": "europe-west4"}
    settings = resolve({}, config, BASE_ENV)
    assert (settings.bucket, settings.project, settings.location) == ("cfg-bucket", "cfg-project", "europe-west4")


def test_call_kwargs_beat_config_and_environment() -> None:
    config = {"gcs_bucket_name": "cfg-bucket", "vertex_project": "cfg-project", "vertex_location": "europe-west4",
              "vertex_credentials": "/cfg/sa.json"}
    kwargs = {"gcs_bucket_name": "call-bucket", "vertex_project": "call-project"}
    settings = resolve(kwargs, config, {**BASE_ENV, "GOOGLE_APPLICATION_CREDENTIALS": "/env/sa.json"})
    assert settings.bucket == "call-bucket"
    assert settings.project == "call-project"
    assert settings.location == "europe-west4"  # not in kwargs: from the config
    assert settings.vertex_credentials == "/cfg/sa.json"


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_values_fall_through(empty: object) -> None:
    settings = resolve({"vertex_project": empty}, {"vertex_project": empty}, BASE_ENV)
    assert settings.project == "env-project"


def test_alternative_names() -> None:
    settings = resolve({"bucket_name": "b2"}, {}, {"VERTEX_PROJECT": "p2", "VERTEX_LOCATION": "asia-east1"})
    assert (settings.bucket, settings.project, settings.location) == ("b2", "p2", "asia-east1")
    # the first-listed name wins over the alternative in the same source
    assert resolve({"gcs_bucket_name": "first", "bucket_name": "second"}, {}, BASE_ENV).bucket == "first"
    assert resolve({}, {}, {**BASE_ENV, "VERTEX_PROJECT": "other"}).project == "env-project"


def test_explicit_environ_is_the_only_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCS_BUCKET_NAME", "process-bucket")
    monkeypatch.setenv("VERTEXAI_PROJECT", "process-project")
    monkeypatch.setenv("VERTEXAI_LOCATION", "process-location")
    assert resolve({}, None, BASE_ENV).bucket == "env-bucket"
    with pytest.raises(ConfigurationError):
        resolve({}, None, {})


def test_os_environ_references() -> None:
    environ = {**BASE_ENV, "TEAM_BUCKET": "team-bucket", "SA_JSON": '{"type": "service_account"}'}
    settings = resolve({"gcs_bucket_name": "os.environ/TEAM_BUCKET"}, {"vertex_credentials": "os.environ/SA_JSON"},
                       environ)
    assert settings.bucket == "team-bucket"
    assert settings.vertex_credentials == '{"type": "service_account"}'


def test_unset_os_environ_reference_falls_through() -> None:
    settings = resolve({"gcs_bucket_name": "os.environ/NOT_SET"}, {"gcs_bucket_name": "cfg-bucket"}, BASE_ENV)
    assert settings.bucket == "cfg-bucket"


def test_resolve_env_reference() -> None:
    environ = {"A": "1"}
    assert resolve_env_reference("os.environ/A", environ) == "1"
    assert resolve_env_reference("os.environ/B", environ) is None
    assert resolve_env_reference("plain", environ) == "plain"
    assert resolve_env_reference({"x": 1}, environ) == {"x": 1}
    assert resolve_env_reference(None, environ) is None


@pytest.mark.parametrize("location, url", [
    ("global", "https://aiplatform.googleapis.com"),
    ("us-central1", "https://us-central1-aiplatform.googleapis.com"),
    ("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
])
def test_vertex_base_url(location: str, url: str) -> None:
    assert resolve({}, None, {**BASE_ENV, "VERTEXAI_LOCATION": location}).vertex_base_url == url


def test_vertex_api_base_override() -> None:
    env = {**BASE_ENV, "VERTEXAI_LOCATION": "global", "VERTEXAI_API_BASE": "http://127.0.0.1:9999/"}
    settings = resolve({}, None, env)
    assert settings.vertex_api_base == "http://127.0.0.1:9999/"
    assert settings.vertex_base_url == "http://127.0.0.1:9999"
    assert resolve({"api_base": "https://proxy.example/v"}, None, env).vertex_base_url == "https://proxy.example/v"
    assert resolve({"vertex_api_base": "https://a"}, {"vertex_api_base": "https://b"}, env).vertex_base_url == "https://a"


@pytest.mark.parametrize("value, expected", [
    ("localhost:4443", "http://localhost:4443"),
    ("127.0.0.1:9023", "http://127.0.0.1:9023"),
    ("http://localhost:4443", "http://localhost:4443"),
    ("https://storage.example", "https://storage.example"),
])
def test_storage_emulator_host(value: str, expected: str) -> None:
    assert resolve({}, None, {**BASE_ENV, "STORAGE_EMULATOR_HOST": value}).gcs_endpoint == expected


def test_gcs_endpoint_absent_by_default() -> None:
    settings = resolve({}, None, BASE_ENV)
    assert settings.gcs_endpoint is None
    assert settings.vertex_api_base is None
    assert settings.vertex_credentials is None and settings.gcs_credentials is None


def test_credentials_sources() -> None:
    env = {**BASE_ENV, "GOOGLE_APPLICATION_CREDENTIALS": "/env/sa.json", "GCS_PATH_SERVICE_ACCOUNT": "/env/gcs.json"}
    settings = resolve({}, None, env)
    assert settings.vertex_credentials == "/env/sa.json"
    assert settings.gcs_credentials == "/env/gcs.json"
    settings = resolve({"gcs_credentials": {"type": "service_account"}}, None, env)
    assert settings.gcs_credentials == {"type": "service_account"}


@pytest.mark.parametrize("bucket", ["gs://my-bucket", "gs://my-bucket/", "my-bucket/", "/my-bucket"])
def test_bucket_normalised(bucket: str) -> None:
    assert resolve({"gcs_bucket_name": bucket}, None, BASE_ENV).bucket == "my-bucket"


@pytest.mark.parametrize("prefix, expected", [(None, "litellm-vertex-batch/"), ("team-a", "team-a/"),
                                              ("/team-a/", "team-a/"), ("a/b", "a/b/")])
def test_prefix_normalised(prefix: str | None, expected: str) -> None:
    assert resolve({"gcs_prefix": prefix} if prefix else {}, None, BASE_ENV).prefix == expected
    if prefix:
        assert resolve({}, None, {**BASE_ENV, "LITELLM_VERTEX_BATCH_PREFIX": prefix}).prefix == expected


def test_missing_settings_are_all_named_with_their_env_vars() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve({}, None, {})
    message = caught.value.message
    assert caught.value.status_code == 500
    for setting, key, env_var in (("bucket", "gcs_bucket_name", "GCS_BUCKET_NAME"),
                                  ("project", "vertex_project", "VERTEXAI_PROJECT"),
                                  ("location", "vertex_location", "VERTEXAI_LOCATION")):
        assert setting in message and key in message and env_var in message
    assert "VERTEX_PROJECT" in message and "VERTEX_LOCATION" in message


def test_missing_setting_named_alone() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve({"vertex_project": "p"}, {"vertex_location": "global"}, {})
    message = caught.value.message
    assert "bucket" in message and "GCS_BUCKET_NAME" in message
    assert "VERTEXAI_PROJECT" not in message and "VERTEXAI_LOCATION" not in message


def test_settings_are_immutable() -> None:
    settings = resolve({}, None, BASE_ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.bucket = "other"  # type: ignore[misc]


def test_upload_chunk_size_is_a_whole_number_of_mib_from_the_operator() -> None:
    assert resolve({}, {}, BASE_ENV).upload_chunk_mib == 32
    assert resolve({}, {"upload_chunk_mib": "64"}, BASE_ENV).upload_chunk_mib == 64
    assert resolve({}, {}, {**BASE_ENV, "LITELLM_VERTEX_BATCH_UPLOAD_CHUNK_MIB": "8"}).upload_chunk_mib == 8
    for bad in ("0", "1.5", "257", "lots"):
        with pytest.raises(ConfigurationError, match="upload_chunk_mib must be a whole number of MiB from 1 to 256"):
            resolve({}, {"upload_chunk_mib": bad}, BASE_ENV)
