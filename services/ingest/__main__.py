"""Run the ingest service: `python -m services.ingest`.

`ingest_workers` processes serve the API from one listening socket, each with its own event loop
and GIL (one process tops out at about a core; a PUT costs most of its time in Python). Their
HTTP metrics are kept in a directory they share (Prometheus's multiprocess mode), so
/metrics answers the same totals whichever process a scrape reaches.
"""

import logging
import os
import shutil
import sys
import tempfile

import uvicorn

from shared.log_format import configure_logging, logging_config
from shared.ports import PortInUse, refuse_port_in_use
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings)
    # uvicorn refuses a taken port too, in a traceback-sized log; this says it in one line.
    try:
        refuse_port_in_use(
            "ingest", settings.ingest_host, settings.ingest_port, "NEWSWIRE_INGEST_PORT"
        )
    except PortInUse as exc:
        logging.getLogger("newswire.ingest").error("%s", exc)  # one line, in the log format
        sys.exit(1)
    metrics_dir = None
    if settings.ingest_workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Read by prometheus_client when each worker imports it: set before they start.
        metrics_dir = tempfile.mkdtemp(prefix="newswire-ingest-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "services.ingest.app:from_environment",
            factory=True,
            workers=settings.ingest_workers,
            host=settings.ingest_host,
            port=settings.ingest_port,
            access_log=False,
            # uvicorn's own lines in the one format, in each worker process too.
            log_config=logging_config(settings),
            proxy_headers=True,
            # httptools (llhttp, in C) with a bound on a head still arriving: past the limit
            # it is refused with 431 without waiting for its end (h11's option for this bound
            # is the protocol's too). A complete head over the limit is refused with 431 by
            # the app's guard.
            http="services.ingest.http_protocol:BoundedHttpToolsProtocol",
            h11_max_incomplete_event_size=settings.max_header_bytes,
            timeout_keep_alive=settings.keep_alive_timeout_s,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
