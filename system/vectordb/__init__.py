"""Offline stand-in for Qdrant: Qdrant's REST API over the Qdrant engine of `qdrant-edge-py`,
with two nodes replicating through an ordered, idempotent operation log.

Run: `HALAB_VECTORDB_NODE_ID=dc1 HALAB_VECTORDB_PEER_URL=http://dc2-vectordb:8000 python -m system.vectordb`.
"""
