"""Recent interactions from the ``interactions`` table, and their latency percentiles.

The table is written by the interaction log (a bus reader); the page only reads it.  Percentiles
are per stage (each key of ``timings_ms``) and per time bucket, for the p50/p95 chart.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from xnai_edge.knowledge.store import KnowledgeStore

STAGES = ("speech_end_to_transcript", "speech_end_to_first_audio", "retrieve", "answer",
          "total")
"""Shown first when present; any other stage found in the timings follows."""


async def recent_interactions(store: KnowledgeStore, limit: int) -> list[dict[str, Any]]:
    rows = await store.fetchall(
        "SELECT id, at, transcript, answer, sources, tier, method, timings_ms "
        "FROM interactions ORDER BY id DESC LIMIT ?", (limit,))
    out = []
    for r in rows:
        out.append({"id": r[0], "at": r[1], "question": r[2], "answer": r[3],
                    "sources": _loads(r[4], []), "tier": r[5], "method": r[6],
                    "timings_ms": _loads(r[7], {})})
    return out


def _loads(text: str, default: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def stages_of(rows: list[dict[str, Any]]) -> list[str]:
    seen = {k for r in rows for k, v in r["timings_ms"].items() if isinstance(v, int | float)}
    return [s for s in STAGES if s in seen] + sorted(seen - set(STAGES))


def overall(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{stage: {"n", "p50", "p95"}} over all ``rows``."""
    result = {}
    for stage in stages_of(rows):
        values = [float(r["timings_ms"][stage]) for r in rows
                  if isinstance(r["timings_ms"].get(stage), int | float)]
        result[stage] = {"n": len(values), "p50": percentile(values, 50),
                         "p95": percentile(values, 95)}
    return result


def buckets(rows: list[dict[str, Any]], stage: str, count: int = 12,
            ) -> list[tuple[float, float, float]]:
    """(time, p50, p95) per time bucket for ``stage``, oldest first (for the chart)."""
    points = []
    for r in rows:
        value = r["timings_ms"].get(stage)
        try:
            at = datetime.fromisoformat(r["at"]).timestamp()
        except (TypeError, ValueError):
            continue
        if isinstance(value, int | float):
            points.append((at, float(value)))
    if not points:
        return []
    points.sort()
    lo, hi = points[0][0], points[-1][0]
    width = (hi - lo) / count or 1.0
    grouped: dict[int, list[float]] = {}
    for at, value in points:
        grouped.setdefault(min(count - 1, int((at - lo) / width)), []).append(value)
    return [(lo + (i + 0.5) * width, percentile(v, 50), percentile(v, 95))
            for i, v in sorted(grouped.items())]
