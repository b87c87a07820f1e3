"""Start a stock LiteLLM proxy (``litellm --config ...``) as a subprocess against the stand-ins."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.stand_ins.gcs import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-stand-in-master-key"


class Proxy:
    def __init__(self, env: Mapping[str, str], config: Path = REPO_ROOT / "proxy_config.yaml",
                 extra_env: Mapping[str, str] | None = None, timeout: float = 90.0,
                 litellm_cli: Path | None = None) -> None:
        #: the ``litellm`` command to run: this venv's, or another venv's (another LiteLLM release)
        self.litellm_cli = litellm_cli or Path(sys.executable).with_name("litellm")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.timeout = timeout
        self.log_path = Path(tempfile.mkdtemp(prefix="litellm-proxy-")) / "proxy.log"
        self.env = {**os.environ, **env, "LITELLM_MASTER_KEY": MASTER_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                    "LITELLM_LOG": os.environ.get("LITELLM_LOG", "WARNING"), **(extra_env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Proxy:
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(self.litellm_cli), "--config", str(self.config), "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=REPO_ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"proxy exited with {self.process.returncode}:\n{self.log_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/health/liveliness", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"proxy not ready after {self.timeout}s:\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
