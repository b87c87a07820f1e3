"""Output accounting: which rows land in the output file and which in the error file, request_counts, the
batch's usage totals, and the output/error File objects.

Expected token counts follow the emulator's rules (tests/stand_ins/vertex_rows.py): prompt = words of all
text parts (system included), reply "echo: <last user text>" = its word count, thinking adds 7 reasoning
tokens (counted in completion_tokens), EMULATOR_CACHED caches min(prompt, 4) tokens.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.conftest import PROVIDER, chat_line, create_batch, read_jsonl, upload, wait_done

THOUGHTS = 7
CACHED = 4
BAD_REQUEST_MESSAGE = "Request contains an invalid argument."
RATE_LIMIT_MESSAGE = "Resource exhausted. Please try again later."


def expected_usage(text: str, system: str = "", thinking: bool = False) -> dict[str, int]:
    prompt = len(text.split()) + len(system.split())
    reply = len(("echo: " + text).split())
    reasoning = THOUGHTS if thinking else 0
    cached = min(prompt, CACHED) if "EMULATOR_CACHED" in text else 0
    return {"prompt_tokens": prompt, "completion_tokens": reply + reasoning, "cached_tokens": cached,
            "reasoning_tokens": reasoning}


def row_usage(row: dict[str, Any]) -> dict[str, int]:
    usage = row["response"]["body"]["usage"]
    return {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"],
            "cached_tokens": ((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0),
            "reasoning_tokens": ((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)}


def system_line(custom_id: str, system: str, text: str) -> dict[str, Any]:
    line = chat_line(custom_id, text)
    line["body"]["messages"].insert(0, {"role": "system", "content": system})
    return line


def check_file_object(client, file_id: str) -> bytes:
    meta = client.files.retrieve(file_id, extra_headers=PROVIDER)
    content = client.files.content(file_id, extra_headers=PROVIDER).content
    assert meta.id == file_id and meta.purpose == "batch_output", meta
    assert meta.bytes == len(content), (meta.bytes, len(content))
    assert meta.filename and meta.filename.endswith(".jsonl"), meta
    assert content.endswith(b"\n") and content.count(b"\n") == len(content.splitlines())
    return content


def test_mixed_batch_files_counts_and_usage(client):
    ok = {  # custom_id -> (text, system, thinking)
        "plain-1": ("hello there number one", "", False),
        "plain-2": ("a somewhat longer prompt with quite a few more words in it", "", False),
        "system-1": ("what is the answer", "You are a terse assistant.", False),
        "think-1": ("think about this carefully", "", True),
        "think-2": ("and think about that", "Reason step by step.", True),
        "cached-1": ("EMULATOR_CACHED a long shared prefix with many words", "", False),
        "cached-2": ("EMULATOR_CACHED two", "", False),  # prompt of 2 words: only 2 can be cached
        "think-cached": ("EMULATOR_CACHED and thinking together", "", True),
    }
    blocked = {"blocked-1": "please EMULATOR_BLOCK this prompt"}
    failed_400 = {"fail-1": "EMULATOR_FAIL first", "fail-2": "this one EMULATOR_FAIL too"}
    failed_429 = {"limited-1": "EMULATOR_FAIL_429 slow down"}

    lines = []
    for cid, (text, system, thinking) in ok.items():
        line = system_line(cid, system, text) if system else chat_line(cid, text)
        if thinking:
            line["body"]["reasoning_effort"] = "low"
        lines.append(line)
    lines += [chat_line(cid, text) for cid, text in {**blocked, **failed_400, **failed_429}.items()]
    lines.sort(key=lambda line: line["custom_id"])  # interleave the kinds
    total = len(lines)

    batch = create_batch(client, upload(client, lines).id)
    done = wait_done(client, batch.id)
    assert done.status == "completed", done

    output = read_jsonl(client, done.output_file_id)
    errors = read_jsonl(client, done.error_file_id)
    seen = Counter(r["custom_id"] for r in output + errors)
    assert set(seen) == {line["custom_id"] for line in lines} and set(seen.values()) == {1}, seen
    assert {r["custom_id"] for r in output} == set(ok) | set(blocked)
    assert {r["custom_id"] for r in errors} == set(failed_400) | set(failed_429)

    counts = done.request_counts
    assert (counts.total, counts.completed, counts.failed) == (total, len(output), len(errors)), counts
    assert (counts.completed, counts.failed) == (len(ok) + len(blocked), len(failed_400) + len(failed_429))

    by_id = {r["custom_id"]: r for r in output + errors}
    for cid, (text, system, thinking) in ok.items():
        row = by_id[cid]
        assert row["error"] is None and row["response"]["status_code"] == 200, row
        body = row["response"]["body"]
        assert body["object"] == "chat.completion" and row["response"]["request_id"] == body["id"]
        assert body["choices"][0]["finish_reason"] == "stop", body
        assert body["choices"][0]["message"]["content"] == "echo: " + text, body
        assert row_usage(row) == expected_usage(text, system, thinking), (cid, body["usage"])
        assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]

    for cid, text in blocked.items():
        row = by_id[cid]
        assert row["error"] is None and row["response"]["status_code"] == 200, row
        body = row["response"]["body"]
        assert body["object"] == "chat.completion", body
        assert body["choices"][0]["finish_reason"] == "content_filter", body
        assert not body["choices"][0]["message"].get("content"), body
        assert body["usage"]["prompt_tokens"] == len(text.split()) and body["usage"]["completion_tokens"] == 0

    for cid, status, message, kind in ([(c, 400, BAD_REQUEST_MESSAGE, "invalid_request_error") for c in failed_400]
                                       + [(c, 429, RATE_LIMIT_MESSAGE, "rate_limit_error") for c in failed_429]):
        row = by_id[cid]
        assert row["id"].startswith("batch_req_") and row["error"] is None, row
        assert row["response"]["status_code"] == status, row
        error = row["response"]["body"]["error"]
        assert error["message"] == message, row
        assert error["type"] == kind, row

    # batch usage = sum over the output rows, and = what the emulator's rules predict
    sums = {key: sum(row_usage(r)[key] for r in output) for key in
            ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens")}
    predicted = {key: sum(expected_usage(*ok[cid])[key] for cid in ok) for key in sums}
    predicted["prompt_tokens"] += sum(len(text.split()) for text in blocked.values())
    assert sums == predicted
    usage = done.usage
    assert usage is not None, done
    assert usage.input_tokens == sums["prompt_tokens"], usage
    assert usage.output_tokens == sums["completion_tokens"], usage
    assert usage.input_tokens_details.cached_tokens == sums["cached_tokens"], usage
    assert usage.output_tokens_details.reasoning_tokens == sums["reasoning_tokens"], usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens, usage
    assert sums["reasoning_tokens"] == 3 * THOUGHTS and sums["cached_tokens"] == CACHED + 2 + CACHED

    output_bytes = check_file_object(client, done.output_file_id)
    error_bytes = check_file_object(client, done.error_file_id)
    assert len(output_bytes.splitlines()) == counts.completed and len(error_bytes.splitlines()) == counts.failed
    assert done.output_file_id != done.error_file_id != done.input_file_id


def test_no_error_file_when_every_row_succeeds(client):
    texts = {f"clean-{i}": f"clean request {'word ' * i}end" for i in range(4)}
    lines = [chat_line(cid, text) for cid, text in texts.items()]
    lines.append(chat_line("clean-blocked", "EMULATOR_BLOCK is not an error"))
    done = wait_done(client, create_batch(client, upload(client, lines).id).id)
    assert done.status == "completed", done
    assert done.error_file_id is None, done
    assert done.request_counts.model_dump() == {"total": 5, "completed": 5, "failed": 0}
    output = read_jsonl(client, done.output_file_id)
    assert sorted(r["custom_id"] for r in output) == sorted([*texts, "clean-blocked"])
    check_file_object(client, done.output_file_id)
    assert done.usage.input_tokens == sum(r["response"]["body"]["usage"]["prompt_tokens"] for r in output)
    assert done.usage.output_tokens == sum(r["response"]["body"]["usage"]["completion_tokens"] for r in output)
    assert done.usage.output_tokens_details.reasoning_tokens == 0
    assert done.usage.input_tokens_details.cached_tokens == 0


def test_every_row_failing_no_output_rows(client):
    lines = [chat_line(f"doomed-{i}", f"EMULATOR_FAIL number {i}") for i in range(3)]
    lines.append(chat_line("doomed-429", "EMULATOR_FAIL_429 also"))
    done = wait_done(client, create_batch(client, upload(client, lines).id).id)
    assert done.status == "completed", done
    assert read_jsonl(client, done.output_file_id) == []  # no output file, or an empty one
    assert done.request_counts.model_dump() == {"total": 4, "completed": 0, "failed": 4}
    errors = read_jsonl(client, done.error_file_id)
    assert Counter(r["response"]["status_code"] for r in errors) == {400: 3, 429: 1}
    check_file_object(client, done.error_file_id)
    assert done.usage.input_tokens == 0 and done.usage.output_tokens == 0 and done.usage.total_tokens == 0
