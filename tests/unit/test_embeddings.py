"""``/v1/embeddings`` lines: mapped as ``litellm.embedding`` maps them online, refused where a model cannot do
them, and regrouped on output into the response ``litellm.embedding`` returns online."""

from __future__ import annotations

import base64
import copy
import json
import random
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from litellm_vertex_batch.adapters import ADAPTERS
from litellm_vertex_batch.adapters.embeddings import LEGACY_MAX_TEXTS, Embeddings
from litellm_vertex_batch.core import jsonl
from litellm_vertex_batch.core.carried import Carried, carried_custom_id, parse_carried, row_carried
from litellm_vertex_batch.core.input_lines import InputConverter
from litellm_vertex_batch.core.output_lines import PartGroups, RowConverter
from tests.stand_ins import vertex_rows
from tests.unit.online_recorder import recording

LEGACY = "text-embedding-005"
GEMINI = "gemini-embedding-001"


def line(custom_id: str = "e1", model: str = LEGACY, **body: Any) -> bytes:
    body.setdefault("input", "hello world")
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/embeddings",
                       "body": {"model": model, **body}}).encode()


def convert(*lines: bytes) -> tuple[list[dict[str, Any]], InputConverter]:
    converter = InputConverter(ADAPTERS)
    rows: list[dict[str, Any]] = []
    for number, raw in enumerate(lines, start=1):
        rows += [jsonl.loads(r) for r in converter.encoded(number, raw)]
    converter.finish()
    return rows, converter


def problems(*lines: bytes) -> list[str]:
    return convert(*lines)[1].summary.problems


# --- in: rows per element, carried back ------------------------------------------------------------------

def test_an_array_input_becomes_one_row_per_element_each_carrying_its_place() -> None:
    rows, converter = convert(line("a", input=["one", "two", "three"]), line("b", input="four"))
    assert converter.summary.problems == []
    assert [r["content"] for r in rows] == ["one", "two", "three", "four"]
    assert [parse_carried(r["custom_id"]) for r in rows] == [
        Carried("a", 0, 3), Carried("a", 1, 3), Carried("a", 2, 3), Carried("b")]
    assert converter.summary.endpoint == "/v1/embeddings" and converter.summary.model == LEGACY


def test_gemini_embedding_rows_use_the_newer_schema_with_their_size_on_each_row() -> None:
    rows, converter = convert(line("a", GEMINI, input=["x", "y"], dimensions=256, input_type="RETRIEVAL_DOCUMENT"))
    assert converter.summary.problems == [] and converter.summary.model_parameters is None
    assert rows[1]["request"] == {"content": {"parts": [{"text": "y"}]}, "embed_content_config": {
        "output_dimensionality": 256, "task_type": "RETRIEVAL_DOCUMENT"}}


def test_a_text_embedding_batch_takes_one_size_as_a_job_parameter() -> None:
    rows, converter = convert(line("a", dimensions=256), line("b", dimensions=256, input=["p", "q"]))
    assert converter.summary.problems == []
    assert converter.summary.model_parameters == {"outputDimensionality": 256}
    assert all(set(r) == {"content", "custom_id"} for r in rows)
    assert "differs from earlier lines" in problems(line("a", dimensions=256), line("b"))[0]
    _, full = convert(line("a", dimensions=768), line("b"))  # the full size is the same as leaving it out
    assert full.summary.problems == [] and full.summary.model_parameters is None


def test_base64_is_carried_on_the_row_so_the_answer_can_be_encoded() -> None:
    rows, _ = convert(line("a", encoding_format="base64"), line("b", encoding_format="float"))
    assert [parse_carried(r["custom_id"]) for r in rows] == [Carried("a", 0, 1, "b64"), Carried("b")]


@pytest.mark.parametrize(("body", "model", "expected"), [
    ({"input": [1, 2, 3]}, LEGACY, "line 1 (custom_id 'e1'): body.input is token ids; Vertex embedding models take"),
    ({"input": [[1, 2]]}, LEGACY, "body.input is token ids"),
    ({"input": ["ok", ""]}, LEGACY, "body.input[1] is empty"),
    ({"input": []}, LEGACY, "body.input must be a string or a non-empty array of strings"),
    ({"input": ["ok", 5]}, LEGACY, "body.input[1] must be a string, got int"),
    ({"dimensions": 1024}, LEGACY, "body.dimensions 1024 is more than text-embedding-005 gives (at most 768)"),
    ({"dimensions": 4096}, GEMINI, "body.dimensions 4096 is more than gemini-embedding-001 gives (at most 3072)"),
    ({"dimensions": True}, GEMINI, "body.dimensions must be a positive integer"),
    ({"encoding_format": "int8"}, LEGACY, "body.encoding_format must be one of float, base64, got 'int8'"),
    ({"input": ["t"] * 2049}, LEGACY, "body.input has 2049 elements; a line takes at most 2048"),
    ({"input": "hi"}, "gemini-2.5-flash", "model 'gemini-2.5-flash' is not an embedding model"),
    ({"input": "hi", "temperature": 0.5}, LEGACY, "body.temperature is not a parameter a Vertex embedding batch"),
])
def test_what_a_model_cannot_do_is_refused_naming_the_line(body: dict[str, Any], model: str, expected: str) -> None:
    found = problems(line(model=model, **body))
    assert len(found) == 1 and expected in found[0], found


def test_a_text_embedding_batch_over_googles_job_limit_is_refused_at_the_line_that_crosses_it() -> None:
    lines = [line(f"e{i}", input=["t"] * 2000) for i in range(LEGACY_MAX_TEXTS // 2000)]
    assert problems(*lines) == []
    found = problems(*lines, line("last", input=["t"]))
    assert found == [f"line {len(lines) + 1} (custom_id 'last'): brings the batch to more than 30,000 texts "
                     "(text-embedding-005 batch jobs take at most 30,000 texts); split the file"]


def test_a_chat_line_on_an_embedding_model_is_refused() -> None:
    raw = json.dumps({"custom_id": "c", "method": "POST", "url": "/v1/chat/completions",
                      "body": {"model": LEGACY, "messages": [{"role": "user", "content": "hi"}]}}).encode()
    assert "is an embedding model (send /v1/embeddings lines)" in problems(raw)[0]


# --- out: regrouped, in order, all or nothing ------------------------------------------------------------

def output_rows(rows: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    return [vertex_rows.embedding_output_row(row, model) for row in rows]


def regroup(rows: list[dict[str, Any]], model: str) -> dict[str, dict[str, Any]]:
    converter = RowConverter(Embeddings().response_reader(model), None, Embeddings().row_response)
    groups, lines = PartGroups(), {}
    for row in rows:
        carried = row_carried(row)
        assert carried is not None
        if carried.custom_id in lines:
            continue  # answered already (finalization keeps the custom_ids still pending)
        new, complete = groups.add(row, carried)
        if complete is not None:
            lines[carried.custom_id] = converter.convert_group(complete, carried).line
    assert groups.incomplete() == []
    return lines


@pytest.mark.parametrize("model", [LEGACY, GEMINI])
def test_rows_in_any_order_come_back_as_one_response_per_custom_id_in_input_order(model: str) -> None:
    texts = [f"text number {i}" for i in range(7)]
    rows, _ = convert(line("a", model, input=texts), line("b", model, input="solo"))
    shuffled = output_rows(rows, model)
    random.Random(4).shuffle(shuffled)
    lines = regroup(shuffled + shuffled[:3], model)  # duplicates (incremental prediction files) dropped
    body = lines["a"]["response"]["body"]
    assert [d["index"] for d in body["data"]] == list(range(7))
    assert [d["embedding"] for d in body["data"]] == [vertex_rows._fake_vector(t, 8) for t in texts]
    assert body["object"] == "list" and body["model"] == model
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] == 3 * 7
    assert len(lines["b"]["response"]["body"]["data"]) == 1


def test_a_custom_id_with_a_failed_element_goes_to_the_error_file_with_googles_reason() -> None:
    rows, _ = convert(line("a", input=["fine", "EMULATOR_FAIL here", "fine too"]))
    groups = PartGroups()
    converter = RowConverter(Embeddings().response_reader(LEGACY), None, Embeddings().row_response)
    complete = None
    for row in output_rows(rows, LEGACY):
        carried = row_carried(row)
        assert carried is not None
        _, complete = groups.add(row, carried)
    assert complete is not None
    converted = converter.convert_group(complete, Carried("a", 0, 3))
    assert not converted.ok
    error = converted.line["response"]["body"]["error"]
    assert converted.line["response"]["status_code"] == 400
    assert error["message"] == "input[1]: Request contains an invalid argument." and error["code"] == "INVALID_ARGUMENT"


def test_base64_answers_decode_to_the_same_float32_values() -> None:
    rows, _ = convert(line("a", GEMINI, input=["p", "q"], encoding_format="base64", dimensions=16))
    lines = regroup(output_rows(rows, GEMINI), GEMINI)
    for item, text in zip(lines["a"]["response"]["body"]["data"], ["p", "q"], strict=True):
        raw = base64.b64decode(item["embedding"])
        expected = vertex_rows._fake_vector(text, 16)
        assert list(struct.unpack(f"<{len(expected)}f", raw)) == pytest.approx(expected, rel=1e-6)


# --- the same answers as litellm.embedding online --------------------------------------------------------

def _predictions(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The emulator's text-embedding answer for each instance of a predict call."""
    return {"predictions": [vertex_rows.embedding_output_row(i, LEGACY)["predictions"][0] for i in body["instances"]]}


@pytest.fixture(scope="module")
def online() -> Iterator[Any]:
    """``online(model, body)`` -> (the predict body ``litellm.embedding`` POSTs, the response it returns)."""
    import litellm

    with recording(_predictions) as server:
        def call(model: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
            body = copy.deepcopy(body)
            server.bodies.clear()
            params = {k: v for k, v in body.items() if k not in ("model", "input")}
            response = litellm.embedding(model="vertex_ai/" + model, input=body["input"], api_base=server.url,
                                         vertex_project="p", vertex_location="us-central1",
                                         vertex_credentials=server.credentials, **params)
            assert len(server.bodies) == 1
            return server.bodies[0][1], response.model_dump(exclude_none=False)

        yield call


@pytest.mark.parametrize("body", [
    {"input": "one text"},
    {"input": ["a", "b b", "c c c"], "dimensions": 128},
    {"input": ["doc"], "input_type": "RETRIEVAL_DOCUMENT", "title": "A title"},
    {"input": ["x"] * 5, "encoding_format": "float"},
])
@pytest.mark.parametrize("model", [LEGACY, GEMINI])
def test_a_line_maps_and_answers_as_litellm_embedding_does_online(online: Any, model: str,
                                                                  body: dict[str, Any]) -> None:
    sent, answer = online(model, body)
    rows, converter = convert(line("a", model, **body))
    assert converter.summary.problems == []
    texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
    size = sent.get("parameters", {}).get("outputDimensionality")
    if model == LEGACY:  # the instances as sent online; the size as the job's parameter
        assert [{k: v for k, v in r.items() if k != "custom_id"} for r in rows] == sent["instances"]
        assert converter.summary.model_parameters == ({"outputDimensionality": size} if size else None)
    else:  # the same text, task type, title and size, in the Gemini batch schema
        for row, instance in zip(rows, sent["instances"], strict=True):
            config = row["request"].get("embed_content_config", {})
            assert row["request"]["content"] == {"parts": [{"text": instance["content"]}]}
            assert {k: config[k] for k in ("task_type", "title") if k in config} == {
                k: instance[k] for k in ("task_type", "title") if k in instance}
            assert config.get("output_dimensionality") == size
    # answers: the emulator's predictions for those texts, read back through the batch path
    legacy_rows = [vertex_rows.embedding_output_row({"content": t, "custom_id": r["custom_id"]}, LEGACY)
                   for t, r in zip(texts, rows, strict=True)]
    converter_out = RowConverter(Embeddings().response_reader(model), None, Embeddings().row_response)
    carried = row_carried(rows[0])
    assert carried is not None
    ours = converter_out.convert_group(list(enumerate(legacy_rows)), Carried("a", 0, len(texts))).line["response"]["body"]
    assert ours == {**answer, "model": model}, (ours, answer)


def test_the_carried_value_of_a_part_round_trips_any_custom_id() -> None:
    for custom_id in ["a", "with:colons/and/slashes", "cix:0/2/:nested", "üñí", " ", "0"]:
        carried = f"cix:3/9/b64:{custom_id}"
        assert parse_carried(carried) == Carried(custom_id, 3, 9, "b64")
        assert parse_carried(carried_custom_id(custom_id)) == Carried(custom_id)
    assert parse_carried("cix:9/3/:x") is None  # an index past the count was not written here


# --- finalization: regrouped across prediction files, duplicates and lost ids --------------------------

def test_a_finished_embeddings_job_is_regrouped_across_files_whatever_vertex_echoes() -> None:
    from litellm_vertex_batch.core import ids as plugin_ids
    from litellm_vertex_batch.core.input_lines import ResolvedModel
    from litellm_vertex_batch.services.files import FileService
    from tests.unit.test_services import ALICE, SETTINGS, World, jsonl, run

    world = World()
    lines = [json.loads(line("whole", input=["w0", "w1", "w2"], dimensions=4)),
             json.loads(line("lost-ids", input=["l0", "l1"], dimensions=4)),
             json.loads(line("missing-part", input=["m0", "m1", "m2"], dimensions=4)),
             json.loads(line("single", input="s", dimensions=4)),
             json.loads(line("lost-failed", input=["lf0", "lf1 EMULATOR_FAIL"], dimensions=4))]
    files = FileService(world.store, SETTINGS, ALICE, resolve_model=lambda name: ResolvedModel(name))
    file_id = run(files.create(jsonl(lines), "in.jsonl", "batch"))["id"]
    service = world.batches()
    batch = run(service.create(file_id, "/v1/embeddings", "24h", None, None))
    name, job = next(iter(world.vertex.jobs.items()))
    assert job["modelParameters"] == {"outputDimensionality": 4}

    source = job["inputConfig"]["gcsSource"]["uris"][0].removeprefix(f"gs://{world.objects.bucket}/")
    found = world.objects.read_bytes(source)
    assert found is not None
    inputs = [json.loads(raw) for raw in found[0].splitlines()]
    out = [vertex_rows.embedding_output_row(row, LEGACY, parameters=job["modelParameters"]) for row in inputs]
    for row in out:
        if row["instance"]["content"].startswith(("l0", "l1", "lf")):
            del row["instance"]["custom_id"]  # matched by the instance it echoes instead
    out = [row for row in out if row["instance"]["content"] != "m1"]
    random.Random(7).shuffle(out)
    directory = job["outputConfig"]["gcsDestination"]["outputUriPrefix"] + "/prediction-model-1"
    prefix = directory.removeprefix(f"gs://{world.objects.bucket}/")
    world.objects.write_bytes(prefix + "/predictions_00001.jsonl", b"".join(json.dumps(r).encode() + b"\n"
                                                                            for r in out[:5]))
    world.objects.write_bytes(prefix + "/predictions_00002.jsonl", b"".join(json.dumps(r).encode() + b"\n"
                                                                            for r in out[3:]))  # 2 again
    job.update(state="JOB_STATE_SUCCEEDED", outputInfo={"gcsOutputDirectory": directory},
               endTime="2026-01-02T03:10:00Z")

    done, _ = run(service.retrieve_and_charge(batch["id"], lambda *a: _logged))
    assert done["request_counts"] == {"total": 5, "completed": 3, "failed": 2}

    def read(file_id: str) -> dict[str, dict[str, Any]]:
        data = world.objects.read_bytes(f"litellm-vertex-batch/files/{plugin_ids.parse_file_id(file_id)}")
        assert data is not None
        return {json.loads(r)["custom_id"]: json.loads(r) for r in data[0].splitlines()}

    answered, failed = read(done["output_file_id"]), read(done["error_file_id"])
    assert sorted(answered) == ["lost-ids", "single", "whole"] and sorted(failed) == ["lost-failed", "missing-part"]
    assert failed["lost-failed"]["response"]["body"]["error"]["message"].startswith("input[1]: ")
    whole = answered["whole"]["response"]["body"]["data"]
    assert [d["embedding"] for d in whole] == [vertex_rows._fake_vector(t, 4) for t in ("w0", "w1", "w2")]
    lost = answered["lost-ids"]["response"]["body"]["data"]
    assert [d["embedding"] for d in lost] == [vertex_rows._fake_vector(t, 4) for t in ("l0", "l1")]
    assert failed["missing-part"]["error"]["message"].startswith("1 of the 3 inputs of this request got no result")
    assert done["usage"]["input_tokens"] == 6  # one token per text of the three answered lines


async def _logged(charge_id: str) -> float:
    return 0.0
