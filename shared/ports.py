"""Refuse a listening port another process holds, with one line that says how to move.

Some servers bind with SO_REUSEPORT (granian does), so a second server on a port already in
use starts without an error and the kernel splits the connections between the two. A bind
without SO_REUSEPORT fails on a port anyone listens on, whatever options they set; SO_REUSEADDR
is kept so the connections a server just closed (TIME_WAIT) do not count as holding it.
"""

from __future__ import annotations

import errno
import socket


class PortInUse(Exception):
    """The port is taken; the message is one line naming the port and the setting to change."""


def port_in_use(host: str, port: int) -> bool:
    """Whether another socket holds `host:port` (port 0, "any free port", never is).

    Other bind errors (an address not on this machine, say) are left for the server to report.
    """
    if port == 0:
        return False
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
    return False


def refuse_port_in_use(service: str, host: str, port: int, setting: str) -> None:
    """Raise PortInUse if another process holds the port `service` is to listen on.

    Raises:
        PortInUse: the port is taken; `setting` names the environment variable that moves it.
    """
    if port_in_use(host, port):
        raise PortInUse(
            f"{service}: port {port} on {host} is already in use by another process; "
            f"stop that process or set {setting} to a free port"
        )
