"""`python -m system.policy_sync`: serve /status and run the sync loop (HALAB_POLICY_SYNC_* settings)."""

from system.common.serve import serve
from system.policy_sync.app import build_app
from system.policy_sync.settings import PolicySyncSettings


def main() -> None:
    settings = PolicySyncSettings()
    serve(build_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
