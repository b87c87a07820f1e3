"""Test tenants without a database: LiteLLM's ``general_settings.custom_auth`` maps fixed keys to
``UserAPIKeyAuth`` objects with their own key hash, team and user. The master key stays a proxy admin."""

from __future__ import annotations

import os

from fastapi import HTTPException, Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth
from litellm.proxy.utils import hash_token

#: key -> (team_id, user_id, end_user_id, tags)
TENANTS = {
    "sk-tenant-alice": ("team-a", "alice", "customer-1", ["project:alpha"]),
    "sk-tenant-amy": ("team-a", "amy", None, []),
    "sk-tenant-bob": ("team-b", "bob", None, ["project:beta"]),
    "sk-tenant-carol": ("team-c", "carol", None, []),
}
#: keys allowed only some models (every other key may use all of them)
MODELS = {"sk-tenant-carol": ["gemini-2.5-flash-lite", "gpt-4o-mini-2024-07-18"]}


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    key = api_key.removeprefix("Bearer ").strip()
    if key == os.environ.get("LITELLM_MASTER_KEY"):
        return UserAPIKeyAuth(api_key=key, token=hash_token(key), user_role=LitellmUserRoles.PROXY_ADMIN,
                              user_id="admin")
    if key not in TENANTS:
        raise HTTPException(status_code=401, detail="unknown key")
    team_id, user_id, end_user_id, tags = TENANTS[key]
    return UserAPIKeyAuth(api_key=key, token=hash_token(key), team_id=team_id, user_id=user_id,
                          end_user_id=end_user_id, metadata={"tags": tags} if tags else {},
                          models=MODELS.get(key, []),
                          user_role=LitellmUserRoles.INTERNAL_USER)
