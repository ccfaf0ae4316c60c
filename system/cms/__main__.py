"""`python -m system.cms`: serve the CMS with settings from HALAB_CMS_* variables."""

from system.cms.api import build_app
from system.cms.settings import CmsSettings
from system.common.serve import serve


def main() -> None:
    settings = CmsSettings()
    serve(build_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
