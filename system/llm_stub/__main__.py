"""`python -m system.llm_stub`: serve the stub on HALAB_LLM_STUB_HOST:HALAB_LLM_STUB_PORT."""

from system.common.serve import serve
from system.llm_stub.app import build_app
from system.llm_stub.settings import Settings


def main() -> None:
    settings = Settings()
    serve(build_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
