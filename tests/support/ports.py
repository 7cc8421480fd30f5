"""Free TCP ports for the processes a test starts, one block of ports per xdist worker.

A port taken with ``bind(0)`` comes from the kernel's ephemeral range, where every outgoing
connection takes its local port too; a port picked there and bound later by a child process
may be taken in between. Under pytest-xdist each worker picks from its own block below the
ephemeral range instead, so two workers of one run never hand out the same port, and the
kernel never gives it to a connection. Each pick is checked by binding it.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

#: Where the blocks start: above the ports people configure by hand (8000-19999 in the docs
#: and manual tries), below Linux's default ephemeral range (32768-60999).
FIRST_PORT = 20000
BLOCK = 500
_WORKERS = (32768 - FIRST_PORT) // BLOCK


def _worker_index() -> int | None:
    """0 for xdist's ``gw0``, 1 for ``gw1``...; None outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) % _WORKERS if name.startswith("gw") and name[2:].isdigit() else None


def _candidates() -> itertools.cycle[int]:
    index = _worker_index()
    if index is None:
        return itertools.cycle([0])
    first = FIRST_PORT + index * BLOCK
    # Start anywhere in the block: another run of the suite on the machine uses the same blocks.
    start = random.randrange(BLOCK)
    return itertools.cycle([first + (start + i) % BLOCK for i in range(BLOCK)])


_ports = _candidates()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now; outside xdist, one the kernel picks."""
    for _ in range(BLOCK):
        candidate = next(_ports)
        with socket.socket() as sock:
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise RuntimeError(f"no free port in this worker's block from {candidate}")
