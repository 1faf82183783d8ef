"""Serve emulators over real HTTP on loopback with uvicorn, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from .base import Emulator


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    """A running emulator: its base URL and how to stop it."""

    emulator: Emulator
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> Served:
    """Start ``emulator`` on ``host:port`` (0 picks a free port) and wait until it listens."""
    port = port or free_port(host)
    emulator.base_url = f"http://{host}:{port}"
    config = uvicorn.Config(emulator.asgi(), host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"sandbox-{emulator.system}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{emulator.system} sandbox did not start on {host}:{port}")
        time.sleep(0.02)
    return Served(emulator, emulator.base_url, server, thread)
