"""Start all stand-ins: fake-gcs-server, the Vertex emulator (subprocess) and a throwaway SA key.

``python -m tests.stand_ins.stack`` prints ``export K=V`` lines and runs until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.stand_ins.credentials import write_service_account
from tests.stand_ins.gcs import FakeGcs, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "emulator-project"
LOCATION = "us-central1"
BUCKET = "batch-bucket"
OTHER_BUCKET = "other-bucket"


class StandIns:
    """Context manager; ``.env`` holds the variables a client needs."""

    def __init__(self, pending_seconds: float = 0.5, running_seconds: float = 1.0, rows_per_file: int = 1000,
                 buckets: tuple[str, ...] = (BUCKET, OTHER_BUCKET), timeout: float = 15.0) -> None:
        self.options = {"pending_seconds": pending_seconds, "running_seconds": running_seconds,
                        "rows_per_file": rows_per_file}
        self.buckets, self.timeout = buckets, timeout
        self.gcs: FakeGcs | None = None
        self.process: subprocess.Popen | None = None
        self.tmpdir: str | None = None
        self.gcs_url = self.vertex_url = self.sa_path = ""
        self.env: dict[str, str] = {}

    def start(self) -> StandIns:
        """Start everything and wait until ready."""
        try:
            self.tmpdir = tempfile.mkdtemp(prefix="stand-ins-")
            self.gcs = FakeGcs(self.buckets)
            self.gcs_url = self.gcs.url
            port = free_port()
            self.vertex_url = f"http://127.0.0.1:{port}"
            self._log = open(Path(self.tmpdir) / "vertex-emulator.log", "wb")
            cmd = [sys.executable, "-m", "tests.stand_ins.vertex_emulator", "--host", "127.0.0.1",
                   "--port", str(port), "--gcs-endpoint", self.gcs_url,
                   "--pending-seconds", str(self.options["pending_seconds"]),
                   "--running-seconds", str(self.options["running_seconds"]),
                   "--rows-per-file", str(self.options["rows_per_file"])]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                                          os.environ.get("PYTHONPATH")]))}
            self.process = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=self._log, stderr=self._log)
            self.sa_path = write_service_account(f"{self.vertex_url}/token", PROJECT, self.tmpdir)
            self._wait_ready()
            self.env = {
                "STORAGE_EMULATOR_HOST": self.gcs_url, "VERTEXAI_API_BASE": self.vertex_url,
                "GOOGLE_APPLICATION_CREDENTIALS": self.sa_path, "GCS_PATH_SERVICE_ACCOUNT": self.sa_path,
                "GCS_BUCKET_NAME": BUCKET, "VERTEXAI_PROJECT": PROJECT, "VERTEXAI_LOCATION": LOCATION,
            }
            return self
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"vertex emulator exited: {self.log_text()}")
            try:
                if httpx.get(f"{self.vertex_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"vertex emulator not ready on {self.vertex_url}: {self.log_text()}")

    def log_text(self) -> str:
        """The emulator subprocess's output so far."""
        try:
            return (Path(self.tmpdir or "") / "vertex-emulator.log").read_text(errors="replace")
        except OSError:
            return ""

    def control(self, method: str, path: str, json: Any = None) -> Any:
        """Call the emulator's control API (``/_emulator/...``)."""
        resp = httpx.request(method, f"{self.vertex_url}/_emulator/{path.lstrip('/')}", json=json, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def configure(self, **kw: Any) -> dict:
        """Defaults for NEW jobs: pending_seconds, running_seconds, rows_per_file, partial_fraction, ..."""
        return self.control("POST", "config", kw)

    def inject_fault(self, path_regex: str, status: int | None = 503, method: str | None = None,
                     count: int = 1, delay_seconds: float = 0, message: str | None = None) -> dict:
        """The next ``count`` matching requests answer ``status`` (0 = drop connection, None = delay only)."""
        return self.control("POST", "faults", {"method": method, "path_regex": path_regex, "status": status,
                                               "count": count, "delay_seconds": delay_seconds,
                                               "message": message})

    def clear_faults(self) -> dict:
        return self.control("DELETE", "faults")

    def hold(self, job_id: str) -> dict:
        return self.control("POST", f"jobs/{job_id.rsplit('/', 1)[-1]}/hold")

    def release(self, job_id: str) -> dict:
        return self.control("POST", f"jobs/{job_id.rsplit('/', 1)[-1]}/release")

    def force_state(self, job_id: str, state: str, error: dict | None = None, write_output: bool = False) -> dict:
        return self.control("POST", f"jobs/{job_id.rsplit('/', 1)[-1]}/force_state",
                            {"state": state, "error": error, "write_output": write_output})

    def reset(self) -> dict:
        return self.control("POST", "reset")

    def stop(self) -> None:
        """Stop the emulator and fake-gcs-server and delete temp files."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if getattr(self, "_log", None) is not None and not self._log.closed:
            self._log.close()
        if self.gcs is not None:
            self.gcs.stop()
            self.gcs = None
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def __enter__(self) -> StandIns:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Start everything, print ``export`` lines, wait for Ctrl-C / SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with StandIns() as stack:
        for key, value in stack.env.items():
            print(f"export {key}={value}")
        print(f"# control API: {stack.vertex_url}/_emulator/  (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
