"""Unit tests: plain data in, plain data out. No fixtures here start a server or touch the network.

LiteLLM would otherwise fetch its model cost map from the internet at import time.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
