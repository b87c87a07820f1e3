"""The plugin as a library, without a proxy: litellm's sync and async Files/Batches calls both work."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.stand_ins.proxy import REPO_ROOT


def test_sync_and_async_library_calls_run_the_workflow(stand_ins):
    env = {**os.environ, **stand_ins.env, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "tests.library.batch_workflow"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and results, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result = json.loads(results[-1].removeprefix("RESULT "))
    assert result["proxy_imported"] is False
    assert result["sync"] == {"status": "completed", "rows": ["lib-0", "lib-1"], "listed": True, "deleted": True}
    assert result["async"] == {"status": "completed", "sync_inside_a_loop": "completed", "rows": ["lib-0", "lib-1"]}
    assert result["other"] and "vertex_batch" not in result["other"], "another provider got LiteLLM's own function"
