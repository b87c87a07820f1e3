"""What the rest of the package needs from the adapter of one kind of batch line (``adapters/``).

Upload, finalization and pricing hold no endpoint-specific code: they look the adapter up by the file's or
batch's ``url`` and call these methods. Each adapter reuses LiteLLM's own mapping for its endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class LineProblem(ValueError):
    """A line the adapter refuses for a reason it words itself (what the model cannot do); the 400 names the
    line and gives this message as it is."""


@dataclass(frozen=True)
class RowTokens:
    """Token counts of one successful Vertex row, as it is priced."""

    prompt: int = 0
    tool_use_prompt: int = 0
    cached: int = 0
    candidates: int = 0
    thoughts: int = 0
    #: billable input characters, for models LiteLLM's price map prices per character (text embeddings)
    characters: int = 0

    @property
    def input_tokens(self) -> int:
        return self.prompt + self.tool_use_prompt

    @property
    def output_tokens(self) -> int:
        return self.candidates + self.thoughts


@dataclass(frozen=True)
class RowUsage:
    """Token counts of one successful row as its OpenAI body reports them (what the batch's usage adds up)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


class ResponseReader(Protocol):
    """Reads successful Vertex responses of one batch (one model) into OpenAI response bodies."""

    def read(self, response: Mapping[str, Any]) -> tuple[dict[str, Any], RowUsage]:
        """The OpenAI body and its usage; raises when the response cannot be read (reported, never dropped)."""
        ...

    def read_group(self, responses: list[Mapping[str, Any]], option: str) -> tuple[dict[str, Any], RowUsage]:
        """One body for the rows of one line mapped to several rows (in their order), or for a row carrying an
        ``option``; endpoints whose lines are always one row without options raise."""
        ...


class RowMapper(Protocol):
    """Maps one batch's line bodies (one model) to Vertex rows, reusing per-batch work across lines."""

    def rows(self, carried_id: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes | None]:
        """The rows, and a key naming their shape when every line of that shape yields rows that pass or fail
        Vertex's import rules alike (then the rules are checked once per shape); raises like ``vertex_rows``."""
        ...

    def model_parameters(self) -> dict[str, Any] | None:
        """What the batch job's ``modelParameters`` must hold for the lines seen so far (None: nothing)."""
        ...


class Endpoint(Protocol):
    """One OpenAI batch ``url`` (``/v1/chat/completions``, ...) on Vertex batch prediction."""

    url: str

    def body_problem(self, body: Mapping[str, Any]) -> str | None:
        """Why a line's ``body`` cannot be sent (named in the 400), or None."""
        ...

    def vertex_rows(self, carried_id: str, body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        """The Vertex input rows for one line, each carrying ``carried_id``; raises when LiteLLM cannot map it."""
        ...

    def row_mapper(self, model: str) -> RowMapper:
        """A mapper for one batch's lines: ``vertex_rows``' results, faster where it can prove them equal."""
        ...

    def response_reader(self, model: str) -> ResponseReader:
        """A reader for one batch's successful rows (it may reuse LiteLLM objects across rows)."""
        ...

    def row_response(self, row: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The answer a Vertex output row carries when it succeeded, None when it failed."""
        ...

    def row_tokens(self, response: Mapping[str, Any]) -> RowTokens:
        """What one successful Vertex response (``row_response``'s) is priced on."""
        ...
