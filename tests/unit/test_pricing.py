"""Per-row batch pricing with plain data: batch keys, the 50% fallback, cache precedence, per-row tiers."""

from __future__ import annotations

import pytest

from litellm_vertex_batch.adapters.chat import gemini_row_tokens
from litellm_vertex_batch.core.endpoint import RowTokens
from litellm_vertex_batch.core.pricing import CostTally, row_cost

INFO = {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6, "cache_read_input_token_cost": 2e-7,
        "input_cost_per_token_above_200k_tokens": 4e-6, "output_cost_per_token_above_200k_tokens": 1.2e-5}


def test_half_the_online_rate_without_batch_keys():
    cost = row_cost(RowTokens(prompt=100, candidates=10), INFO)
    assert cost.prompt_cost == pytest.approx(100 * 1e-6) and cost.completion_cost == pytest.approx(10 * 4e-6)


def test_batch_keys_win_over_the_fallback():
    info = {**INFO, "input_cost_per_token_batches": 5e-7, "output_cost_per_token_batches": 1e-6}
    cost = row_cost(RowTokens(prompt=100, candidates=10), info)
    assert cost.prompt_cost == pytest.approx(100 * 5e-7) and cost.completion_cost == pytest.approx(10 * 1e-6)


def test_cached_tokens_at_the_cache_rate_not_halved_again():
    cost = row_cost(RowTokens(prompt=100, cached=40), INFO)
    assert cost.prompt_cost == pytest.approx(60 * 1e-6 + 40 * 2e-7)


def test_tier_chosen_per_row_by_its_prompt():
    small = row_cost(RowTokens(prompt=200_000, candidates=1), INFO)
    large = row_cost(RowTokens(prompt=200_001, candidates=1), INFO)
    assert small.prompt_cost == pytest.approx(200_000 * 1e-6)
    assert large.prompt_cost == pytest.approx(200_001 * 2e-6) and large.completion_cost == pytest.approx(6e-6)


def test_thinking_counted_once_whether_or_not_candidates_include_it():
    exclusive = gemini_row_tokens({"promptTokenCount": 10, "candidatesTokenCount": 5,
                                   "thoughtsTokenCount": 7, "totalTokenCount": 22})
    inclusive = gemini_row_tokens({"promptTokenCount": 10, "candidatesTokenCount": 12,
                                   "thoughtsTokenCount": 7, "totalTokenCount": 22})
    assert exclusive == inclusive == RowTokens(prompt=10, candidates=5, thoughts=7)
    assert exclusive.output_tokens == 12


def test_failed_rows_cost_nothing():
    tally = CostTally(INFO)
    tally.add(None)  # a failed row
    tally.add(gemini_row_tokens({"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6}))
    assert (tally.succeeded, tally.failed) == (1, 1)
    assert tally.cost == pytest.approx(4 * 1e-6 + 2 * 4e-6)
    assert tally.as_result()["usage"]["total_tokens"] == 6


def test_embedding_rows_are_priced_per_character_when_the_map_says_so():
    from litellm_vertex_batch.adapters.embedding_output import embedding_row_tokens
    from litellm_vertex_batch.core.pricing import CostTally

    legacy = {"instance": {"content": "a b  c\n"}, "status": "",
              "predictions": [{"embeddings": {"statistics": {"token_count": 3}, "values": [0.1]}}]}
    tokens = embedding_row_tokens(legacy)
    assert tokens is not None and (tokens.prompt, tokens.characters) == (3, 3)
    tally = CostTally({"input_cost_per_character": 2e-08, "input_cost_per_token": 1e-07})
    tally.add(tokens)
    assert tally.cost == pytest.approx(3 * 2e-08 * 0.5)  # per character, half the online rate
    per_token = CostTally({"input_cost_per_token": 1.5e-07, "input_cost_per_token_batches": 1.2e-07})
    per_token.add(embedding_row_tokens({"status": "", "response": {"embedding": {"values": []},
                                                                   "usageMetadata": {"promptTokenCount": 7}}}))
    assert per_token.cost == pytest.approx(7 * 1.2e-07)
    assert embedding_row_tokens({**legacy, "status": "Bad Request: x"}) is None
    assert embedding_row_tokens({"status": "", "predictions": []}) is None
