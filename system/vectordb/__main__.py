"""`python -m system.vectordb`: one node on HALAB_VECTORDB_HOST:HALAB_VECTORDB_PORT."""

from system.common.serve import serve
from system.vectordb.app import build_app
from system.vectordb.settings import Settings


def main() -> None:
    settings = Settings()
    serve(build_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
