"""Run the ingest service: `python -m services.ingest`."""

import sys

import uvicorn

from services.ingest.app import create_app
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    # Validation runs on threads; a shorter switch interval than the default 5 ms bounds how
    # long the event loop waits for the GIL behind one, so light requests stay fast.
    sys.setswitchinterval(0.001)
    uvicorn.run(
        create_app(settings),
        host=settings.ingest_host,
        port=settings.ingest_port,
        access_log=False,
        proxy_headers=True,
        # h11, because it bounds a request head still arriving (httptools buffers any
        # amount); a complete head over the limit is refused with 431 by HeaderLimit.
        http="h11",
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=settings.keep_alive_timeout_s,
    )


if __name__ == "__main__":
    main()
