"""``.venv/bin/python -m benchmarks [--n N] [--line-bytes B] [--no-proxy] [--by-worker]``: the table.

Generates the data (deterministic, cached per size under ``.bench-data/``), runs every in-process case in its own
process (``transforms.py``: this plugin, LiteLLM's built-in Vertex batch code, the orjson floor, same data, same
run), then the through-the-proxy figures (``proxy.py``; ``files.create`` also through a stock proxy without the plugin,
LiteLLM's built-in Vertex files code), and prints ratios: these machines are noisy, ratios
measured side by side are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _data(n: int, line_bytes: int) -> Path:
    directory = REPO / ".bench-data" / f"n{n}-b{line_bytes}"
    if not (directory / "predictions.jsonl").exists():
        print(f"generating {n} lines of ~{line_bytes} bytes in {directory} ...", flush=True)
        subprocess.run([sys.executable, "-c", "import sys, logging; logging.disable(logging.WARNING); "
                        "from pathlib import Path; from benchmarks import data; "
                        "data.write(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))",
                        str(directory), str(n), str(line_bytes)], check=True, cwd=REPO,
                       env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    return directory


def _case(case: str, directory: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.transforms", case, str(directory)], check=True,
                         cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ms(figures: Any) -> str:
    return " / ".join(f"{value:,.0f}" for value in figures) if figures else "-"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--n", type=int, default=20_000, help="requests (200,000 of ~5,000 bytes make ~1 GB)")
    parser.add_argument("--line-bytes", type=int, default=1500)
    parser.add_argument("--no-proxy", action="store_true", help="only the in-process transforms")
    parser.add_argument("--by-worker", action="store_true",
                        help="the background worker rewrites the output (nobody retrieves); else retrieves do")
    args = parser.parse_args()
    directory = _data(args.n, args.line_bytes)
    sizes = {name: (directory / name).stat().st_size / 1e6 for name in ("input.jsonl", "predictions.jsonl")}
    print(f"\n{args.n:,} chat requests, {sizes['input.jsonl']:,.0f} MB in, {sizes['predictions.jsonl']:,.0f} MB "
          f"of predictions; {os.cpu_count()} cores\n")
    results = {case: _case(case, directory) for case in (
        "input-plugin", "input-builtin", "input-floor", "output-plugin", "output-builtin", "output-floor")}
    rate = {case: r["rows"] / r["seconds"] for case, r in results.items()}
    print("| step (in-process) | this plugin | LiteLLM built-in | orjson floor | plugin / built-in | "
          "floor / plugin | plugin peak memory growth* |")
    print("|---|---|---|---|---|---|---|")
    for step, label in (("input", "input transform with validation"), ("output", "output rewrite")):
        plugin, builtin, floor = rate[f"{step}-plugin"], rate[f"{step}-builtin"], rate[f"{step}-floor"]
        print(f"| {label} | {plugin:,.0f} rows/s | {builtin:,.0f} rows/s | {floor:,.0f} rows/s | "
              f"{plugin / builtin:.1f}x | {floor / plugin:.1f}x | "
              f"{results[f'{step}-plugin']['peak_growth_mib']:.0f} MiB |")
    print("\n*in-process: the output case keeps its bucket in memory (predictions and output files count here); "
          "the proxy's own figure is below")
    if args.no_proxy:
        return
    from benchmarks import proxy

    found = proxy.run(directory, by_worker=args.by_worker)
    builtin_upload = proxy.builtin_upload(directory)
    builtin_content = results["output-builtin"]["seconds"]
    print("\n| through the proxy | figure |\n|---|---|")
    print(f"| files.create of {args.n:,} | {found['upload_seconds']:.1f} s (LiteLLM's built-in Vertex files code "
          f"through a stock proxy, same input, same stand-in: {builtin_upload:.1f} s; ratio "
          f"{found['upload_seconds'] / builtin_upload:.2f}) |")
    finalize = found["finalize_seconds"]
    who = "by the background worker, nobody retrieving" if args.by_worker else "by retrieves"
    print(f"| Vertex job end -> completed ({who}) | {finalize:.1f} s (LiteLLM's built-in rewrite of the same output, "
          f"in-process, a lower bound of its files.content: {builtin_content:.1f} s; ratio "
          f"{finalize / builtin_content:.2f}) |")
    print(f"| batch | {found['status']}, {found['counts']} |")
    print(f"| proxy peak RSS growth (upload + rewrite) | {found['proxy_peak_growth_mib']:.0f} MiB |")
    workers = " / ".join(f"{peak:.0f}" for peak in found["worker_peaks_mib"]) or "-"
    print(f"| worker processes' peak RSS (each, LiteLLM loaded) | {workers} MiB |")
    print(f"| batches.list of 100 unfinished batches, each Vertex read 0.5 s late | {found['list_seconds']:.1f} s "
          f"({found['listed']} listed) |")
    for phase in ("idle", "upload", "finalize"):
        print(f"| /health/liveliness p50 / p99 / max, {phase} | {_ms(found['liveliness'][phase])} ms |")
    for phase in ("idle", "upload", "finalize"):
        print(f"| mock_response chat completion p50 / p99 / max, {phase} | {_ms(found['chat'][phase])} ms |")


if __name__ == "__main__":
    main()
