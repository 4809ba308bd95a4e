"""What every test that starts ``xnai-edge run`` needs: a free port, fake PSI and meminfo
files (the lowest level at which memory pressure can be faked), and a data-dir template with
the manual already ingested (copied per daemon, so each start is fast and alike)."""

from __future__ import annotations

import socket
from pathlib import Path

import anyio

MEMINFO = "MemTotal:       16000000 kB\nMemAvailable:    8000000 kB\n"


def psi_text(avg10: float) -> str:
    return (f"some avg10={avg10:.2f} avg60=0.00 avg300=0.00 total=1000\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_template(models_dir: Path, data: Path) -> Path:
    """A data dir with the bundled manual ingested and indexed."""
    from xnai_edge.config import Config
    from xnai_edge.knowledge.base import KnowledgeBase

    async def build() -> None:
        async with KnowledgeBase.open(data, models_dir, Config()) as kb:
            await kb.retriever()

    anyio.run(build)
    return data
