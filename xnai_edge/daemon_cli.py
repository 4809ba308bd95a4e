"""``xnai-edge run`` (the daemon) and ``xnai-edge status`` (ask it)."""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
from typing import Any

import anyio

from xnai_edge.context import from_args
from xnai_edge.journal import open_journal
from xnai_edge.journal import stream as journal_stream


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the appliance (under systemd: Type=notify)",
                       description="Run the voice loop, memory monitor and status socket until "
                       "SIGTERM. SIGHUP re-reads the config file; SIGUSR1 writes every "
                       "thread's stack to stderr (the journal).")
    p.set_defaults(func=_run)
    p = sub.add_parser("status", help="ask the running daemon how it is")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_status)


def _run(args: argparse.Namespace) -> int:
    from xnai_edge.daemon import Daemon

    config_path = args.config or os.environ.get("XNAI_EDGE_CONFIG")
    open_journal()  # before any model load can point fd 2 at /dev/null (journal.py says why)
    # `systemctl kill -s USR1 xnai-edge`: where every thread is, without stopping it (a stuck
    # model call, a blocked broker thread).  Written by the interpreter, not the event loop.
    faulthandler.register(signal.SIGUSR1, file=journal_stream(), all_threads=True)
    daemon = Daemon(from_args(args), config_path)
    return anyio.run(daemon.run)


def _status(args: argparse.Namespace) -> int:
    from xnai_edge.health.status_socket import SOCKET_NAME, query

    ctx = from_args(args)
    reply = query(ctx.data_dir / SOCKET_NAME)
    if args.json:
        print(json.dumps(reply))
        return 0
    print(f"state {reply['state']}; tier {reply['tier']} ({reply['tier_name']}): "
          f"{reply['tier_reason']}")
    print("models: " + ", ".join(f"{k} {v}" for k, v in reply["models"].items()))
    print("breakers: " + ", ".join(f"{k} {v.get('state')}" for k, v in reply["breakers"].items()))
    last = reply.get("last_interaction")
    if last:
        print(f"last: {last['question']!r} -> {last['answer']!r}")
    return 0
