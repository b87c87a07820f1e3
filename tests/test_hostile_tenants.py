"""A hostile tenant tries to reconfigure the gateway, through a stock proxy (replica B, test tenants).

Every operator setting and price key is sent as a body field, a form field, a query parameter and a header
on every Files/Batches call, with values that would send the gateway's Google credentials to a local
listener, use another project or bucket, widen access or change the price. The test fails if the listener
receives any request, if anything lands outside the operator's bucket and prefix or in another Vertex
project, if any answer is a 5xx, or if a batch is charged anything but the configured price.
"""

from __future__ import annotations

import http.server
import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import litellm
import openai
import pytest

from tests.conftest import (
    NEGATIVE_PRICE_MODEL,
    NEGATIVE_PRICE_MODEL_NAME,
    PROVIDER,
    batch_charges,
    chat_line,
    create_batch,
    gcs_bucket,
    jsonl,
    make_client,
    upload,
    wait_done,
)
from tests.stand_ins.credentials import write_service_account
from tests.stand_ins.gcs import free_port
from tests.stand_ins.stack import BUCKET, LOCATION, OTHER_BUCKET, PROJECT
from tests.test_spend import TOLERANCE, expected_cost, vertex_rows

PREFIX = "litellm-vertex-batch/"
PRICE_KEYS = ("input_cost_per_token", "input_cost_per_token_batches", "output_cost_per_token",
              "output_cost_per_token_batches", "cache_read_input_token_cost", "output_cost_per_reasoning_token",
              "input_cost_per_token_above_200k_tokens")


class Listener:
    """An HTTP server that records every request; no request may ever reach it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self) -> None:
                owner.requests.append(f"{self.command} {self.path} auth={self.headers.get('Authorization')!r}")
                self.send_response(503)
                self.end_headers()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    running = Listener()
    yield running
    running.server.shutdown()
    running.server.server_close()


def hostile_values(listener: Listener, tmp_dir: str) -> dict[str, Any]:
    """Each operator setting with the value an attacker would choose."""
    key_path = write_service_account(f"{listener.url}/token", "victim-project", tmp_dir)
    key_json = Path(key_path).read_text(encoding="utf-8")
    values: dict[str, Any] = {
        "vertex_api_base": listener.url, "api_base": listener.url, "gcs_endpoint": listener.url,
        "vertex_credentials": key_json, "gcs_path_service_account": key_path, "gcs_credentials": key_json,
        "vertex_project": "victim-project", "vertex_location": "europe-west9", "gcs_bucket_name": OTHER_BUCKET,
        "bucket_name": OTHER_BUCKET, "gcs_prefix": "hijack/", "team_access": "true", "retry_seconds": "0",
        "timeout_seconds": "0.001", "finalize_lease_seconds": "0", "charge_lease_seconds": "0",
        "upload_lease_seconds": "0", "worker_processes": "0", "upload_chunk_mib": "256",
        "background_worker": "false", "sweep_seconds": "0.001", "raw_retention_seconds": "0",
        "webhooks": json.dumps([{"url": listener.url, "secret": "whsec_c3RvbGVu"}]),
        "serve_vertex_ai": "false",
        "serve_calls_without_provider": "false", "serve_online_calls": "false", "native_preflight": "false",
        "native_storage": json.dumps([f"gs://{OTHER_BUCKET}/"]), "vertex_project_number": "999999",
        "model_info": json.dumps({"input_cost_per_token_batches": -1, "output_cost_per_token_batches": -1}),
        "litellm_params": json.dumps({"vertex_api_base": listener.url}),
        "model_list": json.dumps([{"model_name": "x", "litellm_params": {"api_base": listener.url}}]),
        "files_settings": json.dumps([{"custom_llm_provider": "vertex_batch", "vertex_api_base": listener.url}]),
    }
    values.update({key: "-1" for key in PRICE_KEYS})
    from litellm_vertex_batch.edge.call_context import GATEWAY_FIELDS

    assert GATEWAY_FIELDS <= set(values), f"a hostile value for every gateway setting: {GATEWAY_FIELDS - set(values)}"
    return values


def objects(stand_ins, bucket: str) -> set[str]:
    return {blob.name for blob in gcs_bucket(stand_ins, bucket).list_blobs()}


def vertex_parents(stand_ins) -> set[str]:
    return {job["job"]["name"].split("/batchPredictionJobs/")[0] for job in stand_ins.control("GET", "jobs")["jobs"]}


@pytest.fixture(scope="module")
def alice(proxy_b) -> Any:
    return make_client(proxy_b, "sk-tenant-alice")


def test_no_request_field_reconfigures_the_gateway(stand_ins, proxy_b, alice, listener, spy_log, tmp_path):
    values = hostile_values(listener, str(tmp_path))
    before_other, before_main = objects(stand_ins, OTHER_BUCKET), objects(stand_ins, BUCKET)
    parents_before = vertex_parents(stand_ins)
    base_file = upload(alice, [chat_line("h1", "hostile one"), chat_line("h2", "hostile two")], name="hostile.jsonl")
    base_batch = wait_done(alice, create_batch(alice, base_file.id).id)
    assert base_batch.status == "completed"
    outcomes: Counter[str] = Counter()
    ignored: list[tuple[str, str, str]] = []
    created_batches: list[str] = []

    def attempt(call: str, channel: str, name: str, run: Callable[[dict[str, Any]], Any]) -> None:
        extra = {"body": "extra_body", "form": "extra_body", "query": "extra_query", "header": "extra_headers"}[channel]
        value = values[name]
        header_value = str(value).replace("\n", "\\n")  # a header carries one line
        options = {extra: {name: value}} if channel != "header" else {extra: {**PROVIDER, name: header_value}}
        if channel != "header":
            options["extra_headers"] = PROVIDER
        try:
            result = run(options)
        except openai.ConflictError:  # cancelling a completed batch: the ordinary answer, nothing changed
            outcomes[f"{channel}: ignored (served as configured)"] += 1
            ignored.append((call, channel, name))
            assert listener.requests == [], f"{call} with {channel} {name} reached the listener"
            return
        except openai.APIStatusError as exc:
            assert exc.status_code < 500, f"{call} with {channel} {name}: {exc.status_code} {exc.message}"
            text = json.dumps(exc.body)
            by_plugin = "gateway setting" in text and name in text
            layer = "plugin, 400 naming the field" if by_plugin else f"proxy, {exc.status_code}"
            outcomes[f"{channel}: refused ({layer})"] += 1
            assert listener.requests == [], f"{call} with {channel} {name} reached the listener"
            return
        outcomes[f"{channel}: ignored (served as configured)"] += 1
        ignored.append((call, channel, name))
        if call == "batches.create":
            created_batches.append(result.id)
        assert listener.requests == [], f"{call} with {channel} {name} reached the listener"

    def new_file(options: dict[str, Any]) -> Any:
        return alice.files.create(file=("h.jsonl", io.BytesIO(jsonl([chat_line("f1")]))), purpose="batch", **options)

    calls: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], Any]]] = {
        "files.create": (("form", "query", "header"), new_file),
        "files.retrieve": (("query", "header"), lambda o: alice.files.retrieve(base_file.id, **o)),
        "files.content": (("query", "header"), lambda o: alice.files.content(base_batch.output_file_id, **o)),
        "files.list": (("query", "header"), lambda o: alice.files.list(**o)),
        "files.delete": (("query", "header"), lambda o: alice.files.delete(new_file({"extra_headers": PROVIDER}).id,
                                                                           **o)),
        "batches.create": (("body", "query", "header"),
                           lambda o: alice.batches.create(input_file_id=base_file.id, endpoint="/v1/chat/completions",
                                                          completion_window="24h", **o)),
        "batches.retrieve": (("query", "header"), lambda o: alice.batches.retrieve(base_batch.id, **o)),
        "batches.list": (("query", "header"), lambda o: alice.batches.list(limit=5, **o)),
        "batches.cancel": (("body", "query", "header"), lambda o: alice.batches.cancel(base_batch.id, **o)),
    }
    for call, (channels, run) in calls.items():
        for channel in channels:
            for name in values:
                attempt(call, channel, name, run)
    total = sum(outcomes.values())
    print(f"\nhostile attempts: {total} ({len(values)} settings/prices x channels x 9 calls): "
          + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
    assert total == len(values) * sum(len(c) for c, _ in calls.values())
    # a query string or a batches.create body naming a setting is always refused (the cancel endpoint does not
    # read its body, so there it is ignored); headers and form fields are ignored
    assert [i for i in ignored if i[1] == "query" or i[:2] == ("batches.create", "body")] == []
    assert {call for call, channel, _ in ignored if channel == "body"} <= {"batches.cancel"}

    for batch_id in created_batches:
        assert wait_done(alice, batch_id).status == "completed"
    assert listener.requests == []
    assert objects(stand_ins, OTHER_BUCKET) == before_other, "a request moved objects into another bucket"
    assert all(name.startswith(PREFIX) for name in objects(stand_ins, BUCKET) - before_main)
    assert vertex_parents(stand_ins) - parents_before <= {f"projects/{PROJECT}/locations/{LOCATION}"}
    info = litellm.model_cost["gemini-2.5-flash-lite"]  # LiteLLM's map: no override is configured for it
    charged = 0
    for batch_id in [base_batch.id, *created_batches]:
        events = batch_charges(spy_log, batch_id)
        assert len(events) == 1, f"{batch_id}: {len(events)} cost events"
        assert events[0]["response_cost"] >= 0
        assert abs(events[0]["response_cost"] - expected_cost(vertex_rows(stand_ins, batch_id), info)) < TOLERANCE
        charged += 1
    print(f"batches charged the configured price: {charged}")


def test_identity_fields_in_metadata_do_not_grant_access(proxy_b, alice):
    """Forged key/team fields in a body's metadata do not make bob alice, nor give him her objects."""
    file = upload(alice, [chat_line("m1")], name="forge.jsonl")
    bob = make_client(proxy_b, "sk-tenant-bob")
    forged = {"metadata": {"user_api_key_team_id": "team-a", "user_api_key_hash": "x", "user_api_key_user_id": "alice",
                           "user_api_key_user_role": "proxy_admin"}}
    with pytest.raises(openai.NotFoundError):
        create_batch(bob, file.id, extra_body=forged)
    with pytest.raises(openai.NotFoundError):
        bob.files.retrieve(file.id, extra_headers=PROVIDER, extra_query={"user_api_key_team_id": "team-a"})


def test_refused_operator_prices_are_logged_at_start_up_and_never_charged(stand_ins, proxy_b, alice, spy_log):
    """A negative or infinite price in model_list is named at start-up and never used: the map's price is."""
    log_text = proxy_b.log_text()
    assert (f"refuses a price: model_list entry {NEGATIVE_PRICE_MODEL_NAME!r}: model_info.input_cost_per_token_batches"
            " = -1.0 is negative") in log_text
    assert "model_info.output_cost_per_token_batches = inf is not finite" in log_text
    file = upload(alice, [chat_line("n1", "one two", model=NEGATIVE_PRICE_MODEL),
                          chat_line("n2", "three four five", model=NEGATIVE_PRICE_MODEL)], name="refused-price.jsonl")
    batch = wait_done(alice, create_batch(alice, file.id).id)
    assert batch.status == "completed"
    events = batch_charges(spy_log, batch.id)
    assert len(events) == 1
    info = litellm.model_cost[f"vertex_ai/{NEGATIVE_PRICE_MODEL}"]
    expected = expected_cost(vertex_rows(stand_ins, batch.id), info)
    assert expected > 0 and abs(events[0]["response_cost"] - expected) < TOLERANCE


def test_storage_errors_name_the_callers_ids_not_the_gateways_objects(stand_ins, alice):
    """A file whose converted rows vanished (removed behind the plugin's back): the error keeps Google's status,
    and neither the bucket, the prefix nor an object path reaches the client."""
    file = upload(alice, [chat_line("v1")], name="vanishing.jsonl")
    gcs_bucket(stand_ins).blob(f"{PREFIX}vertex-input/{file.id.removeprefix('file-vb')}.jsonl").delete()
    with pytest.raises(openai.APIStatusError) as caught:
        create_batch(alice, file.id)
    text = json.dumps(caught.value.body)
    assert caught.value.status_code == 404
    assert BUCKET not in text and PREFIX.rstrip("/") not in text and "vertex-input" not in text, text
