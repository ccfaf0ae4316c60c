"""Hypothesis against the real stack: payloads (names, unicode, sizes) and create/update/delete
sequences checked against a model, both stores and OPA."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from system.cms.policies import POLICY_ID_PATTERN

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,40}", fullmatch=True)
bad_ids = st.text(min_size=1, max_size=30).filter(lambda s: not re.fullmatch(POLICY_ID_PATTERN, s))
# A Rego comment ends at a line break, and OPA's lexer refuses a NUL anywhere in a module.
one_line = st.text(max_size=80).map(lambda s: re.sub(r"[\x00\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", " ", s))
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


def etcd_entry(stack, pid):
    c = stack.etcd_client()
    try:
        kvs = c.get_response(f"/policies/{pid}").kvs
        return (kvs[0].value.decode("utf-8"), kvs[0].mod_revision) if kvs else None
    finally:
        c.close()


@PROPS
@given(name=ids, value=st.text(max_size=200), comment=one_line, description=st.text(max_size=300),
       padding=st.one_of(st.just(0), st.integers(0, 80_000)))
def test_any_valid_payload_round_trips_through_mongo_etcd_and_opa(stack, name, value, comment, description, padding):
    pkg = f"h{uuid.uuid4().hex[:10]}"
    pid = f"{name}-{pkg}"[:128]
    rego = (f"package halab.{pkg}\n\n# {comment}\n" + ("#" * 99 + "\n") * (padding // 100)
            + f"value := {json.dumps(value, ensure_ascii=False)}\n")
    body = json.dumps({"rego": rego, "description": description}).encode()
    cms = stack.cms()
    r = cms.put(f"/cms/policies/{quote(pid, safe='')}", content=body, headers={"Content-Type": "application/json"},
                params={"wait": "enforced"})
    if len(body) > stack.settings.max_body_bytes:
        assert r.status_code == 413
        assert etcd_entry(stack, pid) is None and stack.mongo_db().policies.find_one({"_id": pid}) is None
        return
    assert r.status_code == 201, r.text
    assert r.json()["enforced"] is True
    got = cms.get(f"/cms/policies/{quote(pid, safe='')}").json()
    assert (got["rego"], got["description"], got["version"]) == (rego, description, 1)
    assert etcd_entry(stack, pid) == (rego, got["etcd_revision"])
    assert got["sha256"] == hashlib.sha256(rego.encode()).hexdigest()
    assert stack.opa_data(f"halab/{pkg}/value") == value
    assert cms.delete(f"/cms/policies/{quote(pid, safe='')}").status_code == 200


@PROPS
@given(name=bad_ids)
def test_invalid_names_are_refused_and_write_nothing(stack, name):
    c = stack.etcd_client()
    before = c.get_prefix_response("/policies/").header.revision
    r = stack.cms().put(f"/cms/policies/{quote(name, safe='')}", json={"rego": "package halab.x\n"})
    assert 300 <= r.status_code < 500, r.text
    assert c.get_prefix_response("/policies/").header.revision == before
    c.close()


class PolicyLifecycle(RuleBasedStateMachine):
    """Create / update / delete / stale update on three ids; after every step the CMS, MongoDB,
    etcd and (after ?wait=enforced) OPA agree with a dict model."""

    stack = None

    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"s{uuid.uuid4().hex[:8]}"
        self.model: dict[str, dict] = {}  # id -> {"version", "status", "rego", "description"}
        self.cms = self.stack.cms()

    def pid(self, i: int) -> str:
        return f"{self.prefix}-{i}"

    def rego(self, i: int, value: int) -> str:
        return f"package halab.{self.prefix}_{i}\n\nvalue := {value}\n"

    @rule(i=st.integers(0, 2), value=st.integers(0, 3), description=st.sampled_from(["", "a", "ü"]))
    def put(self, i, value, description):
        pid, rego = self.pid(i), self.rego(i, value)
        m = self.model.get(pid)
        r = self.cms.put(f"/cms/policies/{pid}", json={"rego": rego, "description": description},
                         params={"wait": "enforced"})
        if m and m["status"] == "active" and (m["rego"], m["description"]) == (rego, description):
            assert r.status_code == 200 and r.json()["unchanged"] is True
            return
        created = m is None or m["status"] == "deleted"
        assert r.status_code == (201 if created else 200), r.text
        version = (m["version"] if m else 0) + 1
        assert r.json()["version"] == version and r.json()["enforced"] is True
        self.model[pid] = {"version": version, "status": "active", "rego": rego, "description": description}

    @rule(i=st.integers(0, 2))
    def delete(self, i):
        pid = self.pid(i)
        m = self.model.get(pid)
        r = self.cms.delete(f"/cms/policies/{pid}", params={"wait": "enforced"})
        if not m or m["status"] == "deleted":
            assert r.status_code == 404
            return
        assert r.status_code == 200 and r.json()["version"] == m["version"] + 1
        m.update(version=m["version"] + 1, status="deleted")

    @precondition(lambda self: self.model)
    @rule(i=st.integers(0, 2), value=st.integers(0, 3))
    def stale_update(self, i, value):
        pid = self.pid(i)
        m = self.model.get(pid)
        stale = (m["version"] if m else 0) + 5
        r = self.cms.put(f"/cms/policies/{pid}", json={"rego": self.rego(i, value), "expected_version": stale})
        assert r.status_code == 409

    @invariant()
    def stores_agree_with_the_model(self):
        for pid, m in self.model.items():
            r = self.cms.get(f"/cms/policies/{pid}", params={"include_deleted": "true"})
            assert r.status_code == 200
            got = r.json()
            assert (got["version"], got["status"]) == (m["version"], m["status"])
            assert len(got["history"]) == m["version"]
            entry = etcd_entry(self.stack, pid)
            i = int(pid.rsplit("-", 1)[1])
            value = self.stack.opa_data(f"halab/{self.prefix}_{i}/value")
            if m["status"] == "active":
                assert (got["rego"], got["description"]) == (m["rego"], m["description"])
                assert entry == (m["rego"], got["etcd_revision"])
                assert f"value := {value}\n" in m["rego"]
            else:
                assert entry is None and value is None
                assert self.cms.get(f"/cms/policies/{pid}").status_code == 404


def test_create_update_delete_sequences_match_a_model(stack):
    PolicyLifecycle.stack = stack
    run_state_machine_as_test(PolicyLifecycle, settings=settings(max_examples=10, stateful_step_count=15,
                                                                 deadline=None))
