"""In-process transforms, one case per run: ``python -m benchmarks.transforms CASE DATA_DIR`` prints one JSON line
(rows, seconds, peak RSS growth in MiB). Each case runs in its own process so peak memory is its own.

Cases (same generated data for all):

* ``input-plugin``: ``services.files.convert_input`` (validation and conversion, as ``files.create`` runs it);
* ``input-builtin``: LiteLLM's own Vertex batch upload transform (``_OpenAIToVertexBatchUploadStream``);
* ``input-floor``: orjson loads + dumps of every line;
* ``output-plugin``: ``services.finalize.finalize`` over an in-memory bucket (output and error files written);
* ``output-builtin``: LiteLLM's own Vertex batch output rewrite, one line at a time (its streaming download path);
* ``output-floor``: orjson loads + dumps of every prediction line.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _peak_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def input_plugin(directory: Path) -> int:
    from litellm_vertex_batch.services.files import convert_input

    with (directory / "input.jsonl").open("rb") as source, tempfile.TemporaryFile() as rows:
        return convert_input(source, rows, None).lines


def input_builtin(directory: Path) -> int:
    from litellm.llms.vertex_ai.files.transformation import VertexAIFilesConfig, _OpenAIToVertexBatchUploadStream

    stream = _OpenAIToVertexBatchUploadStream(directory / "input.jsonl",
                                              VertexAIFilesConfig()._map_openai_to_vertex_params)
    rows = 0
    with tempfile.TemporaryFile() as out:
        for chunk in stream.iter_bytes():
            out.write(chunk)
            rows += 1
    return rows


def _floor(path: Path) -> int:
    import orjson

    rows = 0
    with path.open("rb") as handle, tempfile.TemporaryFile() as out:
        for line in handle:
            out.write(orjson.dumps(orjson.loads(line)) + b"\n")
            rows += 1
    return rows


def input_floor(directory: Path) -> int:
    return _floor(directory / "input.jsonl")


def output_floor(directory: Path) -> int:
    return _floor(directory / "predictions.jsonl")


def output_plugin(directory: Path) -> int:
    from litellm_vertex_batch.cloud.memory import MemoryObjects
    from litellm_vertex_batch.core import layout
    from litellm_vertex_batch.core.settings import Settings
    from litellm_vertex_batch.services.finalize import finalize

    settings = Settings(bucket="memory-bucket", project="bench", location="us-central1")
    objects = MemoryObjects()
    token = "bench"
    objects.write_bytes(layout.batch_input(settings, token), (directory / "vertex-input.jsonl").read_bytes())
    objects.write_bytes(layout.vertex_output_prefix(settings, token) + "predictions.jsonl",
                        (directory / "predictions.jsonl").read_bytes())
    record = {"token": token, "id": "batch_bench", "model": "gemini-2.5-flash-lite",
              "endpoint": "/v1/chat/completions", "total": _lines(directory / "vertex-input.jsonl")}
    result = finalize(objects, settings, record, {"state": "JOB_STATE_SUCCEEDED"}, int(time.time()))
    return int(result["output_rows"]) + int(result["error_rows"])


def output_builtin(directory: Path) -> int:
    from litellm.llms.vertex_ai.files.transformation import (
        VertexAIFilesConfig,
        _new_vertex_batch_output_row_transform_context,
    )

    config, context = VertexAIFilesConfig(), _new_vertex_batch_output_row_transform_context()
    rows = 0
    with (directory / "predictions.jsonl").open("rb") as handle, tempfile.TemporaryFile() as out:
        for line in handle:
            out.write(config._transform_vertex_batch_output_line(line.rstrip(b"\n"), context=context) + b"\n")
            rows += 1
    return rows


CASES: dict[str, Callable[[Path], int]] = {
    "input-plugin": input_plugin, "input-builtin": input_builtin, "input-floor": input_floor,
    "output-plugin": output_plugin, "output-builtin": output_builtin, "output-floor": output_floor,
}


def main(argv: list[str]) -> None:
    case, directory = argv[0], Path(argv[1])
    logging.disable(logging.WARNING)
    import litellm  # noqa: F401  (imported before the clock starts and before the baseline)

    import litellm_vertex_batch.services.finalize  # noqa: F401

    baseline = _peak_mib()
    started = time.perf_counter()
    rows = CASES[case](directory)
    seconds = time.perf_counter() - started
    print(json.dumps({"case": case, "rows": rows, "seconds": seconds, "peak_growth_mib": _peak_mib() - baseline}))


if __name__ == "__main__":
    main(sys.argv[1:])
