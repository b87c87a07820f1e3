"""Batch price of one Vertex output row, from the row's own token counts (its adapter reads them). No I/O.

Rates come from LiteLLM's model price map entry (plus operator overrides): a ``*_batches`` key when the map
has one, else half the online rate (Vertex's batch discount). Cached prompt tokens are billed at the
implicit-cache rate, which takes precedence over the batch discount (the discounts do not stack). The
``_above_<N>k_tokens`` tier is chosen per row by that row's prompt size. Failed rows cost nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .endpoint import RowTokens

BATCH_DISCOUNT = 0.5
_TIER_KEY = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens(?:_batches)?$")
#: Operator-overridable price keys (model_info / litellm_params in model_list).
PRICE_KEY_PATTERN = re.compile(
    r"^(input|output|cache_read_input)_(cost_per_token|token_cost|cost_per_reasoning_token|cost_per_character)")


@dataclass(frozen=True)
class RowCost:
    prompt_cost: float
    completion_cost: float

    @property
    def total(self) -> float:
        return self.prompt_cost + self.completion_cost


def _tiers(info: Mapping[str, Any]) -> list[int]:
    """The prompt sizes (in thousands of tokens) above which the map prices differently, largest first."""
    return sorted({int(m.group(1)) for key in info if (m := _TIER_KEY.match(key))}, reverse=True)


def _tier_suffix(tiers: list[int], prompt_tokens: int) -> str:
    """``_above_200k_tokens`` when the row's prompt exceeds a tier the map prices, else ``""``."""
    for thousands in tiers:
        if prompt_tokens > thousands * 1000:
            return f"_above_{thousands}k_tokens"
    return ""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def price_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a price, or None when it is a finite number >= 0."""
    number = _number(value)
    if number is None:
        return "is not a number"
    if not math.isfinite(number):
        return "is not finite"
    if number < 0:
        return "is negative"
    return None


def batch_rate(info: Mapping[str, Any], key: str) -> float | None:
    """The batch rate for ``key``: its ``_batches`` variant, else half the online rate, else None."""
    explicit = _number(info.get(f"{key}_batches"))
    if explicit is not None:
        return explicit
    online = _number(info.get(key))
    return None if online is None else online * BATCH_DISCOUNT


def _rate(info: Mapping[str, Any], base: str, tier: str) -> float:
    for key in ((base + tier, base) if tier else (base,)):
        rate = batch_rate(info, key)
        if rate is not None:
            return rate
    return 0.0


def _cache_rate(info: Mapping[str, Any], tier: str, input_rate: float) -> float:
    """Implicit-cache rate: a batch cache key if the map has one, else the online cache rate (no 50% on top)."""
    for key in ((f"cache_read_input_token_cost{tier}", "cache_read_input_token_cost") if tier
                else ("cache_read_input_token_cost",)):
        for candidate in (f"{key}_batches", key):
            rate = _number(info.get(candidate))
            if rate is not None:
                return rate
    return input_rate


@dataclass(frozen=True)
class _Rates:
    """The batch rates of one price tier (computed once per tier, not per row)."""

    input: float
    cache: float
    character: float | None
    output: float
    reasoning: float | None

    @classmethod
    def of(cls, info: Mapping[str, Any], tier: str) -> _Rates:
        input_rate = _rate(info, "input_cost_per_token", tier)
        return cls(input=input_rate, cache=_cache_rate(info, tier, input_rate),
                   character=batch_rate(info, "input_cost_per_character"),
                   output=_rate(info, "output_cost_per_token", tier),
                   reasoning=batch_rate(info, "output_cost_per_reasoning_token") if not tier else None)

    def cost(self, tokens: RowTokens) -> RowCost:
        cached = min(tokens.cached, tokens.input_tokens)
        prompt_cost = (tokens.input_tokens - cached) * self.input + cached * self.cache
        if tokens.characters and self.character is not None:  # priced per character, as LiteLLM prices it online
            prompt_cost = tokens.characters * self.character
        completion_cost = tokens.candidates * self.output + tokens.thoughts * (
            self.reasoning if self.reasoning is not None else self.output)
        return RowCost(prompt_cost=prompt_cost, completion_cost=completion_cost)


def row_cost(tokens: RowTokens, info: Mapping[str, Any]) -> RowCost:
    """Batch cost of one successful row priced with ``info`` (a price map entry, overrides applied)."""
    return _Rates.of(info, _tier_suffix(_tiers(info), tokens.input_tokens)).cost(tokens)


class CostTally:
    """Sums the batch price of Vertex output rows as they stream past; failed rows add nothing."""

    def __init__(self, info: Mapping[str, Any]) -> None:
        self.info = info
        self._tiers = _tiers(info)
        self._rates: dict[str, _Rates] = {}
        self.prompt_cost = 0.0
        self.completion_cost = 0.0
        self.input_tokens = self.output_tokens = self.cached_tokens = self.reasoning_tokens = 0
        self.succeeded = self.failed = 0

    def add(self, tokens: RowTokens | None) -> None:
        """Add one row: its tokens when it succeeded, None when it failed (failed rows are not billed)."""
        if tokens is None:
            self.failed += 1
            return
        tier = _tier_suffix(self._tiers, tokens.input_tokens)
        rates = self._rates.get(tier)
        if rates is None:
            rates = self._rates[tier] = _Rates.of(self.info, tier)
        cost = rates.cost(tokens)
        self.prompt_cost += cost.prompt_cost
        self.completion_cost += cost.completion_cost
        self.input_tokens += tokens.input_tokens
        self.output_tokens += tokens.output_tokens
        self.cached_tokens += tokens.cached
        self.reasoning_tokens += tokens.thoughts
        self.succeeded += 1

    @property
    def cost(self) -> float:
        return self.prompt_cost + self.completion_cost

    def as_dict(self) -> dict[str, float]:
        return {"cost": self.cost, "prompt_cost": self.prompt_cost, "completion_cost": self.completion_cost}

    def as_result(self) -> dict[str, Any]:
        """Cost, batch usage and counts, shaped like a finalization result record."""
        from .output_lines import usage_totals

        return {**self.as_dict(), "request_counts": {"total": self.succeeded + self.failed,
                                                     "completed": self.succeeded, "failed": self.failed},
                "usage": usage_totals({"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                                       "cached_tokens": self.cached_tokens,
                                       "reasoning_tokens": self.reasoning_tokens})}


def price_info(model: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The price map entry for a Vertex Gemini model, with the operator's price keys laid over it."""
    import litellm

    info: dict[str, Any] = {}
    for name in (f"vertex_ai/{model}", model):
        entry = litellm.model_cost.get(name)
        if isinstance(entry, dict):
            info = dict(entry)
            break
    for key, value in (overrides or {}).items():
        if PRICE_KEY_PATTERN.match(key) and price_problem(value) is None:  # never a negative or infinite price
            info[key] = float(value)
    return info


def is_known_model(model: str) -> bool:
    """A Vertex model LiteLLM's price map knows."""
    import litellm

    for name in (f"vertex_ai/{model}", model):
        entry = litellm.model_cost.get(name)
        if isinstance(entry, dict) and str(entry.get("litellm_provider", "")).startswith("vertex_ai"):
            return True
    return False
