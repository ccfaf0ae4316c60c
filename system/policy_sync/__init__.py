"""policy_sync: OPA's sidecar. Mirrors the etcd policy prefix into OPA's policy API.

It watches `/policies/` from the last revision it applied, PUTs and DELETEs OPA's
`/v1/policies/{id}`, resyncs fully after a reconnect or a compacted watch, keeps OPA's
last policies while etcd is away (and puts them back if OPA restarts meanwhile), and
reports on /status the etcd revision OPA has loaded. Run with `python -m system.policy_sync`.
"""
