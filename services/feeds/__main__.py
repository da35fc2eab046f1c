"""Run the feeds service: `python -m services.feeds`."""

import uvicorn

from services.feeds.app import create_app
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.feeds_host,
        port=settings.feeds_port,
        access_log=False,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
