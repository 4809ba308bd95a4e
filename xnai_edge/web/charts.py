"""Small inline SVG line charts, drawn on the server (no chart library, no JavaScript needed)."""

from __future__ import annotations

from typing import Any

from xnai_edge.web.render import esc
from xnai_edge.web.stats import buckets, stages_of

W, H, PAD = 300, 90, 4


def polyline(points: list[tuple[float, float]], *, x_range: tuple[float, float],
             y_max: float, color: str, dashed: bool = False) -> str:
    x0, x1 = x_range
    span = (x1 - x0) or 1.0
    xy = [(PAD + (x - x0) / span * (W - 2 * PAD),
           H - PAD - (y / (y_max or 1.0)) * (H - 2 * PAD)) for x, y in points]
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>'
                   for x, y in xy)  # a lone bucket is a dot, not an invisible line
    return (f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} '
            f'points="{coords}"/>{dots}')


def stage_chart(rows: list[dict[str, Any]], stage: str) -> str:
    points = buckets(rows, stage)
    if not points:
        return ""
    y_max = max(p95 for _, _, p95 in points) * 1.1 or 1.0
    x_range = (points[0][0], points[-1][0]) if len(points) > 1 else \
        (points[0][0] - 1, points[0][0] + 1)
    p50 = polyline([(t, v) for t, v, _ in points], x_range=x_range, y_max=y_max,
                   color="#0b5cad")
    p95 = polyline([(t, v) for t, _, v in points], x_range=x_range, y_max=y_max,
                   color="#b00020", dashed=True)
    return (f'<figure class="chart" data-stage="{esc(stage)}"><figcaption>{esc(stage)} '
            f'(top {y_max / 1.1:.0f} ms)</figcaption>'
            f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="p50 and p95 of {esc(stage)} '
            f'over time">{p50}{p95}</svg></figure>')


CHART_STAGES = ("speech_end_to_first_audio", "end_of_turn_to_first_audio",
                "speech_end_to_transcript", "retrieve", "first_token", "total")
"""Charted when present (the table lists every stage)."""


def stage_charts(rows: list[dict[str, Any]]) -> str:
    present = set(stages_of(rows))
    charts = [stage_chart(rows, stage) for stage in CHART_STAGES if stage in present]
    return "".join(charts) or "<p class=muted>No interactions yet.</p>"
