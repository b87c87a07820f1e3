"""Batch spend through stock proxies (replicas B and C, with a spy callback recording every logging event):
the cost equals an independent computation over Vertex's own output rows, reaches LiteLLM's logging once,
and is attributed to the batch's creator."""

from __future__ import annotations

import json
import threading
from typing import Any

import litellm
import pytest
from litellm.proxy.utils import hash_token

from tests.conftest import (
    OVERRIDE_MODEL,
    OVERRIDE_PRICES,
    PROVIDER,
    batch_charges,
    chat_line,
    create_batch,
    gcs_bucket,
    job_id,
    make_client,
    run_held,
    upload,
    wait_done,
)

FINAL = ("completed", "failed", "cancelled", "expired")
TOLERANCE = 1e-9


def vertex_rows(stand_ins, batch_id: str) -> list[dict[str, Any]]:
    token = batch_id.removeprefix("batch_vb")
    rows = []
    for blob in gcs_bucket(stand_ins).list_blobs(prefix=f"litellm-vertex-batch/vertex-output/{token}/"):
        if blob.name.endswith(".jsonl"):
            rows += [json.loads(line) for line in blob.download_as_text().splitlines() if line.strip()]
    return rows


def expected_cost(rows: list[dict[str, Any]], info: dict[str, Any]) -> float:
    """Written out from the rules (not the plugin's code): batch keys, else 50% of online; cached tokens at the
    online cache rate; the >200k tier per row; thinking tokens at the output (reasoning) rate; failed rows free."""
    def batch_rate(key: str) -> float:
        return info[key + "_batches"] if key + "_batches" in info else info[key] * 0.5

    total = 0.0
    for row in rows:
        if row.get("status") or "response" not in row:
            continue
        usage = row["response"].get("usageMetadata", {})
        prompt = usage.get("promptTokenCount", 0) + usage.get("toolUsePromptTokenCount", 0)
        cached = usage.get("cachedContentTokenCount", 0)
        above = prompt > 200_000 and "input_cost_per_token_above_200k_tokens" in info
        tier = "_above_200k_tokens" if above else ""
        input_rate = batch_rate("input_cost_per_token" + tier)
        cache_rate = info.get("cache_read_input_token_cost" + tier, input_rate)
        output_rate = batch_rate("output_cost_per_token" + tier)
        reasoning_rate = (batch_rate("output_cost_per_reasoning_token")
                          if not above and "output_cost_per_reasoning_token" in info else output_rate)
        total += (prompt - cached) * input_rate + cached * cache_rate
        total += usage.get("candidatesTokenCount", 0) * output_rate + usage.get("thoughtsTokenCount", 0) * reasoning_rate
    return total


@pytest.fixture(scope="module")
def alice_b(proxy_b):
    return make_client(proxy_b, "sk-tenant-alice")


@pytest.fixture(scope="module")
def admin_c(proxy_c):
    return make_client(proxy_c)


def test_mixed_batch_cost_usage_and_attribution(stand_ins, alice_b, admin_c, spy_log):
    lines = [chat_line("plain", "one two three"), chat_line("cached", "EMULATOR_CACHED with a longer prompt here"),
             chat_line("thinking", "think about it", reasoning_effort="low"),
             chat_line("failed", "EMULATOR_FAIL please"), chat_line("blocked", "EMULATOR_BLOCK this prompt"),
             chat_line("system", "hi", **{"max_tokens": 50})]
    file = upload(alice_b, lines)
    batch = create_batch(alice_b, file.id, metadata={"cost_center": "cc-7"})
    done = wait_done(admin_c, batch.id)  # retrieved by the admin on another replica: still alice's spend
    assert done.status == "completed" and done.request_counts.failed == 1 and done.request_counts.completed == 5

    rows = vertex_rows(stand_ins, batch.id)
    assert len(rows) == 6 and any(r["response"]["usageMetadata"].get("cachedContentTokenCount") for r in rows
                                  if "response" in r)
    expected = expected_cost(rows, litellm.model_cost["gemini-2.5-flash-lite"])
    assert expected > 0
    assert abs(float(done.litellm_batch_cost_usd) - expected) < TOLERANCE  # an extension field of the batch
    assert "litellm_batch_cost_usd" not in (done.metadata or {}), "the caller's metadata stays the caller's"
    assert done.metadata["cost_center"] == "cc-7"

    events = batch_charges(spy_log, batch.id)
    assert len(events) == 1, events
    event = events[0]
    assert abs(event["response_cost"] - expected) < TOLERANCE
    assert abs(event["slo"]["response_cost"] - expected) < TOLERANCE
    assert event["slo"]["prompt_tokens"] == done.usage.input_tokens
    assert event["slo"]["completion_tokens"] == done.usage.output_tokens
    metadata = event["slo"]["metadata"]
    assert metadata["user_api_key_hash"] == hash_token("sk-tenant-alice")
    assert metadata["user_api_key_team_id"] == "team-a" and metadata["user_api_key_user_id"] == "alice"
    assert metadata["user_api_key_end_user_id"] == "customer-1"
    assert "project:alpha" in (event["slo"]["request_tags"] or [])
    assert "gemini-2.5-flash-lite" in str(event["slo"]["model"])


def test_models_and_the_200k_tier_priced_per_row(stand_ins, alice_b, admin_c, spy_log):
    huge = " ".join(["word"] * 200_050)  # the emulator counts one token per word
    batches = {}
    for model, lines in (("gemini-2.5-flash", [chat_line("f1", "flash one", model="gemini-2.5-flash"),
                                               chat_line("f2", "flash two", model="gemini-2.5-flash",
                                                         reasoning_effort="low")]),
                         ("gemini-2.5-pro", [chat_line("small", "a small prompt", model="gemini-2.5-pro"),
                                             chat_line("huge", huge, model="gemini-2.5-pro")])):
        batches[model] = create_batch(alice_b, upload(alice_b, lines).id)
    for model, batch in batches.items():
        done = wait_done(admin_c, batch.id, timeout=120)
        assert done.status == "completed", done
        rows = vertex_rows(stand_ins, batch.id)
        info = litellm.model_cost[model]
        expected = expected_cost(rows, info)
        [event] = batch_charges(spy_log, batch.id)
        assert abs(event["response_cost"] - expected) < TOLERANCE, (model, event["response_cost"], expected)
        if model == "gemini-2.5-pro":
            big = next(r for r in rows if r["response"]["usageMetadata"]["promptTokenCount"] > 200_000)
            prompt = big["response"]["usageMetadata"]["promptTokenCount"]
            # the tiered rate, not the base rate the built-in path would use
            base_tier_only = prompt * info["input_cost_per_token_batches"]
            assert expected - base_tier_only >= prompt * (info["input_cost_per_token_above_200k_tokens"] * 0.5
                                                          - info["input_cost_per_token_batches"]) - TOLERANCE
            assert event["response_cost"] > base_tier_only


def test_cancelled_job_is_charged_for_completed_rows_only(stand_ins, alice_b, admin_c, spy_log, slow_start):
    batch = create_batch(alice_b, upload(alice_b, [chat_line(f"c{i}", f"prompt number {i}") for i in range(6)]).id)
    run_held(stand_ins, job_id(stand_ins, batch.id))
    admin_c.batches.cancel(batch.id, extra_headers=PROVIDER)
    done = wait_done(admin_c, batch.id)
    assert done.status == "cancelled"
    rows = vertex_rows(stand_ins, batch.id)
    assert 0 < len(rows) < 6 and done.request_counts.completed == len(rows)
    [event] = batch_charges(spy_log, batch.id)
    expected = expected_cost(rows, litellm.model_cost["gemini-2.5-flash-lite"])
    assert expected > 0 and abs(event["response_cost"] - expected) < TOLERANCE


def test_charged_once_across_replicas_repeats_and_a_restart(stand_ins, proxy_b, proxy_c, spy_log):
    alice = make_client(proxy_b, "sk-tenant-alice")
    batch = create_batch(alice, upload(alice, [chat_line(f"x{i}", f"text {i}") for i in range(5)]).id)
    wait_done(alice, batch.id, until=("finalizing", "completed", "in_progress"))
    clients = [make_client(proxy_b), make_client(proxy_c)]
    barrier = threading.Barrier(6)
    seen: list[str] = []

    def hammer(client):
        barrier.wait()
        for _ in range(4):
            seen.append(wait_done(client, batch.id).status)

    threads = [threading.Thread(target=hammer, args=(clients[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(seen) == {"completed"}
    assert len(batch_charges(spy_log, batch.id)) == 1

    proxy_c.stop()  # a restart between the charge and the next retrieve
    proxy_c.start()
    for _ in range(3):
        assert make_client(proxy_c).batches.retrieve(batch.id, extra_headers=PROVIDER).status == "completed"
    events = batch_charges(spy_log, batch.id)
    assert len(events) == 1 and events[0]["response_cost"] > 0
    # the charge's own id, derived from the batch: a re-delivery after a crash would carry the same one
    from litellm_vertex_batch.core import ids
    assert events[0]["call_id"] == ids.charge_id("batch", batch.id)


def test_operator_price_override_in_model_list(stand_ins, alice_b, admin_c, spy_log):
    assert OVERRIDE_MODEL not in litellm.model_cost  # priced by the operator's model_info alone
    batch = create_batch(alice_b, upload(alice_b, [chat_line("o1", "override me please", model=OVERRIDE_MODEL)]).id)
    done = wait_done(admin_c, batch.id)
    assert done.status == "completed"
    [row] = vertex_rows(stand_ins, batch.id)
    usage = row["response"]["usageMetadata"]
    expected = (usage["promptTokenCount"] * OVERRIDE_PRICES["input_cost_per_token_batches"]
                + usage["candidatesTokenCount"] * OVERRIDE_PRICES["output_cost_per_token_batches"])
    [event] = batch_charges(spy_log, batch.id)
    assert abs(event["response_cost"] - expected) < TOLERANCE and expected > 0
