"""The local status page, HTTP API and Prometheus ``/metrics`` (docs/web.md).

``serve(controls, cfg)`` is the daemon's one start call; everything else is behind it.
"""

from __future__ import annotations

from xnai_edge.web.serve import serve

__all__ = ["serve"]
