"""Pure helpers for the Vertex emulator: importer validation and output-row generation.

Nothing here does I/O; everything is deterministic except ids and timestamps.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

MAX_NESTING = 15
COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CACHED_TOKENS = 4
THOUGHT_TOKENS = 7
FUNCTION_CALL_TOKENS = 5


class ImportError_(Exception):
    """The input file cannot be imported; the whole job fails with code 3."""


def rfc3339(dt: datetime | None = None) -> str:
    """RFC3339 UTC timestamp with microseconds and a ``Z`` suffix."""
    dt = dt or datetime.now(UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def model_id(model: str) -> str:
    """``projects/p/locations/l/publishers/google/models/gemini-2.5-flash`` -> ``gemini-2.5-flash``."""
    return model.rsplit("/", 1)[-1].split("@", 1)[0]


def is_known_model(model: str) -> bool:
    """Models the emulator serves: Gemini and text embedding models."""
    mid = model_id(model)
    shape_ok = model.startswith("publishers/") or model.startswith("projects/") or "/" not in model
    return shape_ok and mid.startswith(("gemini-", "text-embedding", "text-multilingual-embedding"))


def is_legacy_embedding(model: str) -> bool:
    """text-embedding-00x / text-multilingual-embedding-00x take ``{"content": ...}`` lines."""
    return model_id(model).startswith(("text-embedding", "text-multilingual-embedding"))


# ---------------------------------------------------------------- importer

def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def _walk(value: Any, path: str, depth: int, types: dict[str, str], where: str) -> None:
    """Check one value: column names, empty objects, nesting and type consistency per key path."""
    kind = _json_type(value)
    if kind != "null" and path:
        seen = types.setdefault(path, kind)
        if seen != kind:
            raise ImportError_(
                f"{where}: field '{path}' has type {kind} but an earlier row has type {seen} "
                "(one type per field across the file)."
            )
    if kind == "object":
        if depth > MAX_NESTING:
            raise ImportError_(f"{where}: field '{path}' is nested more than {MAX_NESTING} levels.")
        if not value:
            raise ImportError_(f"{where}: field '{path or '<root>'}' is an empty object {{}}, which cannot be imported.")
        for key, sub in value.items():
            if not COLUMN_RE.match(key):
                raise ImportError_(f"{where}: invalid field name '{key}' under '{path or '<root>'}'. "
                                   "Fields must contain only letters, numbers, and underscores, "
                                   "start with a letter or underscore.")
            _walk(sub, f"{path}.{key}" if path else key, depth + 1, types, where)
    elif kind == "array":
        for item in value:
            if isinstance(item, list):
                raise ImportError_(f"{where}: field '{path}' is an array of arrays, which cannot be imported.")
            _walk(item, path + "[]", depth, types, where)


def parse_and_validate(chunks: list[tuple[str, bytes]], legacy_embedding: bool = False) -> list[dict]:
    """Parse JSONL objects (``(uri, bytes)`` pairs) into rows, applying the BigQuery-like import rules.

    Raises ImportError_ naming the first problem; ONE bad line rejects everything.
    Nesting: the line itself is level 0, each nested object one more level (arrays add none).
    """
    rows: list[dict] = []
    types: dict[str, str] = {}
    for uri, data in chunks:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportError_(f"{uri}: not valid UTF-8 ({exc}).") from None
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{uri} line {lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportError_(f"{where}: invalid JSON: {exc.msg} at column {exc.colno}.") from None
            if not isinstance(row, dict):
                raise ImportError_(f"{where}: a row must be a JSON object.")
            if legacy_embedding:
                if not isinstance(row.get("content"), str):
                    raise ImportError_(f"{where}: missing required string field 'content'.")
            elif not isinstance(row.get("request"), dict):
                raise ImportError_(f"{where}: missing required object field 'request'.")
            _walk(row, "", 0, types, where)
            rows.append(row)
    return rows


# ---------------------------------------------------------------- output rows

def _texts(contents: Any) -> list[str]:
    out: list[str] = []
    if isinstance(contents, dict):
        contents = [contents]
    for content in contents or []:
        if isinstance(content, dict):
            for part in content.get("parts") or []:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    out.append(part["text"])
    return out


def last_user_text(request: dict) -> str:
    """Text of the last text part of the last user (or role-less) content."""
    for content in reversed(request.get("contents") or []):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            texts = _texts([content])
            if texts:
                return texts[-1]
    return ""


def prompt_tokens(request: dict) -> int:
    """Words across all text parts of contents and systemInstruction, at least 1."""
    texts = _texts(request.get("contents")) + _texts(request.get("systemInstruction") or request.get("system_instruction"))
    return max(1, sum(len(t.split()) for t in texts))


def _gen_config(request: dict) -> dict:
    cfg = request.get("generationConfig") or request.get("generation_config") or {}
    return cfg if isinstance(cfg, dict) else {}


def _schema_of(cfg: dict) -> dict | None:
    for key in ("responseJsonSchema", "response_json_schema", "responseSchema", "response_schema"):
        if isinstance(cfg.get(key), dict):
            return cfg[key]
    return None


def value_for_schema(schema: dict, text: str, depth: int = 0) -> Any:
    """A value that conforms to ``schema`` (controlled generation: Google documents that the model's JSON follows
    the response schema), made from the prompt's words so answers differ per request."""
    words = text.split() or ["x"]
    if depth > 8:
        return None
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return value_for_schema(schema[key][0], text, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "string")
    kind = str(kind or ("object" if "properties" in schema else "string")).lower()
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: value_for_schema(sub if isinstance(sub, dict) else {}, text, depth + 1)
                for name, sub in props.items()}
    if kind == "array":
        item = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [value_for_schema(item, text, depth + 1)]
    if kind == "integer":
        return len(words)
    if kind == "number":
        return len(words) / 2
    if kind == "boolean":
        return len(words) % 2 == 0
    if kind == "null":
        return None
    return words[-1].strip(".,!?")


def _first_function_name(request: dict) -> str | None:
    for tool in request.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        decls = tool.get("functionDeclarations") or tool.get("function_declarations") or []
        for decl in decls:
            if isinstance(decl, dict) and decl.get("name"):
                return str(decl["name"])
    return None


def _extras(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("request", "status", "processed_time", "response")}


def _failed_status(code: int) -> str:
    if code == 429:
        body = {"error": {"code": 429, "message": "Resource exhausted. Please try again later.",
                          "status": "RESOURCE_EXHAUSTED"}}
        return "Too Many Requests: " + json.dumps(body)
    body = {"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}}
    return "Bad Request: " + json.dumps(body)


def gemini_output_row(row: dict, model: str, processed_time: str | None = None) -> dict:
    """Vertex output row for one Gemini input row (success, failed or blocked)."""
    request = row["request"]
    now = processed_time or rfc3339()
    text = last_user_text(request)
    out: dict[str, Any] = dict(_extras(row))
    if "EMULATOR_FAIL_429" in text or "EMULATOR_FAIL" in text:
        out.update({"status": _failed_status(429 if "EMULATOR_FAIL_429" in text else 400),
                    "processed_time": now, "request": request})
        return out
    p = prompt_tokens(request)
    meta = {"modelVersion": model_id(model), "responseId": secrets.token_urlsafe(12), "createTime": now}
    if "EMULATOR_BLOCK" in text:
        response = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT",
                                       "blockReasonMessage": "The prompt was blocked due to prohibited contents."},
                    "usageMetadata": {"promptTokenCount": p, "totalTokenCount": p}, **meta}
        out.update({"status": "", "processed_time": now, "request": request, "response": response})
        return out
    cfg = _gen_config(request)
    finish = "STOP"
    fn = _first_function_name(request)
    if fn and "CALL_TOOL" in text:
        parts: list[dict] = [{"functionCall": {"name": fn, "args": {"q": "x"}}}]
        c = FUNCTION_CALL_TOKENS
    else:
        mime = cfg.get("responseMimeType") or cfg.get("response_mime_type")
        schema = _schema_of(cfg)
        if mime == "application/json":
            reply = json.dumps(value_for_schema(schema, text) if schema else {"echo": text})
        else:
            reply = "echo: " + text
        words = reply.split()
        limit = cfg.get("maxOutputTokens", cfg.get("max_output_tokens"))
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < len(words):
            reply, finish = " ".join(words[:limit]), "MAX_TOKENS"
        parts = [{"text": reply}]
        c = len(reply.split())
    usage: dict[str, Any] = {"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c}
    if "thinkingConfig" in cfg or "thinking_config" in cfg:
        usage["thoughtsTokenCount"] = THOUGHT_TOKENS
        usage["totalTokenCount"] += THOUGHT_TOKENS
    if "EMULATOR_CACHED" in text:
        usage["cachedContentTokenCount"] = min(p, CACHED_TOKENS)
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": p}]
    usage["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": c}]
    usage["trafficType"] = "ON_DEMAND"
    candidate = {"content": {"parts": parts, "role": "model"}, "finishReason": finish, "avgLogprobs": -0.5}
    response = {"candidates": [candidate], **meta, "usageMetadata": usage}
    out.update({"status": "", "processed_time": now, "request": request, "response": response})
    return out


def _fake_vector(text: str, dim: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % len(digest)] - 128) / 128.0, 6) for i in range(dim)]


def embedding_output_row(row: dict, model: str, processed_time: str | None = None,
                         parameters: dict | None = None) -> dict:
    """Output row for an embedding model (legacy ``content`` lines or gemini-embedding ``request`` lines).
    A text-embedding job's size is its ``modelParameters.outputDimensionality`` (one per job)."""
    now = processed_time or rfc3339()
    if is_legacy_embedding(model):
        text = row.get("content", "")
        if "EMULATOR_FAIL" in text:
            return {"instance": row, "predictions": [], "status": _failed_status(400), "processed_time": now}
        dim = (parameters or {}).get("outputDimensionality") or 8
        emb = {"statistics": {"token_count": max(1, len(text.split())), "truncated": False},
               "values": _fake_vector(text, int(dim))}
        return {"instance": row, "predictions": [{"embeddings": emb}], "status": "", "processed_time": now}
    request = row["request"]
    text = " ".join(_texts(request.get("content")))
    out: dict[str, Any] = dict(_extras(row))
    if "EMULATOR_FAIL" in text:
        out.update({"status": _failed_status(400), "processed_time": now, "request": request})
        return out
    cfg = request.get("embed_content_config") or request.get("embedContentConfig") or {}
    dim = cfg.get("output_dimensionality") or cfg.get("outputDimensionality") or 8
    # Google does not show this output row; assumed: an embedContent answer with Gemini-style usage
    out.update({"status": "", "processed_time": now, "request": request,
                "response": {"embedding": {"values": _fake_vector(text, int(dim))},
                             "usageMetadata": {"promptTokenCount": max(1, len(text.split()))}}})
    return out


def output_row(row: dict, model: str, processed_time: str | None = None, parameters: dict | None = None) -> dict:
    """Dispatch on the job's model."""
    if "embedding" in model_id(model):
        return embedding_output_row(row, model, processed_time, parameters)
    return gemini_output_row(row, model, processed_time)


def row_succeeded(out: dict) -> bool:
    """A row counts as successful when its status is empty."""
    return out.get("status", "") == ""
