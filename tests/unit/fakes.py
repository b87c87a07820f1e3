"""In-process fakes for unit tests of the services: Vertex's batchPredictionJobs REST calls behind
``httpx.MockTransport``, writing predictions into the in-memory bucket. The project's emulator
(tests/stand_ins/) is the reference for Google's behaviour; this fake only answers what the services call."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from litellm_vertex_batch.cloud.memory import MemoryObjects

JOB = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/batchPredictionJobs/\d+)(:cancel)?$")
JOBS = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+)/batchPredictionJobs$")


def gemini_response(text: str, prompt_tokens: int = 10, output_tokens: int = 5) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
            "modelVersion": "gemini-2.5-flash-lite", "createTime": "2026-01-02T03:04:05Z",
            "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens,
                              "totalTokenCount": prompt_tokens + output_tokens}}


def _matches(job: dict[str, Any], wanted: str) -> bool:
    """The few AIP-160 terms the services send, joined by AND: ``labels.k=v``, ``labels.k:*``, ``create_time<"t"``."""
    for term in filter(None, (part.strip() for part in wanted.split(" AND "))):
        if term.startswith("create_time<"):
            if not job.get("createTime", "") < term.partition("<")[2].strip('"'):
                return False
            continue
        key, has, value = term.removeprefix("labels.").partition(":*")
        if has:
            if key not in job.get("labels", {}):
                return False
            continue
        key, _, value = term.removeprefix("labels.").partition("=")
        if job.get("labels", {}).get(key) != value:
            return False
    return True


class FakeVertex:
    """Jobs in memory; ``failures`` makes the next requests matching a (method, path regex) answer a status."""

    def __init__(self, objects: MemoryObjects) -> None:
        self.objects = objects
        self.jobs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.failures: list[tuple[str, str, int]] = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = urlsplit(str(request.url)).path
        self.requests.append((request.method, path))
        for index, (method, pattern, status) in enumerate(self.failures):
            if method == request.method and re.search(pattern, path):
                del self.failures[index]
                return httpx.Response(status, json={"error": {"code": status, "message": f"injected {status}",
                                                              "status": "UNAVAILABLE"}})
        if (match := JOBS.match(path)) and request.method == "POST":
            return self._create(match.group(1), json.loads(request.content))
        if (match := JOBS.match(path)) and request.method == "GET":
            wanted = parse_qs(urlsplit(str(request.url)).query).get("filter", [""])[0]
            found = [j for j in self.jobs.values() if j["name"].startswith(match.group(1)) and _matches(j, wanted)]
            return httpx.Response(200, json={"batchPredictionJobs": found} if found else {})
        if (match := JOB.match(path)) and request.method == "DELETE" and match.group(1) in self.jobs:
            del self.jobs[match.group(1)]
            return httpx.Response(200, json={"name": "operations/1", "done": True})
        if (match := JOB.match(path)) and match.group(1) in self.jobs:
            job = self.jobs[match.group(1)]
            if match.group(2):  # :cancel
                job["state"] = "JOB_STATE_CANCELLED"
                return httpx.Response(200, json={})
            return httpx.Response(200, json=job)
        return httpx.Response(404, json={"error": {"code": 404, "message": f"{path} not found",
                                                   "status": "NOT_FOUND"}})

    def _create(self, parent: str, spec: dict[str, Any]) -> httpx.Response:
        name = f"{parent}/batchPredictionJobs/{1000 + len(self.jobs)}"
        self.jobs[name] = {**spec, "name": name, "state": "JOB_STATE_PENDING", "createTime": "2026-01-02T03:00:00Z"}
        return httpx.Response(200, json=self.jobs[name])

    def finish(self, name: str, answer: Any = None, state: str = "JOB_STATE_SUCCEEDED") -> None:
        """Write one prediction row per input row (``answer(row)`` -> response dict, or a status string)."""
        job = self.jobs[name]
        bucket_prefix = f"gs://{self.objects.bucket}/"
        source = job["inputConfig"]["gcsSource"]["uris"][0].removeprefix(bucket_prefix)
        found = self.objects.read_bytes(source)
        assert found is not None, source
        out = []
        for raw in found[0].splitlines():
            row = json.loads(raw)
            result = answer(row) if answer else gemini_response("ok")
            if isinstance(result, str):
                out.append({**row, "status": result})
            else:
                out.append({**row, "status": "", "response": result})
        directory = job["outputConfig"]["gcsDestination"]["outputUriPrefix"] + "/prediction-model-1"
        self.objects.write_bytes(directory.removeprefix(bucket_prefix) + "/predictions.jsonl",
                                 b"".join(json.dumps(r).encode() + b"\n" for r in out))
        job.update(state=state, outputInfo={"gcsOutputDirectory": directory}, endTime="2026-01-02T03:10:00Z")
