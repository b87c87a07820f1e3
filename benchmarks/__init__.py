"""Benchmarks: this plugin beside LiteLLM's built-in Vertex batch code and the orjson floor (``python -m
benchmarks``)."""
