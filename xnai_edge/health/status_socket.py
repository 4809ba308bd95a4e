"""``xnai-edge status`` talks to the running daemon through a unix socket in the data dir.

One request line, one JSON reply line.  The socket is created with mode 0600 (umask), so only
the service's user (and root) can ask.  ``debug-block-loop SECONDS`` blocks the event loop on
purpose, to prove the watchdog notices a stuck loop; it answers only when the daemon runs with
``XNAI_EDGE_DEBUG_HOOKS=1``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import SocketStream, TaskStatus

from xnai_edge.errors import XnaiError

SOCKET_NAME = "daemon.sock"


async def serve(path: Path, status: Callable[[], dict[str, Any]], *,
                task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    """Answer on ``path`` until cancelled; ``await tg.start(serve, ...)`` returns once the
    socket is listening."""
    path.unlink(missing_ok=True)
    old = os.umask(0o177)
    try:
        listener = await anyio.create_unix_listener(path)
    finally:
        os.umask(old)
    task_status.started()

    async def handle(client: SocketStream) -> None:
        async with client:
            try:
                request = (await client.receive(1024)).decode(errors="replace").strip()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            reply: dict[str, Any]
            if request.startswith("debug-block-loop") and os.environ.get(
                    "XNAI_EDGE_DEBUG_HOOKS") == "1":
                time.sleep(float(request.split()[1]))  # deliberately blocks the event loop
                reply = {"blocked": True}
            else:
                reply = status()
            await client.send((json.dumps(reply) + "\n").encode())

    try:
        async with listener:
            await listener.serve(handle)
    finally:
        path.unlink(missing_ok=True)


def query(path: Path, request: str = "status", timeout_s: float = 5.0) -> dict[str, Any]:
    """Ask the daemon; a clear error when it is not running."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(path))
            sock.sendall(request.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                part = sock.recv(65536)
                if not part:
                    break
                data += part
        except (FileNotFoundError, ConnectionRefusedError):
            raise XnaiError(f"the daemon is not running (no {path}); start it with "
                            "`systemctl start xnai-edge` or `xnai-edge run`",
                            code="not-running") from None
        except OSError as exc:
            raise XnaiError(f"cannot ask the daemon at {path}: {exc}",
                            code="not-running") from exc
    return dict(json.loads(data))
