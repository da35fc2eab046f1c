"""Run the feeds service: `python -m services.feeds`."""

import logging

import uvicorn

from services.feeds.app import create_app
from services.render.celery_app import make_celery
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    # Unexpected errors are logged with their traceback and request id (shared.request_ids).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The WebSub hub queues verifications of intent for the render workers.
    celery = make_celery(settings)
    uvicorn.run(
        create_app(settings, send_task=celery.send_task),
        host=settings.feeds_host,
        port=settings.feeds_port,
        access_log=False,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
