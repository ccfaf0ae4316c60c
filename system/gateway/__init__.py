"""The gateway (APISIX role): routes and consumers from etcd, key-auth, opa, ai-proxy.

The hot path is an aiohttp server proxying with an aiohttp client (DESIGN section 5). Config
is APISIX's own data model under `/apisix/` in etcd, so the same keys would drive APISIX.
Answers to routed requests carry Server-Timing `gateway`/`opa`/`upstream` entries (see app).
"""
