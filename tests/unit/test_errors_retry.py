"""errors and retry: the LiteLLM exceptions the proxy renders, and bounded retries of transient failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import litellm
import pytest

from litellm_vertex_batch.cloud.retry import RETRYABLE_STATUS, RetryPolicy, is_retryable, retry_async
from litellm_vertex_batch.core.errors import (
    ConfigurationError,
    InvalidRequest,
    NotFound,
    TransientError,
    UpstreamError,
    VertexBatchError,
)
from litellm_vertex_batch.core.settings import PROVIDER
from litellm_vertex_batch.edge.translate import to_litellm_error

MESSAGE = "Publisher Model `projects/p/locations/us-central1/publishers/google/models/x` was not found."


# --- error classes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls, code", [(InvalidRequest, 400), (NotFound, 404), (ConfigurationError, 500),
                                       (UpstreamError, 500), (TransientError, 500), (VertexBatchError, 500)])
def test_default_status_codes(cls: type[VertexBatchError], code: int) -> None:
    err = cls("why")
    assert err.status_code == code
    assert err.message == "why" == str(err)
    assert isinstance(err, VertexBatchError)


def test_explicit_status_code_is_per_instance() -> None:
    assert UpstreamError("x", 403).status_code == 403
    assert UpstreamError("y").status_code == 500
    assert issubclass(TransientError, UpstreamError)


# --- to_litellm_error -----------------------------------------------------------------------------------

@pytest.mark.parametrize("code, expected", [
    (400, litellm.BadRequestError),
    (401, litellm.AuthenticationError),
    (403, litellm.PermissionDeniedError),
    (404, litellm.NotFoundError),
    (408, litellm.Timeout),
    (409, litellm.BadRequestError),
    (422, litellm.BadRequestError),
    (500, litellm.InternalServerError),
    (502, litellm.InternalServerError),
    (503, litellm.ServiceUnavailableError),
    (504, litellm.Timeout),
])
def test_to_litellm_error_type_status_and_message(code: int, expected: type) -> None:
    exc = to_litellm_error(UpstreamError(MESSAGE, code), model="gemini-2.5-flash")
    assert type(exc) is expected
    assert exc.status_code == code
    assert MESSAGE in str(exc)
    assert MESSAGE in exc.message
    assert exc.llm_provider == PROVIDER
    assert exc.model == "gemini-2.5-flash"


@pytest.mark.parametrize("code", [400, 401, 403, 404, 408, 409, 429, 500, 501, 502, 503, 504])
def test_status_code_and_message_survive_every_mapping(code: int) -> None:
    exc = to_litellm_error(UpstreamError(MESSAGE, code))
    assert exc.status_code == code
    assert MESSAGE in str(exc)
    assert isinstance(exc, Exception)


@pytest.mark.parametrize("err, code, expected", [
    (InvalidRequest("line 3: custom_id is missing"), 400, litellm.BadRequestError),
    (NotFound("No such file: file-vbx"), 404, litellm.NotFoundError),
    (ConfigurationError("missing settings: bucket"), 500, litellm.InternalServerError),
    (TransientError("gave up after retries"), 500, litellm.InternalServerError),
    (TransientError("unavailable", 503), 503, litellm.ServiceUnavailableError),
])
def test_plugin_errors(err: VertexBatchError, code: int, expected: type) -> None:
    exc = to_litellm_error(err)
    assert type(exc) is expected
    assert exc.status_code == code
    assert err.message in str(exc)


# --- is_retryable ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("exc, retryable", [
    (TransientError("t"), True),
    (TransientError("t", 400), True),  # explicitly transient, whatever the code
    (UpstreamError("x", 429), True),
    (UpstreamError("x", 500), True),
    (UpstreamError("x", 502), True),
    (UpstreamError("x", 503), True),
    (UpstreamError("x", 504), True),
    (UpstreamError("x", 408), True),
    (UpstreamError("x", 400), False),
    (UpstreamError("x", 401), False),
    (UpstreamError("x", 403), False),
    (UpstreamError("x", 404), False),
    (UpstreamError("x", 409), False),
    (UpstreamError("x", 501), False),
    (InvalidRequest("x"), False),
    (NotFound("x"), False),
    (ConfigurationError("x"), False),
    (ValueError("x"), False),
])
def test_is_retryable(exc: BaseException, retryable: bool) -> None:
    assert is_retryable(exc) is retryable


def test_retryable_status_set() -> None:
    assert RETRYABLE_STATUS == {408, 429, 500, 502, 503, 504}


# --- RetryPolicy ----------------------------------------------------------------------------------------

def test_policy_delays_are_bounded_full_jitter() -> None:
    policy = RetryPolicy(attempts=6, initial_delay=0.5, max_delay=3.0, deadline=60)
    for _ in range(200):
        delays = policy.delays()
        assert len(delays) == 5
        for n, delay in enumerate(delays):
            assert 0 <= delay <= min(3.0, 0.5 * 2**n)
    assert RetryPolicy(attempts=1).delays() == []


# --- retry_async ---------------------------------------------------------------------------

FAST = RetryPolicy(attempts=4, initial_delay=0.001, max_delay=0.002, deadline=5.0)


class Flaky:
    """Fails with the given errors in turn, then returns "ok"; counts calls."""

    def __init__(self, *errors: BaseException, pause: float = 0.0) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.pause = pause

    async def async_(self) -> str:
        self.calls += 1
        if self.pause:
            await asyncio.sleep(self.pause)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run_async(flaky: Flaky, policy: RetryPolicy) -> Any:
    return asyncio.run(retry_async(flaky.async_, policy))


RUNNERS = pytest.mark.parametrize("runner", [run_async], ids=["async"])


@RUNNERS
def test_success_first_time(runner: Callable) -> None:
    flaky = Flaky()
    assert runner(flaky, FAST) == "ok"
    assert flaky.calls == 1


@RUNNERS
@pytest.mark.parametrize("error", [TransientError("dropped"), UpstreamError("quota", 429), UpstreamError("x", 500),
                                   UpstreamError("x", 503), UpstreamError("x", 504)])
def test_retries_transient_then_succeeds(runner: Callable, error: UpstreamError) -> None:
    flaky = Flaky(error, error, error)
    assert runner(flaky, FAST) == "ok"
    assert flaky.calls == 4


@RUNNERS
def test_gives_up_after_policy_attempts(runner: Callable) -> None:
    last = UpstreamError("still unavailable", 503)
    flaky = Flaky(*[UpstreamError("unavailable", 503)] * 3, last, UpstreamError("never reached", 503))
    with pytest.raises(UpstreamError) as caught:
        runner(flaky, FAST)
    assert flaky.calls == FAST.attempts == 4
    assert caught.value is last


@RUNNERS
@pytest.mark.parametrize("code", [400, 401, 403, 404, 409])
def test_client_errors_are_not_retried(runner: Callable, code: int) -> None:
    error = UpstreamError("bad", code)
    flaky = Flaky(error)
    with pytest.raises(UpstreamError) as caught:
        runner(flaky, FAST)
    assert caught.value is error
    assert flaky.calls == 1


@RUNNERS
def test_non_upstream_errors_are_not_retried(runner: Callable) -> None:
    flaky = Flaky(ValueError("bug"), NotFound("x"))
    with pytest.raises(ValueError):
        runner(flaky, FAST)
    assert flaky.calls == 1
    flaky = Flaky(NotFound("x"))
    with pytest.raises(NotFound):
        runner(flaky, FAST)
    assert flaky.calls == 1


@RUNNERS
def test_single_attempt_policy(runner: Callable) -> None:
    flaky = Flaky(UpstreamError("x", 503))
    with pytest.raises(UpstreamError):
        runner(flaky, RetryPolicy(attempts=1, initial_delay=0.001, max_delay=0.001, deadline=5))
    assert flaky.calls == 1


@RUNNERS
def test_deadline_stops_retrying(runner: Callable) -> None:
    # each call takes 30 ms; with a 50 ms deadline the second failure cannot be followed by a third try
    policy = RetryPolicy(attempts=10, initial_delay=0.001, max_delay=0.001, deadline=0.05)
    flaky = Flaky(*[UpstreamError("x", 503)] * 10, pause=0.03)
    started = time.monotonic()
    with pytest.raises(UpstreamError):
        runner(flaky, policy)
    assert flaky.calls == 2
    assert time.monotonic() - started < 0.5


@RUNNERS
def test_zero_deadline_means_no_retry(runner: Callable) -> None:
    flaky = Flaky(UpstreamError("x", 503), UpstreamError("x", 503))
    with pytest.raises(UpstreamError):
        runner(flaky, RetryPolicy(attempts=5, initial_delay=0.01, max_delay=0.01, deadline=0))
    assert flaky.calls == 1


@RUNNERS
def test_total_sleep_is_bounded_by_the_delays(runner: Callable) -> None:
    policy = RetryPolicy(attempts=5, initial_delay=0.01, max_delay=0.02, deadline=5)
    flaky = Flaky(*[UpstreamError("x", 500)] * 5)
    started = time.monotonic()
    with pytest.raises(UpstreamError):
        runner(flaky, policy)
    assert flaky.calls == 5
    assert time.monotonic() - started < 0.01 + 0.02 * 3 + 0.5  # sum of the delay caps, plus slack


# --- what clients may read ------------------------------------------------------------------------------

@pytest.mark.parametrize("message", [
    "No such object: batch-bucket/litellm-vertex-batch/files/0123",
    "404 GET http://127.0.0.1:1/storage/v1/b/batch-bucket/o/litellm-vertex-batch%2Ffiles%2F0123?alt=media",
    "Failed to read gs://batch-bucket/litellm-vertex-batch/batch-input/x.jsonl: not found",
    "'batch-bucket' is gone",
])
def test_storage_names_are_taken_out_of_messages(message: str) -> None:
    from litellm_vertex_batch.core.errors import without_storage_names

    cleaned = without_storage_names(message, "batch-bucket")
    assert "batch-bucket" not in cleaned and "litellm-vertex-batch" not in cleaned
    assert "<gateway storage>" in cleaned


def test_similar_names_are_left_alone() -> None:
    from litellm_vertex_batch.core.errors import without_storage_names

    assert without_storage_names("batch-bucket-2 and my-batch-bucket", "batch-bucket") == \
        "batch-bucket-2 and my-batch-bucket"


def test_configuration_errors_name_the_setting_not_the_path(tmp_path, caplog) -> None:
    from litellm_vertex_batch.cloud import credentials as credentials

    missing = str(tmp_path / "secret-dir" / "sa.json")
    with pytest.raises(ConfigurationError) as caught:
        credentials.load(missing, "gcs_path_service_account")
    assert "gcs_path_service_account" in caught.value.message and missing not in caught.value.message
    assert missing in (caught.value.detail or "")
    with caplog.at_level("ERROR", logger="litellm_vertex_batch"):
        exc = to_litellm_error(caught.value)
    assert missing not in str(exc) and missing in caplog.text  # the operator's log has the path


def test_a_token_the_gateway_cannot_get_is_a_502_never_401() -> None:
    from litellm_vertex_batch.cloud import credentials as credentials
    from tests.stand_ins.credentials import service_account_info

    info = service_account_info("http://127.0.0.1:9/token")  # nothing listens on the discard port
    with pytest.raises(ConfigurationError) as caught:
        asyncio.run(credentials.access_token(info))
    assert caught.value.status_code == 502 and "vertex_credentials" in caught.value.message
    assert "127.0.0.1:9" not in caught.value.message
    assert to_litellm_error(caught.value).status_code == 502
