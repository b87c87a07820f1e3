"""Regressions found by the unit suite: each failed before its fix."""
from litellm_vertex_batch.adapters import ADAPTERS
from litellm_vertex_batch.core.input_lines import InputConverter, iter_lines

BOM = b"\xef\xbb\xbf"

def test_bom_only_file_has_no_lines() -> None:
    assert list(iter_lines([BOM])) == []
    assert list(iter_lines([BOM + b"  "])) == []

def test_bom_only_file_is_reported_as_empty() -> None:
    converter = InputConverter(ADAPTERS)
    for n, raw in iter_lines([BOM]):
        converter.convert(n, raw)
    assert converter.finish().problems == ["file: the file has no requests"]

def test_openai_metadata_maps_like_online() -> None:
    # online: litellm.completion(..., metadata={"k": "v"}) sends {"contents": [...]} (metadata is LiteLLM's own)
    from litellm_vertex_batch.adapters.chat import vertex_request as openai_body_to_vertex_request
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}], "metadata": {"k": "v"}}
    assert openai_body_to_vertex_request(body, "gemini-2.5-flash") == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}

def test_type_conflict_in_a_list_reported_once() -> None:
    from litellm_vertex_batch.core.import_rules import TypeTracker
    tracker = TypeTracker()
    tracker.conflicts({"enum": ["a"]}, 1)
    found = tracker.conflicts({"enum": [1, 2, 3]}, 2)
    assert len(found) == len(set(found)) == 1, found

def test_429_is_a_rate_limit_error() -> None:
    import litellm

    from litellm_vertex_batch.core.errors import UpstreamError
    from litellm_vertex_batch.edge.translate import to_litellm_error
    exc = to_litellm_error(UpstreamError("Quota exceeded", 429))
    assert isinstance(exc, litellm.RateLimitError), type(exc)
    assert exc.status_code == 429
