"""The rules of Vertex-native jobs through the gateway (pure) and the input check (against an in-memory bucket)."""

from __future__ import annotations

import json

import pytest

from litellm_vertex_batch.cloud.memory import MemoryObjects
from litellm_vertex_batch.core import native
from litellm_vertex_batch.core.access import Caller
from litellm_vertex_batch.services.native_preflight import input_problems, wildcard_pattern

ALICE = Caller(key_hash="hash-alice", team_id="team-a", user_id="alice")
LONER = Caller(key_hash="hash-loner")
ADMIN = Caller(is_admin=True)


@pytest.mark.parametrize(("ref", "parts"), [
    ("projects/p/locations/l/publishers/google/models/gemini-2.5-flash", ("p", "l", "gemini-2.5-flash")),
    ("publishers/google/models/text-embedding-005@001", (None, None, "text-embedding-005@001")),
    ("gemini-2.5-flash", (None, None, "gemini-2.5-flash")),
    ("projects/p/locations/l/models/123", None), ("publishers/meta/models/llama", None), ("", None), (3, None)])
def test_model_references(ref, parts):
    assert native.model_parts(ref) == parts


def test_owner_labels_are_valid_vertex_label_values_and_decide_visibility():
    labels = native.owner_labels(ALICE)
    assert set(labels) == {native.OWNER_LABEL, native.TEAM_LABEL}
    assert all(len(v) <= 63 and v == v.lower() and v.isalnum() for v in labels.values())
    job = {"labels": {**labels, "env": "x"}}
    assert native.may_see(job, ALICE, team_access=True)
    teammate = Caller(key_hash="hash-amy", team_id="team-a")
    assert native.may_see(job, teammate, team_access=True) and not native.may_see(job, teammate, team_access=False)
    assert not native.may_see(job, LONER, True) and native.may_see(job, ADMIN, False)
    assert not native.may_see({"labels": None}, ALICE, True) and not native.may_see({}, LONER, True)


def test_list_filters_are_narrowed_never_widened():
    own = native.visibility_filter(ALICE, team_access=True)
    assert own == f'labels.litellm_team="{native.label_value("team-a")}"'
    assert native.visibility_filter(ALICE, team_access=False) == \
        f'labels.litellm_owner="{native.label_value("hash-alice")}"'
    assert native.visibility_filter(ADMIN, True) is None
    assert native.combined_filter('a=1 OR b=2', own) == f"(a=1 OR b=2) AND {own}"
    assert native.combined_filter(None, own) == own and native.combined_filter(" x=1 ", None) == "x=1"


def test_reserved_labels_are_refused():
    assert native.labels_problem({"env": "x"}) is None and native.labels_problem(None) is None
    assert "litellm_owner" in (native.labels_problem({"litellm_owner": "x"}) or "")
    assert native.labels_problem(["x"])


def test_storage_patterns_fill_placeholders_and_skip_what_does_not_apply():
    entries = ["gs://b/native/{team_id}/", "gs://b/keys/{key_alias}", "gs://b/shared", "not-a-uri"]
    assert native.storage_patterns(entries, ALICE, "alice key/1") == [
        "gs://b/native/team-a/", "gs://b/keys/alice_key_1/", "gs://b/shared/"]
    assert native.storage_patterns(entries, LONER, None) == ["gs://b/shared/"]


@pytest.mark.parametrize(("uri", "allowed"), [
    ("gs://b/native/team-a/in.jsonl", True), ("gs://b/native/team-a/dir/*.jsonl", True),
    ("gs://b/native/team-a", True), ("gs://b/native/team-ab/in.jsonl", False), ("gs://b/native/team-*", False),
    ("gs://b/native/team-a*", False), ("gs://b/native/team-a/../team-b/x", False),
    ("gs://b/native/team-a/./x", False), ("gs://b/plugin/files/x", False), ("gs://b/", False),
    ("gs://c/native/team-a/x", False), ("https://b/native/team-a/x", False), ("gs://", False), (None, False)])
def test_storage_problems(uri, allowed):
    problem = native.storage_problem(uri, ["gs://b/native/team-a/"], ["gs://b/plugin/"])
    assert (problem is None) is allowed, problem


@pytest.mark.parametrize("uri", ["gs://b/plugin/x", "gs://b/**", "gs://b/pl*", "gs://b/"])
def test_allowing_a_whole_bucket_still_never_exposes_the_plugins_prefix(uri):
    problem = native.storage_problem(uri, ["gs://b/"], ["gs://b/plugin/"])
    assert problem is not None and "own storage" in problem


def test_job_storage_takes_cloud_storage_only():
    body = {"inputConfig": {"gcsSource": {"uris": ["gs://b/x"]}}, "outputConfig": {"gcsDestination": {
        "outputUriPrefix": "gs://b/o/"}}}
    assert native.job_storage(body) == (["gs://b/x"], "gs://b/o/", None)
    assert native.job_storage({"inputConfig": {"bigquerySource": {}}})[2]
    assert native.job_storage({"inputConfig": {"gcsSource": {"uris": []}}})[2]
    assert native.job_storage({"inputConfig": {"gcsSource": {"uris": ["gs://b/x"]}}})[2]


def test_wildcards_follow_cloud_storage():
    assert wildcard_pattern("dir/*.jsonl").fullmatch("dir/a.jsonl")
    assert not wildcard_pattern("dir/*.jsonl").fullmatch("dir/sub/a.jsonl")
    assert wildcard_pattern("dir/**.jsonl").fullmatch("dir/sub/a.jsonl")
    assert wildcard_pattern("f?.txt").fullmatch("f1.txt") and not wildcard_pattern("f?.txt").fullmatch("f12.txt")


def test_preflight_names_file_line_and_reason_across_wildcard_matches():
    bucket = MemoryObjects("in")
    good = json.dumps({"request": {"contents": [{"parts": [{"text": "x"}]}]}}).encode()
    bucket.write_bytes("d/a.jsonl", good + b"\n\n" + good + b"\n")
    bucket.write_bytes("d/b.jsonl", good + b"\n[1]\n" + json.dumps({"request": {"contents": 5}}).encode() + b"\n")
    bucket.write_bytes("d/sub/c.jsonl", b"{broken\n")
    problems = input_problems(lambda name: bucket, ["gs://in/d/*.jsonl"])
    assert problems == ["gs://in/d/b.jsonl line 2: must be a JSON object",
                        "gs://in/d/b.jsonl line 3: request.contents is a number here but an array on line 1 "
                        "(Vertex needs one type per field across the file)"]
    assert input_problems(lambda name: bucket, ["gs://in/d/**.jsonl"])[-1] == \
        "gs://in/d/sub/c.jsonl line 1: not valid JSON (Expecting property name enclosed in double quotes at column 2)"
    assert input_problems(lambda name: bucket, ["gs://in/none/*.jsonl"]) == ["gs://in/none/*.jsonl: no such object"]
    assert input_problems(lambda name: bucket, ["gs://in/d/a.jsonl"]) == []
