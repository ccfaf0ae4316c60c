"""Offline stand-in for Qdrant: Qdrant's REST API over the Qdrant engine of `qdrant-edge-py`,
with nodes replicating to each other (a full mesh) through an ordered, idempotent operation log.

Run: `HALAB_VECTORDB_NODE_ID=dc1 HALAB_VECTORDB_PEERS=http://vectordb2:8000,http://vectordb3:8000 python -m system.vectordb`.
"""
