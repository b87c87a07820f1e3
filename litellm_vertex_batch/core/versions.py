"""The LiteLLM releases this plugin is tested on, as ``pyproject.toml`` declares them (a unit test keeps the two
equal). Outside them the plugin stays inactive, unless the operator says to try (``ALLOW_UNTESTED_ENV``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

#: the oldest supported release, and the first release past the newest supported line
OLDEST = "1.103.0"
FIRST_UNSUPPORTED = "1.109"
#: the newest release CI runs the whole suite on (``.ci/constraints.txt`` pins it); 1.108.8 and later need packages
#: the project's package index does not carry
NEWEST_TESTED = "1.108.7"
REQUIREMENT = f"litellm[proxy]>={OLDEST},<{FIRST_UNSUPPORTED}"
ALLOW_UNTESTED_ENV = "LITELLM_VERTEX_BATCH_ALLOW_UNTESTED_LITELLM"


def release(version: str) -> tuple[int, ...] | None:
    """The numeric release of a version string (``1.108.7.post1`` -> (1, 108, 7)); None if it has none."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", version)
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def _padded(numbers: tuple[int, ...]) -> tuple[int, ...]:
    return numbers + (0,) * (3 - len(numbers))


def supported(version: str) -> bool:
    numbers = release(version)
    oldest, first_unsupported = release(OLDEST), release(FIRST_UNSUPPORTED)
    assert oldest and first_unsupported
    return numbers is not None and _padded(oldest) <= _padded(numbers) < _padded(first_unsupported)


def version_problem(version: str, environ: Mapping[str, str]) -> str | None:
    """Why the plugin must not start on LiteLLM ``version``, or None."""
    if supported(version):
        return None
    if environ.get(ALLOW_UNTESTED_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    return f"this release is outside the ones it is tested on (set {ALLOW_UNTESTED_ENV}=true to try it anyway)"
