"""The Vertex-native guide (batch-prediction-jobs-guide.md) against the demo setup: its curl commands, with only
the host and the key changed, run with the real ``curl`` and printed with their answers.

The proxy is started from the repo's proxy_config.yaml plus what the guide's step 1 and this plugin's operator
settings add: the guide's ``model_list`` entry (``gemini-1.5-flash`` in ``your-project``) and
``native_storage: ["gs://my-bucket/"]`` (where keys may have the gateway read and write). ``my-bucket`` holds
the guide's ``input.jsonl``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from tests.stand_ins.proxy import MASTER_KEY, REPO_ROOT, Proxy
from tests.stand_ins.stack import StandIns

GUIDE_BUCKET = "my-bucket"
GUIDE_ROWS = [{"request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}
              for text in ("Why is the sky blue?", "Name three primary colors.")]
CREATE = """curl -X POST "http://localhost:4000/v1/projects/your-project/locations/us-central1/batchPredictionJobs" \\
  -H "Authorization: Bearer your-api-key" \\
  -H "Content-Type: application/json" \\
  -d '{
    "displayName": "my-batch-job",
    "model": "projects/your-project/locations/us-central1/publishers/google/models/gemini-1.5-flash",
    "inputConfig": {
      "gcsSource": {
        "uris": ["gs://my-bucket/input.jsonl"]
      },
      "instancesFormat": "jsonl"
    },
    "outputConfig": {
      "gcsDestination": {
        "outputUriPrefix": "gs://my-bucket/output/"
      },
      "predictionsFormat": "jsonl"
    }
  }'"""
MONITOR = """curl -X GET "http://localhost:4000/v1/projects/your-project/locations/us-central1/batchPredictionJobs/job-id" \\
  -H "Authorization: Bearer your-api-key\""""
LIST = """curl -X GET "http://localhost:4000/v1/projects/your-project/locations/us-central1/batchPredictionJobs" \\
  -H "Authorization: Bearer your-api-key\""""
CANCEL = """curl -X POST "http://localhost:4000/v1/projects/your-project/locations/us-central1/batchPredictionJobs/job-id:cancel" \\
  -H "Authorization: Bearer your-api-key\""""


def demo_config(stand_ins: StandIns, directory: Path) -> Path:
    config = yaml.safe_load((REPO_ROOT / "proxy_config.yaml").read_text())
    config["model_list"].append({"model_name": "gemini-1.5-flash", "litellm_params": {  # the guide's step 1
        "model": "vertex_ai/gemini-1.5-flash", "vertex_project": "your-project", "vertex_location": "us-central1",
        "vertex_credentials": stand_ins.sa_path}})
    config["files_settings"][0]["native_storage"] = [f"gs://{GUIDE_BUCKET}/"]
    path = directory / "proxy_config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def curl(command: str, proxy: Proxy, job_id: str | None = None) -> dict:
    """Run the guide's command with only the host, the key (and a job's id) changed; print it and the answer."""
    command = command.replace("http://localhost:4000", proxy.url).replace("your-api-key", MASTER_KEY)
    if job_id:
        command = command.replace("job-id", job_id)
    shown = command.replace(MASTER_KEY, "$LITELLM_KEY").replace(proxy.url, "http://localhost:4000")
    print(f"$ {shown}")
    done = subprocess.run(["bash", "-c", command + " -sS"], capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout or "{}")
    print(json.dumps(answer, indent=2)[:1500] + "\n")
    return answer


def run_guide(stand_ins: StandIns, proxy: Proxy) -> None:
    from tests.conftest import gcs_bucket

    gcs_bucket(stand_ins, GUIDE_BUCKET).blob("input.jsonl").upload_from_string(
        "\n".join(json.dumps(row) for row in GUIDE_ROWS) + "\n")
    created = curl(CREATE, proxy)
    job_id = created["name"].rsplit("/", 1)[-1]
    for _ in range(60):
        job = json.loads(subprocess.run(
            ["bash", "-c", MONITOR.replace("http://localhost:4000", proxy.url).replace("your-api-key", MASTER_KEY)
             .replace("job-id", job_id) + " -sS"], capture_output=True, text=True, check=True).stdout)
        if job.get("state") in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"):
            break
        time.sleep(0.5)
    curl(MONITOR, proxy, job_id)
    curl(LIST, proxy)
    second = json.loads(subprocess.run(["bash", "-c", CREATE.replace("http://localhost:4000", proxy.url)
                                        .replace("your-api-key", MASTER_KEY) + " -sS"],
                                       capture_output=True, text=True, check=True).stdout)
    curl(CANCEL, proxy, second["name"].rsplit("/", 1)[-1])


def main() -> None:
    print("Starting fake-gcs-server and the Vertex AI emulator ...", flush=True)
    with StandIns(buckets=("batch-bucket", "other-bucket", GUIDE_BUCKET)) as stand_ins, \
            tempfile.TemporaryDirectory() as tmp:
        with Proxy(stand_ins.env, config=demo_config(stand_ins, Path(tmp))) as proxy:
            print(f"Proxy ready at {proxy.url}\n", flush=True)
            run_guide(stand_ins, proxy)


if __name__ == "__main__":
    main()
