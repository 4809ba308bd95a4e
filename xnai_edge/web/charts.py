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
    coords = " ".join(
        f"{PAD + (x - x0) / span * (W - 2 * PAD):.1f},"
        f"{H - PAD - (y / (y_max or 1.0)) * (H - 2 * PAD):.1f}" for x, y in points)
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    return (f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} '
            f'points="{coords}"/>')


def stage_chart(rows: list[dict[str, Any]], stage: str) -> str:
    points = buckets(rows, stage)
    if not points:
        return ""
    y_max = max(p95 for _, _, p95 in points) * 1.1
    x_range = (points[0][0], points[-1][0]) if len(points) > 1 else \
        (points[0][0] - 1, points[0][0] + 1)
    p50 = polyline([(t, v) for t, v, _ in points], x_range=x_range, y_max=y_max,
                   color="#0b5cad")
    p95 = polyline([(t, v) for t, _, v in points], x_range=x_range, y_max=y_max,
                   color="#b00020", dashed=True)
    return (f'<figure class="chart" data-stage="{esc(stage)}"><figcaption>{esc(stage)} '
            f'(max {y_max / 1.1:.0f} ms)</figcaption>'
            f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="p50 and p95 of {esc(stage)} '
            f'over time">{p50}{p95}</svg></figure>')


def stage_charts(rows: list[dict[str, Any]]) -> str:
    charts = [stage_chart(rows, stage) for stage in stages_of(rows)]
    return "".join(charts) or "<p class=muted>No interactions yet.</p>"
