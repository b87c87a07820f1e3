"""Who may see an object: creator's key, its team (unless team access is off), proxy admins."""

from __future__ import annotations

import pytest
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

from litellm_vertex_batch.core.access import Caller, may_access
from litellm_vertex_batch.edge.call_context import caller_from

ALICE = Caller(key_hash="h-alice", team_id="team-a", user_id="alice")
AMY = Caller(key_hash="h-amy", team_id="team-a", user_id="amy")
BOB = Caller(key_hash="h-bob", team_id="team-b", user_id="bob")
LONER = Caller(key_hash="h-loner")
ADMIN = Caller(key_hash="h-admin", is_admin=True)


@pytest.mark.parametrize("caller, team_access, allowed", [
    (ALICE, True, True), (ALICE, False, True), (AMY, True, True), (AMY, False, False),
    (BOB, True, False), (BOB, False, False), (LONER, True, False), (ADMIN, True, True), (ADMIN, False, True)])
def test_may_access_alices_object(caller, team_access, allowed):
    assert may_access(ALICE.owner_fields(), caller, team_access) is allowed


def test_no_team_never_matches_no_team():
    assert not may_access(LONER.owner_fields(), Caller(key_hash="h-other"), True)
    assert not may_access({}, Caller(key_hash="h-other"), True)  # an object with no owner: admins only
    assert may_access({}, ADMIN, False)


def test_caller_from_proxy_metadata():
    auth = UserAPIKeyAuth(api_key="k", user_role=LitellmUserRoles.PROXY_ADMIN)
    admin = caller_from({"litellm_metadata": {"user_api_key_hash": "h", "user_api_key_auth": auth}})
    assert admin.is_admin and admin.key_hash == "h"
    user = caller_from({"litellm_metadata": {
        "user_api_key_hash": "h2", "user_api_key_team_id": "t", "user_api_key_user_id": "u",
        "user_api_key_auth": UserAPIKeyAuth(api_key="k2", user_role=LitellmUserRoles.INTERNAL_USER)}})
    assert user == Caller(key_hash="h2", team_id="t", user_id="u", is_admin=False)
    assert user.owner_fields() == {"owner_key_hash": "h2", "owner_team_id": "t", "owner_user_id": "u"}


def test_library_use_without_proxy_identity_is_trusted():
    assert caller_from({}).is_admin
