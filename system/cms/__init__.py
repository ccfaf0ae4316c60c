"""The CMS: policies (Rego, with version history) and user profiles, behind the gateway.

A policy update follows a protocol that survives faults (see `policies.PolicyService`):
metadata `pending` in MongoDB, then the Rego in etcd with a compare-and-swap on the mod
revision, then metadata `active`. A reconciler (`reconciler.Reconciler`) settles whatever a
crash or an outage left half done. Run it with `python -m system.cms`.
"""
