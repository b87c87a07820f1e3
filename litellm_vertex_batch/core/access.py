"""Who may see a file or batch. Pure; no I/O.

Every file and batch records its creator (key hash, team, user). The creator's key, a key of the same team
(unless ``team_access`` is off) and a proxy admin may read, download, cancel, delete and list it; to anyone
else it does not exist (404, never 403, so existence is not confirmed). A call with no proxy identity at all
(the plugin used as a library, outside the proxy) is trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Caller:
    key_hash: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    is_admin: bool = False
    #: proxy roles that see every object
    ADMIN_ROLES: ClassVar[frozenset[str]] = frozenset({"proxy_admin"})

    def owner_fields(self) -> dict[str, str]:
        """What is stored with an object this caller creates."""
        fields = {"owner_key_hash": self.key_hash, "owner_team_id": self.team_id, "owner_user_id": self.user_id}
        return {k: v for k, v in fields.items() if v}


def may_access(owner: Mapping[str, Any], caller: Caller, team_access: bool = True) -> bool:
    """Whether ``caller`` may see an object whose stored owner fields are ``owner``."""
    if caller.is_admin:
        return True
    owner_key = owner.get("owner_key_hash")
    if owner_key and owner_key == caller.key_hash:
        return True
    owner_team = owner.get("owner_team_id")
    return bool(team_access and owner_team and owner_team == caller.team_id)
