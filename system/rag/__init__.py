"""The RAG service: ingest documents into the vector store, answer queries through the hairpin."""
