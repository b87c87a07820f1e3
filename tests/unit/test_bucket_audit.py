"""The bucket audit the crash tests end with: owned objects pass, leftovers are named with the reason."""

from tests.bucket_audit import counts, orphans

P = "faults/"


def test_a_clean_bucket_has_no_orphans() -> None:
    names = [f"{P}files/aa", f"{P}vertex-input/aa.jsonl", f"{P}batches/bb.json", f"{P}batch-input/bb.jsonl",
             f"{P}vertex-output/bb/prediction-model-1/predictions.jsonl", f"{P}batch-results/bb.json",
             f"{P}charges/bb.json", f"{P}open/bb.json", f"{P}deleted/cc.json", f"{P}locks/worker.sweep",
             f"{P}open/_backfilled", f"{P}expiry/000000000001-file-aa.json", f"{P}passthrough/p--l--1.charged.json",
             "other-prefix/uploads/zz.json"]
    assert orphans(names, P) == []
    assert counts(names, P)["vertex-output"] == 1 and "other-prefix" not in counts(names, P)


def test_leftovers_are_named_with_the_reason() -> None:
    names = [f"{P}vertex-input/aa.jsonl", f"{P}uploads/aa.json", f"{P}locks/bb.finalize", f"{P}batch-input/bb.jsonl",
             f"{P}charges/cc.json", f"{P}stray.txt", f"{P}locks/passthrough-p--l--1.charge"]
    assert orphans(names, P) == [
        f"{P}batch-input/bb.jsonl: its batches object is gone",
        f"{P}charges/cc.json: its batches object is gone",
        f"{P}locks/bb.finalize: a claim or upload marker outlived its work",
        f"{P}locks/passthrough-p--l--1.charge: a claim or upload marker outlived its work",
        f"{P}stray.txt: not an object of the plugin's layout",
        f"{P}uploads/aa.json: a claim or upload marker outlived its work",
        f"{P}vertex-input/aa.jsonl: its files object is gone",
    ]
