"""Two teams on one gateway, one service account, one bucket: through stock proxies with test tenants
(``custom_auth``: alice and amy in team-a, bob in team-b; the master key is a proxy admin)."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import PROVIDER, chat_line, create_batch, gcs_bucket, make_client, read_jsonl, upload, wait_done
from tests.stand_ins.proxy import Proxy


@pytest.fixture(scope="module")
def tenants(proxy_b):
    clients = {name: make_client(proxy_b, f"sk-tenant-{name}") for name in ("alice", "amy", "bob")}
    return clients | {"admin": make_client(proxy_b)}  # the master key


@pytest.fixture(scope="module")
def alices_batch(tenants):
    alice = tenants["alice"]
    file = upload(alice, [chat_line("a1", "alice one"), chat_line("a2", "alice two")], name="alice.jsonl")
    batch = wait_done(alice, create_batch(alice, file.id).id)
    assert batch.status == "completed"
    return file, batch


def object_names(stand_ins) -> set[str]:
    return {b.name for b in gcs_bucket(stand_ins).list_blobs(prefix="litellm-vertex-batch/")}


def test_other_team_gets_404_everywhere_and_nothing_changes(stand_ins, proxy_b, tenants, alices_batch):
    file, batch = alices_batch
    bob = tenants["bob"]
    before = object_names(stand_ins)
    for call in (lambda: bob.files.retrieve(file.id, extra_headers=PROVIDER),
                 lambda: bob.files.content(file.id, extra_headers=PROVIDER),
                 lambda: bob.files.content(batch.output_file_id, extra_headers=PROVIDER),
                 lambda: bob.files.delete(file.id, extra_headers=PROVIDER),
                 lambda: bob.files.delete(batch.output_file_id, extra_headers=PROVIDER),
                 lambda: bob.batches.retrieve(batch.id, extra_headers=PROVIDER),
                 lambda: bob.batches.cancel(batch.id, extra_headers=PROVIDER),
                 lambda: create_batch(bob, file.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert object_names(stand_ins) == before  # bob's attempts wrote and deleted nothing
    # 404, not 403, with the same text as for an id that never existed
    response = httpx.get(f"{proxy_b.url}/v1/files/{file.id}",
                         headers={"Authorization": "Bearer sk-tenant-bob", **PROVIDER})
    assert response.status_code == 404 and "No such file" in response.text


def test_lists_show_only_the_callers_objects(tenants, alices_batch):
    file, batch = alices_batch
    bob = tenants["bob"]
    bobs_file = upload(bob, [chat_line("b1", "bob one")], name="bob.jsonl")
    bobs_batch = create_batch(bob, bobs_file.id)
    bob_files = {f.id for f in bob.files.list(extra_headers=PROVIDER)}
    bob_batches = {b.id for b in bob.batches.list(extra_headers=PROVIDER, limit=100)}
    assert bobs_file.id in bob_files and file.id not in bob_files and batch.output_file_id not in bob_files
    assert bobs_batch.id in bob_batches and batch.id not in bob_batches
    alice_files = {f.id for f in tenants["alice"].files.list(extra_headers=PROVIDER)}
    assert file.id in alice_files and batch.output_file_id in alice_files and bobs_file.id not in alice_files
    admin_files = {f.id for f in tenants["admin"].files.list(extra_headers=PROVIDER)}
    admin_batches = {b.id for b in tenants["admin"].batches.list(extra_headers=PROVIDER, limit=100)}
    assert {file.id, bobs_file.id} <= admin_files and {batch.id, bobs_batch.id} <= admin_batches
    wait_done(bob, bobs_batch.id)


def test_same_team_and_admin_may_use_it(tenants, alices_batch):
    file, batch = alices_batch
    for name in ("amy", "admin"):
        client = tenants[name]
        assert client.files.retrieve(file.id, extra_headers=PROVIDER).id == file.id
        assert client.batches.retrieve(batch.id, extra_headers=PROVIDER).status == "completed"
        assert {r["custom_id"] for r in read_jsonl(client, batch.output_file_id)} == {"a1", "a2"}
    amys = create_batch(tenants["amy"], file.id)  # a teammate's input file may be used
    assert wait_done(tenants["amy"], amys.id).status == "completed"
    with pytest.raises(openai.NotFoundError):
        tenants["bob"].batches.retrieve(amys.id, extra_headers=PROVIDER)


@pytest.fixture(scope="module")
def key_only_proxy(stand_ins, replica_config: Path, spy_log):
    """A replica with team access off: only the creating key (and admins) may use an object."""
    with Proxy(stand_ins.env, config=replica_config,
               extra_env={"LITELLM_VERTEX_BATCH_TEAM_ACCESS": "false", "SPY_LOG_PATH": str(spy_log),
                          "PYTHONPATH": str(Path(__file__).resolve().parents[1])}) as running:
        yield running


def test_team_access_can_be_turned_off(key_only_proxy, alices_batch):
    file, batch = alices_batch
    amy = make_client(key_only_proxy, "sk-tenant-amy")
    alice = make_client(key_only_proxy, "sk-tenant-alice")
    with pytest.raises(openai.NotFoundError):
        amy.files.retrieve(file.id, extra_headers=PROVIDER)
    with pytest.raises(openai.NotFoundError):
        amy.batches.retrieve(batch.id, extra_headers=PROVIDER)
    assert file.id not in {f.id for f in amy.files.list(extra_headers=PROVIDER)}
    assert alice.batches.retrieve(batch.id, extra_headers=PROVIDER).status == "completed"


def test_team_access_cannot_be_turned_on_by_a_request(key_only_proxy, alices_batch):
    """``team_access`` as a body field, query parameter or header does not widen access on a gateway that has it off."""
    file, batch = alices_batch
    amy = make_client(key_only_proxy, "sk-tenant-amy")
    for options in ({"extra_query": {"team_access": "true"}}, {"extra_headers": {**PROVIDER, "team_access": "true"}}):
        options.setdefault("extra_headers", PROVIDER)
        with pytest.raises((openai.NotFoundError, openai.BadRequestError)):
            amy.files.retrieve(file.id, **options)
        with pytest.raises((openai.NotFoundError, openai.BadRequestError)):
            amy.batches.retrieve(batch.id, **options)
    with pytest.raises((openai.NotFoundError, openai.BadRequestError)):
        create_batch(amy, file.id, extra_body={"team_access": True})
