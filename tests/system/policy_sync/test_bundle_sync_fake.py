"""BundleSync's bookkeeping with a fake etcd source and synthetic OPA status reports (no I/O)."""

from __future__ import annotations

import io
import tarfile

from system.policy_sync.bundle import NAME, Bundle
from system.policy_sync.bundle_sync import BundleSync
from system.policy_sync.source import Batch, Entry, Event


class FakeSource:
    def __init__(self, revision: int, entries: dict[str, str]) -> None:
        self.revision, self.entries = revision, entries

    def snapshot(self):
        return self.revision, {pid: Entry(v, self.revision) for pid, v in self.entries.items()}


def report(etag: str | None, errors: list[tuple[str, str]] = ()) -> dict:
    status = {"active_revision": etag}
    if errors:
        status |= {"code": "bundle_error", "message": "load failed",
                   "errors": [{"code": "rego_parse_error", "message": m, "location": {"file": f, "row": 1}}
                              for f, m in errors]}
    return {"bundles": {NAME: status}}


def synced(entries: dict[str, str], revision: int = 10) -> BundleSync:
    sync = BundleSync(lambda: None)
    sync.resync(FakeSource(revision, entries))
    offered = sync.board.current
    sync.fetched(offered.etag)
    sync.on_status(report(offered.etag))
    return sync


def files(bundle: Bundle) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(bundle.body), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}


def test_the_snapshot_is_offered_as_one_bundle_and_synced_once_opa_activates_it():
    sync = BundleSync(lambda: None)
    sync.resync(FakeSource(10, {"a": "package halab.a\n", "b": "package halab.b\n"}))
    offered = sync.board.current
    assert not sync.synced.is_set() and sync.status()["revision"] == 0
    assert set(files(offered)) == {"/.manifest", "/a.rego", "/b.rego"}
    sync.on_status(report(offered.etag))
    st = sync.status()
    assert sync.synced.is_set() and st["revision"] == 10 and st["policies"] == {"a": 10, "b": 10}


def test_a_batch_of_many_policies_is_one_new_bundle():
    sync = synced({"a": "package halab.a\n"})
    before = sync.board.current.etag
    sync.apply(Batch([Event("put", f"p{i}", f"package halab.p{i}\n", 11 + i) for i in range(50)], 60))
    offered = sync.board.current
    assert offered.etag != before and len(offered.policies) == 51 and offered.revision == 60
    assert sync.status()["revision"] == 10  # nothing is loaded until OPA says so
    sync.on_status(report(offered.etag))
    assert sync.status()["revision"] == 60 and sync.status()["bundle"]["activations"] == 2


def test_an_event_that_changes_nothing_moves_the_revision_without_a_new_bundle():
    sync = synced({"a": "package halab.a\n"})
    etag = sync.board.current.etag
    sync.apply(Batch([Event("put", "a", "package halab.a\n", 11)], 11))
    assert sync.board.current.etag == etag and sync.status()["revision"] == 11


def test_a_refused_version_is_replaced_by_the_accepted_one_and_reported():
    sync = synced({"a": "package halab.a\nallow := 1\n", "b": "package halab.b\n"})
    sync.apply(Batch([Event("put", "a", "package halab.a\nallow := \n", 11),
                      Event("put", "c", "package halab.c\n", 12)], 12))
    failed = sync.board.current
    sync.fetched(failed.etag)
    sync.on_status(report(sync.status()["bundle"]["active"], [("/a.rego", "unexpected eof")]))
    rebuilt = sync.board.current
    assert rebuilt.etag != failed.etag and rebuilt.policies["a"] == "package halab.a\nallow := 1\n"
    assert rebuilt.policies["c"] == "package halab.c\n"
    sync.fetched(rebuilt.etag)
    sync.on_status(report(rebuilt.etag))
    st = sync.status()
    assert st["revision"] == 12 and st["policies"] == {"a": 10, "b": 10, "c": 12}
    assert st["errors"]["a"]["revision"] == 11 and "unexpected eof" in st["errors"]["a"]["message"]
    # the same failure reported again does not count twice
    sync.fetched(failed.etag)
    sync.on_status(report(rebuilt.etag, [("/a.rego", "unexpected eof")]))
    assert sync.status()["bundle"]["refusals"] == 1


def test_an_error_that_names_no_changed_policy_refuses_every_change_of_the_bundle():
    sync = synced({"a": "package halab.a\n"})
    sync.apply(Batch([Event("put", "b", "package halab.b\n", 11), Event("put", "c", "package halab.c\n", 12)], 12))
    sync.fetched(sync.board.current.etag)
    sync.on_status(report(sync.status()["bundle"]["active"], [("/a.rego", "conflicting rules")]))
    assert set(sync.status()["errors"]) == {"b", "c"}
    assert set(sync.board.current.policies) == {"a"}


def test_a_never_accepted_policy_that_is_refused_is_left_out_and_its_fix_clears_the_error():
    sync = synced({})
    sync.apply(Batch([Event("put", "x", "package halab.x\nallow := \n", 11)], 11))
    sync.fetched(sync.board.current.etag)
    sync.on_status(report(sync.status()["bundle"]["active"], [("/x.rego", "unexpected eof")]))
    assert sync.board.current.policies == {} and "x" in sync.status()["errors"]
    sync.apply(Batch([Event("put", "x", "package halab.x\nallow := 1\n", 12)], 12))
    sync.fetched(sync.board.current.etag)
    sync.on_status(report(sync.board.current.etag))
    assert sync.status()["errors"] == {} and sync.status()["policies"] == {"x": 12}


def test_etags_stay_unique_when_a_resync_offers_an_older_revision():
    sync = synced({"a": "package halab.a\n"}, revision=20)
    first = sync.board.current.etag
    sync.resync(FakeSource(15, {"a": "package halab.a\n", "b": "package halab.b\n"}))
    assert sync.board.current.etag != first and sync.board.current.etag.startswith("15.")


class FakeOpaData:
    """OPA's Data API as a dict of canonical JSON; refuses what is not JSON, as OpaData does."""

    def __init__(self) -> None:
        self.docs: dict[str, str] = {}
        self.puts = 0

    def put(self, key_id: str, text: str) -> None:
        from system.policy_sync.opa import OpaRejected, canonical

        try:
            self.docs[key_id] = canonical(text)
        except ValueError as exc:
            raise OpaRejected(str(exc)) from None
        self.puts += 1

    def delete(self, key_id: str) -> None:
        self.docs.pop(key_id, None)

    def list(self) -> dict[str, str]:
        return dict(self.docs)


def test_documents_go_to_the_data_api_not_into_the_bundle_and_count_in_the_revision():
    opa = FakeOpaData()
    sync = BundleSync(lambda: None, opa)
    sync.resync(FakeSource(10, {"a": "package halab.a\n", "data/acl": '{"groups": ["x"]}'}))
    assert set(sync.board.current.policies) == {"a"} and opa.docs == {"data/acl": '{"groups":["x"]}'}
    sync.fetched(sync.board.current.etag)
    sync.on_status(report(sync.board.current.etag))
    etag = sync.board.current.etag
    sync.apply(Batch([Event("put", "data/acl", '{"groups": ["x", "y"]}', 11)], 11))
    st = sync.status()
    assert sync.board.current.etag == etag  # no new bundle, so no compile
    assert st["revision"] == 11 and st["policies"] == {"a": 10, "data/acl": 11}
    assert opa.docs["data/acl"] == '{"groups":["x","y"]}'


def test_a_document_that_is_not_json_is_refused_and_the_last_good_one_stays():
    opa = FakeOpaData()
    sync = synced_with(opa, {"data/acl": '{"v": 1}'})
    sync.apply(Batch([Event("put", "data/acl", "{nope", 11)], 11))
    st = sync.status()
    assert st["errors"]["data/acl"]["revision"] == 11 and opa.docs["data/acl"] == '{"v":1}'
    assert st["revision"] == 11  # refused, as a Rego refusal is: counted as applied
    sync.apply(Batch([Event("put", "data/acl", '{"v": 2}', 12)], 12))
    assert sync.status()["errors"] == {} and opa.docs["data/acl"] == '{"v":2}'


def test_a_new_opa_instance_gets_its_documents_back_and_a_resync_deletes_strays():
    opa = FakeOpaData()
    sync = synced_with(opa, {"data/acl": '{"v": 1}'})
    sync.on_status({**report(sync.board.current.etag), "labels": {"id": "first"}})
    opa.docs.clear()  # OPA restarted: its documents are gone
    sync.on_status({**report(sync.board.current.etag), "labels": {"id": "second"}})
    sync._maybe_verify()
    assert opa.docs == {"data/acl": '{"v":1}'}
    opa.docs["data/stray"] = "1"
    sync.resync(FakeSource(20, {"data/acl": '{"v": 1}'}))
    assert opa.docs == {"data/acl": '{"v":1}'} and opa.puts == 2


def synced_with(opa: FakeOpaData, entries: dict[str, str]) -> BundleSync:
    sync = BundleSync(lambda: None, opa, verify_interval_s=3600)
    sync.resync(FakeSource(10, entries))
    sync.fetched(sync.board.current.etag)
    sync.on_status(report(sync.board.current.etag))
    return sync
