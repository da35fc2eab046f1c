"""A local stand-in for a newsroom's image server: one realistic photo at every /img/ path.

Bound to 127.0.0.2, which benchmarks allow-list (NEWSWIRE_FETCH_ALLOW_NETWORKS) as the only
non-public address the guarded fetcher may reach, so cards fetch real bytes over HTTP.
"""

from __future__ import annotations

import io
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageFilter

HOST = "127.0.0.2"
ALLOW = '["127.0.0.2/32"]'


def photo_jpeg(size: tuple[int, int] = (2000, 1333), seed: int = 7) -> bytes:
    """A photo-like JPEG (gradients, shapes and grain), about as costly to decode as one."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    noise = Image.effect_noise(size, 40).convert("RGB")
    image = Image.blend(image, noise, 0.35).filter(ImageFilter.GaussianBlur(1))
    for _ in range(30):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        colour = tuple(rng.randrange(256) for _ in range(3))
        image.paste(colour, (x, y, x + rng.randrange(50, 400), y + rng.randrange(50, 300)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


@contextmanager
def image_server() -> Iterator[str]:
    """Serve one photo at every path; yields the base URL (`http://127.0.0.2:<port>/img/`)."""
    body = photo_jpeg()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/img/"
    finally:
        server.shutdown()
        server.server_close()
