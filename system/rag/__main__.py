"""`python -m system.rag`: the RAG service on HALAB_RAG_PORT (8000)."""

from system.common.serve import serve

from .app import build_app
from .settings import RagSettings

if __name__ == "__main__":
    s = RagSettings()
    serve(build_app(s), host=s.host, port=s.port, log_level=s.log_level)
