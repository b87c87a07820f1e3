"""litellm-vertex-batch: the OpenAI Files and Batches APIs on Vertex AI batch prediction, for a stock
LiteLLM proxy. Name ``litellm_vertex_batch.plugin`` under ``litellm_settings.callbacks`` in
proxy_config.yaml; importing this package installs the routing (see ``edge/install.py``). The rooms are
described in the README's Development section: ``edge/`` (the LiteLLM edge), ``services/``, ``adapters/``, ``cloud/``,
``core/``.
"""

from __future__ import annotations

from typing import Any

from .core.errors import ConfigurationError, InvalidRequest, NotFound, TransientError, UpstreamError, VertexBatchError

__all__ = ["plugin", "VertexBatchCallback", "VertexBatchError", "InvalidRequest", "NotFound",
           "ConfigurationError", "UpstreamError", "TransientError"]
__version__ = "0.1.0"

plugin: Any
try:
    from .edge.callback import VertexBatchCallback
except Exception as exc:  # a LiteLLM without the internals the plugin's modules import: start the proxy anyway
    from .edge.inactive import inactive_plugin

    VertexBatchCallback = None  # type: ignore[assignment,misc]
    plugin = inactive_plugin(exc)
else:
    #: The instance proxy_config.yaml names; importing it installs the plugin (idempotent).
    plugin = VertexBatchCallback()
    plugin.install()
