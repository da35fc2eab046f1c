"""Run the ingest service: `python -m services.ingest`."""

import uvicorn

from services.ingest.app import create_app
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.ingest_host,
        port=settings.ingest_port,
        access_log=False,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
