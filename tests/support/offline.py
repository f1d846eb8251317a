"""The network as a test of 'nothing downloads' sees it: loopback only.

`network_refused()` makes every connect to an address outside 127.0.0.0/8 and ::1, and every
name lookup other than localhost, fail at once with the error an unplugged machine gives, before
any packet is sent; and it sets HF_HUB_OFFLINE so Hugging Face's client does not even try."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def network_refused() -> Iterator[list[str]]:
    """Yields the hosts that were refused, so a test can show nothing was attempted."""
    refused: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else ""
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(host):
            refused.append(host)
            raise OSError(101, "Network is unreachable (tests/support/offline.py)")
        real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_loopback(str(host)):
            refused.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "name lookups refused (offline)")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        patch.setitem(os.environ, "HF_HUB_OFFLINE", "1")
        patch.setitem(os.environ, "TRANSFORMERS_OFFLINE", "1")
        yield refused
