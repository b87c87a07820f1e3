"""Checking a Vertex-native job's input files before the job exists.

Vertex reads a batch's input hours after the create call and then fails the whole job on one bad line. The
gateway streams the files the job names (wildcards expanded, up to Vertex's 1 GB) and applies the same importer
rules the OpenAI path applies to its converted rows (``core/import_rules.py``), so such a job is refused now,
naming file, line and reason. Blocking: run it in a worker thread. Memory does not grow with file size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

from ..cloud.objects import Objects, read_lines
from ..core import jsonl
from ..core.import_rules import MAX_LINE_NESTING, TypeTracker, nesting_problem, row_problems

MAX_INPUT_BYTES = 1024**3
MAX_PROBLEMS = 20


def _split(uri: str) -> tuple[str, str]:
    bucket, _, name = uri[len("gs://"):].partition("/")
    return bucket, name


def wildcard_pattern(pattern: str) -> re.Pattern[str]:
    """Cloud Storage wildcard names: ``**`` any characters, ``*`` any but ``/``, ``?`` one character."""
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    mapping = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(mapping.get(part, re.escape(part)) for part in parts))


def matching_objects(objects_for: Callable[[str], Objects], uri: str) -> Iterator[tuple[Objects, str, int]]:
    """(bucket objects, name, size) of every object ``uri`` names (Cloud Storage wildcards, as Vertex reads them)."""
    bucket, pattern = _split(uri)
    objects = objects_for(bucket)
    if not any(ch in pattern for ch in "*?"):
        info = objects.info(pattern)
        if info is not None:
            yield objects, pattern, info.size
        return
    literal = pattern[:min(i for i in (pattern.find(c) for c in "*?") if i >= 0)]
    compiled = wildcard_pattern(pattern)
    for info in objects.list(literal):
        if compiled.fullmatch(info.name):
            yield objects, info.name, info.size


def input_problems(objects_for: Callable[[str], Objects], uris: list[str]) -> list[str]:
    """Every problem (up to ``MAX_PROBLEMS``) Vertex's importer would fail the job for, named by file and line."""
    problems: list[str] = []
    types = TypeTracker()
    total = 0
    for uri in uris:
        found = list(matching_objects(objects_for, str(uri)))
        if not found:
            problems.append(f"{uri}: no such object")
            continue
        for objects, name, size in found:
            total += size
            if total > MAX_INPUT_BYTES:
                problems.append(f"the input files are over Vertex's {MAX_INPUT_BYTES}-byte limit per batch job")
                return problems
            where = f"gs://{_split(str(uri))[0]}/{name}"
            _check_file(objects, name, where, types, problems)
            if len(problems) >= MAX_PROBLEMS:
                return problems[:MAX_PROBLEMS]
    return problems


def _check_file(objects: Objects, name: str, where: str, types: TypeTracker, problems: list[str]) -> None:
    with objects.open_read(name) as handle:
        line_no = 0
        for raw in read_lines(handle):
            line_no += 1
            if not raw.strip():
                continue
            for problem in _line_problems(raw, line_no, types):
                problems.append(f"{where} line {line_no}: {problem}")
            if len(problems) >= MAX_PROBLEMS:
                return


def _line_problems(raw: bytes, line_no: int, types: TypeTracker) -> list[str]:
    try:
        row = jsonl.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return [f"not valid UTF-8 ({exc.reason} at byte {exc.start})"]
    except json.JSONDecodeError as exc:
        return [f"not valid JSON ({exc.msg} at column {exc.colno})"]
    except ValueError as exc:
        return [f"not valid JSON ({exc})"]
    except RecursionError:
        return [f"nests objects and arrays more than {MAX_LINE_NESTING} levels deep"]
    if not isinstance(row, dict):
        return ["must be a JSON object"]
    if not row:
        return ["is an empty object"]
    nesting = nesting_problem(row)
    if nesting:
        return [nesting]
    return row_problems(row) + types.conflicts(row, line_no)
