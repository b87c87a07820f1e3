"""An audit of every object under a plugin prefix: what a quiet bucket may hold, and what is left behind.

The plugin's layout (``core/layout.py``) ties every object to a file or a batch token. In a bucket nobody is
writing to, each object must be owned: rows by their file, a batch's copy and results by its record, and no claim,
lease or upload marker may outlive the work it guarded. ``orphans`` lists the objects that break that, with why.
Pure: it reads object names only.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable

_TOKEN = r"(?P<token>[0-9a-z]+)"
#: kind -> (pattern of the name after the prefix, what must exist beside it, or None when it stands alone)
RULES: dict[str, tuple[re.Pattern[str], str | None]] = {
    "files": (re.compile(rf"files/{_TOKEN}"), None),
    "vertex-input": (re.compile(rf"vertex-input/{_TOKEN}\.jsonl"), "files/{token}"),
    "batches": (re.compile(rf"batches/{_TOKEN}\.json"), None),
    "batch-input": (re.compile(rf"batch-input/{_TOKEN}\.jsonl"), "batches/{token}.json"),
    "vertex-output": (re.compile(rf"vertex-output/{_TOKEN}/.+"), "batches/{token}.json"),
    "batch-results": (re.compile(rf"batch-results/{_TOKEN}\.json"), "batches/{token}.json"),
    "charges": (re.compile(rf"charges/{_TOKEN}\.json"), "batches/{token}.json"),
    "open": (re.compile(rf"open/{_TOKEN}\.json"), "batches/{token}.json"),
    "deleted": (re.compile(rf"deleted/{_TOKEN}\.json"), None),
}
#: what guards work in flight: in a quiet bucket there is none
TRANSIENT = (re.compile(r"uploads/.+"), re.compile(r"locks/(passthrough-.+|[0-9a-z]+)\.(finalize|charge)"))
#: what stands alone on purpose: the worker's lease and backfill mark, the expiry index, the webhook outbox, and
#: the records of Vertex-native jobs (their creator and charge, keyed by the job)
KEPT = (re.compile(r"locks/worker\..+"), re.compile(r"open/_backfilled"), re.compile(r"expiry/.+"),
        re.compile(r"webhooks/.+"), re.compile(r"open-native/.+"), re.compile(r"passthrough/.+"))


def orphans(names: Iterable[str], prefix: str) -> list[str]:
    """Objects under ``prefix`` that nothing owns any more, each with the reason (empty: the bucket is clean)."""
    inside = {name[len(prefix):] for name in names if name.startswith(prefix)}
    found = []
    for name in sorted(inside):
        if any(p.fullmatch(name) for p in KEPT):
            continue
        if any(p.fullmatch(name) for p in TRANSIENT):
            found.append(f"{prefix}{name}: a claim or upload marker outlived its work")
            continue
        kind = name.split("/", 1)[0]
        rule = RULES.get(kind)
        match = rule[0].fullmatch(name) if rule else None
        if rule is None or match is None:
            found.append(f"{prefix}{name}: not an object of the plugin's layout")
            continue
        owner = rule[1]
        if owner and owner.format(token=match.group("token")) not in inside:
            found.append(f"{prefix}{name}: its {owner.split('/')[0]} object is gone")
    return found


def counts(names: Iterable[str], prefix: str) -> dict[str, int]:
    """Objects under ``prefix`` by kind (the first path segment), for reports."""
    return dict(sorted(collections.Counter(n[len(prefix):].split("/", 1)[0] for n in names
                                           if n.startswith(prefix)).items()))
