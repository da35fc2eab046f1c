"""Run the feeds service: `python -m services.feeds`."""

import asyncio
import logging
import os
import signal
import sys

import uvicorn
import uvloop
from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server.embed import Server
from starlette.types import ASGIApp

from services.feeds.app import create_app
from shared.log_format import configure_logging, logging_config
from shared.ports import PortInUse, refuse_port_in_use
from shared.settings import Settings
from shared.task_sender import TaskSender

SHUTDOWN_GRACE_S = 3.0


def main() -> None:
    settings = Settings()
    # Unexpected errors are logged with their traceback and request id (shared.web.request_ids).
    configure_logging(settings)
    # granian binds with SO_REUSEPORT: without this a second feeds service on the port would
    # start and take half of its connections.
    try:
        refuse_port_in_use("feeds", settings.feeds_host, settings.feeds_port, "NEWSWIRE_FEEDS_PORT")
    except PortInUse as exc:
        logging.getLogger("newswire.feeds").error("%s", exc)  # one line, in the log format
        sys.exit(1)
    # The WebSub hub queues verifications of intent for the render workers.
    app = create_app(
        settings,
        send_task=TaskSender(
            settings.celery_broker_url, timeout_s=settings.redis_request_timeout_s
        ),
    )
    if settings.feeds_server == "uvicorn":
        uvicorn.run(
            app, host=settings.feeds_host, port=settings.feeds_port, access_log=False,
            proxy_headers=True, log_config=logging_config(settings),
        )  # fmt: skip
    else:
        # uvloop: granian hands each request to the loop from its own threads
        # (call_soon_threadsafe), and the stock loop's wakeups and selector cost about a
        # third of the event loop's time on a 304; uvicorn picks uvloop by itself.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve_with_granian(app, settings))


async def serve_with_granian(app: ASGIApp, settings: Settings) -> None:
    """Serve on granian, embedded in this process: its Rust threads parse HTTP and write
    responses, so the event loop runs little more than the app (about 1.5x uvicorn's
    requests per second here; see bench/serve.py). One process, so the memory cache,
    the metrics and a supervisor's view of the service stay one."""
    server = Server(
        app,
        address=settings.feeds_host,
        port=settings.feeds_port,
        interface=Interfaces.ASGI,
        log_level=LogLevels.warning,
        log_dictconfig=logging_config(settings),  # granian's own lines in the one format
    )
    loop = asyncio.get_running_loop()
    stopping: list[int] = []

    def stop() -> None:
        if stopping:
            return
        stopping.append(1)
        server.stop()
        # granian waits for every open connection to close, a reader's idle keep-alive one
        # too, with no timeout of its own: the service serves no writes, so after a grace
        # period it simply exits (as uvicorn's timeout_graceful_shutdown would).
        loop.call_later(SHUTDOWN_GRACE_S, os._exit, 0)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    await server.serve()


if __name__ == "__main__":
    main()
